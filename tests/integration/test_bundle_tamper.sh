#!/usr/bin/env bash
# bale verify against tampered bundles: each change gets its exit status (3 content,
# 4 signature or trust) and nothing else; a flipped bit anywhere is caught.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"

start_registry reg plain
build_images
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
"$BALE" keygen -q -o "$T/other" >/dev/null
B="$T/b.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" "$H/demo/multi:1" "$H/demo/single:1" >/dev/null
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/b2.tar.zst" "$H/demo/schema2:1" >/dev/null
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$B"

mkdir "$T/x" && tar --zstd -xf "$B" -C "$T/x"
layer=$(bundle_blobs "$T/x" | jq -r '[.[] | select(.kind == "layer")] | max_by(.size) | .digest[7:]')
rebundle() { "$PY" "$LIB_DIR/rebundle.py" "$B" "$T/t.tar.zst" "$@"; }

# The re-framing itself changes nothing bale checks.
rebundle
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$T/t.tar.zst"

# check CODE WHAT rebundle-args…: the tampered bundle fails with CODE, naming WHAT.
check() {
  local code=$1 what=$2
  shift 2
  rebundle "$@"
  expect_exit "$code" "$BALE" verify --key "$T/k.pub" "$T/t.tar.zst"
  assert_contains "$LAST_STDERR" "$what"
  assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
}
check 3 "blobs/sha256/$layer" --flip "blobs/sha256/$layer"
assert_contains "$LAST_STDERR" "the layer of $H/demo/" # the damaged blob, as the site knows it
check 4 "signature" --flip bale/manifest.json 100
check 3 "bale/index.db" --flip bale/index.db 2000
check 4 "signature" --flip bale/manifest.json.sig 10
tar --zstd -xOf "$T/b2.tar.zst" bale/manifest.json.sig >"$T/othersig"
check 4 "signature" --replace bale/manifest.json.sig "$T/othersig"
echo extra >"$T/extra"
check 3 "extra.txt" --add extra.txt "$T/extra"
check 3 "../x" --add ../x "$T/extra"
check 3 "/etc/x" --add /etc/x "$T/extra"
check 3 "link" --add-symlink link "blobs/sha256/$layer"
check 3 "missing" --drop "blobs/sha256/$layer"
check 3 "index.json" --flip index.json 5
check 3 "after the end of the tar archive" --hide hidden.txt "$T/extra"

# A different public key, and no trusted key at all.
expect_exit 4 "$BALE" verify --key "$T/other.pub" "$B"
assert_contains "$LAST_STDERR" "not trusted"
mkdir "$T/empty-trust"
expect_exit 4 "$BALE" verify --trust "$T/empty-trust" "$B"

# Truncated, and garbage appended: the framing no longer adds up.
head -c -1 "$B" >"$T/short.tar.zst"
expect_exit 3 "$BALE" verify --key "$T/k.pub" "$T/short.tar.zst"
head -c $(($(stat -c %s "$B") / 2)) "$B" >"$T/half.tar.zst"
expect_exit 3 "$BALE" verify --key "$T/k.pub" "$T/half.tar.zst"
{ cat "$B"; printf 'garbage'; } >"$T/long.tar.zst"
expect_exit 3 "$BALE" verify --key "$T/k.pub" "$T/long.tar.zst"

# One flipped bit anywhere in the file is caught (3 or 4, never 0): 40 spread positions.
size=$(stat -c %s "$B")
for i in $(seq 0 39); do
  pos=$((i * (size - 1) / 39))
  cp "$B" "$T/f.tar.zst"
  byte=$(od -An -tu1 -j "$pos" -N1 "$T/f.tar.zst" | tr -d ' ')
  printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$T/f.tar.zst" bs=1 seek="$pos" conv=notrunc status=none
  rc=0
  "$BALE" verify -q --key "$T/k.pub" "$T/f.tar.zst" >/dev/null 2>"$T/f.err" || rc=$?
  [[ $rc == 3 || $rc == 4 ]] || fail "bit flipped at byte $pos of $size: exit $rc ($(cat "$T/f.err"))"
done
echo "test_bundle_tamper: ok"
