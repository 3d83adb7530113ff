#!/usr/bin/env bash
# bale export vs what users script today: `skopeo copy --all` of each image into one OCI
# layout, then `tar -cf - | zstd -T0 -3`. Same registry, same images, same run,
# alternating, cold caches for both.
#   bench/export.sh [LAYER_MIB] [SEEDS] [RUNS]   (defaults: 32 MiB, 4, 3)
# SEEDS sets of the demo images (an OCI index of 3 platforms, a Docker manifest list, a
# Docker schema 2 and an OCI single image) are served by a local docker-registry on
# loopback; each set's base layer has LAYER_MIB of half-text, half-random bytes.
# Prints median wall time, CPU, peak RSS, bundle sizes, and the bale/peer ratios.
# Needs a Release build (scripts/build.sh Release).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
mib=${1:-32}
seeds=${2:-4}
runs=${3:-3}

bench_setup
bench_seed "$mib" "$seeds"
bench_keygen

run_bale() {
  rm -rf "$T/cache" "$T/b.tar.zst"
  XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" \
    -o "$T/b.tar.zst" "${refs[@]}" >/dev/null
}
run_peer() {
  rm -rf "$T/layout" "$T/p.tar.zst"
  for r in "${refs[@]}"; do
    skopeo --policy "$T/policy.json" copy -q --all --src-tls-verify=false "docker://$r" "oci:$T/layout:$r" >/dev/null
  done
  tar -C "$T/layout" -cf - . | zstd -q -T0 -3 -o "$T/p.tar.zst"
}
run_warm() { # a second export of the same images: blobs come from the cache
  rm -f "$T/b.tar.zst"
  XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" \
    -o "$T/b.tar.zst" "${refs[@]}" >/dev/null
}

# timed NAME FUNC: appends "wall user+sys maxrss" of one run to $T/NAME.times
timed() {
  /usr/bin/time -f '%e %U %S %M' -o "$T/t" bash -c "$(declare -f "$2"); $(declare -p refs T H BALE); $2"
  read -r e u s m <"$T/t"
  echo "$e $(echo "$u + $s" | bc) $m" >>"$T/$1.times"
}
for ((i = 0; i < runs; i++)); do
  timed bale run_bale
  timed peer run_peer
  timed warm run_warm
done
col() { awk -v c="$2" '{print $c}' "$T/$1.times" | median; }
bytes=$(du -sb "$T/layout/blobs" | cut -f1)
printf '\n%d images, %s bytes of unique blobs; %d runs, median:\n\n' "${#refs[@]}" "$bytes" "$runs"
printf '| pipeline | wall s | MB/s | CPU s | peak RSS MiB | output bytes |\n|---|---|---|---|---|---|\n'
row() {
  local w
  w=$(col "$1" 1)
  printf '| %s | %.2f | %.0f | %.2f | %.1f | %s |\n' "$2" "$w" "$(echo "$bytes / $w / 1000000" | bc -l)" \
    "$(col "$1" 2)" "$(echo "$(col "$1" 3) / 1024" | bc -l)" "$3"
}
row bale "bale export (cold cache)" "$(stat -c %s "$T/b.tar.zst")"
row warm "bale export (warm cache)" "$(stat -c %s "$T/b.tar.zst")"
row peer "skopeo copy --all + tar + zstd -T0" "$(stat -c %s "$T/p.tar.zst")"
printf '\nbale/peer wall-time ratio: %.2f (warm cache: %.2f)\n' \
  "$(echo "$(col bale 1) / $(col peer 1)" | bc -l)" "$(echo "$(col warm 1) / $(col peer 1)" | bc -l)"
start=$(date +%s%N)
"$BALE" ls "$T/b.tar.zst" >/dev/null
printf 'bale ls on the bundle: %d ms\n' $((($(date +%s%N) - start) / 1000000))
start=$(date +%s%N)
"$BALE" query "$T/b.tar.zst" "SELECT COUNT(*) FROM blobs" >/dev/null
printf 'bale query on the bundle: %d ms\n' $((($(date +%s%N) - start) / 1000000))
/usr/bin/time -f '%e %M' -o "$T/t" "$BALE" verify -q --key "$T/k.pub" "$T/b.tar.zst"
read -r e m <"$T/t"
printf 'bale verify: %.2f s, %.0f MB/s of content, peak RSS %.1f MiB\n' "$e" \
  "$(echo "$bytes / $e / 1000000" | bc -l)" "$(echo "$m / 1024" | bc -l)"
