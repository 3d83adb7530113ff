#!/usr/bin/env bash
# bale pull against a registry with bearer-token auth (distribution's token flow, our
# token_server.py): anonymous tokens for public/…, credentials for private/…, the
# OAuth2 refresh-token grant for docker identity tokens, credential helpers, refusals
# that never echo a secret, and one token per repository scope per run.
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/pull.sh"
track_secrets
secret_add bale-test-refresh-revoked-0002 # an identity token the server does not know

start_token_registry tok
build_images
seed_registry tok
H=$tok_HOST
TLOG=$tok_TOKEN_LOG
USERPASS="$BALE_TEST_USER:$BALE_TEST_PASS"
# The token server is a plain-HTTP origin of its own: named as insecure too.
INSECURE=(--insecure-registry "$H" --insecure-registry "127.0.0.1:$tok_TOKEN_PORT")
ALL_STDERR="$T/all-bale-stderr"
: >"$ALL_STDERR"

# token_log_mark: remember where the token log ends now.
token_log_mark() {
  MARK=$(wc -l <"$TLOG")
}

# token_log_since: the token log lines written after the last token_log_mark.
token_log_since() {
  tail -n +"$((MARK + 1))" "$TLOG"
}

# bale_run CODE ARGS…: expect_exit CODE "$BALE" ARGS…, and keep its stderr for the
# final no-secrets check.
bale_run() {
  local want=$1
  shift
  expect_exit "$want" "$BALE" "$@"
  cat "$LAST_STDERR" >>"$ALL_STDERR"
}

# one_line FILE: FILE holds exactly one line.
one_line() {
  assert_eq 1 "$(wc -l <"$1")" "lines in $1 ($(head -c 600 "$1"))"
}

# root_is STORE DIGEST: the store names exactly one image, with that root.
root_is() {
  assert_eq "$2" "$(jq -r '.manifests[0].digest' "$1/index.json")" "root digest in $1"
}

# ------------------------------------------------------------ anonymous

# public/…: no credentials anywhere, an anonymous token does it.
token_log_mark
bale_run 0 pull -q --platform all --store "oci:$T/s-public" "${INSECURE[@]}" "$H/public/multi:1"
root_is "$T/s-public" "$DIGEST_public_multi"
store_digests "$T/s-public" >/dev/null
token_log_since >"$T/tl-public"
assert_contains "$T/tl-public" "GET /token status=200 user=- grant=anonymous service=$tok_SERVICE scope=repository:public/multi:pull granted=repository:public/multi:pull"
assert_not_contains "$T/tl-public" "grant=basic"

# private/… anonymously: the token comes back empty-handed and the registry answers
# insufficient_scope -> exit 5, saying credentials are needed and how to give them.
bale_run 5 pull -q --store "oci:$T/s-anon" "${INSECURE[@]}" "$H/private/single:1"
one_line "$LAST_STDERR"
assert_contains "$LAST_STDERR" "$H"
assert_contains "$LAST_STDERR" "private/single"
assert_contains "$LAST_STDERR" "credentials required"
assert_contains "$LAST_STDERR" "--creds"

# ----------------------------------------------------------------- --creds

# private/… with --creds: byte for byte what skopeo copies.
pull_and_compare tok private/multi:1
cat "$LAST_STDERR" >>"$ALL_STDERR"
assert_eq "$H/private/multi:1 $DIGEST_private_multi" "$(cut -d' ' -f1,2 "$LAST_STDOUT")" "pull output"

# Tokens are cached per scope: one token for the whole run over a repository, the
# index, three manifests, three configs and their layers.
token_log_mark
bale_run 0 pull -q --platform all --store "oci:$T/s-cache" "${INSECURE[@]}" --creds "$USERPASS" "$H/private/multi:1"
root_is "$T/s-cache" "$DIGEST_private_multi"
token_log_since >"$T/tl-cache"
assert_eq 1 "$(grep -c 'scope=repository:private/multi:pull' "$T/tl-cache" || true)" \
  "token requests for repository:private/multi:pull in one run ($(cat "$T/tl-cache"))"
assert_eq 1 "$(wc -l <"$T/tl-cache")" "token requests in one run"
assert_contains "$T/tl-cache" "status=200 user=$BALE_TEST_USER grant=basic"
# ... and per repository: two repositories, two scopes, one token each.
token_log_mark
bale_run 0 pull -q --platform all --store "oci:$T/s-two" "${INSECURE[@]}" --creds "$USERPASS" \
  "$H/private/single:1" "$H/private/dlist:1"
token_log_since >"$T/tl-two"
assert_eq 1 "$(grep -c 'scope=repository:private/single:pull' "$T/tl-two" || true)" "private/single tokens"
assert_eq 1 "$(grep -c 'scope=repository:private/dlist:pull' "$T/tl-two" || true)" "private/dlist tokens"
assert_eq 2 "$(wc -l <"$T/tl-two")" "token requests for two repositories"

