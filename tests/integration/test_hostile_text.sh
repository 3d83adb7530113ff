#!/usr/bin/env bash
# Text from registries and bundles: every string bale prints for a person is escaped, so
# an escape sequence in a config label, a creation time, a media type or a bundle's image
# name never reaches the terminal (--json and --csv are data and keep their own escaping);
# image names are held to what bale writes (a normalized reference) by bale verify, by the
# import and by the store, whatever a signed bundle says.
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/bounds.sh"
: "${BALE:?BALE must name the bale binary}"

signed_bundle_of esc

# 1. bale query: labels, media types and column names, escaped in the table.
expect_exit 0 "$BALE" query "$B" "SELECT key, value FROM labels ORDER BY key"
no_control_bytes "$LAST_STDOUT"
assert_contains "$LAST_STDOUT" '\x1b]0;PWNED\x07retitled'
assert_contains "$LAST_STDOUT" '\x1b[31;1mred\x1b[0m'
assert_contains "$LAST_STDOUT" '\u009b31mcsi'
assert_contains "$LAST_STDOUT" 'line1\x0aline2'
assert_contains "$LAST_STDOUT" 'abc\u202edcba'
assert_contains "$LAST_STDOUT" 'Grüße'
expect_exit 0 "$BALE" query "$B" "SELECT l.media_type, m.created FROM image_layers l JOIN manifests m ON m.digest = l.manifest_digest"
no_control_bytes "$LAST_STDOUT"
assert_contains "$LAST_STDOUT" 'tar+gzip\x1b[2J'
assert_contains "$LAST_STDOUT" '\x1b]0;T\x07 2024'
expect_exit 0 "$BALE" query "$B" "SELECT 1 AS \"a$(printf '\033')[31mb\""
no_control_bytes "$LAST_STDOUT"
# --json and --csv are data: JSON's own escaping, CSV's quoting
expect_exit 0 "$BALE" query --json "$B" "SELECT value FROM labels WHERE key = 'title'"
assert_eq "$(printf '\033]0;PWNED\007retitled')" "$(jq -r '.[0].value' "$LAST_STDOUT")" "JSON value"
no_control_bytes "$LAST_STDOUT"
expect_exit 0 "$BALE" query --csv "$B" "SELECT value FROM labels WHERE key = 'newline'"
assert_eq "$(printf 'value\n"line1\nline2"\n')" "$(cat "$LAST_STDOUT")" "CSV"

# 2. bale inspect, of the bundle and of the registry: the creation time, escaped.
expect_exit 0 "$BALE" inspect "$B" "$REF"
no_control_bytes "$LAST_STDOUT"
assert_contains "$LAST_STDOUT" '\x1b]0;T\x07 2024'
expect_exit 0 "$BALE" inspect --insecure-registry "$H" "$REF"
no_control_bytes "$LAST_STDOUT"
assert_contains "$LAST_STDOUT" '\x1b]0;T\x07 2024'

# 3. Names. A signer gone bad re-signs the bundle with hostile image names in index.db,
# which is where a bundle of format 2 names its images.
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
n=0
for name in '../../../etc/passwd' "evil$(printf '\n')name" "$(printf '\033]0;owned\007')" 'nginx'; do
  n=$((n + 1))
  sql="UPDATE images SET ref = CAST(X'$(hex "$name")' AS TEXT)"
  resign "$B" "$T/index$n.tar.zst" "$T/k.key" "$sql"
  for bad in "$T/index$n.tar.zst"; do
    expect_exit 3 "$BALE" verify --key "$T/k.pub" "$bad"
    assert_contains "$LAST_STDERR" 'image name "'
    assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
    no_control_bytes "$LAST_STDERR"
    expect_exit 3 "$BALE" import --key "$T/k.pub" --store "oci:$T/node" \
      --ledger "$T/ledger.db" "$bad"
    assert_contains "$LAST_STDERR" 'image name "'
    no_control_bytes "$LAST_STDERR"
    if [[ -f $T/node/index.json ]]; then
      assert_eq 0 "$(jq '.manifests | length' "$T/node/index.json")" "names in the store"
    fi
    [[ ! -e $T/etc/passwd ]] || fail "a name reached the file system"
  done
  # bale ls reads the head without checking it: what it prints is escaped
  expect_exit 0 "$BALE" ls "$T/index$n.tar.zst"
  no_control_bytes "$LAST_STDOUT"
done
# platforms and signer as a hostile bale/index.db gives them (bale ls reads its tables)
resign "$B" "$T/plat.tar.zst" "$T/k.key" \
  "UPDATE image_platforms SET architecture = CAST(X'$(hex "$(printf '\033')[5mamd64")' AS TEXT)"
expect_exit 0 "$BALE" ls "$T/plat.tar.zst"
no_control_bytes "$LAST_STDOUT"
assert_contains "$LAST_STDOUT" 'linux/\x1b[5mamd64'
# the real bundle still imports, under its own name
expect_exit 0 "$BALE" import --key "$T/k.pub" --store "oci:$T/node" --ledger "$T/ledger.db" "$B"
assert_eq "$REF" "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$T/node/index.json")" "the name imported"
echo "test_hostile_text: ok"
