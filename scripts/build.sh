#!/usr/bin/env bash
# Configure and build bale: scripts/build.sh [Debug|Release|Static] (default Release).
# Debug builds carry AddressSanitizer + UBSan. Static is a Release bale with every library
# linked in (docs/install.md): the first run builds curl, libarchive and libmicrohttpd from
# Debian's source packages (scripts/static-deps.sh, a few minutes), then only bale itself.
# Warnings are fatal (BALE_WERROR). The build lands in build/<type>; prints the path of the
# bale binary last.
set -euo pipefail
type=${1:-Release}
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
log="$dir.log"
mkdir -p "$(dirname "$dir")"
echo "building bale ($type) in $dir" >&2
args=(-DCMAKE_BUILD_TYPE="$type" -DBALE_WERROR=ON)
target=()
if [[ $type == Static ]]; then
  "$top/scripts/static-deps.sh" "$top/build/static-deps"
  args=(-DCMAKE_BUILD_TYPE=Release -DBALE_WERROR=ON -DBALE_STATIC=ON
    -DBALE_STATIC_PREFIX="$top/build/static-deps" -DBUILD_TESTING=OFF)
  target=(--target bale)
fi
if ! { cmake -S "$top" -B "$dir" "${args[@]}" &&
  cmake --build "$dir" -j"$(nproc)" "${target[@]}"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "build failed; full log: $log" >&2
  exit 1
fi
echo "$dir/bale"
