#!/usr/bin/env bash
# The main job end to end on embedded defaults, on a fresh Debian 12 machine:
# install what is missing, build bale, start a throwaway registry on loopback seeded
# with demo multi-arch images (an OCI index, a Docker manifest list, single-platform
# images), `bale pull` them into a local OCI store, and show what landed.
# Everything it starts is stopped and removed at the end; the store is kept in
# ${BALE_DEMO_DIR:-/tmp/bale-demo}/store for a look around.
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

step "done: the store is in $store"
