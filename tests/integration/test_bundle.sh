#!/usr/bin/env bash
# Bundles end to end against a real registry: keygen, export (shared layers, a platform
# subset, a digest-pinned reference), verify, extraction with tar --zstd, skopeo reading
# the extracted layout, ctr importing it into a real containerd, the signature checked
# with openssl as docs/bundle-format.md says, ls/inspect/query, and reproducibility.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/pull.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"

# Keys: the id bale prints is the SHA-256 of the SPKI DER, as openssl computes it.
expect_exit 0 "$BALE" keygen -o "$T/release"
keyid=$(cat "$LAST_STDOUT")
assert_eq "$(openssl pkey -pubin -in "$T/release.pub" -outform DER | sha256sum | cut -d' ' -f1)" "$keyid" "key id"
assert_eq 600 "$(stat -c %a "$T/release.key")" "private key mode"
expect_exit 2 "$BALE" keygen -o "$T/release" # never overwritten without --force
assert_eq "$keyid" "$(openssl pkey -pubin -in "$T/release.pub" -outform DER | sha256sum | cut -d' ' -f1)" "key kept"
expect_exit 0 "$BALE" keygen -o "$T/other"

# An image list file: comments, blank lines, a digest-pinned reference.
cat >"$T/images.txt" <<LIST
# the site's images
$H/demo/multi:1
$H/demo/dlist:1   # a Docker manifest list

$H/demo/schema2:1
$H/demo/single@$DIGEST_demo_single
LIST
B1="$T/site.tar.zst"
expect_exit 0 "$BALE" export -q -f "$T/images.txt" --platform linux/amd64,linux/arm64 \
  --insecure-registry "$H" --key "$T/release.key" -o "$B1"
assert_eq 4 "$(wc -l <"$LAST_STDOUT")" "one line per image"
[[ ! -e $B1.tmp* ]] 2>/dev/null || fail "temporary file left behind"

# verify: signature and every digest.
expect_exit 0 "$BALE" verify --key "$T/release.pub" "$B1"
assert_contains "$LAST_STDOUT" "ok"
expect_exit 0 "$BALE" verify --key "$T/release.pub" --json "$B1"
assert_eq "true $keyid 4" "$(jq -r '"\(.ok) \(.signer) \(.images)"' "$LAST_STDOUT")" "verify --json"
mkdir -p "$T/trust" && cp "$T/other.pub" "$T/release.pub" "$T/trust/"
expect_exit 0 "$BALE" verify --trust "$T/trust" "$B1"

# Standard tools read it: tar --zstd, zstd -d.
mkdir "$T/x"
tar --zstd -xf "$B1" -C "$T/x"
zstd -dc "$B1" | tar -t >"$T/members.txt"
assert_eq "bale/manifest.json bale/manifest.json.sig bale/index.db oci-layout index.json" \
  "$(head -n 5 "$T/members.txt" | tr '\n' ' ' | sed 's/ $//')" "member order"
store_digests "$T/x" >/dev/null # every blob hashes to its name

# The signature checks without bale, exactly as docs/bundle-format.md shows.
openssl dgst -sha256 -verify "$T/release.pub" -signature <(base64 -d "$T/x/bale/manifest.json.sig") \
  "$T/x/bale/manifest.json" >"$T/openssl.out" || fail "openssl does not verify the signature"
assert_contains "$T/openssl.out" "Verified OK"
(cd "$T/x" && { jq -r '.files[] | "\(.digest[7:])  \(.path)"' bale/manifest.json
  bundle_blobs . | jq -r '.[] | "\(.digest[7:])  blobs/sha256/\(.digest[7:])"'; } |
  sha256sum -c --quiet) || fail "sha256sum -c of every file and blob listed"

# The platform subset keeps the original index bytes; the left-out platform is recorded.
jq -e --arg d "$DIGEST_demo_multi" '.manifests[] | select(.digest == $d)' "$T/x/index.json" >/dev/null ||
  fail "the original index digest is not in index.json"
assert_eq linux/arm/v7 "$(sqlite3 -readonly "$T/x/bale/index.db" "SELECT p.os || '/' || p.architecture || ifnull('/' || p.variant, '')
  FROM image_platforms p JOIN images i ON i.id = p.image_id WHERE i.ref = '$H/demo/multi:1' AND NOT p.carried")" "left out"
