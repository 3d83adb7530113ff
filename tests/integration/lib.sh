# shellcheck shell=bash
# Helpers for bale's integration tests. Source it first thing:
#
#   source "$(dirname "$0")/lib.sh"
#
# It gives the test a private temp dir $T, starts real registries (Debian's
# docker-registry, distribution 2.8) and a token server on loopback, seeds them
# with small deterministic images, and stops and removes everything on exit,
# whether the test passes or fails. Set BALE_KEEP_TMP=1 to keep $T of a failed
# test for a post-mortem.
#
# Call start_* and seed_* directly, never inside $(...) or a pipeline: they
# record server PIDs and export variables in the calling shell.

set -Eeuo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's interpreter: it has python3-jwt and python3-cryptography; the first
# python3 on PATH may be another one without them.
PY=/usr/bin/python3

# Credentials every authenticated registry and the token server accept.
BALE_TEST_USER=alice
BALE_TEST_PASS='wonderland-S3cret!'
# A refresh token the token server knows from the start (grant_type=refresh_token).
BALE_TEST_REFRESH_TOKEN=bale-test-refresh-alice-0001
export BALE_TEST_USER BALE_TEST_PASS BALE_TEST_REFRESH_TOKEN

T=$(mktemp -d "${TMPDIR:-/tmp}/bale-it.XXXXXXXX")
export T

_LIB_PIDS=()        # servers to stop on exit
_LIB_LOGS=()        # their logs, shown when a test fails
_LIB_AT_EXIT=()     # extra cleanup commands registered with at_exit
_LIB_PORTS=" "      # ports handed out, so two calls never return the same one
_LIB_WATCHDOG=""

# Keep peers and bale away from the user's own configuration and caches: a
# docker login or a registry mirror on the host must not change test results.
mkdir -p "$T/tmp" "$T/home/.config" "$T/home/.cache" "$T/docker"
export TMPDIR="$T/tmp"
export XDG_CONFIG_HOME="$T/home/.config" XDG_CACHE_HOME="$T/home/.cache"
# An import without --ledger writes the test's own ledger, never the host's.
export BALE_LEDGER="$T/home/ledger.db"
export DOCKER_CONFIG="$T/docker"
export REGISTRY_AUTH_FILE="$T/containers-auth.json"
printf '{"auths":{}}\n' >"$REGISTRY_AUTH_FILE"
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$T/policy.json"
printf 'unqualified-search-registries = []\n' >"$T/registries.conf"
export CONTAINERS_REGISTRIES_CONF="$T/registries.conf"

# ---------------------------------------------------------------- reporting

# _where [FRAME]: "file:line" of the caller of the function FRAME levels up.
# shellcheck disable=SC2120
_where() {
  local frame
  if frame=$(caller "$((${1:-0} + 1))"); then
    # "LINE FUNCTION FILE"
    printf '%s:%s' "${frame#* * }" "${frame%% *}"
  else
    printf 'top level'
  fi
}

# fail MSG…: stop the test with a message naming the caller's line.
fail() {
  printf 'FAIL: %s\n  at %s\n' "$*" "$(_where 0)" >&2
  exit 1
}

# Name the command that tripped `set -e`, which bash otherwise keeps silent.
_lib_on_err() {
  local rc=$1 line=$2 file=$3 cmd=$4
  printf 'FAIL: exit %s from: %s\n  at %s:%s\n' "$rc" "$cmd" "$file" "$line" >&2
}
trap '_lib_on_err $? "$LINENO" "${BASH_SOURCE[0]:-?}" "$BASH_COMMAND"' ERR

# at_exit CMD: run CMD (a string, eval'd) during cleanup, before servers stop.
at_exit() {
  _LIB_AT_EXIT+=("$1")
}

# Show the end of every server log, so a failure can be read from ctest output.
_lib_dump_logs() {
  local log
  for log in "${_LIB_LOGS[@]}"; do
    [[ -s $log ]] || continue
    printf -- '--- last lines of %s\n' "$log" >&2
    tail -n 15 "$log" >&2
  done
}

# Stop servers: TERM, a short bounded wait, then KILL.
_lib_stop_servers() {
  local pid deadline
  for pid in "${_LIB_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 5))
  for pid in "${_LIB_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  _LIB_PIDS=()
}

_lib_cleanup() {
  local rc=$?
  local cmd
  set +eE
  trap - ERR
  # A test that handles credentials and got this far without a failure is scanned even
  # if it did not call secret_scan itself.
  if ((rc == 0)) && [[ -n ${_LIB_REAL_BALE:-} && -z ${_LIB_SCANNED:-} ]]; then
    (trap - EXIT && secret_scan) || rc=1
  fi
  for cmd in "${_LIB_AT_EXIT[@]}"; do
    eval "$cmd" || true
  done
  if [[ -n $_LIB_WATCHDOG ]]; then
    kill -KILL "$_LIB_WATCHDOG" 2>/dev/null
    wait "$_LIB_WATCHDOG" 2>/dev/null
  fi
  ((rc == 0)) || _lib_dump_logs
  _lib_stop_servers
  if ((rc != 0)) && [[ ${BALE_KEEP_TMP:-0} == 1 ]]; then
    echo "kept test dir $T" >&2
  else
    rm -rf "$T"
  fi
  exit "$rc"
}
trap _lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# If the test shell is killed outright (SIGKILL, e.g. by a harness timeout) its
# EXIT trap never runs; this watchdog then stops the servers and removes $T.
_lib_start_watchdog() {
  [[ -z $_LIB_WATCHDOG ]] || return 0
  local parent=$$
  (
    trap - EXIT ERR INT TERM HUP
    while kill -0 "$parent" 2>/dev/null; do sleep 1; done
    if [[ -f $T/.pids ]]; then
      while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$T/.pids"
    fi
    rm -rf "$T"
  ) </dev/null >/dev/null 2>&1 &
  _LIB_WATCHDOG=$!
}

