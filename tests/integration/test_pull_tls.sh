#!/usr/bin/env bash
# bale pull over TLS: a registry with a private CA and Basic auth, and one that
# requires a client certificate (mTLS). Every place a credential can come from
# (--creds, --authfile, $DOCKER_CONFIG, $REGISTRY_AUTH_FILE, pull secrets in YAML
# and JSON), every way to trust the CA (--ca-file, certs.d, --insecure-registry),
# and the failures: untrusted certificate (7), wrong or missing credentials (5,
# never echoing the secret), missing client certificate.
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/pull.sh"
track_secrets

start_registry tls tls-basic
start_registry mtls mtls
build_images
seed_registry tls
seed_registry mtls
H=$tls_HOST
M=$mtls_HOST
USERPASS="$BALE_TEST_USER:$BALE_TEST_PASS"
B64=$(printf '%s' "$USERPASS" | base64 -w0)

# one_line FILE: FILE holds exactly one line.
one_line() {
  assert_eq 1 "$(wc -l <"$1")" "lines in $1 ($(head -c 600 "$1"))"
}

# no_secret FILE…: neither the password nor the base64 Basic value is in FILE.
no_secret() {
  local f
  for f in "$@"; do
    assert_not_contains "$f" "$BALE_TEST_PASS"
    assert_not_contains "$f" "$B64"
  done
}

# pull_single STORE-NAME [bale options…]: pull demo/single:1 from the TLS registry;
# the stored root must be the seeded manifest.
pull_single() {
  local store="$T/s-$1"
  shift
  rm -rf "$store"
  expect_exit 0 "$BALE" pull -q --store "oci:$store" "$@" "$H/demo/single:1"
  assert_eq "$DIGEST_demo_single" "$(jq -r '.manifests[0].digest' "$store/index.json")" "root digest in $store"
  no_secret "$LAST_STDOUT" "$LAST_STDERR"
}

# ---------------------------------------------------------------- tls-basic

# --ca-file + --creds: byte for byte what skopeo copies (OCI index and Docker list).
pull_and_compare tls demo/multi:1
assert_eq "$H/demo/multi:1 $DIGEST_demo_multi" "$(cut -d' ' -f1,2 "$LAST_STDOUT")" "pull output"
pull_and_compare tls demo/schema2:1

# --authfile: a docker config.json with base64 "auth".
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$H" "$B64" >"$T/docker-auth.json"
pull_single authfile --ca-file "$CA_CERT" --authfile "$T/docker-auth.json"

# --authfile: podman's URL-style key and separate username/password fields also count.
jq -n --arg k "https://$H" --arg u "$BALE_TEST_USER" --arg p "$BALE_TEST_PASS" \
  '{auths: {($k): {username: $u, password: $p}}}' >"$T/docker-auth-fields.json"
pull_single authfile-fields --ca-file "$CA_CERT" --authfile "$T/docker-auth-fields.json"

# A named --authfile that does not exist is an error (not found, as any named file), not
# anonymous access.
expect_exit 6 "$BALE" pull -q --store "oci:$T/s-x" --ca-file "$CA_CERT" --authfile "$T/nope.json" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "$T/nope.json"

# $DOCKER_CONFIG/config.json (lib.sh points DOCKER_CONFIG at $T/docker).
cp "$T/docker-auth.json" "$DOCKER_CONFIG/config.json"
pull_single docker-config --ca-file "$CA_CERT"
# --authfile beats $DOCKER_CONFIG: a wrong password there is refused.
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$H" "$(printf '%s' "$BALE_TEST_USER:not-the-password" | base64 -w0)" >"$T/wrong-auth.json"
expect_exit 5 "$BALE" pull -q --store "oci:$T/s-x" --ca-file "$CA_CERT" --authfile "$T/wrong-auth.json" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "$T/wrong-auth.json"
rm -f "$DOCKER_CONFIG/config.json"

