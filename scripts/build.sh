#!/usr/bin/env bash
# Configure and build bale: scripts/build.sh [Debug|Release|Static|Static-arm64] (default
# Release).
# Debug builds carry AddressSanitizer + UBSan. Static is a Release bale with every library
# linked in (docs/install.md): the first run builds curl, libarchive and libmicrohttpd from
# Debian's source packages (scripts/static-deps.sh, a few minutes), then only bale itself.
# Static-arm64 is the same for arm64 nodes, with Debian's cross compiler.
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
if [[ $type == Static || $type == Static-arm64 ]]; then
  triple= deps="$top/build/static-deps"
  if [[ $type == Static-arm64 ]]; then
    triple=aarch64-linux-gnu deps="$top/build/static-arm64-deps"
    # the arm64 libraries' pkg-config files, not this machine's
    export PKG_CONFIG_LIBDIR=/usr/lib/$triple/pkgconfig:/usr/share/pkgconfig
  fi
  "$top/scripts/static-deps.sh" "$deps" $triple
  args=(-DCMAKE_BUILD_TYPE=Release -DBALE_WERROR=ON -DBALE_STATIC=ON
    -DBALE_STATIC_PREFIX="$deps" -DBUILD_TESTING=OFF)
  [[ -z $triple ]] || args+=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64
    -DCMAKE_C_COMPILER="$triple-gcc")
  target=(--target bale)
fi
if ! { cmake -S "$top" -B "$dir" "${args[@]}" &&
  cmake --build "$dir" -j"$(nproc)" "${target[@]}"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "build failed; full log: $log" >&2
  exit 1
fi
echo "$dir/bale"
