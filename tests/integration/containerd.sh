# shellcheck shell=bash
# A real containerd for the tests: Debian's, run as root with its own root, state
# directory and socket under $T, stopped and removed with the test. Source after lib.sh.

# start_containerd: a fresh, empty containerd (each call a new one: its own root);
# exports CTD_SOCK and CTD_LOG; `ctd` runs ctr against the newest.
start_containerd() {
  local dir
  dir=$(mktemp -d "$T/containerd.XXXXXX")
  # Sockets live in a short path: unix socket names are limited to 108 bytes.
  CTD_RUN=$(mktemp -d /tmp/bale-ctd.XXXXXX)
  # BALE_CTD_DEBUG=1: containerd logs at debug level (garbage collection, leases, ingests).
  local level=info
  [[ ${BALE_CTD_DEBUG:-0} == 1 ]] && level=debug
  at_exit "rm -rf '$CTD_RUN'"
  cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$CTD_RUN/state"
[grpc]
  address = "$CTD_RUN/containerd.sock"
[ttrpc]
  address = "$CTD_RUN/containerd.sock.ttrpc"
[debug]
  address = "$CTD_RUN/debug.sock"
  level = "${level}"
[metrics]
  address = ""
TOML
  containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  CTD_PID=$!
  track_pid "$CTD_PID" "$dir/containerd.log"
  export CTD_SOCK="$CTD_RUN/containerd.sock" CTD_LOG="$dir/containerd.log" CTD_ROOT="$dir/root"
  local i
  for i in $(seq 1 100); do
    timeout 2 ctr -a "$CTD_SOCK" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "containerd did not answer on $CTD_SOCK within 10 s: $(tail -n 5 "$CTD_LOG")"
}

# stop_containerd: stop the newest containerd now and remove its content and snapshots,
# keeping its log (benchmarks start many, gigabytes each on the large corpus; tests need
# not).
stop_containerd() {
  kill "$CTD_PID" 2>/dev/null || true
  wait "$CTD_PID" 2>/dev/null || true
  rm -rf "$CTD_ROOT"
}

# ctd ARGS…: ctr against the test's containerd, namespace k8s.io.
ctd() {
  ctr -a "$CTD_SOCK" -n k8s.io "$@"
}

# ctd_grep GREP_OPTS PATTERN CTR_ARGS…: does `ctd CTR_ARGS…` print a line matching PATTERN?
# The whole output is taken first. `ctd … | grep -q` is wrong under pipefail: grep exits at
# the first match, and ctr (which writes line by line, unbuffered) dies of SIGPIPE if it is
# still writing, failing the pipeline although the line was there.
ctd_grep() {
  local opts=$1 pattern=$2 out
  shift 2
  out=$(ctd "$@") || return 1
  grep "$opts" -- "$pattern" <<<"$out"
}