# A podman auth.json named by $REGISTRY_AUTH_FILE.
jq -n --arg k "$H" --arg a "$B64" '{auths: {($k): {auth: $a}}}' >"$T/podman-auth.json"
REGISTRY_AUTH_FILE="$T/podman-auth.json" pull_single podman --ca-file "$CA_CERT"
# ... and podman's repository-scoped keys: the longest matching key wins.
jq -n --arg k "$H" --arg kr "$H/demo" --arg a "$B64" \
  --arg bad "$(printf '%s' "$BALE_TEST_USER:wrong" | base64 -w0)" \
  '{auths: {($k): {auth: $bad}, ($kr): {auth: $a}}}' >"$T/podman-scoped.json"
REGISTRY_AUTH_FILE="$T/podman-scoped.json" pull_single podman-scoped --ca-file "$CA_CERT"

# --pull-secret: a Kubernetes Secret of type dockerconfigjson, YAML with base64 data.
dcj=$(printf '{"auths":{"%s":{"username":"%s","password":"%s","auth":"%s"}}}' \
  "$H" "$BALE_TEST_USER" "$BALE_TEST_PASS" "$B64" | base64 -w0)
cat >"$T/secret.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: regcred
  namespace: default
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: $dcj
EOF
pull_single secret-yaml --ca-file "$CA_CERT" --pull-secret "$T/secret.yaml"
# ... the same Secret as JSON (kubectl get secret -o json).
jq -n --arg d "$dcj" '{apiVersion: "v1", kind: "Secret", metadata: {name: "regcred-json"},
  type: "kubernetes.io/dockerconfigjson", data: {".dockerconfigjson": $d}}' >"$T/secret.json"
pull_single secret-json --ca-file "$CA_CERT" --pull-secret "$T/secret.json"
# A pull secret comes before --authfile.
pull_single secret-first --ca-file "$CA_CERT" --pull-secret "$T/secret.yaml" --authfile "$T/wrong-auth.json"

# CA from a certs.d directory: DIR/HOST:PORT/ca.crt.
mkdir -p "$T/certs-tls/$H"
cp "$CA_CERT" "$T/certs-tls/$H/ca.crt"
pull_single certs-d --certs-dir "$T/certs-tls" --creds "$USERPASS"

# --insecure-registry: TLS without verification, no CA at all.
pull_single insecure --insecure-registry "$H" --creds "$USERPASS"

# Without the CA: exit 7, the certificate is not trusted, one line, no retries needed.
expect_exit 7 "$BALE" pull -q --store "oci:$T/s-x" --creds "$USERPASS" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "$H"
assert_contains "$LAST_STDERR" "certificate not trusted"
one_line "$LAST_STDERR"
no_secret "$LAST_STDERR"
# A certs.d root without this host's directory changes nothing.
expect_exit 7 "$BALE" pull -q --store "oci:$T/s-x" --certs-dir "$T/home" --creds "$USERPASS" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "certificate not trusted"

# Wrong password: exit 5 naming the registry and where the credential came from;
# the password never shows, not even with -v.
wrong="$BALE_TEST_USER:Not-$BALE_TEST_PASS"
for verbosity in -q -v; do
  expect_exit 5 "$BALE" pull "$verbosity" --store "oci:$T/s-x" --ca-file "$CA_CERT" --creds "$wrong" "$H/demo/single:1"
  assert_contains "$LAST_STDERR" "$H"
  assert_contains "$LAST_STDERR" "--creds"
  no_secret "$LAST_STDOUT" "$LAST_STDERR"
  assert_not_contains "$LAST_STDERR" "Not-"
  assert_not_contains "$LAST_STDERR" "$(printf '%s' "$wrong" | base64 -w0)"
