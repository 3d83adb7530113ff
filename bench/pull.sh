#!/usr/bin/env bash
# bale pull vs skopeo copy --all, same registry, same run, alternating.
#   bench/pull.sh [LAYER_MIB] [RUNS]      (defaults: 64 MiB base layer, 5 runs)
# A multi-arch image (3 platforms, a shared base layer of LAYER_MIB plus small
# per-platform layers) is served by a local docker-registry on loopback; each run pulls
# every platform into a fresh OCI layout. Prints median wall time, MB/s, peak RSS and
# the bale/skopeo ratio. Needs a Release build (scripts/build.sh Release).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mib=${1:-64}
runs=${2:-5}

bench_setup
bench_seed "$mib" 1
ref=${refs[0]} # the multi-arch image (seed 1, as mkimages.py makes it by default)

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
  s=$(median <<<"${secs[$tool]}")
  m=$(median <<<"${rss[$tool]}")
  printf '| %s | %.2f | %.0f | %.1f |\n' "$tool" "$s" "$(echo "$bytes / $s / 1000000" | bc -l)" "$(echo "$m / 1024" | bc -l)"
  eval "med_$tool=$s"
done
printf '\nbale/skopeo wall-time ratio: %.2f\n' "$(echo "$med_bale / $med_skopeo" | bc -l)"
