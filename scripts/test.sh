#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs to pass bale's whole test suite:
# install packages, build (Release, Debug with ASan + UBSan, the static bale for amd64 and
# arm64), run every unit and integration test under the sanitizers. Integration tests start their own registries,
# token server and proxies on loopback and clean up after themselves.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" Release >/dev/null
"$top/scripts/build.sh" Debug >/dev/null
"$top/scripts/build.sh" Static >/dev/null # test_static.sh runs it in an empty chroot
"$top/scripts/build.sh" Static-arm64 >/dev/null # and this one there, under qemu
cd "$top/build/debug"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j"$(nproc)" "$@"