# track_pid PID [LOG]: stop PID on exit; show LOG if the test fails.
track_pid() {
  _lib_start_watchdog
  _LIB_PIDS+=("$1")
  printf '%s\n' "$1" >>"$T/.pids"
  if [[ -n ${2:-} && " ${_LIB_LOGS[*]} " != *" $2 "* ]]; then _LIB_LOGS+=("$2"); fi
}

# -------------------------------------------------------------- assertions

# expect_exit CODE CMD…: run CMD with stdout/stderr in $LAST_STDOUT/$LAST_STDERR
# and fail, showing both, unless it exits with CODE. (A shell function as CMD
# runs without `set -e`, as bash does in any tested context.)
expect_exit() {
  local want=$1 rc=0
  shift
  LAST_STDOUT="$T/last.stdout"
  LAST_STDERR="$T/last.stderr"
  "$@" >"$LAST_STDOUT" 2>"$LAST_STDERR" || rc=$?
  if [[ $rc != "$want" ]]; then
    {
      printf 'FAIL: expected exit %s, got %s from:' "$want" "$rc"
      printf ' %q' "$@"
      printf '\n  at %s\n--- stdout:\n' "$(_where 0)"
      head -c 4000 "$LAST_STDOUT"
      printf -- '\n--- stderr:\n'
      head -c 4000 "$LAST_STDERR"
      printf '\n'
    } >&2
    exit 1
  fi
}

# assert_contains FILE STRING: FILE must contain STRING (fixed string).
assert_contains() {
  [[ -f $1 ]] || fail "assert_contains: no file $1"
  grep -qF -- "$2" "$1" || fail "$1 does not contain '$2'; it has: $(head -c 2000 "$1")"
}

# assert_not_contains FILE STRING: FILE must not contain STRING. The message
# gives only line numbers, so a leaked secret is not printed again.
assert_not_contains() {
  [[ -f $1 ]] || fail "assert_not_contains: no file $1"
  local lines
  if lines=$(grep -nF -- "$2" "$1" | cut -d: -f1 | tr '\n' ' '); then
    fail "$1 contains a forbidden string (lines: ${lines% })"
  fi
}

# assert_eq WANT GOT [WHAT]
assert_eq() {
  [[ $1 == "$2" ]] || fail "${3:-value}: expected '$1', got '$2'"
}

# ---------------------------------------------------------------- secrets

