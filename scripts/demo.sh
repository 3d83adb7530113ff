#!/usr/bin/env bash
# The main job end to end on embedded defaults, on a fresh Debian 12 machine:
# install what is missing, build bale, start a throwaway registry on loopback seeded
# with demo multi-arch images (an OCI index, a Docker manifest list, single-platform
# images), make a signing key, export the images into one signed bundle, verify it,
# list and query its index, import it into a local OCI store, check that store and read
# the node ledger, and pull the same images into a local OCI store (online mode).
# Everything it starts is stopped and removed at the end; the key, the bundle and the
# store stay in ${BALE_DEMO_DIR:-/tmp/bale-demo} for a look around.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
BALE=$("$top/scripts/build.sh" Release)
export BALE

# The test harness knows how to run a registry and build deterministic images.
source "$top/tests/integration/lib.sh"
source "$top/tests/integration/peer.sh"

out=${BALE_DEMO_DIR:-/tmp/bale-demo}
rm -rf "$out" && mkdir -p "$out"
store="$out/store"

step() { printf '\n== %s\n' "$*"; }

step "starting a throwaway registry on loopback and seeding demo images"
start_registry demo plain
build_images --layer-kib 256
seed_registry demo
H=$demo_HOST
sed 's/^/   /' "$T/seeded.txt"

step "bale inspect $H/demo/multi:1"
"$BALE" inspect --insecure-registry "$H" "$H/demo/multi:1"

step "bale keygen: a signing key pair"
"$BALE" keygen -o "$out/release"

step "bale export: every platform of four images into one signed bundle"
printf '%s\n' "# demo site" "$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/schema2:1" \
  "$H/demo/single@$DIGEST_demo_single" >"$out/images.txt"
XDG_CACHE_HOME="$out/cache" "$BALE" export -f "$out/images.txt" --insecure-registry "$H" \
  --key "$out/release.key" -o "$out/site.tar.zst"
ls -l "$out/site.tar.zst"

step "bale verify: the signature, then every digest"
"$BALE" verify --key "$out/release.pub" "$out/site.tar.zst"

step "bale ls"
"$BALE" ls "$out/site.tar.zst"

step "bale query: which layers do several images share? what does each platform weigh?"
"$BALE" query "$out/site.tar.zst" "SELECT substr(layer_digest, 1, 19) AS layer, size, images FROM shared_layers ORDER BY size DESC"
echo
"$BALE" query "$out/site.tar.zst" "SELECT platform, images, bytes FROM platform_sizes ORDER BY platform"

step "standard tools read the bundle: tar --zstd, openssl"
tar --zstd -tf "$out/site.tar.zst" >"$out/members.txt"
head -n 6 "$out/members.txt" | sed 's/^/   /'
mkdir -p "$out/x" && tar --zstd -xf "$out/site.tar.zst" -C "$out/x" bale/manifest.json bale/manifest.json.sig
openssl dgst -sha256 -verify "$out/release.pub" -signature <(base64 -d "$out/x/bale/manifest.json.sig") \
  "$out/x/bale/manifest.json" | sed 's/^/   /'

step "bale import: the bundle into a node store (checked first, every blob re-hashed)"
"$BALE" import --key "$out/release.pub" --platform all --store "oci:$out/node" \
  --ledger "$out/ledger.db" "$out/site.tar.zst"

step "bale import again: nothing to write"
"$BALE" import --key "$out/release.pub" --platform all --store "oci:$out/node" \
  --ledger "$out/ledger.db" "$out/site.tar.zst" >/dev/null

step "an untrusted key is refused before anything is written (exit 4)"
"$BALE" keygen -q -o "$out/stranger" >/dev/null
"$BALE" import --key "$out/stranger.pub" --store "oci:$out/node" --ledger "$out/ledger.db" \
  "$out/site.tar.zst" || echo "   exit status $?"

step "bale check: every named image in the node store whole (a removed blob is exit 3)"
"$BALE" check --store "oci:$out/node"

step "bale ledger: the node's import history"
"$BALE" ledger --ledger "$out/ledger.db"

step "bale pull (all platforms) into oci:$store"
"$BALE" pull --platform all --insecure-registry "$H" --store "oci:$store" \
  "$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/schema2:1" "$H/demo/single:1"

step "bale pull by digest, host platform only"
"$BALE" pull --insecure-registry "$H" --store "oci:$store" "$H/demo/multi@$DIGEST_demo_multi"

step "what landed: index.json"
jq -r '.manifests[] | "   \(.annotations."org.opencontainers.image.ref.name")  \(.digest[0:19])…  \(.mediaType)"' "$store/index.json"
printf '   %s blobs, %s bytes; every file hashes to its name: ' \
  "$(find "$store/blobs/sha256" -type f | wc -l)" "$(du -sb "$store/blobs" | cut -f1)"
store_digests "$store" >/dev/null && echo yes

step "skopeo reads bale's store"
run_skopeo inspect "oci:$store:$H/demo/multi:1" | jq '{Digest, Architecture, Os, Layers: (.Layers | length)}'

step "done: key, bundle, node store, ledger and pulled store are in $out"
