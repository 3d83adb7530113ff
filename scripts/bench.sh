#!/usr/bin/env bash
# Install what is missing, build bale (Release) and run the benchmark harness:
#   scripts/bench.sh [bench/run.sh options]     e.g. --corpus bench --runs 3
# The Markdown table goes to stdout, every run to bench/results/<UTC time>.json.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" >&2
BALE=$("$top/scripts/build.sh" Release)
export BALE
exec "$top/bench/run.sh" "$@"