# track_secrets: this test hands bale credentials. Call it right after sourcing lib.sh.
# From then on $BALE is a wrapper that keeps what every bale run prints, and at the end
# (secret_scan, which cleanup also runs if the test passed without calling it) everything
# bale produced is scanned for the test's secrets; one hit fails the test, naming the file
# and never the secret.
track_secrets() {
  [[ -z ${_LIB_REAL_BALE:-} ]] || return 0
  : "${BALE:?BALE must name the bale binary}"
  _LIB_REAL_BALE=$BALE
  _LIB_RUNS="$T/.harness/runs"
  mkdir -p "$_LIB_RUNS"
  : >"$T/.harness/secrets"
  chmod 600 "$T/.harness/secrets"
  # stdout and stderr are kept whole and then replayed, so a test reads them as before
  # (the exit status too); the arguments are not kept: they hold passwords.
  cat >"$T/.harness/bale" <<WRAPPER
#!/bin/bash
verb=\${1//[^a-z]/}
run=\$(mktemp "$_LIB_RUNS/\${verb:-bale}.XXXXXX") || exit 1
"$_LIB_REAL_BALE" "\$@" >"\$run.out" 2>"\$run.err"
rc=\$?
cat -- "\$run.out"
cat -- "\$run.err" >&2
exit \$rc
WRAPPER
  chmod 755 "$T/.harness/bale"
  BALE="$T/.harness/bale"
  export BALE
}

# secret_add VALUE…: more secrets for the scan (a revoked token a test makes up, …).
secret_add() {
  printf '%s\n' "$@" >>"$T/.harness/secrets"
}

# _secret_needles: what the scan looks for, one a line: the test password, user:password,
# the refresh token, what secret_add added and every token and refresh token the token
# servers handed out (their issued.log), each as it is and in base64 at each of the three
# alignments it can have inside a longer base64 text (an Authorization: Basic value, a
# docker "auth" field), and in base64 of that base64 (a dockerconfigjson, whose "auth"
# fields are base64 already, encoded whole). JWTs also by their signature alone, in case
# one is cut short.
_secret_needles() {
  {
    printf '%s\n' "$BALE_TEST_PASS" "$BALE_TEST_USER:$BALE_TEST_PASS" "$BALE_TEST_REFRESH_TOKEN"
    cat "$T/.harness/secrets"
    cat "$T"/*/token/issued.log 2>/dev/null || true
  } | "$PY" -c '
import base64, sys
def cores(text):
    """text in base64 at each alignment, without the characters the bytes around it change"""
    b = text.encode()
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + b).decode()
        core = enc[(8 * pad + 5) // 6:(8 * (pad + len(b))) // 6]
        if len(core) >= 8:
            yield core
out = set()
for s in sys.stdin.read().split("\n"):
    if len(s) < 8:
        continue
    for f in [s] + ([s.rsplit(".", 1)[1]] if s.count(".") == 2 else []):
        once = set(cores(f))
        out |= {f} | once | {c2 for c in once for c2 in cores(c)}
print("\n".join(sorted(out)))
'
}

# _secret_files: NUL-separated, every file bale produced: the output of every run; every
# bundle (*.tar.zst) and SQLite file (ledgers, index.db) anywhere in $T; every OCI layout
# (a directory with an oci-layout file: stores); the content cache and bale's $TMPDIR.
_secret_files() {
  local -a roots=("$_LIB_RUNS") layouts=()
  local d
  for d in "${XDG_CACHE_HOME:-}" "$T/home/.cache" "$T/cache" "$T/tmp"; do
    [[ -n $d && -d $d ]] && roots+=("$d")
  done
  mapfile -d '' -t layouts < <(find "$T" -path "$T/.harness" -prune -o -name oci-layout -type f -printf '%h\0')
  find "${roots[@]}" "${layouts[@]}" -type f -print0
  find "$T" -path "$T/.harness" -prune -o -type f \( -name '*.tar.zst' -o -name '*.zst' \
    -o -name '*.db' -o -name '*.db-wal' -o -name '*.db-journal' \) -print0
}

# secret_scan: fail naming every file bale produced that holds a test secret: raw bytes
# (grep -a), and zstd files (bundles, zstd layers) decompressed too.
secret_scan() {
  [[ -n ${_LIB_REAL_BALE:-} ]] || fail "secret_scan without track_secrets"
  _LIB_SCANNED=1
  local LC_ALL=C needles="$T/.harness/needles" f magic n=0
  local -a files hits=()
  _secret_needles >"$needles"
  [[ -s $needles ]] || fail "secret scan: no secrets to look for"
  [[ -n $(find "$_LIB_RUNS" -name '*.err' -print -quit) ]] || fail "secret scan: no bale run was recorded"
  mapfile -d '' -t files < <(_secret_files | sort -zu)
  while IFS= read -r -d '' f; do
    hits+=("$f")
  done < <(printf '%s\0' "${files[@]}" | xargs -0 -r grep -laFZ -f "$needles" -- || true)
  for f in "${files[@]}"; do
    ((++n))
    IFS= read -r -n 4 -d '' magic <"$f" || true
    [[ $magic == $'\x28\xb5\x2f\xfd' ]] || continue
    if zstd -dcq -- "$f" 2>/dev/null | strings -n 8 | grep -qaF -f "$needles"; then
      hits+=("$f (decompressed)")
    fi
  done
  if ((${#hits[@]})); then
    printf 'FAIL: a test secret is in what bale wrote (%d of %d files):\n' "${#hits[@]}" "$n" >&2
    printf '  %s\n' "${hits[@]}" >&2
    exit 1
  fi
  echo "secret scan: $n files, no secret"
}

# ------------------------------------------------------------------ ports

# free_port: print a loopback TCP port that is free now (the kernel picks it).
free_port() {
  local port _
  for _ in 1 2 3 4 5; do
    port=$("$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')
    if [[ $_LIB_PORTS != *" $port "* ]]; then
      _LIB_PORTS+="$port "
      printf '%s\n' "$port"
      return 0
    fi
  done
  fail "free_port: kernel kept returning ports already handed out"
}

# wait_port PORT [SECONDS] [PID]: wait until 127.0.0.1:PORT accepts a TCP
# connection; give up after SECONDS (10), or at once if PID dies.
wait_port() {
  local rc=0
  _wait_listen "$@" || rc=$?
  case $rc in
    0) ;;
    2) fail "process $3 exited before listening on port $1" ;;
    *) fail "nothing listening on 127.0.0.1:$1 after ${2:-10}s" ;;
  esac
}

# _wait_listen PORT [SECONDS] [PID]: like wait_port, but returns 1 on timeout
# and 2 if PID died, for callers that can do something about it.
_wait_listen() {
  local port=$1 secs=${2:-10} pid=${3:-}
  local deadline=$((SECONDS + secs))
  until _listening "$port" "$pid"; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      return 2
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# _listening PORT [PID]: something accepts on 127.0.0.1:PORT; with PID, that
# listening socket must belong to PID, not to a process that took the port
# first (Linux /proc: the LISTEN entry's inode among PID's open fds).
_listening() {
  local port=$1 pid=${2:-} inode
  if [[ -z $pid ]]; then
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    return
  fi
  inode=$(awk -v want="0100007F:$(printf '%04X' "$port")" \
    '$2 == want && $4 == "0A" { print $10; exit }' /proc/net/tcp)
  [[ -n $inode ]] || return 1
  [[ -n $(find "/proc/$pid/fd" -maxdepth 1 -lname "socket:\[$inode\]" 2>/dev/null) ]]
}

# _launch LOG STARTER: run `STARTER PORT` on a free port; STARTER starts a
# server in the background (logging to LOG) and sets _LAUNCH_PID. If another
# process grabbed the port between free_port and the bind (tests running in
# parallel), try again on a new port. Sets _LAUNCH_PORT.
_launch() {
  local log=$1 starter=$2 port rc _
  for _ in 1 2 3; do
    port=$(free_port)
    "$starter" "$port"
    track_pid "$_LAUNCH_PID" "$log"
    rc=0
    _wait_listen "$port" 10 "$_LAUNCH_PID" || rc=$?
    case $rc in
      0)
        _LAUNCH_PORT=$port
        return 0
        ;;
      2) grep -qi 'address already in use' "$log" || fail "server exited at start: $(tail -n 5 "$log")" ;;
      *) fail "nothing listening on 127.0.0.1:$port after 10s: $(tail -n 5 "$log")" ;;
    esac
  done
  fail "could not bind a free loopback port in 3 attempts"
}

# ------------------------------------------------------------------- PKI

# ensure_ca: make (once per test) a throwaway CA and certificates:
#   $T/ca/ca.crt                       CA certificate (CA_CERT)
#   $T/ca/client.cert, client.key      client certificate for mTLS
#   $T/pki/server.crt, server.key      server certificate, SAN IP:127.0.0.1, DNS:localhost
#   $T/ca-only/ca.crt                  the CA alone (a cert dir without a client cert)
# $T/ca works as a skopeo/podman --cert-dir; private keys other than the
# client's live in $T/pki, since containers/image refuses a *.key without a
# matching *.cert in a cert dir.
ensure_ca() {
  [[ -f $T/ca/ca.crt ]] && return 0
  local ca=$T/ca pki=$T/pki
  mkdir -p "$ca" "$pki" "$T/ca-only"
  _openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bale test CA" -keyout "$pki/ca.key" -out "$ca/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  _issue_cert server "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth" "$pki/server.key" "$pki/server.crt"
  _issue_cert "bale test client" "extendedKeyUsage=clientAuth" "$ca/client.key" "$ca/client.cert"
  cp "$ca/ca.crt" "$T/ca-only/ca.crt"
  export CA_DIR="$ca" CA_CERT="$ca/ca.crt" CA_ONLY_DIR="$T/ca-only"
  export CLIENT_CERT="$ca/client.cert" CLIENT_KEY="$ca/client.key"
}

# _issue_cert CN EXTENSIONS KEYFILE CERTFILE: a leaf signed by the test CA.
_issue_cert() {
  local cn=$1 ext=$2 key=$3 crt=$4 extfile
  extfile="$T/pki/${crt##*/}.ext"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n%s\n' "$ext" >"$extfile"
  _openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$cn" -keyout "$key" -out "$T/pki/${crt##*/}.csr"
  _openssl x509 -req -in "$T/pki/${crt##*/}.csr" -CA "$T/ca/ca.crt" -CAkey "$T/pki/ca.key" \
    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 2 \
    -extfile "$extfile" -out "$crt"
  chmod 600 "$key"
}

# openssl is chatty on stderr even when it succeeds; show it only on failure.
_openssl() {
  openssl "$@" 2>"$T/pki/openssl.err" || { cat "$T/pki/openssl.err" >&2; fail "openssl $1 failed"; }
}

# _ensure_htpasswd: bcrypt entries only; distribution ignores other hashes.
_ensure_htpasswd() {
  [[ -f $T/pki/htpasswd ]] && return 0
  mkdir -p "$T/pki"
  htpasswd -Bbn "$BALE_TEST_USER" "$BALE_TEST_PASS" >"$T/pki/htpasswd"
}

# ------------------------------------------------------------- registries

_check_name() {
  [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "registry name '$1' must be a shell identifier"
  [[ ! -e $T/$1 ]] || fail "registry '$1' already started in this test"
}

# _set NAME VALUE: assign and export a variable whose name is computed.
_set() {
  printf -v "$1" '%s' "$2"
  export "${1?}"
}

# start_registry NAME MODE: run docker-registry on a free loopback port.
#   MODE plain      HTTP, no auth
#        tls-basic  HTTPS (test CA) + htpasswd Basic auth ($BALE_TEST_USER/$BALE_TEST_PASS)
#        mtls       HTTPS requiring a client certificate signed by the test CA
#        token      HTTP + Bearer tokens from token_server.py (started here)
# OPTIONs after MODE:
#   foreign-urls    accept manifests whose foreign (non-distributable) layers have
#                   `urls` on loopback (http://127.0.0.1:…); distribution refuses
#                   every such manifest unless its config allows the URLs
#   schema1         accept signed Docker schema 1 manifests (distribution 2.8 refuses
#                   them unless compatibility.schema1.enabled)
# Exports NAME_PORT, NAME_HOST (127.0.0.1:PORT), NAME_URL, NAME_DATA (storage
# root), NAME_LOG, NAME_MODE, NAME_OPTIONS; token mode adds NAME_TOKEN_PORT, NAME_REALM,
# NAME_SERVICE, NAME_ISSUER and NAME_TOKEN_LOG (one line per token request).
start_registry() {
  local name=$1 mode=$2 opt
  _check_name "$name"
  local dir=$T/$name port scheme=http extra="" top=""
  for opt in "${@:3}"; do
    case $opt in
      schema1) top+=$'\ncompatibility:\n  schema1:\n    enabled: true' ;;
      foreign-urls) top+=$'\nvalidation:\n  manifests:\n    urls:\n      allow:\n        - '"'^https?://127\\.0\\.0\\.1:'" ;;
      *) fail "start_registry: unknown option '$opt' (foreign-urls, schema1)" ;;
    esac
  done
  mkdir -p "$dir/data"
  case $mode in
    plain) ;;
    tls-basic)
      ensure_ca
      _ensure_htpasswd
      scheme=https
      extra=$(_tls_yaml)$(_htpasswd_yaml)
      ;;
    mtls)
      ensure_ca
      scheme=https
      extra=$(_tls_yaml)$'\n    clientcas:\n      - "'"$CA_CERT"'"'
      ;;
    token)
      _start_token_server "$name"
      extra=$(_token_yaml "$name")
      ;;
    *) fail "start_registry: unknown mode '$mode' (plain, tls-basic, mtls, token)" ;;
  esac
  extra+=$top
  _launch "$dir/registry.log" _serve_registry
  port=$_LAUNCH_PORT

  _set "${name}_PORT" "$port"
  _set "${name}_HOST" "127.0.0.1:$port"
  _set "${name}_URL" "$scheme://127.0.0.1:$port"
  _set "${name}_DATA" "$dir/data"
  _set "${name}_LOG" "$dir/registry.log"
  _set "${name}_MODE" "$mode"
  _set "${name}_OPTIONS" "${*:3}"
}

