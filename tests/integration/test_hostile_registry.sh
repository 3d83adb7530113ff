#!/usr/bin/env bash
# bale against registries that misbehave on purpose (hostile_registry.py): credentials
# stay bound to the registry they belong to (a redirect target's 401, a token realm on
# another origin, several registries in one run, plain HTTP), nothing a registry sends
# holds bale forever or past its caps, and every refusal is one line naming the cause.
# At the end every request every server of the test logged is scanned: the password,
# its base64 in Basic headers and its URL-encoded form reached only the servers it
# belongs to (its registry, or that registry's own token realm).
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"
: "${BALE:?BALE must name the bale binary}"
track_secrets

HR=$LIB_DIR/hostile_registry.py
U=$BALE_TEST_USER
P=$BALE_TEST_PASS
B64=$(printf '%s:%s' "$U" "$P" | base64 -w0)
URLENC=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$P")
ALLOWED=" " # servers the password may reach
ALL_STDERR=$T/all-stderr
: >"$ALL_STDERR"
mkdir -p "$T/hostile"
ensure_ca

# start_hostile NAME [hostile_registry.py flags…]: one server on a free loopback port;
# exports NAME_PORT, NAME_HOST (127.0.0.1:PORT), NAME_URL and NAME_LOG (JSON lines).
start_hostile() {
  local name=$1
  shift
  _HR_NAME=$name
  _HR_ARGS=("$@")
  _launch "$T/hostile/$name.err" _serve_hostile
  _set "${name}_PORT" "$_LAUNCH_PORT"
  _set "${name}_HOST" "127.0.0.1:$_LAUNCH_PORT"
  local scheme=http
  [[ " $* " != *" --tls "* ]] || scheme=https
  _set "${name}_URL" "$scheme://127.0.0.1:$_LAUNCH_PORT"
  _set "${name}_LOG" "$T/hostile/$_HR_NAME.jsonl"
}

_serve_hostile() {
  : >"$T/hostile/$_HR_NAME.jsonl"
  "$PY" "$HR" --port "$1" --name "$_HR_NAME" --log "$T/hostile/$_HR_NAME.jsonl" \
    --lifetime 150 "${_HR_ARGS[@]}" >"$T/hostile/$_HR_NAME.err" 2>&1 &
  _LAUNCH_PID=$!
}

TLS=(--tls "$T/pki/server.crt" "$T/pki/server.key")

# may_see_password NAME…: these servers are the password's own.
may_see_password() {
  ALLOWED+="$* "
}

# run CODE ARGS…: bale ARGS…, bounded in time, must exit CODE with (on failure) one
# line on stderr; its stderr is kept for the final no-secret check.
run() {
  local want=$1
  shift
  expect_exit "$want" timeout 30 "$BALE" "$@"
  cat "$LAST_STDERR" >>"$ALL_STDERR"
  if [[ $want != 0 ]]; then
    assert_eq 1 "$(wc -l <"$LAST_STDERR")" "lines on stderr ($(head -c 800 "$LAST_STDERR"))"
  fi
}

# requests NAME: how many requests server NAME has logged.
requests() {
  local log=${1}_LOG
  wc -l <"${!log}"
}

# 1. a redirect target's 401 (plain HTTP)
case_redirect_401() {
  # The registry (Basic) sends blob GETs to a target that answers 401 with a Bearer realm
  # on a third origin. The registry's password must not go there: exit 5, naming both.
  start_hostile a_third --role token
  start_hostile a_target --role target --realm "$a_third_URL/token"
  start_hostile a_reg --auth basic --user "$U" --password "$P" --redirect-blob "$a_target_URL"
  may_see_password a_reg
  run 5 export -q --unsigned -o "$T/a.tar.zst" --insecure-registry "$a_reg_HOST" \
    --creds "$U:$P" "$a_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "redirected to $a_target_URL, which answered HTTP 401; bale sends credentials only to $a_reg_HOST"
  assert_eq 0 "$(requests a_third)" "requests at the realm a redirect target named"
  [[ ! -e $T/a.tar.zst ]] || fail "a bundle was written"
}