# bale inspect with credentials.
bale_run 0 inspect "${INSECURE[@]}" --creds "$USERPASS" --json "$H/private/multi:1"
assert_eq "$DIGEST_private_multi" "$(jq -r .digest "$LAST_STDOUT")" "inspect digest"
assert_eq 3 "$(jq '.manifests | length' "$LAST_STDOUT")" "inspect platforms"
bale_run 0 inspect "${INSECURE[@]}" --creds "$USERPASS" --raw "$H/private/dlist:1"
assert_eq "$DIGEST_private_dlist" "sha256:$(sha256sum <"$LAST_STDOUT" | cut -d' ' -f1)" "inspect --raw"
# ... and without them it is refused like pull.
bale_run 5 inspect "${INSECURE[@]}" "$H/private/multi:1"
assert_contains "$LAST_STDERR" "credentials required"

# ------------------------------------------------------ identity tokens

# docker login with an identity token stores it as "identitytoken"; bale trades it
# with the OAuth2 refresh_token grant (POST, client_id=bale).
jq -n --arg k "$H" --arg t "$BALE_TEST_REFRESH_TOKEN" '{auths: {($k): {identitytoken: $t}}}' \
  >"$DOCKER_CONFIG/config.json"
token_log_mark
bale_run 0 pull -v --platform all --store "oci:$T/s-idtoken" "${INSECURE[@]}" "$H/private/multi:1"
root_is "$T/s-idtoken" "$DIGEST_private_multi"
token_log_since >"$T/tl-idtoken"
assert_contains "$T/tl-idtoken" "POST /token status=200 user=$BALE_TEST_USER grant=refresh_token service=$tok_SERVICE scope=repository:private/multi:pull"
assert_contains "$T/tl-idtoken" "client_id=bale"
assert_not_contains "$T/tl-idtoken" "grant=basic"
assert_not_contains "$T/tl-idtoken" "grant=anonymous"
assert_contains "$LAST_STDERR" "$DOCKER_CONFIG/config.json"
# docker writes "auth" next to it (base64 of "<user>:"); the identity token still wins.
jq -n --arg k "$H" --arg t "$BALE_TEST_REFRESH_TOKEN" --arg a "$(printf '%s:' "$BALE_TEST_USER" | base64 -w0)" \
  '{auths: {($k): {auth: $a, identitytoken: $t}}}' >"$DOCKER_CONFIG/config.json"
token_log_mark
bale_run 0 pull -q --store "oci:$T/s-idtoken2" "${INSECURE[@]}" "$H/private/single:1"
root_is "$T/s-idtoken2" "$DIGEST_private_single"
token_log_since >"$T/tl-idtoken2"
assert_contains "$T/tl-idtoken2" "grant=refresh_token"
# An identity token the server does not know: exit 5, the token never shown.
jq -n --arg k "$H" '{auths: {($k): {identitytoken: "bale-test-refresh-revoked-0002"}}}' >"$DOCKER_CONFIG/config.json"
bale_run 5 pull -v --store "oci:$T/s-x" "${INSECURE[@]}" "$H/private/single:1"
assert_contains "$LAST_STDERR" "$H"
assert_not_contains "$LAST_STDERR" "bale-test-refresh-revoked-0002"
assert_not_contains "$LAST_STDOUT" "bale-test-refresh-revoked-0002"
rm -f "$DOCKER_CONFIG/config.json"

# --------------------------------------------------- credential helpers

# docker-credential-baletest on PATH, named by credHelpers for this registry. It
# records what it was asked and answers like docker's helpers.
mkdir -p "$T/bin"
cat >"$T/bin/docker-credential-baletest" <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 1
read -r server
printf '%s\n' "\$server" >>"$T/helper-asked"
if [ "\$server" = "$H" ]; then
  printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$server" "$BALE_TEST_USER" "$BALE_TEST_PASS"
else
  echo "credentials not found in native keychain"
  exit 1
fi
EOF
chmod +x "$T/bin/docker-credential-baletest"
jq -n --arg k "$H" '{credHelpers: {($k): "baletest"}, auths: {}}' >"$T/helper-config.json"
token_log_mark
PATH="$T/bin:$PATH" bale_run 0 pull -v --platform all --store "oci:$T/s-helper" "${INSECURE[@]}" \
  --authfile "$T/helper-config.json" "$H/private/multi:1"
