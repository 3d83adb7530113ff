#!/usr/bin/env bash
# Tests the integration harness itself (no bale needed): registries in every
# mode come up, seeding works, auth is really enforced, the token server speaks
# the protocol, the peer helpers agree, and cleanup happens even on failure.
# Variables such as DIGEST_demo_multi and tls_URL are exported by lib.sh.
# shellcheck disable=SC2154,SC2016
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=peer.sh
source "$HERE/peer.sh"

MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DOCKER_V2=application/vnd.docker.distribution.manifest.v2+json

step() { printf '== %s\n' "$*"; }

# inspect_ok NAME REPO:TAG [skopeo options…]: skopeo sees the image.
inspect_ok() {
  local name=$1 ref=$2 host=${1}_HOST
  shift 2
  local -a args
  mapfile -t args < <(skopeo_args "$name")
  expect_exit 0 run_skopeo inspect --raw "${args[@]}" "$@" "docker://${!host}/$ref"
}

# inspect_anon NAME REPO:TAG: skopeo sees the image without credentials.
inspect_anon() {
  local name=$1 ref=$2 host=${1}_HOST
  local -a args
  mapfile -t args < <(skopeo_args "$name" "" anon)
  expect_exit 0 run_skopeo inspect --raw "${args[@]}" "docker://${!host}/$ref"
}

# inspect_refused NAME REPO:TAG PATTERN skopeo-options…: skopeo is turned away
# and says why (PATTERN is an extended regex matched against its stderr).
inspect_refused() {
  local name=$1 ref=$2 pattern=$3 host=${1}_HOST
  shift 3
  expect_exit 1 run_skopeo inspect --raw --retry-times 0 "$@" "docker://${!host}/$ref"
  grep -qiE -- "$pattern" "$LAST_STDERR" \
    || fail "$name $ref: refused, but not for the expected reason /$pattern/: $(cat "$LAST_STDERR")"
}

media_type() {
  jq -r .mediaType "$LAST_STDOUT"
}

check_images() {
  step "images are deterministic and pushed unchanged"
  local again
  again=$("$PY" "$HERE/mkimages.py" "$T/images-again" | jq -r '.multi.digest, .single.digest' | tr '\n' ' ')
  assert_eq "$(jq -r '.multi.digest, .single.digest' "$IMAGES_SUMMARY" | tr '\n' ' ')" "$again" "mkimages rerun"
  assert_eq "$(jq -r .multi.digest "$IMAGES_SUMMARY")" "$DIGEST_demo_multi" "OCI index digest after push"
  assert_eq "$(jq -r .single.digest "$IMAGES_SUMMARY")" "$DIGEST_demo_single" "OCI manifest digest after push"
  assert_eq "$(jq -r '.multi.images[] | select(.platform == "linux/arm64/v8") | .manifest' "$IMAGES_SUMMARY")" \
    "$DIGEST_demo_multi_arm64_v8" "arm64/v8 manifest digest"
  [[ $DIGEST_demo_dlist != "$DIGEST_demo_multi" ]] || fail "dlist should differ from the OCI index"
  [[ -n ${DIGEST_demo_dlist_arm_v7:-} && -n ${DIGEST_demo_dlist_amd64:-} ]] || fail "per-platform dlist digests not exported"
  [[ $DIGEST_demo_schema2 != "$DIGEST_demo_single" ]] || fail "schema2 should differ from the OCI manifest"
  # Same content everywhere: every registry got the same digests.
  assert_eq "$DIGEST_demo_dlist" "$DIGEST_private_dlist" "dlist digest, token registry"
  assert_eq "$DIGEST_demo_multi" "$DIGEST_public_multi" "multi digest, token registry"
}

