#!/usr/bin/env bash
# bale import into an oci: store: trust first, platform and image selection, skipping
# through the seek table, idempotent re-import, a store left as it was after every
# refusal and after kill -9 at several points, and the node ledger.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"

start_registry reg plain
build_images --layer-kib 4096
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
"$BALE" keygen -q -o "$T/other" >/dev/null
L="$T/ledger.db"
B="$T/site.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" \
  "$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/single:1" >/dev/null
"$BALE" export -q --platform linux/arm64 --insecure-registry "$H" --key "$T/k.key" -o "$T/arm.tar.zst" \
  "$H/demo/multi:1" >/dev/null
"$BALE" export -q --unsigned --insecure-registry "$H" -o "$T/unsigned.tar.zst" "$H/demo/single:1" >/dev/null
imp() { "$BALE" import --ledger "$L" "$@"; }
# strace: LeakSanitizer cannot run under ptrace, the sanitizer build goes without it.
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"; }

# snapshot DIR: everything a store holds (names and the inode of every blob), to show it
# untouched.
snapshot() { { cat "$1/index.json"; find "$1" -printf '%P %i %s\n' | sort; } | sha256sum; }

# Trust first: nothing is written for an untrusted or unsigned bundle.
S="$T/store"
expect_exit 4 imp --store "oci:$S" --key "$T/other.pub" "$B"
assert_contains "$LAST_STDERR" "not trusted"
expect_exit 4 imp --store "oci:$S" --key "$T/k.pub" "$T/unsigned.tar.zst"
assert_eq 0 "$(find "$S/blobs" -type f | wc -l)" "blobs after refusals"
assert_eq 0 "$(jq '.manifests | length' "$S/index.json")" "names after refusals"