done
# ... nor with the right password and -v.
expect_exit 0 "$BALE" pull -v --store "oci:$T/s-v" --ca-file "$CA_CERT" --creds "$USERPASS" "$H/demo/single:1"
no_secret "$LAST_STDOUT" "$LAST_STDERR"
# ... nor when the wrong one comes from a pull secret.
wrong_dcj=$(printf '{"auths":{"%s":{"auth":"%s"}}}' "$H" "$(printf '%s' "$wrong" | base64 -w0)" | base64 -w0)
sed "s|$dcj|$wrong_dcj|" "$T/secret.yaml" >"$T/secret-wrong.yaml"
expect_exit 5 "$BALE" pull -v --store "oci:$T/s-x" --ca-file "$CA_CERT" --pull-secret "$T/secret-wrong.yaml" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "regcred"
no_secret "$LAST_STDOUT" "$LAST_STDERR"
assert_not_contains "$LAST_STDERR" "Not-"

# No credentials at all: exit 5 with a hint on where to put them.
expect_exit 5 "$BALE" pull -q --store "oci:$T/s-x" --ca-file "$CA_CERT" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "$H"
assert_contains "$LAST_STDERR" "credentials required"
assert_contains "$LAST_STDERR" "--creds"
one_line "$LAST_STDERR"
[[ ! -e $T/s-x/blobs/sha256/${DIGEST_demo_single#sha256:} ]] || fail "manifest stored after a refused pull"

# ---------------------------------------------------------------------- mTLS

# certs.d with ca.crt + client.cert + client.key: works, and agrees with skopeo.
pull_and_compare mtls demo/multi:1
pull_and_compare mtls demo/single:1
assert_eq "$M/demo/single:1 $DIGEST_demo_single" "$(cut -d' ' -f1,2 "$LAST_STDOUT")" "mtls pull output"

# A certs.d dir with a client.cert but no key is a usage error naming the directory.
mkdir -p "$T/half/$M"
cp "$CA_CERT" "$T/half/$M/ca.crt"
cp "$CLIENT_CERT" "$T/half/$M/client.cert"
expect_exit 2 "$BALE" pull -q --store "oci:$T/s-m" --certs-dir "$T/half" "$M/demo/single:1"
assert_contains "$LAST_STDERR" "$T/half/$M"
one_line "$LAST_STDERR"

# CA but no client certificate: the server ends the handshake. That is the registry
# refusing to authenticate us (exit 5, docs/design.md §3), not a network failure: asking again
# cannot help, so no retries, and one line that names the registry and says a client
# certificate is needed. (With TLS 1.3 the refusal reaches the client only after its
# side of the handshake, as "alert bad certificate" or a reset on the first write.)
start=$SECONDS
expect_exit 5 "$BALE" pull -q --store "oci:$T/s-m" --certs-dir "$T/ca-only-root" --ca-file "$CA_CERT" "$M/demo/single:1"
one_line "$LAST_STDERR"
assert_contains "$LAST_STDERR" "$M"
grep -qi 'client certificate' "$LAST_STDERR" || fail "no mention of the client certificate: $(cat "$LAST_STDERR")"
((SECONDS - start < 5)) || fail "a refused client certificate was retried ($((SECONDS - start)) s)"

# -v runs with each source of credentials, then the scan of every run (-q ones too), store
# and cache: the password and its base64 forms are nowhere.
vstore="$T/s-verbose"
for creds in "--authfile $T/docker-auth.json" "--authfile $T/docker-auth-fields.json" \
  "--pull-secret $T/secret.yaml" "--pull-secret $T/secret.json" "--creds $USERPASS"; do
  rm -rf "$vstore"
  # shellcheck disable=SC2086 # option and its value
  expect_exit 0 "$BALE" pull -v --store "oci:$vstore" --ca-file "$CA_CERT" $creds "$H/demo/single:1"
done
expect_exit 0 "$BALE" inspect -v --ca-file "$CA_CERT" --creds "$USERPASS" --json "$H/demo/multi:1"
secret_scan
echo "test_pull_tls: ok"
