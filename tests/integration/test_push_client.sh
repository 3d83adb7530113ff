#!/usr/bin/env bash
# The registry client's push API (registry/push.c) against docker-registry, through
# push_driver.c: monolithic and chunked uploads, existence probes, a cross-repository
# mount, manifests by digest and by tag, and the refusals. skopeo then reads back what
# was pushed, byte for byte. Once over plain HTTP, once with bearer tokens scoped
# "pull,push" (and the mount source's pull) from token_server.py.
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"

: "${BALE:?}" "${BALE_SOURCE_DIR:?}"

# ---------------------------------------------------------------- the driver

# Built with the suite (tests/CMakeLists.txt) against bale_registry, the floor it drives.
: "${PUSH_DRIVER:?the suite passes push_driver}"
[[ -x $PUSH_DRIVER ]] || fail "no push driver at $PUSH_DRIVER"
cp "$PUSH_DRIVER" "$T/push_driver"

# ----------------------------------------------------------------- the files

# SMALL fits one chunk (monolithic PUT); BIG is 2 chunks of 8 MiB and an odd rest.
head -c 3000 /dev/urandom >"$T/small.bin"
head -c $((20 * 1024 * 1024 + 4321)) /dev/urandom >"$T/big.bin"
big_digest=sha256:$(sha256sum <"$T/big.bin" | cut -d' ' -f1)
small_digest=sha256:$(sha256sum <"$T/small.bin" | cut -d' ' -f1)
# A real image config: the layer is an uncompressed "tar", its diff_id its digest.
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$big_digest" >"$T/config.json"
config_digest=sha256:$(sha256sum <"$T/config.json" | cut -d' ' -f1)

# uploads_left NAME REPO: uploads registry NAME still holds open for REPO. An open
# upload has a "startedat" file; a cancelled one loses it (distribution 2.8 leaves
# an empty hashstates/ behind, which is its own doing).
uploads_left() {
  local data=${1}_DATA dir
  dir="${!data}/docker/registry/v2/repositories/$2/_uploads"
  [[ -d $dir ]] || {
    echo 0
    return
  }
  find "$dir" -mindepth 2 -maxdepth 2 -name startedat | wc -l
}

# check_push NAME REPO [skopeo options…]: what push_driver pushed to REPO reads back.
check_push() {
  local name=$1 repo=$2 host=${1}_HOST
  shift 2
  local h=${!host} out=$T/out-$name manifest
  manifest=$(awk '$1 == "manifest" { print $2 }' "$LAST_STDOUT")
  [[ $manifest == sha256:* ]] || fail "driver printed no manifest digest"
  assert_contains "$LAST_STDOUT" "blob $small_digest 3000"
  assert_contains "$LAST_STDOUT" "blob $big_digest $((20 * 1024 * 1024 + 4321))"
  assert_contains "$LAST_STDOUT" "blob $config_digest "
  assert_contains "$LAST_STDOUT" "mounted $big_digest"

  # The manifest by tag is the one pushed by digest, bytes unchanged.
  run_skopeo inspect --raw "$@" "docker://$h/$repo:v1" >"$T/raw-$name"
  assert_eq "$manifest" "sha256:$(sha256sum <"$T/raw-$name" | cut -d' ' -f1)" "manifest by tag"
  # Blobs come back byte-identical.
  run_skopeo copy --quiet "${@/#--/--src-}" "docker://$h/$repo:v1" "dir:$out"
  cmp "$T/big.bin" "$out/${big_digest#sha256:}" || fail "big blob differs"
  cmp "$T/config.json" "$out/${config_digest#sha256:}" || fail "config blob differs"
  cmp "$T/raw-$name" "$out/manifest.json" || fail "manifest differs"

  # Refusals: a missing layer and wrong bytes are verification errors (3) naming the
  # registry, the repository and the digest; a missing layer is the registry's word.
  grep '^refused' "$LAST_STDOUT" >"$T/refused-$name"
  assert_eq 2 "$(grep -c '^refused -3: ' "$T/refused-$name")" "verification refusals"
  assert_contains "$T/refused-$name" "MANIFEST_BLOB_UNKNOWN"
  assert_contains "$T/refused-$name" "$h/$repo"
  assert_contains "$T/refused-$name" "content hashes to $small_digest"
}

# cancels NAME STATUS: how many upload DELETEs registry NAME answered with STATUS.
cancels() {
  local log=${1}_LOG
  grep -c "\"DELETE /v2/[^ ]*/blobs/uploads/[^ ]* HTTP/1.1\" $2 " "${!log}" || true
}

