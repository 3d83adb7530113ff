# shellcheck shell=bash
# Helpers for tests of `bale pull`: bale's options for a test registry, and the
# comparison of what bale stored with what skopeo copies for the same reference.
# Source after lib.sh and peer.sh.

: "${BALE:?BALE must name the bale binary}"

# bale_args NAME [anon]: bale's TLS and credential options for registry NAME, one per line.
bale_args() {
  local name=$1 anon=${2:-} mode=${1}_MODE host=${1}_HOST
  case ${!mode} in
    plain) printf '%s\n' --insecure-registry "${!host}" ;;
    token) # the token server is another plain-HTTP origin: allowed by name too
      local tport=${1}_TOKEN_PORT
      printf '%s\n' --insecure-registry "${!host}" --insecure-registry "127.0.0.1:${!tport}"
      ;;
    tls-basic) printf '%s\n' --ca-file "$CA_CERT" ;;
    mtls) _bale_certs_d "$name" && printf '%s\n' --certs-dir "$T/certs.d" ;;
  esac
  if [[ ${!mode} == tls-basic || ${!mode} == token ]] && [[ $anon != anon ]]; then
    printf '%s\n' --creds "$BALE_TEST_USER:$BALE_TEST_PASS"
  fi
}

# A certs.d tree for registry NAME: the CA, and the client certificate for mTLS.
_bale_certs_d() {
  local host=${1}_HOST dir
  dir="$T/certs.d/${!host}"
  mkdir -p "$dir"
  cp "$CA_CERT" "$dir/ca.crt"
  cp "$CLIENT_CERT" "$dir/client.cert"
  cp "$CLIENT_KEY" "$dir/client.key"
}

# pull_and_compare NAME REPO:TAG [bale options…]: bale pulls every platform into a
# fresh store; its blobs must be exactly the digests skopeo copies (dir: keeps every
# manifest byte for byte) and each stored file must hash to its name.
pull_and_compare() {
  local name=$1 ref=$2 host=${1}_HOST
  shift 2
  local store="$T/store-${name}-${ref//[:\/]/_}" peer="$T/peer-${name}-${ref//[:\/]/_}"
  local -a args
  mapfile -t args < <(bale_args "$name")
  rm -rf "$store"
  expect_exit 0 "$BALE" pull -q --platform all --store "oci:$store" "${args[@]}" "$@" "${!host}/$ref"
  peer_copy_dir "$name" "$ref" "$peer"
  local got want
  got=$(store_digests "$store")
  want=$(peer_digests_dir "$peer")
  assert_eq "$want" "$got" "digests of ${!host}/$ref (skopeo vs bale)"
  PULLED_STORE=$store
}

# start_fault_proxy NAME UPSTREAM_PORT [fault_proxy.py flags…]: a misbehaving front for
# a registry on loopback; exports NAME_PORT, NAME_HOST and NAME_LOG (one line a request).
start_fault_proxy() {
  local name=$1 upstream=$2
  shift 2
  local dir="$T/$name"
  mkdir -p "$dir"
  _PROXY_ARGS=("$@")
  _PROXY_DIR=$dir
  _PROXY_UPSTREAM=$upstream
  _launch "$dir/proxy.err" _serve_fault_proxy
  _set "${name}_PORT" "$_LAUNCH_PORT"
  _set "${name}_HOST" "127.0.0.1:$_LAUNCH_PORT"
  _set "${name}_LOG" "$dir/requests.log"
}

_serve_fault_proxy() {
  : >"$_PROXY_DIR/requests.log"
  "$PY" "$LIB_DIR/fault_proxy.py" --port "$1" --upstream "$_PROXY_UPSTREAM" \
    --log "$_PROXY_DIR/requests.log" --lifetime 300 "${_PROXY_ARGS[@]}" \
    >"$_PROXY_DIR/proxy.err" 2>&1 &
  _LAUNCH_PID=$!
}

# count_lines FILE PATTERN: how many lines of FILE match the extended regex.
count_lines() {
  grep -cE -- "$2" "$1" || true
}
