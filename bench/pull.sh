#!/usr/bin/env bash
# bale pull vs skopeo copy --all, same registry, same run, alternating.
#   bench/pull.sh [LAYER_MIB] [RUNS]      (defaults: 64 MiB base layer, 5 runs)
# A multi-arch image (3 platforms, a shared base layer of LAYER_MIB plus small
# per-platform layers) is served by a local docker-registry on loopback; each run pulls
# every platform into a fresh OCI layout. Prints median wall time, MB/s, peak RSS and
# the bale/skopeo ratio. Needs a Release build (scripts/build.sh Release).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BALE=${BALE:-$top/build/release/bale}
export BALE BALE_SOURCE_DIR=$top
mib=${1:-64}
runs=${2:-5}
source "$top/tests/integration/lib.sh"
source "$top/tests/integration/peer.sh"

start_registry bench plain
build_images --layer-kib $((mib * 1024))
seed_registry bench
H=$bench_HOST
ref="$H/demo/multi:1"

# run_one TOOL OUTDIR: prints "seconds max_rss_kib"
run_one() {
  local tool=$1 out=$2 tfile="$T/time.txt"
  rm -rf "$out"
  case $tool in
    bale) /usr/bin/time -f '%e %M' -o "$tfile" "$BALE" pull -q --platform all \
      --insecure-registry "$H" --store "oci:$out" "$ref" >/dev/null ;;
    skopeo) /usr/bin/time -f '%e %M' -o "$tfile" skopeo --policy "$T/policy.json" copy -q --all \
      --src-tls-verify=false "docker://$ref" "oci:$out:$ref" >/dev/null ;;
  esac
  cat "$tfile"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A secs rss
for ((i = 0; i < runs; i++)); do
  for tool in bale skopeo; do
    read -r s m < <(run_one "$tool" "$T/out-$tool")
    secs[$tool]+="$s "
    rss[$tool]+="$m "
  done
done
bytes=$(du -sb "$T/out-bale/blobs" | cut -f1) # unique bytes transferred and stored
printf '\n%s bytes (every blob of every platform, once), %d runs, median:\n\n' "$bytes" "$runs"
printf '| tool | wall s | MB/s | peak RSS MiB |\n|---|---|---|---|\n'
for tool in bale skopeo; do
  s=$(tr ' ' '\n' <<<"${secs[$tool]}" | grep . | median)
  m=$(tr ' ' '\n' <<<"${rss[$tool]}" | grep . | median)
  printf '| %s | %.2f | %.0f | %.1f |\n' "$tool" "$s" "$(echo "$bytes / $s / 1000000" | bc -l)" "$(echo "$m / 1024" | bc -l)"
  eval "med_$tool=$s"
done
printf '\nbale/skopeo wall-time ratio: %.2f\n' "$(echo "$med_bale / $med_skopeo" | bc -l)"
