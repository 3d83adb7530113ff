#!/usr/bin/env bash
# Fuzz one of bale's untrusted-input readers with libFuzzer:
#   scripts/fuzz.sh [TARGET] [SECONDS]     (default: k8s, 60 seconds)
# TARGET is one of tests/fuzz/fuzz_<TARGET>.c: k8s, reference, challenge, manifest, auth,
# bundle. Builds with clang, ASan + UBSan and -fsanitize=fuzzer in build/fuzz, seeds a
# scratch corpus from tests/data/TARGET (the one place that names a target's seeds) and
# runs. A crash or a hang leaves its input in build/fuzz/findings/; add it to
# tests/data/TARGET as finding-<what> so the test suite's replay keeps it fixed.
set -euo pipefail
target=${1:-k8s}
seconds=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
seeds="$top/tests/data/$target"
if [[ ! -f $top/tests/fuzz/fuzz_$target.c || ! -d $seeds ]]; then
  echo "fuzz: no target $target (tests/fuzz/fuzz_$target.c and $seeds)" >&2
  exit 2
fi
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
cp -n "$seeds"/* "$corpus/" 2>/dev/null || true
# One input over 30 s is a hang worth a finding, not a wait.
exec "$dir/tests/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=30 \
  -artifact_prefix="$dir/findings/" "$corpus"
