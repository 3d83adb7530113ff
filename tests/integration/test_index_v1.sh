#!/usr/bin/env bash
# Bundles written before index.db schema version 2 (tests/data/bundle, made by an older
# bale with schema version 1) are still read: ls, query, inspect, verify and import.
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
echo "test_index_v1: ok"
