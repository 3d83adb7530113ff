#!/usr/bin/env bash
# Configure and build bale: scripts/build.sh [Debug|Release] (default Release).
# Debug builds carry AddressSanitizer + UBSan. Warnings are fatal (BALE_WERROR).
# The build lands in build/<type>; prints the path of the bale binary last.
set -euo pipefail
type=${1:-Release}
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
log="$dir.log"
mkdir -p "$(dirname "$dir")"
echo "building bale ($type) in $dir" >&2
if ! { cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DBALE_WERROR=ON &&
  cmake --build "$dir" -j"$(nproc)"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "build failed; full log: $log" >&2
  exit 1
fi
echo "$dir/bale"
