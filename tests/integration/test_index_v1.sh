#!/usr/bin/env bash
# Bundles written by older bale are still read: those of index.db schema version 1
# (tests/data/bundle, made by an older bale) by ls, query, inspect, verify and import, and
# one of bundle format 1 (format1-signed, with its key format1.pub: a SHA-256 of the whole
# file instead of today's frame check) by verify, query and import.
source "$(dirname "$0")/lib.sh"
: "${BALE:?BALE must name the bale binary}"
: "${BALE_SOURCE_DIR:?}"
DATA=$BALE_SOURCE_DIR/tests/data/bundle

for b in dlist-all-signed single-signed schema2-unsigned multi-arm64-signed; do
  expect_exit 0 "$BALE" query --csv "$DATA/$b.tar.zst" "PRAGMA user_version"
  assert_eq $'user_version\n1' "$(tr -d '\r' <"$LAST_STDOUT")" "$b: schema version"
  expect_exit 0 "$BALE" ls "$DATA/$b.tar.zst"
  expect_exit 0 "$BALE" ls --json "$DATA/$b.tar.zst"
  assert_contains "$LAST_STDOUT" '"foreignLayersLacking": 0'
  expect_exit 0 "$BALE" verify --insecure-skip-verify "$DATA/$b.tar.zst"
done

B=$DATA/dlist-all-signed.tar.zst
REF=127.0.0.1:52509/demo/dlist:1
expect_exit 0 "$BALE" ls "$B"
assert_contains "$LAST_STDOUT" "linux/amd64,linux/arm64/v8,linux/arm/v7"
assert_contains "$LAST_STDOUT" "5.3 kB"
expect_exit 0 "$BALE" query --csv "$B" "SELECT platform, layers FROM image_sizes ORDER BY platform"
assert_eq $'platform,layers\nlinux/amd64,2\nlinux/arm/v7,2\nlinux/arm64/v8,2' "$(tr -d '\r' <"$LAST_STDOUT")" \
  "image_sizes of a version 1 index"
# the tables of version 2 are not there, and bale says what is
expect_exit 2 "$BALE" query "$B" "SELECT * FROM image_indexes"
assert_contains "$LAST_STDERR" "no such table: image_indexes"
expect_exit 0 "$BALE" inspect "$B" "$REF"
assert_contains "$LAST_STDOUT" "linux/arm64/v8"
assert_contains "$LAST_STDOUT" "carried"
expect_exit 0 "$BALE" inspect --json "$B" "$REF"
assert_contains "$LAST_STDOUT" '"platform": "linux/arm/v7"'
expect_exit 0 "$BALE" import --insecure-skip-verify --store "oci:$T/store" --ledger "$T/ledger.db" \
  --platform linux/arm64 "$B"
assert_contains "$LAST_STDOUT" "$REF sha256:8d63e330b72a1e0f53aa6feec20f4698bcff36bc533022743e13712660061775 linux/arm64/v8"
# Bundle format 1: checked against its signer's key, every member and the whole-file
# SHA-256; a byte changed inside a layer's frame is caught; an import lands both images.
F1=$DATA/format1-signed.tar.zst
expect_exit 0 "$BALE" verify --key "$DATA/format1.pub" "$F1"
assert_contains "$LAST_STDOUT" "ok: 2 images, 7 blobs"
expect_exit 0 "$BALE" query --csv "$F1" "SELECT COUNT(*) FROM images"
assert_eq $'COUNT(*)\n2' "$(tr -d '\r' <"$LAST_STDOUT")" "images of a format 1 bundle"
expect_exit 0 "$BALE" import --key "$DATA/format1.pub" --store "oci:$T/f1" --ledger "$T/ledger.db" "$F1"
assert_contains "$LAST_STDOUT" "127.0.0.1:34581/many/app0001:1"
skopeo inspect --raw "oci:$T/f1:127.0.0.1:34581/many/app0000:1" >/dev/null || fail "skopeo cannot read the import"
# one byte changed in the middle of the largest frame (a layer's): verify refuses the file
at=$("$PY" -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", data[-9:-5])[0]
table = data[-9 - 8 * n:-9]
sizes = [struct.unpack("<II", table[i * 8:i * 8 + 8]) for i in range(n)]
offs = [sum(c for c, _ in sizes[:i]) for i in range(n)]
big = max(range(n), key=lambda i: sizes[i][0])
print(offs[big] + sizes[big][0] // 2)' "$F1")
cp "$F1" "$T/f1-damaged.tar.zst"
printf '\x5a' | dd of="$T/f1-damaged.tar.zst" bs=1 seek="$at" conv=notrunc status=none
expect_exit 3 "$BALE" verify --key "$DATA/format1.pub" "$T/f1-damaged.tar.zst"
echo "test_index_v1: ok"