# 2. the same over TLS, a token registry
case_redirect_401_tls() {
  # A token registry (realm: its own /token) redirects manifest GETs to a TLS target
  # whose 401 names a TLS realm elsewhere: bale inspect stops there.
  start_hostile b_third --role token "${TLS[@]}"
  start_hostile b_target --role target --realm "$b_third_URL/token" "${TLS[@]}"
  start_hostile b_reg --auth bearer --user "$U" --password "$P" --redirect-manifest "$b_target_URL" "${TLS[@]}"
  may_see_password b_reg
  run 5 inspect --ca-file "$CA_CERT" --creds "$U:$P" "$b_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "$b_reg_HOST: GET /v2/team/app/manifests/1: redirected to $b_target_URL, which answered HTTP 401; bale sends credentials only to $b_reg_HOST"
  assert_eq 0 "$(requests b_third)" "requests at the realm a TLS redirect target named"
}

# 3. one --creds, several registries
case_several_registries() {
  # A private registry and a public one in one run: a bare --creds is refused before any
  # request (on the command line, in -f LIST, through --from-manifests); per host it goes
  # to its registry only.
  start_hostile c_priv --auth bearer --user "$U" --password "$P"
  start_hostile c_pub --auth bearer
  may_see_password c_priv
  PRIV=$c_priv_HOST/team/app:1
  PUB=$c_pub_HOST/library/tool:1
  INS=(--insecure-registry "$c_priv_HOST" --insecure-registry "$c_pub_HOST")
  run 2 export -q --unsigned -o "$T/c.tar.zst" "${INS[@]}" --creds "$U:$P" "$PRIV" "$PUB"
  assert_contains "$LAST_STDERR" "--creds without HOST= is for a run that uses one registry, and this one uses 2 ($c_priv_HOST, $c_pub_HOST): give each registry its own with --creds HOST=USER:PASS"
  printf '%s\n%s\n' "$PRIV" "$PUB" >"$T/c.list"
  run 2 export -q --unsigned -o "$T/c.tar.zst" "${INS[@]}" --creds "$U:$P" -f "$T/c.list"
  assert_contains "$LAST_STDERR" "this one uses 2"
  printf '%s\n' "apiVersion: v1" "kind: Pod" "metadata: {name: both}" "spec:" "  containers:" \
    "    - {name: app, image: $PRIV}" "    - {name: tool, image: $PUB}" >"$T/c-pod.yaml"
  run 2 export -q --unsigned -o "$T/c.tar.zst" "${INS[@]}" --creds "$U:$P" --from-manifests "$T/c-pod.yaml"
  assert_contains "$LAST_STDERR" "this one uses 2"
  run 2 pull -q --store "oci:$T/c-store" "${INS[@]}" --creds "$U:$P" "$PRIV" "$PUB"
  assert_eq 0 "$(($(requests c_priv) + $(requests c_pub)))" "requests before the refusal"
  # Bound to its host, it works, and the public registry sees no password.
  run 0 export -q --unsigned -o "$T/c.tar.zst" "${INS[@]}" --creds "$c_priv_HOST=$U:$P" -f "$T/c.list"
  [[ -s $T/c.tar.zst ]] || fail "no bundle from two registries"
  # The same from standard input, as docker and skopeo users pass secrets.
  printf '%s=%s:%s\n' "$c_priv_HOST" "$U" "$P" >"$T/c.stdin"
  run 0 pull -q --store "oci:$T/c-store1" "${INS[@]}" --creds-stdin "$PRIV" "$PUB" <"$T/c.stdin"
  printf '%s\n' "$P" >"$T/c.pass"
  run 0 pull -q --store "oci:$T/c-store2" "${INS[@]}" --username "$U" --password-stdin "$PRIV" <"$T/c.pass"
  run 2 pull -q --store "oci:$T/c-store3" "${INS[@]}" --username "$U" --password-stdin "$PRIV" "$PUB" <"$T/c.pass"
  assert_contains "$LAST_STDERR" "--password-stdin without HOST= is for a run that uses one registry"
  run 2 export -q --unsigned -o "$T/c2.tar.zst" "${INS[@]}" --creds-stdin -f - <"$T/c.list"
  assert_contains "$LAST_STDERR" "--creds-stdin and -f - both read standard input"
  # The token requests of the private registry carried the credentials; the public
  # registry's never did.
  grep -q "\"Basic $B64\"" "$c_priv_LOG" || fail "the private registry's token server never got the credentials"
}

