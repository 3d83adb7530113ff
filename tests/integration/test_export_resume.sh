#!/usr/bin/env bash
# An interrupted export resumes from the content cache: what arrived verified is not
# fetched again, nothing half-written is left, and the finished bundle verifies.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/pull.sh"

start_registry reg plain
build_images --layer-kib 512
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null

# Every big blob is cut in half and nothing is retried: the export fails (7) half done.
start_fault_proxy cut "$reg_PORT" --drop-times 1000 --min-size 100000
expect_exit 7 "$BALE" export -q --retries 0 --insecure-registry "$cut_HOST" --key "$T/k.key" \
  -o "$T/site.tar.zst" "$cut_HOST/demo/multi:1" "$cut_HOST/demo/single:1"
[[ ! -e $T/site.tar.zst ]] || fail "a bundle appeared although the export failed"
compgen -G "$T/site.tar.zst.tmp*" >/dev/null && fail "temporary files left behind: $(ls "$T")"
cached=$(store_digests "$T/cache/bale")
[[ -n $cached ]] || fail "nothing reached the cache"

# The same export again, the registry fine now: the cached blobs are not fetched again.
mark=$(wc -l <"$reg_LOG")
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/site.tar.zst" \
  "$H/demo/multi:1" "$H/demo/single:1"
tail -n +"$((mark + 1))" "$reg_LOG" >"$T/second.log"
for d in $cached; do
  assert_eq 0 "$(count_lines "$T/second.log" "GET /v2/demo/[a-z]+/blobs/$d")" "fetched again: $d"
done
(($(count_lines "$T/second.log" "GET /v2/demo/[a-z]+/blobs/") > 0)) || fail "the missing blobs were not fetched"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$T/site.tar.zst"

# A cached blob that rotted on disk is caught when the bundle is written (3), not shipped.
victim=$(find "$T/cache/bale/blobs/sha256" -type f -size +100k | head -n 1)
printf 'X' | dd of="$victim" bs=1 seek=100 conv=notrunc status=none
expect_exit 3 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/rot.tar.zst" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "${victim##*/}"
[[ ! -e $T/rot.tar.zst ]] || fail "a bundle with a rotten blob was written"
# The rotten file was dropped: the next export fetches it anew and succeeds.
[[ ! -e $victim ]] || fail "the rotten cache file is still there"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/rot.tar.zst" "$H/demo/single:1"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$T/rot.tar.zst"

# The same image named twice (say, in a list and on the command line) is exported once.
echo "$H/demo/single:1" >"$T/list.txt"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/twice.tar.zst" \
  -f "$T/list.txt" "$H/demo/single:1"
assert_eq 1 "$(wc -l <"$LAST_STDOUT")" "one image"

# The bundle is written while the layers download: a bundle that cannot be written (its
# directory is missing) is the error reported, and nothing is left behind.
expect_exit 1 env XDG_CACHE_HOME="$T/cache2" "$BALE" export -q --insecure-registry "$H" \
  --key "$T/k.key" -o "$T/missing/site.tar.zst" "$H/demo/multi:1" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "create $T/missing/site.tar.zst"
[[ ! -e $T/missing ]] || fail "the export made $T/missing"
echo "test_export_resume: ok"