[[ ! -e $T/x/blobs/sha256/${DIGEST_demo_multi_arm_v7#sha256:} ]] || fail "a left-out manifest was carried"

# skopeo reads the extracted OCI layout with the original digests.
for image in multi single; do
  ref="$H/demo/$image:1"
  [[ $image == single ]] && ref="$H/demo/single@$DIGEST_demo_single"
  want=DIGEST_demo_$image
  got=$(run_skopeo inspect --raw "oci:$T/x:$ref" | sha256sum | cut -d' ' -f1)
  assert_eq "${!want}" "sha256:$got" "skopeo inspect oci:extracted:$ref"
done

# containerd imports it (containerd 1.6's ctr does not read zstd: the plain tar).
start_containerd
tar -C "$T/x" -cf "$T/layout.tar" oci-layout index.json blobs
expect_exit 0 ctd images import --platform linux/amd64 "$T/layout.tar"
ctd images ls >"$T/ctr-images.txt"
for image in multi dlist; do
  want=DIGEST_demo_$image
  grep -q "^$H/demo/$image:1 .*${!want}" "$T/ctr-images.txt" || fail "containerd lacks $H/demo/$image:1 @ ${!want}"
done

# ls, inspect, query: from the head of the bundle only.
expect_exit 0 "$BALE" ls "$B1"
assert_contains "$LAST_STDOUT" "$H/demo/multi:1"
assert_contains "$LAST_STDOUT" "$keyid"
expect_exit 0 "$BALE" ls --json "$B1"
assert_eq 4 "$(jq '.images | length' "$LAST_STDOUT")" "ls --json images"
assert_eq "linux/amd64 linux/arm64/v8" "$(jq -r --arg r "$H/demo/multi:1" '.images[] | select(.ref == $r) | .platforms | join(" ")' "$LAST_STDOUT")" "ls platforms"
expect_exit 0 "$BALE" inspect "$B1" "$H/demo/dlist:1"
assert_contains "$LAST_STDOUT" "$DIGEST_demo_dlist"
assert_contains "$LAST_STDOUT" "linux/arm/v7" # left out, and said so
expect_exit 6 "$BALE" inspect "$B1" "$H/demo/nope:1"
expect_exit 0 "$BALE" query --csv "$B1" "SELECT COUNT(*) AS n FROM images"
assert_eq "n,4" "$(tr -d '\r' <"$LAST_STDOUT" | tr '\n' ',' | sed 's/,$//')" "query images"
blobs=$(bundle_blobs "$T/x" | jq length)
expect_exit 0 "$BALE" query --json "$B1" "SELECT kind, COUNT(*) AS n FROM blobs GROUP BY kind ORDER BY kind"
assert_eq "$blobs" "$(jq '[.[].n | tonumber] | add' "$LAST_STDOUT")" "blobs by kind"
expect_exit 0 "$BALE" query "$B1" "SELECT layer_digest, images FROM shared_layers ORDER BY images DESC LIMIT 1"
expect_exit 2 "$BALE" query "$B1" "DELETE FROM images"
expect_exit 2 "$BALE" query "$B1" "ATTACH DATABASE '$T/evil.db' AS evil"
[[ ! -e $T/evil.db ]] || fail "ATTACH created a file"
# sqlite3 opens the extracted index.db.
assert_eq 4 "$(sqlite3 "$T/x/bale/index.db" 'SELECT COUNT(*) FROM images')" "sqlite3 images"
assert_eq ok "$(sqlite3 "$T/x/bale/index.db" 'PRAGMA integrity_check')" "integrity"

# Reproducible: the same images exported again (from the cache) give the same ls output
# and the same blobs; an existing bundle is not overwritten without --force.
B2="$T/again.tar.zst"
expect_exit 0 "$BALE" export -q -f "$T/images.txt" --platform linux/amd64,linux/arm64 \
  --insecure-registry "$H" --key "$T/release.key" -o "$B2"
"$BALE" ls "$B1" >"$T/ls1" && "$BALE" ls "$B2" >"$T/ls2"
cmp "$T/ls1" "$T/ls2" || fail "ls differs between two exports of the same images"
assert_eq "$(bundle_blobs "$T/x")" "$(bundle_blobs "$B2")" "same blobs"
expect_exit 2 "$BALE" export -q -f "$T/images.txt" --insecure-registry "$H" --key "$T/release.key" -o "$B2"
assert_contains "$LAST_STDERR" "--force"
# The second export came from the cache: no layer was fetched again.
layer=$(bundle_blobs "$T/x" | jq -r '.[] | select(.kind == "layer") | .digest' | head -n 1)
assert_eq 1 "$(grep -c "GET /v2/demo/[a-z0-9]*/blobs/$layer" "$reg_LOG")" "layer fetched once across two exports"

# Unsigned only when asked.
expect_exit 2 "$BALE" export -q --insecure-registry "$H" -o "$T/u.tar.zst" "$H/demo/single:1"
expect_exit 0 "$BALE" export -q --unsigned --insecure-registry "$H" -o "$T/u.tar.zst" "$H/demo/single:1"
expect_exit 4 "$BALE" verify --key "$T/release.pub" "$T/u.tar.zst"
assert_contains "$LAST_STDERR" "not signed"
expect_exit 0 "$BALE" verify --insecure-skip-verify "$T/u.tar.zst"
echo "test_bundle: ok"
