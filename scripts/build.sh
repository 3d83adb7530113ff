#!/usr/bin/env bash
# Configure and build bale: scripts/build.sh [Debug|Release] (default Release).
# Debug builds carry AddressSanitizer + UBSan. Warnings are fatal (BALE_WERROR).
# The build lands in build/<type>; prints the path of the bale binary last.
set -euo pipefail
type=${1:-Release}
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DBALE_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" >&2
echo "$dir/bale"