# The host's platform by default: index, amd64 manifest, its config and layers.
expect_exit 0 imp --store "oci:$S" --key "$T/k.pub" "$B"
assert_eq 3 "$(wc -l <"$LAST_STDOUT")" "images imported"
assert_eq "$H/demo/multi:1 $DIGEST_demo_multi linux/amd64" "$(grep "demo/multi:1" "$LAST_STDOUT")" "multi line"
[[ -f $S/blobs/sha256/${DIGEST_demo_multi_amd64#sha256:} ]] || fail "amd64 manifest missing"
[[ ! -e $S/blobs/sha256/${DIGEST_demo_multi_arm64_v8#sha256:} ]] || fail "arm64 imported uninvited"
got=$(run_skopeo inspect --raw "oci:$S:$H/demo/multi:1" | sha256sum | cut -d' ' -f1)
assert_eq "$DIGEST_demo_multi" "sha256:$got" "skopeo reads the original index"

# Another platform, and all of them: the store grows, names stay.
expect_exit 0 imp --store "oci:$S" --key "$T/k.pub" --platform linux/arm64 "$B"
[[ -f $S/blobs/sha256/${DIGEST_demo_multi_arm64_v8#sha256:} ]] || fail "arm64 manifest missing"
expect_exit 0 imp --store "oci:$S" --key "$T/k.pub" --platform all "$B"
store_complete "$S"
bundle_blobs "$B" | jq -r '.[].digest' | sort >"$T/bundle-blobs"
assert_eq "$(cat "$T/bundle-blobs")" "$(store_digests "$S")" "all platforms: exactly the bundle's blobs"

# Re-import: a no-op that writes nothing.
before=$(snapshot "$S")
expect_exit 0 imp --store "oci:$S" --key "$T/k.pub" --platform all "$B"
assert_eq "$before" "$(snapshot "$S")" "store after a re-import"
assert_eq "0 $(wc -l <"$T/bundle-blobs")" "$("$BALE" ledger --ledger "$L" --csv 'SELECT blobs_written, blobs_present FROM imports ORDER BY id DESC LIMIT 1' | tail -n 1 | tr -d '\r' | tr ',' ' ')" "re-import counts"

# One small image from a bundle whose other image is big: only what it needs is read,
# the big layers are skipped through the seek table, not decompressed.
build_images --seed 7
SEED_PREFIXES=tiny seed_registry reg
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/mixed.tar.zst" \
  "$H/demo/multi:1" "$H/tiny/single:1" >/dev/null
S2="$T/one"
traced -f -e trace=openat,pread64 -e signal=none -o "$T/pread.log" \
  "$BALE" import -q --ledger "$L" --store "oci:$S2" --key "$T/k.pub" --image "$H/tiny/single:1" "$T/mixed.tar.zst" >/dev/null
assert_eq "$H/tiny/single:1" "$(jq -r '.manifests[].annotations."org.opencontainers.image.ref.name"' "$S2/index.json")" "one name"
# the reads of the bundle file (not SQLite's of its index.db, copied out)
fd=$(grep 'mixed\.tar\.zst' "$T/pread.log" | grep -oE '= [0-9]+$' | head -n 1 | awk '{print $2}')
[[ -n $fd ]] || fail "no open of the bundle traced"
read_bytes=$(grep -E "pread64\($fd," "$T/pread.log" | grep -oE '= [0-9]+$' | awk '{s += $2} END {print s + 0}')
size=$(stat -c %s "$T/mixed.tar.zst")
((read_bytes < size / 10)) || fail "importing one small image read $read_bytes of $size bytes"
expect_exit 6 imp --store "oci:$S2" --key "$T/k.pub" --image "$H/demo/absent:1" "$T/mixed.tar.zst"

# A platform-subset bundle: the original index digest, the platform it carries.
S3="$T/arm"
expect_exit 6 imp --store "oci:$S3" --key "$T/k.pub" "$T/arm.tar.zst"
assert_contains "$LAST_STDERR" "linux/arm64/v8"
expect_exit 0 imp --store "oci:$S3" --key "$T/k.pub" --platform linux/arm64 "$T/arm.tar.zst"
assert_eq "$DIGEST_demo_multi" "$(jq -r '.manifests[0].digest' "$S3/index.json")" "subset root"
expect_exit 0 imp --store "oci:$T/u" --insecure-skip-verify "$T/unsigned.tar.zst"

# A tampered layer: refused (3), the store exactly as it was.
# (the arm64 layer: the store below has every amd64 blob already, verified)
layer=$(tar --zstd -xOf "$B" "blobs/sha256/${DIGEST_demo_multi_arm64_v8#sha256:}" | jq -r '.layers[-1].digest[7:]')
"$PY" "$LIB_DIR/rebundle.py" "$B" "$T/bad.tar.zst" --flip "blobs/sha256/$layer"
S4="$T/tamper"
expect_exit 0 imp --store "oci:$S4" --key "$T/k.pub" --image "$H/demo/single:1" "$B"
before=$(snapshot "$S4")
expect_exit 3 imp --store "oci:$S4" --key "$T/k.pub" --platform all "$T/bad.tar.zst"
assert_contains "$LAST_STDERR" "$layer"
assert_eq "$before" "$(snapshot "$S4")" "store after a tampered bundle"

# kill -9 at several points: before any blob is in, during blob writes, while staged
# blobs are published, just before index.json; the store never names incomplete
# content, and the same import then finishes.
n=$(wc -l <"$T/bundle-blobs")
for point in "flock:when=1" "linkat:when=3" "rename:when=1" "rename:when=$((n / 2))" "rename:when=$((n + 1))"; do
  S5="$T/crash-${point//[:=]/-}"
  # The store exists before (an import refused for trust creates its layout), so the
  # renames counted are the import's own: n staged blobs published, then index.json.
  expect_exit 4 imp --store "oci:$S5" --key "$T/other.pub" "$B"
  rc=0
  traced -f -o /dev/null -e "inject=${point%%:*}:signal=KILL:${point#*:}" \
    "$BALE" import -q --ledger "$L" --store "oci:$S5" --key "$T/k.pub" --platform all "$B" >/dev/null 2>&1 || rc=$?
  ((rc != 0)) || fail "import at $point was not killed"
  store_complete "$S5"
  expect_exit 0 imp --store "oci:$S5" --key "$T/k.pub" --platform all "$B"
  store_complete "$S5"
  assert_eq "$(cat "$T/bundle-blobs")" "$(store_digests "$S5")" "store after a crash at $point and a re-run"
  [[ -z $(find "$S5" -maxdepth 1 -name '.bale-staging-*') ]] || fail "staging left after $point"
done

# The ledger: every attempt, refused ones too; read-only SQL.
expect_exit 0 "$BALE" ledger --ledger "$L" --json "SELECT result, exit_status, store, signer_key_id FROM imports ORDER BY id"
(($(jq '[.[] | select(.result == "failed")] | length' "$LAST_STDOUT") >= 5)) || fail "failed imports not recorded"
assert_eq "4 4" "$(jq -r '[.[0].exit_status, .[1].exit_status] | join(" ")' "$LAST_STDOUT")" "refusals recorded first"
assert_eq "$(cat "$T/k.pub" | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" \
  "$(jq -r '[.[] | select(.result == "ok")][0].signer_key_id' "$LAST_STDOUT")" "signer recorded"
expect_exit 0 "$BALE" ledger --ledger "$L"
assert_contains "$LAST_STDOUT" "failed"
expect_exit 0 "$BALE" ledger --ledger "$L" --csv "SELECT ref, digest FROM current_images ORDER BY ref"
assert_contains "$LAST_STDOUT" "$H/demo/multi:1,$DIGEST_demo_multi"
expect_exit 2 "$BALE" ledger --ledger "$L" "DELETE FROM imports"
expect_exit 6 "$BALE" ledger --ledger "$T/none.db"

# Without --ledger: $BALE_LEDGER (lib.sh points it into $T), for import and ledger alike.
rm -f "$BALE_LEDGER"
expect_exit 0 "$BALE" import -q --key "$T/k.pub" --store "oci:$T/env-store" "$B"
expect_exit 0 "$BALE" ledger --csv "SELECT count(*) FROM imports WHERE result = 'ok'"
assert_eq 1 "$(tail -n1 "$LAST_STDOUT" | tr -d "\r")" "imports in \$BALE_LEDGER"
expect_exit 0 env BALE_LEDGER= "$BALE" ledger --ledger "$BALE_LEDGER" --csv "SELECT count(*) FROM imports"
assert_eq 1 "$(tail -n1 "$LAST_STDOUT" | tr -d "\r")" "--ledger over an empty \$BALE_LEDGER"
echo "test_import: ok"