# _serve_registry PORT: (for _launch; uses start_registry's dir and extra)
_serve_registry() {
  _registry_yaml "$dir/data" "$1" "$extra" >"$dir/config.yml"
  # distribution reads REGISTRY_* variables as config overrides, and skopeo's
  # REGISTRY_AUTH_FILE (exported above) would become "auth.file": drop them all.
  local -a unset_env=()
  local v
  for v in $(compgen -e); do
    [[ $v != REGISTRY_* ]] || unset_env+=(-u "$v")
  done
  env "${unset_env[@]}" docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  _LAUNCH_PID=$!
}

# start_token_registry NAME: token server + registry in token mode.
start_token_registry() {
  start_registry "$1" token
}

# _registry_yaml ROOTDIR PORT EXTRA: the distribution config. EXTRA is more
# YAML under http: (tls) and/or a top-level auth: block.
_registry_yaml() {
  cat <<EOF
version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: "$1"
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: "127.0.0.1:$2"
  # A fixed secret: without one the registry warns at every start.
  secret: bale-integration-test
  headers:
    X-Content-Type-Options: [nosniff]$3
EOF
}

_tls_yaml() {
  printf '\n  tls:\n    certificate: "%s"\n    key: "%s"' "$T/pki/server.crt" "$T/pki/server.key"
}

