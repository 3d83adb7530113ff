#!/usr/bin/env bash
# Fuzz one of bale's untrusted-input readers with libFuzzer:
#   scripts/fuzz.sh [TARGET] [SECONDS]     (default: k8s, 60 seconds)
# Builds with clang, ASan + UBSan and -fsanitize=fuzzer in build/fuzz, seeds a scratch
# corpus from tests/data and runs. A crash leaves its input in build/fuzz/findings/; turn
# it into a seed in tests/data so the test suite's replay keeps it fixed.
set -euo pipefail
target=${1:-k8s}
seconds=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" --fuzz >&2
dir="$top/build/fuzz"
if ! { CC=clang cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DBALE_FUZZ=ON &&
  cmake --build "$dir" -j"$(nproc)" --target "fuzz_$target"; } >"$dir.log" 2>&1; then
  tail -n 40 "$dir.log" >&2
  echo "fuzz build failed; full log: $dir.log" >&2
  exit 1
fi
corpus="$dir/corpus-$target"
mkdir -p "$corpus" "$dir/findings"
cp -n "$top/tests/data/$target"/* "$corpus/" 2>/dev/null || true
exec "$dir/tests/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=1024 \
  -artifact_prefix="$dir/findings/" "$corpus"