# --------------------------------------------------------------- plain HTTP

start_registry plain plain
expect_exit 0 "$T/push_driver" --insecure "$plain_HOST" demo/push demo/push-mount v1 \
  "$T/small.bin" "$T/big.bin" "$T/config.json"
check_push plain demo/push --tls-verify=false
# Nothing left behind: the declined mount, the wrong upload and the abandoned one were
# cancelled.
assert_eq 3 "$(cancels plain 204)" "uploads cancelled"
assert_eq 0 "$(uploads_left plain demo/push)" "open uploads in demo/push"
assert_eq 0 "$(uploads_left plain demo/push-mount)" "open uploads in demo/push-mount"
# Plain HTTP only when asked for: without --insecure, TLS fails (a network error).
expect_exit 1 "$T/push_driver" "$plain_HOST" demo/other demo/other2 v1 \
  "$T/small.bin" "$T/big.bin" "$T/config.json"
assert_contains "$LAST_STDERR" "$plain_HOST"

# A registry that sends relative Locations ("/v2/…/uploads/<id>?_state=…"): lib.sh has
# no mode for it, so its own launcher with one more line under http:.
start_relative_registry() {
  local dir=$T/rel extra=$'\n  relativeurls: true'
  mkdir -p "$dir/data"
  _launch "$dir/registry.log" _serve_registry
  _set rel_HOST "127.0.0.1:$_LAUNCH_PORT"
  _set rel_LOG "$dir/registry.log"
}
start_relative_registry
expect_exit 0 "$T/push_driver" --insecure "$rel_HOST" demo/push demo/push-mount v1 \
  "$T/small.bin" "$T/big.bin" "$T/config.json"
grep -q '^Location: /v2/' < <(curl -si -X POST "http://$rel_HOST/v2/demo/x/blobs/uploads/") ||
  fail "the registry does not send relative Locations"
run_skopeo inspect --raw --tls-verify=false "docker://$rel_HOST/demo/push:v1" >"$T/raw-rel"
assert_eq "$(awk '$1 == "manifest" { print $2 }' "$LAST_STDOUT")" \
  "sha256:$(sha256sum <"$T/raw-rel" | cut -d' ' -f1)" "manifest via relative Locations"

# ------------------------------------------------------------ bearer tokens

start_token_registry tok
expect_exit 0 "$T/push_driver" --insecure --insecure-also "127.0.0.1:$tok_TOKEN_PORT" --creds "$tok_HOST" \
  private/push private/push-mount v1 \
  "$T/small.bin" "$T/big.bin" "$T/config.json"
cp "$LAST_STDOUT" "$T/tok.stdout"
cp "$LAST_STDERR" "$T/tok.stderr"
cp "$tok_TOKEN_LOG" "$T/tokens" # the driver's, before skopeo asks for its own
check_push tok private/push --tls-verify=false --creds "$BALE_TEST_USER:$BALE_TEST_PASS"
# Tokens asked for push, and for the mount the source's pull as well.
assert_contains "$T/tokens" "user=$BALE_TEST_USER grant=basic service=$tok_SERVICE scope=repository:private/push:pull,push granted=repository:private/push:pull,push"
assert_contains "$T/tokens" "scope=repository:private/push-mount:pull,push scope=repository:private/push:pull granted="
# One token per scope for the whole run: cancelling needs "delete", which a pusher's token
# does not carry; the DELETE is tried once, refused, and left at that (no token chase).
# Three scopes: each repository's, and the mount's (both repositories).
assert_eq 1 "$(grep -c 'scope=repository:private/push:pull,push granted' "$T/tokens")" "tokens for private/push"
assert_eq 3 "$(wc -l <"$T/tokens")" "token requests ($(cat "$T/tokens"))"
assert_eq 3 "$(cancels tok 401)" "upload cancels tried"
# Anonymous: refused (5 in bale's codes), saying credentials are needed.
expect_exit 1 "$T/push_driver" --insecure --insecure-also "127.0.0.1:$tok_TOKEN_PORT" "$tok_HOST" \
  private/anon private/anon2 v1 \
  "$T/small.bin" "$T/big.bin" "$T/config.json"
assert_contains "$LAST_STDERR" "$tok_HOST"
assert_contains "$LAST_STDERR" "private/anon"
assert_contains "$LAST_STDERR" "credentials required"
# No secret in anything the driver printed.
for f in "$T/tok.stdout" "$T/tok.stderr" "$LAST_STDERR"; do
  assert_not_contains "$f" "$BALE_TEST_PASS"
  assert_not_contains "$f" "eyJ"
done

echo "test_push_client: ok"
