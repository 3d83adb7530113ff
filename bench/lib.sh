# shellcheck shell=bash
# Shared by the benchmarks in bench/: bale beside the tools people use today, on images
# served by a local docker-registry on loopback. Source it first thing:
#
#   source "$(dirname "$0")/lib.sh"
#
# It sets $top (the source tree) and $BALE (default: the Release build; make it with
# scripts/build.sh Release), exports BALE and BALE_SOURCE_DIR, and sources
# tests/integration/lib.sh: a private temp dir $T (with a skopeo $T/policy.json), and
# every server stopped and $T removed on exit. Then:
#
#   bench_setup                 start the registry; sets H, its host:port
#   bench_seed LAYER_MIB SEEDS  push SEEDS sets of the demo images; fills refs
#   bench_keygen                a signing key pair, $T/k.key and $T/k.pub
#   … | median                  the median of the numbers read

set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BALE=${BALE:-$top/build/release/bale}
export BALE BALE_SOURCE_DIR=$top
# shellcheck source=../tests/integration/lib.sh
source "$top/tests/integration/lib.sh"

# bench_setup: a plain (no TLS, no auth) registry named bench; H is its host:port.
bench_setup() {
  [[ -x $BALE ]] || fail "no bale at $BALE: run scripts/build.sh Release (or set BALE)"
  start_registry bench plain
  # shellcheck disable=SC2154 # start_registry exports bench_HOST
  H=$bench_HOST
}

# bench_seed LAYER_MIB SEEDS: for each s in 1..SEEDS, the demo images (an OCI index of
# 3 platforms, a Docker manifest list, a Docker schema 2 and an OCI single image) under
# $H/set<s>/, each set's base layer LAYER_MIB of half-text, half-random bytes from seed
# s. refs gets their references: $H/set<s>/{multi,dlist,schema2,single}:1, in order.
bench_seed() {
  local mib=$1 seeds=$2 s image
  refs=()
  for s in $(seq 1 "$seeds"); do
    build_images --layer-kib $((mib * 1024)) --seed "$s"
    SEED_PREFIXES="set$s" seed_registry bench
    for image in multi dlist schema2 single; do refs+=("$H/set$s/$image:1"); done
  done
}

# bench_keygen: a bale signing key pair, $T/k.key and $T/k.pub.
bench_keygen() {
  "$BALE" keygen -q -o "$T/k" >/dev/null
}

# median: the median (the lower middle one of an even count) of the numbers on stdin,
# separated by spaces or newlines.
median() {
  tr -s ' \t' '\n' | sort -n | awk 'NF {a[++n] = $1} END {print a[int((n + 1) / 2)]}'
}