check_media_types() {
  step "media types as seeded"
  local img want
  for img in multi:$MT_OCI_INDEX dlist:$MT_DOCKER_LIST schema2:$MT_DOCKER_V2 single:$MT_OCI_MANIFEST; do
    want=${img#*:}
    inspect_ok plain "demo/${img%%:*}:1"
    assert_eq "$want" "$(media_type)" "demo/${img%%:*}:1 media type"
  done
  inspect_ok plain demo/dlist:1
  assert_eq 3 "$(jq '.manifests | length' "$LAST_STDOUT")" "platforms in dlist"
}

check_every_registry() {
  step "every registry serves every image"
  local name img repos
  for name in plain tls mtls tok; do
    repos="demo"
    [[ $name != tok ]] || repos="private public"
    for prefix in $repos; do
      for img in multi dlist schema2 single; do
        inspect_ok "$name" "$prefix/$img:1"
      done
    done
  done
  # Pull by digest, the way a pinned reference is fetched.
  inspect_ok mtls "demo/multi@$DIGEST_demo_multi_arm_v7"
  local config
  config=$(run_skopeo inspect --config --cert-dir "$CA_DIR" "docker://$mtls_HOST/demo/multi@$DIGEST_demo_multi_arm_v7")
  assert_eq arm/v7 "$(jq -r '.architecture + "/" + .variant' <<<"$config")" "arm/v7 config"
}

check_tls_and_auth() {
  step "TLS and Basic auth are enforced"
  local -a ca_only=(--cert-dir "$CA_ONLY_DIR")
  inspect_refused tls demo/multi:1 'unauthorized|authentication required' "${ca_only[@]}" --no-creds
  inspect_refused tls demo/multi:1 'unauthorized|authentication required|invalid username' \
    "${ca_only[@]}" --creds "$BALE_TEST_USER:wrong-password"
  inspect_refused tls demo/multi:1 'x509|certificate' --creds "$BALE_TEST_USER:$BALE_TEST_PASS" --cert-dir "$T/home"
  # mTLS: no client certificate, no handshake.
  inspect_refused mtls demo/multi:1 'certificate|tls|handshake' "${ca_only[@]}"
  # curl agrees: the CA and the SAN are right for other clients too.
  expect_exit 0 curl -sS --fail --cacert "$CA_CERT" -u "$BALE_TEST_USER:$BALE_TEST_PASS" "$tls_URL/v2/"
  expect_exit 0 curl -sS --fail --cacert "$CA_CERT" --cert "$CLIENT_CERT" --key "$CLIENT_KEY" \
    "https://localhost:$mtls_PORT/v2/"
}

check_token_registry() {
  step "token registry: private needs credentials, public/ is open"
  inspect_refused tok private/multi:1 'unauthorized|denied|authentication required' --tls-verify=false --no-creds
  inspect_anon tok public/multi:1
  inspect_anon tok public/single:1
  inspect_refused tok private/multi:1 'unauthorized|invalid username' --tls-verify=false \
    --creds "$BALE_TEST_USER:wrong-password"
  # The token log says what clients asked for and never holds secrets.
  assert_contains "$tok_TOKEN_LOG" "GET /token status=200 user=- grant=anonymous service=bale-test-registry scope=repository:public/multi:pull granted=repository:public/multi:pull"
  assert_contains "$tok_TOKEN_LOG" "grant=anonymous service=bale-test-registry scope=repository:private/multi:pull"
  assert_contains "$tok_TOKEN_LOG" "GET /token status=401 user=alice grant=basic service=bale-test-registry"
  assert_contains "$tok_TOKEN_LOG" "user=alice grant=basic service=bale-test-registry scope=repository:private/multi:pull,push"

  step "token server: OAuth2 POST grants"
  local resp rt token
  resp=$(curl -sS --fail -d grant_type=password -d client_id=bale-test \
    --data-urlencode "username=$BALE_TEST_USER" --data-urlencode "password=$BALE_TEST_PASS" \
    -d access_type=offline -d service=bale-test-registry \
    --data-urlencode "scope=repository:private/multi:pull repository:Bad Name:pull" "$tok_REALM")
  rt=$(jq -r .refresh_token <<<"$resp")
  [[ -n $rt && $rt != null ]] || fail "password grant with access_type=offline gave no refresh_token"
  [[ $(jq -r '.token == .access_token and .expires_in == 300 and (.issued_at | test("Z$"))' <<<"$resp") == true ]] \
    || fail "token response fields: $resp"
  assert_eq '[{"type":"repository","name":"private/multi","actions":["pull"]}]' \
    "$(_jwt_claims "$(jq -r .token <<<"$resp")" | jq -c .access)" "granted access (bad scope left out)"
  _jwt_claims "$(jq -r .token <<<"$resp")" | jq -e '.aud == "bale-test-registry" and .iss == "bale-test-issuer" and (.exp|type) == "number"' >/dev/null \
    || fail "JWT claims"

  resp=$(curl -sS --fail -d grant_type=refresh_token -d client_id=bale-test --data-urlencode "refresh_token=$rt" \
    -d service=bale-test-registry -d scope=repository:private/single:pull "$tok_REALM")
  token=$(jq -r .token <<<"$resp")
  [[ $(jq -r 'has("refresh_token")' <<<"$resp") == false ]] || fail "refresh grant should not mint a new refresh token"
  # The registry accepts the token itself (x5c chain, aud string, claims).
  expect_exit 0 curl -sS --fail -H "Authorization: Bearer $token" \
    -H "Accept: $MT_OCI_MANIFEST" -o /dev/null "$tok_URL/v2/private/single/manifests/1"
  expect_exit 0 curl -sS --fail -d grant_type=refresh_token -d client_id=x -d service=bale-test-registry \
    --data-urlencode "refresh_token=$BALE_TEST_REFRESH_TOKEN" "$tok_REALM"
  expect_exit 22 curl -sS --fail -d grant_type=password -d client_id=x -d service=bale-test-registry \
    -d username=alice -d password=nope "$tok_REALM"
  expect_exit 22 curl -sS --fail -d grant_type=refresh_token -d client_id=x -d service=bale-test-registry \
    -d refresh_token=made-up "$tok_REALM"
  [[ $(curl -s -o /dev/null -w '%{http_code}' -d grant_type=password -d client_id=x -d service=bale-test-registry \
    -d username=alice -d password=nope "$tok_REALM") == 401 ]] || fail "wrong password should be 401"
  # A token for another repository is not enough: insufficient_scope.
  [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    "$tok_URL/v2/private/multi/manifests/1") == 401 ]] || fail "token for private/single opened private/multi"

  assert_contains "$tok_TOKEN_LOG" "POST /token status=200 user=alice grant=password service=bale-test-registry scope=repository:private/multi:pull scope=repository:Bad"
  assert_contains "$tok_TOKEN_LOG" "client_id=bale-test offline=true"
  assert_contains "$tok_TOKEN_LOG" "POST /token status=401 user=alice grant=password"
  assert_not_contains "$tok_TOKEN_LOG" "$BALE_TEST_PASS"
  assert_not_contains "$tok_TOKEN_LOG" "$BALE_TEST_REFRESH_TOKEN"
  assert_not_contains "$tok_TOKEN_LOG" "$rt"
  assert_not_contains "$tok_TOKEN_LOG" "${token:0:40}"
}

