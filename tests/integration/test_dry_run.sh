#!/usr/bin/env bash
# bale export --dry-run: everything resolved, no layer downloaded, nothing written. Each
# image with its platforms and the bytes it adds; every reference that cannot be resolved,
# all in one run; then the real export downloads exactly the bytes the dry run announced
# (the registry's own access log counts them), and a have-list moves them to "at the site".
source "$(dirname "$0")/lib.sh"

start_registry reg plain
build_images --layer-kib 256
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"

# What is missing, all of it: a tag that does not exist, a single-platform image for
# another platform; the image that resolves is still told, and nothing is written.
expect_exit 6 "$BALE" export --dry-run --insecure-registry "$H" --platform linux/arm64 \
  "$H/demo/multi:1" "$H/demo/single:1" "$H/demo/nope:1"
assert_contains "$LAST_STDERR" "2 of 3 references failed"
assert_contains "$LAST_STDERR" "$H/demo/nope:1"
assert_contains "$LAST_STDERR" "$H/demo/single:1: a single-platform image for linux/amd64 only"
grep -qE "^$H/demo/multi:1 +sha256:[0-9a-f]{12} +[0-9.]+ [kM]B +linux/arm64/v8\$" "$LAST_STDOUT" ||
  fail "no line for demo/multi:1 and its arm64 platform: $(cat "$LAST_STDOUT")"
assert_contains "$LAST_STDOUT" "1 image resolved"
[[ ! -e $T/cache/blobs ]] || [[ -z $(find "$T/cache" -name '*.tar.zst') ]] || fail "a dry run wrote a bundle"

# The bytes it announces are the bytes the export then downloads (cold cache: the dry run
# kept only indexes, manifests and configs). Two images that share their layers count
# them once.
rm -rf "$T/cache"
refs=("$H/demo/multi:1" "$H/demo/dlist:1")
expect_exit 0 "$BALE" export --dry-run --json --insecure-registry "$H" "${refs[@]}"
cp "$LAST_STDOUT" "$T/dry.json"
announced=$(jq '.download.bytes' "$T/dry.json")
((announced > 0)) || fail "the dry run announces no bytes: $(cat "$T/dry.json")"
assert_eq 0 "$(jq '.exitStatus' "$T/dry.json")" "dry run exit status in JSON"
assert_eq "$announced" "$(jq '[.images[].downloadBytes] | add' "$T/dry.json")" \
  "each image's added bytes sum to the download"
assert_eq "0" "$(jq '.images[1].downloadBytes' "$T/dry.json")" "the second image's layers, shared with the first"
mark=$(wc -l <"$reg_LOG")
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none -o "$T/b.tar.zst" "${refs[@]}"
downloaded=$(tail -n +"$((mark + 1))" "$reg_LOG" |
  awk '$6 == "\"GET" && $7 ~ /\/blobs\/sha256:/ && $9 == 200 { sum += $10 } END { print sum + 0 }')
assert_eq "$announced" "$downloaded" "bytes the export downloaded, as the dry run said"
# Now all of it is in the cache.
expect_exit 0 "$BALE" export --dry-run --json --insecure-registry "$H" "${refs[@]}"
assert_eq "0 $announced" "$(jq -r '"\(.download.bytes) \(.cached.bytes)"' "$LAST_STDOUT")" "a warm dry run"

# What a have-list says the site holds is neither downloaded nor carried.
expect_exit 0 "$BALE" have "$T/b.tar.zst" -o "$T/site.have"
rm -rf "$T/cache"
expect_exit 0 "$BALE" export --dry-run --json --insecure-registry "$H" --have "$T/site.have" "${refs[@]}"
assert_eq "0 $announced" "$(jq -r '"\(.download.bytes) \(.atSite.bytes)"' "$LAST_STDOUT")" "a dry run against the site's have-list"
echo "test_dry_run: ok"
