#!/usr/bin/env bash
# The floors an offline node needs stand alone: import_only (tests/import_only/), linked
# from core, trust, bundle, verify, store and import with --as-needed, needs no libcurl,
# and imports a signed bundle into an OCI layout exactly as bale import does.
source "$(dirname "$0")/lib.sh"

: "${IMPORT_ONLY:?the suite passes import_only}"
readelf -d "$IMPORT_ONLY" | grep NEEDED >"$T/needed"
assert_contains "$T/needed" "libarchive"
assert_not_contains "$T/needed" "libcurl"
assert_not_contains "$T/needed" "libssl"
assert_not_contains "$T/needed" "libyaml"

start_registry reg plain
build_images --layer-kib 512
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
"$BALE" keygen -q -o "$T/other" >/dev/null
B="$T/site.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" \
  "$H/demo/multi:1" "$H/demo/single:1" >/dev/null

# Trust first, as in bale import: the wrong key leaves the store without a blob.
expect_exit 1 "$IMPORT_ONLY" "$B" "$T/other.pub" "$T/alone"
assert_contains "$LAST_STDERR" "not trusted"
assert_eq 0 "$(find "$T/alone/blobs" -type f 2>/dev/null | wc -l)" "blobs after the refusal"

expect_exit 0 "$IMPORT_ONLY" "$B" "$T/k.pub" "$T/alone"
assert_eq 2 "$(wc -l <"$LAST_STDOUT")" "images imported"
expect_exit 0 "$BALE" import -q --key "$T/k.pub" --store "oci:$T/bale" --ledger "$T/ledger.db" "$B"

names() { jq -S '[.manifests[] | {digest, name: .annotations["org.opencontainers.image.ref.name"]}] | sort_by(.name)' "$1/index.json"; }
blobs() { (cd "$1/blobs" && find . -type f | sort | xargs sha256sum); }
assert_eq "$(names "$T/bale")" "$(names "$T/alone")" "names in both stores"
assert_eq "$(blobs "$T/bale")" "$(blobs "$T/alone")" "blobs in both stores"
assert_eq 2 "$(jq '.manifests | length' "$T/alone/index.json")" "names in the store"
echo "ok: import_only needs no libcurl and imports what bale imports"
