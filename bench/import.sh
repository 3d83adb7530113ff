#!/usr/bin/env bash
# bale import into containerd vs `ctr images import` of the same content (the bundle
# extracted to a plain OCI tar, as containerd 1.6's ctr does not read zstd), each into a
# fresh containerd started here; then a re-import of the same bundle. Also bale import into
# an oci: store. Same images, same run, alternating.
#   bench/import.sh [LAYER_MIB] [SEEDS] [RUNS]   (defaults: 64 MiB, 2, 3)
# Needs a Release build (scripts/build.sh Release).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/integration/containerd.sh
source "$top/tests/integration/containerd.sh"
mib=${1:-64}
seeds=${2:-2}
runs=${3:-3}

bench_setup
bench_seed "$mib" "$seeds"
bench_keygen
XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" \
  -o "$T/b.tar.zst" "${refs[@]}" >/dev/null
mkdir "$T/x" && tar --zstd -xf "$T/b.tar.zst" -C "$T/x"
tar -C "$T/x" -cf "$T/layout.tar" oci-layout index.json blobs
bytes=$(du -sb "$T/x/blobs" | cut -f1)

now() { date +%s%N; }
ms() { echo $((($(now) - $1) / 1000000)); }
declare -A t
add() { t[$1]+="$2 "; }
for ((i = 0; i < runs; i++)); do
  start_containerd
  s=$(now); ctd images import --platform linux/amd64 "$T/layout.tar" >/dev/null; add ctr "$(ms "$s")"
  s=$(now); ctd images import --platform linux/amd64 "$T/layout.tar" >/dev/null; add ctr_again "$(ms "$s")"
  start_containerd
  s=$(now); "$BALE" import -q --ledger "$T/l.db" --store "containerd:$CTD_SOCK" --key "$T/k.pub" "$T/b.tar.zst" >/dev/null; add bale "$(ms "$s")"
  s=$(now); "$BALE" import -q --ledger "$T/l.db" --store "containerd:$CTD_SOCK" --key "$T/k.pub" "$T/b.tar.zst" >/dev/null; add bale_again "$(ms "$s")"
  rm -rf "$T/oci"
  s=$(now); "$BALE" import -q --ledger "$T/l.db" --store "oci:$T/oci" --platform all --key "$T/k.pub" "$T/b.tar.zst" >/dev/null; add oci "$(ms "$s")"
  s=$(now); "$BALE" import -q --ledger "$T/l.db" --store "oci:$T/oci" --platform all --key "$T/k.pub" "$T/b.tar.zst" >/dev/null; add oci_again "$(ms "$s")"
done
m() { median <<<"${t[$1]}"; }
printf '\n%d images, %s bytes of blobs (bundle %s bytes); %d runs, median ms:\n\n' "${#refs[@]}" "$bytes" "$(stat -c %s "$T/b.tar.zst")" "$runs"
printf '| import | first | again |\n|---|---|---|\n'
printf '| ctr images import (plain tar, linux/amd64) | %s | %s |\n' "$(m ctr)" "$(m ctr_again)"
printf '| bale import --store containerd (linux/amd64) | %s | %s |\n' "$(m bale)" "$(m bale_again)"
printf '| bale import --store oci: (all platforms) | %s | %s |\n' "$(m oci)" "$(m oci_again)"
printf '\nbale/ctr first import: %.2f; bale re-import is %.1fx faster than its first import\n' \
  "$(echo "$(m bale) / $(m ctr)" | bc -l)" "$(echo "$(m bale) / $(m bale_again)" | bc -l)"
