#!/usr/bin/env bash
# Bounded work on what registries serve (bounds_registry.py): memory does not grow with
# the number or size of an index's children (export and pull keep their bytes on disk,
# not in RAM); an ambiguous manifest is refused, whatever Content-Type says; a declared
# size beyond any real blob, or beyond the free space where blobs go, is refused before a
# byte of it is downloaded. Every refusal is one line naming the cause.
#
# BALE_FAT_CHILDREN (default 32) children of 4 MB each; BALE_FAT_RSS_MB (default 128) the
# peak RSS allowed. The figure for 400 children with a Release build (docs/performance.md):
#   BALE=build/release/bale BALE_FAT_CHILDREN=400 BALE_FAT_RSS_MB=64 bash THIS
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/bounds.sh"
: "${BALE:?BALE must name the bale binary}"
CHILDREN=${BALE_FAT_CHILDREN:-32}
RSS_MB=${BALE_FAT_RSS_MB:-128}

start_bounds_registry reg --children "$CHILDREN" --child-bytes 4000000
H=$reg_HOST
"$BALE" keygen -q -o "$T/k" >/dev/null
# ASan keeps freed memory in quarantine (256 MB by default): a small one, so that the
# figure below is what bale holds, in a Debug build as in a Release one.
ASAN_SMALL="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=256"

# peak_rss_mb FILE: the peak RSS /usr/bin/time -f %M wrote to FILE, in MiB.
peak_rss_mb() { echo $(($(tail -n 1 "$1") / 1024)); }

# 1. An index of CHILDREN distinct manifests of 4 MB each (a 4 MiB index may list
# ~20,000): exported and pulled within RSS_MB, every child carried.
ASAN_OPTIONS=$ASAN_SMALL expect_exit 0 /usr/bin/time -f %M -o "$T/export.rss" \
  "$BALE" export -q --insecure-registry "$H" --cache "$T/cache" --key "$T/k.key" \
  -o "$T/fat.tar.zst" "$H/fat/index:1"
rss=$(peak_rss_mb "$T/export.rss")
echo "export of $CHILDREN children of 4 MB: peak RSS $rss MiB" >&2
((rss < RSS_MB)) || fail "export of $CHILDREN x 4 MB children: peak RSS $rss MiB (limit $RSS_MB MiB)"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$T/fat.tar.zst"
expect_exit 0 "$BALE" query --csv "$T/fat.tar.zst" "SELECT count(*) AS n FROM manifests"
assert_eq "n,$CHILDREN," "$(tr -d '\r' <"$LAST_STDOUT" | tr '\n' ',')" "manifests carried"

ASAN_OPTIONS=$ASAN_SMALL expect_exit 0 /usr/bin/time -f %M -o "$T/pull.rss" \
  "$BALE" pull -q --insecure-registry "$H" --platform all --store "oci:$T/store" "$H/fat/index:1"
rss=$(peak_rss_mb "$T/pull.rss")
echo "pull of $CHILDREN children of 4 MB: peak RSS $rss MiB" >&2
((rss < RSS_MB)) || fail "pull of $CHILDREN x 4 MB children: peak RSS $rss MiB (limit $RSS_MB MiB)"
assert_eq "$((CHILDREN + 3))" "$(find "$T/store/blobs/sha256" -type f | wc -l)" "blobs in the store"
# the pull's own place for manifests is gone with it
assert_eq "" "$(find "$TMPDIR" -maxdepth 1 -name 'bale-scratch-*')" "temporary directories left"

# Into a site registry (a real docker-registry): the manifests wait on disk until every
# blob is up, not in memory; skopeo reads the index back.
start_registry site plain
ASAN_OPTIONS=$ASAN_SMALL expect_exit 0 /usr/bin/time -f %M -o "$T/import.rss" \
  "$BALE" import -q --key "$T/k.pub" --platform all --insecure-registry "$site_HOST" \
  --store "registry://$site_HOST/mirror" "$T/fat.tar.zst"