# 4. a token holding CR LF
case_token_crlf() {
  start_hostile d_reg --auth bearer --crlf
  run 5 inspect --insecure-registry "$d_reg_HOST" "$d_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "token server sent a token with a control character, space or non-ASCII byte (0x0d at offset"
  assert_not_contains "$d_reg_LOG" "X-Injected"
}

# 5. a server that drips
case_drip() {
  # 2 bytes a second: a blob is abandoned after --timeout below --min-speed, a manifest
  # after --request-timeout. The password given on the command line is not in
  # /proc/PID/cmdline meanwhile.
  start_hostile e_reg --drip-blob 2
  start_hostile e_man --drip-manifest 2
  may_see_password e_reg
  start=$SECONDS
  run 7 pull -q --retries 0 --timeout 2 --store "oci:$T/e-store" --insecure-registry "$e_reg_HOST" \
    "$e_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "transfer slower than 1024 bytes/s for 2 s (--min-speed, --timeout)"
  run 7 inspect --retries 0 --request-timeout 2 --insecure-registry "$e_man_HOST" "$e_man_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "no complete answer within 2 s (--request-timeout)"
  ((SECONDS - start < 20)) || fail "dripping servers held bale $((SECONDS - start)) s"
  before=$(requests e_reg)
  # bale itself, not the harness's wrapper (whose own command line holds the arguments)
  timeout 30 "${_LIB_REAL_BALE:-$BALE}" pull -q --retries 0 --timeout 3 --store "oci:$T/e-store2" --insecure-registry "$e_reg_HOST" \
    --creds "$U:$P" "$e_reg_HOST/team/app:1" >/dev/null 2>"$T/e-bg.err" &
  bg=$!
  for _ in $(seq 40); do # until it is at the blobs
    (($(requests e_reg) > before + 1)) && break
    sleep 0.1
  done
  child=$(pgrep -P "$bg" || true) # timeout's child: bale
  [[ -n $child ]] || fail "bale exited before its command line was read"
  tr '\0' ' ' <"/proc/$child/cmdline" >"$T/e-cmdline" || fail "bale exited before its command line was read"
  wait "$bg" || true
  cat "$T/e-bg.err" >>"$ALL_STDERR"
  assert_contains "$T/e-cmdline" "--creds $U:***"
  assert_not_contains "$T/e-cmdline" "$P"
}

# 6. Retry-After: 300
case_retry_after() {
  start_hostile f_reg --retry-after 300
  start=$SECONDS
  run 7 inspect -q --retries 1 --max-retry-after 1 --insecure-registry "$f_reg_HOST" "$f_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "HTTP 429 (TOOMANYREQUESTS: slow down) (gave up after 2 attempts)"
  ((SECONDS - start < 10)) || fail "--max-retry-after 1 waited $((SECONDS - start)) s"
  # The default cap, 60 s, read from the retry line; the run is stopped there.
  timeout 30 "${_LIB_REAL_BALE:-$BALE}" inspect -v --retries 1 --insecure-registry "$f_reg_HOST" "$f_reg_HOST/team/app:1" \
    >/dev/null 2>"$T/f-bg.err" &
  bg=$!
  for _ in $(seq 100); do
    grep -q "retrying in" "$T/f-bg.err" && break
    sleep 0.1
  done
  kill "$bg" 2>/dev/null || true
  wait "$bg" 2>/dev/null || true
  cat "$T/f-bg.err" >>"$ALL_STDERR"
  assert_contains "$T/f-bg.err" "HTTP 429, retrying in 60000 ms (it asked for 300 s; --max-retry-after 60)"
}

# 7. a 1 MiB header, a 200 MB token
case_big_answers() {
  start_hostile g_reg --big-header 1048576
  run 7 inspect --retries 0 --insecure-registry "$g_reg_HOST" "$g_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "the answer has a header too large to read"
  start_hostile h_reg --auth bearer --huge 200000000
  start_hostile h_len --auth bearer --huge 200000000 --huge-length
  for h in h_reg h_len; do
    host=${h}_HOST url=${h}_URL
    run 3 inspect --retries 0 --insecure-registry "${!host}" "${!host}/team/app:1"
    assert_contains "$LAST_STDERR" "the answer of its token server ${!url} is larger than 1048576 bytes"
  done
}

# 8. HTTPS redirected to HTTP
case_https_to_http() {
  start_hostile i_plain
  start_hostile i_reg --redirect-blob "$i_plain_URL" "${TLS[@]}"
  run 7 pull -q --store "oci:$T/i-store" --ca-file "$CA_CERT" "$i_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "redirected to $i_plain_URL, which is not HTTPS: bale follows a registry to plain HTTP only when it is an --insecure-registry"
  assert_eq 0 "$(requests i_plain)" "requests downgraded to plain HTTP"
}

# 9. --insecure-registry and a token realm elsewhere
case_insecure_realm() {
  # The registry is allowed plain HTTP; its token realm on another origin is not, until
  # it is named itself.
  start_hostile j_tok --role token --user "$U" --password "$P"
  start_hostile j_reg --auth bearer --realm "$j_tok_URL/token"
  may_see_password j_reg j_tok
  run 5 pull -q --store "oci:$T/j-store" --insecure-registry "$j_reg_HOST" --creds "$U:$P" "$j_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "token realm $j_tok_URL is plain HTTP and not the registry's own origin: bale asks it for tokens (sending credentials) only over HTTPS, or with --insecure-registry $j_tok_HOST"
  assert_eq 0 "$(requests j_tok)" "token requests over plain HTTP to another origin"
  run 0 pull -q --store "oci:$T/j-store" --insecure-registry "$j_reg_HOST" --insecure-registry "$j_tok_HOST" \
    --creds "$U:$P" "$j_reg_HOST/team/app:1"
  grep -q "\"Basic $B64\"" "$j_tok_LOG" || fail "the named token realm never got the credentials"
  # An https realm elsewhere is verified even though the registry is insecure.
  start_hostile k_tok --role token --user "$U" --password "$P" "${TLS[@]}"
  start_hostile k_reg --auth bearer --realm "$k_tok_URL/token"
  may_see_password k_reg k_tok
  run 7 pull -q --store "oci:$T/k-store" --insecure-registry "$k_reg_HOST" --creds "$U:$P" "$k_reg_HOST/team/app:1"
  assert_contains "$LAST_STDERR" "TLS certificate not trusted"
  assert_eq 0 "$(requests k_tok)" "token requests to an unverified realm"
  run 0 pull -q --store "oci:$T/k-store" --insecure-registry "$k_reg_HOST" --ca-file "$CA_CERT" \
    --creds "$U:$P" "$k_reg_HOST/team/app:1"
}

# BALE_HOSTILE_CASES="drip retry_after" runs only these cases (default: all).
for c in ${BALE_HOSTILE_CASES:-redirect_401 redirect_401_tls several_registries token_crlf drip retry_after big_answers https_to_http insecure_realm}; do
  "case_$c"
done

# Where the password went: every request of every server of the cases run.
scanned=0
for log in "$T"/hostile/*.jsonl; do
  name=$(basename "$log" .jsonl)
  scanned=$((scanned + $(wc -l <"$log")))
  [[ $ALLOWED == *" $name "* ]] && continue
  for secret in "$P" "$B64" "$URLENC"; do
    assert_not_contains "$log" "$secret"
  done
done
[[ -n ${BALE_HOSTILE_CASES:-} ]] || ((scanned > 30)) || fail "only $scanned requests logged"
for secret in "$P" "$B64"; do
  assert_not_contains "$ALL_STDERR" "$secret"
done
echo "test_hostile_registry: ok ($scanned requests scanned)"