# _jwt_claims JWT: the decoded payload (no verification: the registry did that).
_jwt_claims() {
  local p=${1#*.}
  p=${p%%.*}
  p=$(tr '_-' '/+' <<<"$p")
  while ((${#p} % 4)); do p+="="; done
  base64 -d <<<"$p"
}

check_peers() {
  step "peer helpers agree"
  local want got
  want=$(store_digests "$MULTI_LAYOUT")
  assert_eq 11 "$(wc -l <<<"$want")" "blobs in the multi layout (index, 3 manifests, 3 configs, 4 layers)"

  peer_copy_dir plain demo/multi:1 "$T/peer-multi"
  got=$(peer_digests_dir "$T/peer-multi")
  assert_eq "$want" "$got" "skopeo dir: copy of demo/multi:1 vs the source layout"

  expect_exit 0 run_skopeo copy --quiet --all --preserve-digests --src-tls-verify=false \
    "docker://$plain_HOST/demo/multi:1" "oci:$T/peer-oci:multi"
  got=$(store_digests "$T/peer-oci")
  assert_eq "$want" "$got" "skopeo oci: copy of demo/multi:1 vs the source layout"

  # The Docker list: same layers, its own index and manifests; the token
  # registry holds the same bytes.
  peer_copy_dir tok private/dlist:1 "$T/peer-dlist"
  got=$(peer_digests_dir "$T/peer-dlist")
  grep -qx "$DIGEST_demo_dlist" <<<"$got" || fail "dlist digest missing from the peer set"
  grep -qx "$DIGEST_demo_dlist_arm64_v8" <<<"$got" || fail "dlist arm64 manifest missing from the peer set"
  local layer
  for layer in $(jq -r '.multi.images[].layers[]' "$IMAGES_SUMMARY" | sort -u); do
    grep -qx "$layer" <<<"$got" || fail "layer $layer missing from the dlist copy"
  done
  peer_copy_dir plain demo/dlist:1 "$T/peer-dlist2"
  assert_eq "$got" "$(peer_digests_dir "$T/peer-dlist2")" "dlist from two registries"

  # A corrupted file is caught, and registry_blob_path finds real blobs.
  printf 'x' >>"$T/peer-dlist2/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$T/peer-dlist2/manifest.json").manifest.json"
  expect_exit 1 bash -c 'source "$1/lib.sh"; source "$1/peer.sh"; peer_digests_dir "$2"' _ "$HERE" "$T/peer-dlist2"
  assert_contains "$LAST_STDERR" "hashes to"
  printf 'x' >>"$T/peer-oci/blobs/sha256/${DIGEST_demo_multi#sha256:}"
  expect_exit 1 bash -c 'source "$1/lib.sh"; source "$1/peer.sh"; store_digests "$2"' _ "$HERE" "$T/peer-oci"
  layer=$(jq -r '.multi.images[0].layers[0]' "$IMAGES_SUMMARY")
  assert_eq "$layer" "sha256:$(sha256sum <"$(registry_blob_path plain "$layer")" | cut -d' ' -f1)" "registry_blob_path"
}

check_cleanup() {
  step "cleanup on failure and when the test shell is killed"
  local state=$T/child.state pid tdir deadline
  # A failing test: servers stopped, temp dir gone.
  expect_exit 1 bash -c 'source "$1/lib.sh"; start_registry r plain
    printf "%s %s\n" "$(cat "$T/.pids")" "$T" >"$2"; false' _ "$HERE" "$state"
  read -r pid tdir <"$state"
  ! kill -0 "$pid" 2>/dev/null || fail "registry $pid still running after its test failed"
  [[ ! -e $tdir ]] || fail "$tdir left behind after a failed test"
  # A test killed with SIGKILL: the watchdog cleans up within a few seconds.
  bash -c 'source "$1/lib.sh"; start_registry r plain
    printf "%s %s\n" "$(cat "$T/.pids")" "$T" >"$2"; sleep 30' _ "$HERE" "$state" >/dev/null 2>&1 &
  local child=$!
  deadline=$((SECONDS + 10))
  until [[ -s $state && $(wc -w <"$state") == 2 && $(cut -d' ' -f2 <"$state") != "$tdir" ]]; do
    ((SECONDS < deadline)) || fail "child test did not start"
    sleep 0.05
  done
  read -r pid tdir <"$state"
  kill -KILL "$child"
  wait "$child" 2>/dev/null || true
  deadline=$((SECONDS + 15)) # generous: CI machines can be busy
  while kill -0 "$pid" 2>/dev/null || [[ -e $tdir ]]; do
    ((SECONDS < deadline)) || fail "watchdog left registry $pid or $tdir behind"
    sleep 0.1
  done
}

check_expect_exit() {
  step "expect_exit and assertions"
  expect_exit 3 bash -c 'echo out; echo err >&2; exit 3'
  assert_contains "$LAST_STDOUT" out
  assert_contains "$LAST_STDERR" err
  expect_exit 1 bash -c 'source "$1/lib.sh"; expect_exit 0 bash -c "echo hidden-out; exit 4"' _ "$HERE"
  assert_contains "$LAST_STDERR" "expected exit 0, got 4"
  assert_contains "$LAST_STDERR" "hidden-out"
  expect_exit 1 bash -c 'source "$1/lib.sh"; echo "the s3cret" >"$T/f"; assert_not_contains "$T/f" s3cret' _ "$HERE"
  assert_not_contains "$LAST_STDERR" s3cret
}

main() {
  local t0=$SECONDS
  step "start registries"
  build_images
  start_registry plain plain
  start_registry tls tls-basic
  start_registry mtls mtls
  start_token_registry tok
  step "seed"
  seed_registry plain
  seed_registry tls
  seed_registry mtls
  seed_registry tok

  check_images
  check_media_types
  check_every_registry
  check_tls_and_auth
  check_token_registry
  check_peers
  check_expect_exit
  check_cleanup
  step "ok ($((SECONDS - t0)) s)"
}

main "$@"