rss=$(peak_rss_mb "$T/import.rss")
echo "import of $CHILDREN children of 4 MB into a registry: peak RSS $rss MiB" >&2
((rss < RSS_MB)) || fail "import of $CHILDREN x 4 MB children into a registry: peak RSS $rss MiB (limit $RSS_MB MiB)"
assert_eq "$CHILDREN" "$(run_skopeo inspect --raw --tls-verify=false "docker://$site_HOST/mirror/fat/index:1" | jq '.manifests | length')" "children on the site registry"
assert_eq "" "$(find "$TMPDIR" -maxdepth 1 -name 'bale-scratch-*')" "temporary directories left by the import"

# 2. One digest, two meanings: refused under either Content-Type, and when the mediaType
# field contradicts the fields.
for tag in as-index as-image typed-index-with-layers typed-image-with-manifests; do
  expect_exit 3 "$BALE" export -q --insecure-registry "$H" --cache "$T/cache" --unsigned \
    -o "$T/amb.tar.zst" "$H/amb/image:$tag"
  assert_contains "$LAST_STDERR" "ambiguous manifest"
  assert_contains "$LAST_STDERR" "CVE-2021-41190"
  assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
  [[ ! -e $T/amb.tar.zst ]] || fail "a bundle was written for amb/image:$tag"
  expect_exit 3 "$BALE" inspect --insecure-registry "$H" "$H/amb/image:$tag"
  assert_contains "$LAST_STDERR" "ambiguous manifest"
done

# 3. Sizes: 10^15 bytes is over the bound for one blob; a size the cache's file system
# cannot hold is over its free space. Both refused before the blob is asked for.
fake=$("$PY" -c 'import hashlib; print("sha256:" + hashlib.sha256(b"bale endless layer").hexdigest())')
expect_exit 3 "$BALE" export -q --retries 0 --insecure-registry "$H" --cache "$T/cache" \
  --unsigned -o "$T/huge.tar.zst" "$H/huge/image:1"
assert_contains "$LAST_STDERR" "declares 1000000000000000 bytes, over the limit of 1099511627776 bytes (1 TiB) for one blob"
assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
free=$(($(stat -f -c '%a * %S' "$T/cache/blobs/sha256")))
if ((free + (1 << 30) < (1 << 40))); then
  # the same layer, declared one GiB larger than the free space
  start_bounds_registry big --children 1 --huge-size $((free + (1 << 30)))
  expect_exit 8 "$BALE" export -q --retries 0 --insecure-registry "$big_HOST" \
    --cache "$T/cache" --unsigned -o "$T/huge.tar.zst" "$big_HOST/huge/image:2"
  assert_contains "$LAST_STDERR" "refused before a byte is written"
  assert_contains "$LAST_STDERR" "$T/cache has"
  assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
  expect_exit 8 "$BALE" pull -q --retries 0 --insecure-registry "$big_HOST" \
    --store "oci:$T/store" "$big_HOST/huge/image:2"
  assert_contains "$LAST_STDERR" "refused before a byte is written"
  ! grep -q "GET /v2/huge/image/blobs/$fake" "$big_LOG" || fail "the oversized layer was downloaded"
  # a signed bundle whose layer claims more than the store's file system has: import
  # refuses it before writing a byte
  expect_exit 0 "$BALE" export -q --insecure-registry "$H" --cache "$T/cache" --key "$T/k.key" \
    -o "$T/plain.tar.zst" "$H/plain/image:1"
  resign "$T/plain.tar.zst" "$T/claims.tar.zst" "$T/k.key" \
    "UPDATE blobs SET size = $((free + (1 << 30))) WHERE kind = 'layer'"
  expect_exit 8 "$BALE" import --key "$T/k.pub" --store "oci:$T/node" --ledger "$T/ledger.db" \
    "$T/claims.tar.zst"
  assert_contains "$LAST_STDERR" "the blobs to import need"
  assert_contains "$LAST_STDERR" "refused before a byte is written"
  assert_eq 0 "$(find "$T/node/blobs/sha256" -type f | wc -l)" "blobs written"
else
  echo "skipped the free-space case: $free bytes free is more than the 1 TiB bound" >&2
fi
! grep -q "GET /v2/huge/image/blobs/$fake" "$reg_LOG" || fail "the 10^15-byte layer was downloaded"
[[ ! -e $T/huge.tar.zst ]] || fail "a bundle was written for huge/image"
echo "test_bounded_export: ok"