root_is "$T/s-helper" "$DIGEST_private_multi"
assert_eq "$H" "$(sort -u "$T/helper-asked")" "what the helper was asked"
assert_contains "$LAST_STDERR" "docker-credential-baletest"
token_log_since >"$T/tl-helper"
assert_contains "$T/tl-helper" "status=200 user=$BALE_TEST_USER grant=basic service=$tok_SERVICE scope=repository:private/multi:pull"
# A helper that answers with docker's "<token>" user name hands over an identity
# token: bale trades it with the refresh_token grant.
cat >"$T/bin/docker-credential-baletoken" <<EOF
#!/bin/sh
read -r server
printf '{"ServerURL":"%s","Username":"<token>","Secret":"%s"}\n' "\$server" "$BALE_TEST_REFRESH_TOKEN"
EOF
chmod +x "$T/bin/docker-credential-baletoken"
jq -n --arg k "$H" '{credHelpers: {($k): "baletoken"}}' >"$T/helper-token.json"
token_log_mark
PATH="$T/bin:$PATH" bale_run 0 pull -q --store "oci:$T/s-helper-token" "${INSECURE[@]}" \
  --authfile "$T/helper-token.json" "$H/private/single:1"
root_is "$T/s-helper-token" "$DIGEST_private_single"
token_log_since >"$T/tl-helper-token"
assert_contains "$T/tl-helper-token" "POST /token status=200 user=$BALE_TEST_USER grant=refresh_token"
# ... also through credsStore in $DOCKER_CONFIG/config.json.
jq -n '{credsStore: "baletest"}' >"$DOCKER_CONFIG/config.json"
PATH="$T/bin:$PATH" bale_run 0 pull -q --store "oci:$T/s-store" "${INSECURE[@]}" "$H/private/single:1"
root_is "$T/s-store" "$DIGEST_private_single"
rm -f "$DOCKER_CONFIG/config.json"
# A helper named but not installed: exit 5 naming it.
jq -n --arg k "$H" '{credHelpers: {($k): "baletest-absent"}}' >"$T/helper-absent.json"
bale_run 5 pull -q --store "oci:$T/s-x" "${INSECURE[@]}" --authfile "$T/helper-absent.json" "$H/private/single:1"
assert_contains "$LAST_STDERR" "docker-credential-baletest-absent"

# ------------------------------------------------------------ refusals

# Wrong password: exit 5 naming the registry; the password never shows, with -v too.
wrong="$BALE_TEST_USER:Not-$BALE_TEST_PASS"
for verbosity in -q -v; do
  bale_run 5 pull "$verbosity" --store "oci:$T/s-x" "${INSECURE[@]}" --creds "$wrong" "$H/private/single:1"
  assert_contains "$LAST_STDERR" "$H"
  assert_contains "$LAST_STDERR" "--creds"
  for f in "$LAST_STDOUT" "$LAST_STDERR"; do
    assert_not_contains "$f" "$BALE_TEST_PASS"
    assert_not_contains "$f" "$(printf '%s' "$wrong" | base64 -w0)"
  done
done
[[ ! -e $T/s-x/blobs/sha256/${DIGEST_private_single#sha256:} ]] || fail "manifest stored after a refused pull"

# Across every run above (-v ones included), bale's stderr never held the password,
# the refresh token, or the base64 Basic value.
assert_not_contains "$ALL_STDERR" "$BALE_TEST_PASS"
assert_not_contains "$ALL_STDERR" "$BALE_TEST_REFRESH_TOKEN"
assert_not_contains "$ALL_STDERR" "$(printf '%s' "$USERPASS" | base64 -w0)"
# ... nor a bearer token (JWTs start with the base64 of '{"').
assert_not_contains "$ALL_STDERR" "eyJ"
# The token server never got a password in a URL (GET queries are not logged, but
# the registry and token server logs are checked anyway).
assert_not_contains "$TLOG" "$BALE_TEST_PASS"
assert_not_contains "$tok_LOG" "$BALE_TEST_PASS"
assert_not_contains "$tok_LOG" "$BALE_TEST_REFRESH_TOKEN"

# ------------------------------------------------- credential lookups

# One credential lookup per repository at most: a helper may be slow (a cloud CLI)
# or ask for a passphrase, so three images of three repositories, whose blob
# transfers interleave, must not run it again each time the next transfer is for
# another repository.
: >"$T/helper-asked"
token_log_mark
PATH="$T/bin:$PATH" bale_run 0 pull -q --platform all --store "oci:$T/s-helper3" "${INSECURE[@]}" \
  --authfile "$T/helper-config.json" "$H/private/multi:1" "$H/private/dlist:1" "$H/private/single:1"
token_log_since >"$T/tl-helper3"
assert_eq 3 "$(wc -l <"$T/tl-helper3")" "token requests for three repositories ($(cat "$T/tl-helper3"))"
calls=$(wc -l <"$T/helper-asked")
((calls <= 3)) || fail "credential helper ran $calls times for 3 repositories (want at most one run per repository)"

# -v runs with credentials, then the scan of every run, store and cache for the password,
# the refresh tokens and every token the token server issued (its issued.log).
bale_run 0 pull -v --platform all --store "oci:$T/s-verbose" "${INSECURE[@]}" --creds "$USERPASS" "$H/private/multi:1"
bale_run 0 inspect -v "${INSECURE[@]}" --creds "$USERPASS" --json "$H/private/single:1"
secret_scan
echo "test_pull_token: ok"