_htpasswd_yaml() {
  printf '\nauth:\n  htpasswd:\n    realm: bale-test\n    path: "%s"' "$T/pki/htpasswd"
}

_token_yaml() {
  local name=$1 realm service issuer
  realm=${name}_REALM service=${name}_SERVICE issuer=${name}_ISSUER
  printf '\nauth:\n  token:\n    realm: "%s"\n    service: "%s"\n    issuer: "%s"\n    rootcertbundle: "%s"' \
    "${!realm}" "${!service}" "${!issuer}" "$T/$name/token/signing.crt"
}

# _start_token_server NAME: signing key + self-signed certificate (the
# registry's rootcertbundle), a policy file, then token_server.py.
_start_token_server() {
  local name=$1 dir=$T/$1/token port
  mkdir -p "$dir" "$T/pki"
  _openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bale test token signer" -keyout "$dir/signing.key" -out "$dir/signing.crt"
  cat >"$dir/policy.json" <<EOF
{
  "issuer": "bale-test-issuer",
  "service": "bale-test-registry",
  "expires_in": ${TOKEN_EXPIRES_IN:-300},
  "users": {"$BALE_TEST_USER": "$BALE_TEST_PASS"},
  "refresh_tokens": {"$BALE_TEST_REFRESH_TOKEN": "$BALE_TEST_USER"}
}
EOF
  _launch "$dir/server.log" _serve_token
  port=$_LAUNCH_PORT
  _set "${name}_TOKEN_PORT" "$port"
  _set "${name}_REALM" "http://127.0.0.1:$port/token"
  _set "${name}_SERVICE" bale-test-registry
  _set "${name}_ISSUER" bale-test-issuer
  _set "${name}_TOKEN_LOG" "$dir/requests.log"
}

# _serve_token PORT: (for _launch; uses _start_token_server's dir)
_serve_token() {
  "$PY" "$LIB_DIR/token_server.py" --port "$1" --config "$dir/policy.json" \
    --key "$dir/signing.key" --cert "$dir/signing.crt" --log "$dir/requests.log" \
    --issued "$dir/issued.log" >"$dir/server.log" 2>&1 &
  _LAUNCH_PID=$!
}

# registry_blob_path NAME DIGEST: where registry NAME keeps a blob's bytes
# (to corrupt or delete it behind the registry's back).
registry_blob_path() {
  local data=${1}_DATA hex=${2#sha256:}
  [[ -n ${!data:-} ]] || fail "registry_blob_path: no registry '$1'"
  printf '%s/docker/registry/v2/blobs/sha256/%s/%s/data\n' "${!data}" "${hex:0:2}" "$hex"
}

# --------------------------------------------------------------- skopeo

# run_skopeo ARGS…: skopeo with the test's own policy and registries.conf.
run_skopeo() {
  skopeo --policy "$T/policy.json" --registries-conf "$T/registries.conf" "$@"
}

# skopeo_args NAME [src|dest] [anon]: print, one per line, the skopeo options
# that reach registry NAME (TLS trust, client cert, credentials). With a
# prefix they become --src-…/--dest-…; "anon" sends no credentials.
#   mapfile -t a < <(skopeo_args reg dest)
skopeo_args() {
  local name=$1 pfx=${2:+--$2-} anon=${3:-}
  local mode=${name}_MODE
  [[ -n ${!mode:-} ]] || fail "skopeo_args: no registry '$name'"
  pfx=${pfx:---}
  case ${!mode} in
    plain | token) printf '%s\n' "${pfx}tls-verify=false" ;;
    tls-basic) printf '%s\n' "${pfx}cert-dir" "$T/ca-only" ;;
    mtls) printf '%s\n' "${pfx}cert-dir" "$T/ca" ;;
  esac
  case ${!mode} in
    tls-basic | token)
      if [[ $anon == anon ]]; then
        printf '%s\n' "${pfx}no-creds"
      else
        printf '%s\n' "${pfx}creds" "$BALE_TEST_USER:$BALE_TEST_PASS"
      fi
      ;;
    *) [[ $anon != anon ]] || printf '%s\n' "${pfx}no-creds" ;;
  esac
}

# ----------------------------------------------------------------- images

# build_images [mkimages.py options…]: build the test layouts into
# $T/images (once; call it again to rebuild with other options, e.g.
# --layer-kib 20000). Exports IMAGES_DIR, MULTI_LAYOUT, SINGLE_LAYOUT and
# IMAGES_SUMMARY (mkimages' JSON: every digest of every platform).
# shellcheck disable=SC2120
build_images() {
  export IMAGES_DIR="$T/images"
  rm -rf "$IMAGES_DIR"
  mkdir -p "$IMAGES_DIR"
  "$PY" "$LIB_DIR/mkimages.py" "$@" "$IMAGES_DIR" >"$T/images.json"
  export IMAGES_SUMMARY="$T/images.json"
  export MULTI_LAYOUT="$IMAGES_DIR/multi" SINGLE_LAYOUT="$IMAGES_DIR/single"
}

# seed_images HOST [skopeo --dest-… options…]: push the test images to HOST.
# For each prefix in $SEED_PREFIXES (default "demo"):
#   PREFIX/multi:1    OCI index (amd64, arm64/v8, arm/v7), bytes kept
#   PREFIX/dlist:1    the same as a Docker manifest list (skopeo --format v2s2)
#   PREFIX/schema2:1  Docker schema 2 single-platform manifest
#   PREFIX/single:1   OCI single-platform manifest, bytes kept
# Exports DIGEST_<prefix>_<image> (top-level digest, e.g. DIGEST_demo_dlist)
# and for multi/dlist DIGEST_<prefix>_<image>_<arch>[_<variant>] (e.g.
# DIGEST_demo_multi_arm64_v8); appends "HOST/REPO:TAG DIGEST" to $T/seeded.txt.
seed_images() {
  local host=$1
  shift
  local -a dest=("$@") src=()
  local a prefix
  # The same options for reading back: --dest-x -> --x.
  for a in "${dest[@]}"; do
    src+=("${a/#--dest-/--}")
  done
  [[ -n ${IMAGES_DIR:-} ]] || build_images --layer-kib 0
  for prefix in ${SEED_PREFIXES:-demo}; do
    _seed_one "$host" "$prefix" multi "oci:$MULTI_LAYOUT:multi" --all --preserve-digests
    _seed_one "$host" "$prefix" dlist "oci:$MULTI_LAYOUT:multi" --all --format v2s2
    _seed_one "$host" "$prefix" schema2 "oci:$SINGLE_LAYOUT:single" --format v2s2
    _seed_one "$host" "$prefix" single "oci:$SINGLE_LAYOUT:single" --preserve-digests
  done
}

# seed_registry NAME: seed_images with the right options for registry NAME;
# a token registry gets both private/… and public/… repositories.
seed_registry() {
  local name=$1 mode=${1}_MODE
  local -a args
  mapfile -t args < <(skopeo_args "$name" dest)
  [[ -n ${!mode:-} ]] || fail "seed_registry: no registry '$name'"
  local host=${name}_HOST
  if [[ ${!mode} == token ]]; then
    SEED_PREFIXES=${SEED_PREFIXES:-private public} seed_images "${!host}" "${args[@]}"
  else
    seed_images "${!host}" "${args[@]}"
  fi
}

# _seed_one HOST PREFIX IMAGE SOURCE COPY-OPTIONS…  (uses dest/src of seed_images)
_seed_one() {
  local host=$1 prefix=$2 image=$3 source=$4
  shift 4
  local ref="$host/$prefix/$image:1" var digest raw
  var="DIGEST_${prefix//[^A-Za-z0-9]/_}_$image"
  raw="$T/seed.raw"
  if ! run_skopeo copy --quiet --retry-times 2 "$@" "${dest[@]}" --digestfile "$T/seed.digest" \
    "$source" "docker://$ref" >"$T/seed.log" 2>&1; then
    cat "$T/seed.log" >&2
    fail "seeding $ref failed"
  fi
  digest=$(<"$T/seed.digest")
  # Read it back: checks the push and gives the per-platform digests.
  run_skopeo inspect --raw "${src[@]}" "docker://$ref" >"$raw" || fail "cannot read back $ref"
  [[ sha256:$(sha256sum <"$raw" | cut -d' ' -f1) == "$digest" ]] \
    || fail "$ref: manifest read back does not hash to the pushed digest $digest"
  _set "$var" "$digest"
  printf '%s %s\n' "$ref" "$digest" >>"$T/seeded.txt"
  local arch variant d
  while read -r arch variant d; do
    variant=${variant#-}
    _set "${var}_${arch}${variant:+_$variant}" "$d"
  done < <(jq -r '.manifests[]? | [.platform.architecture, "-" + (.platform.variant // ""), .digest] | @tsv' "$raw")
}

# ----------------------------------------------------------------- shapes

# start_static NAME DIR: serve DIR over plain HTTP on a free loopback port (python's
# http.server, read-only GET/HEAD). Exports NAME_PORT, NAME_URL and NAME_LOG.
start_static() {
  local name=$1 root=$2 dir=$T/$1
  _check_name "$name"
  mkdir -p "$dir" "$root"
  _launch "$dir/server.log" _serve_static
  _set "${name}_PORT" "$_LAUNCH_PORT"
  _set "${name}_URL" "http://127.0.0.1:$_LAUNCH_PORT"
  _set "${name}_LOG" "$dir/server.log"
}

# _serve_static PORT: (for _launch; uses start_static's dir and root)
_serve_static() {
  "$PY" -m http.server --bind 127.0.0.1 --directory "$root" "$1" >"$dir/server.log" 2>&1 &
  _LAUNCH_PID=$!
}

# seed_shapes NAME [SHAPE…]: build the shapes corpus (mkshapes.py: artifacts, signatures,
# referrers, attestations, zstd and plain tar layers, nested and Windows indexes,
# a 5 MiB config, the odd images the pull and store tests need; docs/shapes.md) and
# push it byte for byte (push_exact.py) to plain registry NAME: every shape, or only
# the SHAPEs named. A registry that gets a Windows shape needs the foreign-urls option:
# their foreign layers are not pushed, a static server (start_static foreign) serves
# them at their `urls`. Exports SHAPES_DIR, SHAPES_LAYOUT (the OCI layout),
# SHAPES_SUMMARY (mkshapes' JSON) and, per shape of the corpus, SHAPE_<shape> = its
# root digest (SHAPE_helm_nomt for helm-nomt); appends "HOST/REPO:TAG DIGEST" to
# $T/seeded.txt for each shape pushed. A registry started with the schema1 option also
# gets shapes/schema1:1 (when every shape or "schema1" is asked for), a signed Docker
# schema 1 image (mkschema1.py; shape "schema1", whose digest is that of the manifest
# without its signatures).
seed_shapes() {
  local name=$1 host=${1}_HOST url=${1}_URL mode=${1}_MODE opts=${1}_OPTIONS shape digest ref
  shift
  local -a only=("$@") refs=()
  local all=1 want_schema1=0
  ((${#only[@]} == 0)) || all=0
  [[ ${!mode:-} == plain ]] || fail "seed_shapes: '$name' is not a plain registry"
  export SHAPES_DIR="$T/shapes"
  if [[ ! -f $SHAPES_DIR/summary.json ]]; then
    mkdir -p "$SHAPES_DIR/foreign"
    start_static foreign "$SHAPES_DIR/foreign"
    "$PY" "$LIB_DIR/mkshapes.py" --foreign-base "$foreign_URL" "$SHAPES_DIR" >"$SHAPES_DIR/summary.json.tmp" \
      || fail "mkshapes.py failed"
    mv "$SHAPES_DIR/summary.json.tmp" "$SHAPES_DIR/summary.json"
  fi
  export SHAPES_LAYOUT="$SHAPES_DIR/layout" SHAPES_SUMMARY="$SHAPES_DIR/summary.json"
  for shape in "${only[@]}"; do
    if [[ $shape == schema1 ]]; then
      want_schema1=1
      continue
    fi
    ref=$(jq -r --arg s "$shape" '.shapes[$s].ref // empty' "$SHAPES_SUMMARY")
    [[ -n $ref ]] || fail "seed_shapes: no shape '$shape' in mkshapes.py"
    refs+=(--ref "$ref")
  done
  if [[ $all == 1 || ${#refs[@]} -gt 0 ]]; then
    local foreign
    foreign=$(jq -r --args '.shapes | to_entries[] | select(($ARGS.positional | length == 0)
      or (.key | IN($ARGS.positional[]))) | select(.value.foreign | length > 0) | .key' "$SHAPES_SUMMARY" "${only[@]}")
    [[ -z $foreign || " ${!opts} " == *" foreign-urls "* ]] ||
      fail "seed_shapes: start registry '$name' with the foreign-urls option (shapes $(echo $foreign) have layer urls)"
    "$PY" "$LIB_DIR/push_exact.py" "${refs[@]}" "$SHAPES_LAYOUT" "${!url}" >>"$T/push_exact.out" 2>"$T/push_exact.err" \
      || fail "pushing the shapes to $name: $(cat "$T/push_exact.err")"
  fi
  if [[ " ${!opts} " == *" schema1 "* && ($all == 1 || $want_schema1 == 1) ]]; then
    if [[ ! -f $SHAPES_DIR/schema1.json ]]; then
      "$PY" "$LIB_DIR/mkschema1.py" "$SHAPES_DIR/schema1" shapes/schema1 1 >"$SHAPES_DIR/schema1.json" \
        || fail "mkschema1.py failed"
      jq -s '.[0].shapes += .[1] | .[0]' "$SHAPES_SUMMARY" "$SHAPES_DIR/schema1.json" >"$SHAPES_SUMMARY.tmp"
      mv "$SHAPES_SUMMARY.tmp" "$SHAPES_SUMMARY"
    fi
    "$PY" "$LIB_DIR/push_exact.py" "$SHAPES_DIR/schema1" "${!url}" >>"$T/push_exact.out" 2>"$T/push_exact.err" \
      || fail "pushing the schema 1 image to $name: $(cat "$T/push_exact.err")"
  elif [[ $want_schema1 == 1 ]]; then
    fail "seed_shapes: start registry '$name' with the schema1 option to seed the schema1 shape"
  fi
  while read -r shape digest ref; do
    _set "SHAPE_${shape//[^A-Za-z0-9]/_}" "$digest"
    if [[ $all == 1 || " ${only[*]} " == *" $shape "* ]]; then
      printf '%s/%s %s\n' "${!host}" "$ref" "$digest" >>"$T/seeded.txt"
    fi
  done < <(jq -r '.shapes | to_entries[] | [.key, .value.digest, .value.ref] | @tsv' "$SHAPES_SUMMARY")
}

# shape_field SHAPE FIELD: one field of mkshapes' summary (arrays one item a line), after
# seed_shapes: ref, repo, tag, digest, mediaType, manifests, blobs, foreign.
shape_field() {
  local got
  got=$(jq -r --arg s "$1" --arg f "$2" '.shapes[$s][$f] // error("no field \($f) of shape \($s)")
    | if type == "array" then .[] else . end' "$SHAPES_SUMMARY") || fail "shape_field $1 $2: not in $SHAPES_SUMMARY"
  [[ -z $got ]] || printf '%s\n' "$got"
}

# shape_jq DIGEST FILTER: jq -r FILTER over the corpus' manifest or index DIGEST (its exact
# bytes in the layout), e.g. a child's digest: shape_jq "$SHAPE_nested" '.manifests[0].digest'.
shape_jq() {
  local f="$SHAPES_LAYOUT/blobs/sha256/${1#sha256:}" got
  [[ -f $f ]] || fail "shape_jq: $1 is not in the shapes layout"
  got=$(jq -r "$2" "$f") || fail "shape_jq $1 '$2' failed"
  [[ -n $got && $got != null ]] || fail "shape_jq: $1 has no '$2'"
  printf '%s\n' "$got"
}

# ---------------------------------------------------------------- bundles

# bundle_blobs DIR|BUNDLE: the bundle's blobs, one JSON array in archive order, each
# {digest, size, mediaType, kind}, read from bale/index.db of DIR (an extracted bundle) or
# of BUNDLE (a .tar.zst, of which only the head is extracted). Index schema 3 and later give
# each blob's place in the archive (blobs.member); 1 and 2 do not, and there the archive
# order is that of bale/manifest.json's "blobs".
bundle_blobs() {
  local dir sql="SELECT digest, size, media_type AS mediaType, kind FROM blobs"
  dir=$(_bundle_head "$1")
  if [[ -n $(_bundle_sql "$dir" "SELECT 1 FROM pragma_table_info('blobs') WHERE name = 'member'") ]]; then
    _bundle_sql "$dir" "$sql ORDER BY member" -json | jq -cs 'add // []'
  else
    _bundle_sql "$dir" "$sql" -json | jq -cs --slurpfile m "$dir/bale/manifest.json" \
      '($m[0].blobs | map(.digest) | to_entries | map({key: .value, value: .key}) | from_entries) as $at
       | add // [] | sort_by($at[.digest])'
  fi
}

# bundle_images DIR|BUNDLE: the bundle's images, one JSON array in index.db order, each
# {ref, registry, repository, digest, mediaType, size}; DIR and BUNDLE as for bundle_blobs.
bundle_images() {
  local dir
  dir=$(_bundle_head "$1")
  _bundle_sql "$dir" "SELECT ref, registry, repository, digest, media_type AS mediaType, size
    FROM images ORDER BY id" -json | jq -cs 'add // []'
}

# _bundle_head DIR|BUNDLE: print DIR, or a new directory under $T holding BUNDLE's
# bale/manifest.json and bale/index.db.
_bundle_head() {
  local dir
  if [[ -d $1 ]]; then
    printf '%s\n' "$1"
    return
  fi
  dir=$(mktemp -d "$T/head.XXXXXX")
  tar --zstd -xf "$1" -C "$dir" bale/manifest.json bale/index.db || fail "_bundle_head: cannot read the head of $1"
  printf '%s\n' "$dir"
}

# _bundle_sql DIR SQL [sqlite3 options…]: SQL on DIR/bale/index.db, read-only.
_bundle_sql() {
  local db=$1/bale/index.db sql=$2
  shift 2
  [[ -f $db ]] || fail "_bundle_sql: no $db"
  sqlite3 -readonly "$@" "$db" "$sql" || fail "_bundle_sql: '$sql' failed on $db"
}
