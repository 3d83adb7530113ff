#!/usr/bin/env bash
# bale export --from-manifests: the images of the manifests, pulled with only the
# registry credentials the manifests themselves reference (a pod's imagePullSecrets, a
# ServiceAccount's), from a basic-auth TLS registry and a token registry.
source "$(dirname "$0")/lib.sh"
track_secrets

start_registry sec tls-basic
start_token_registry tok
build_images
seed_registry sec
seed_registry tok
export XDG_CACHE_HOME="$T/cache"
# The token registry and its token server, a plain-HTTP origin of its own.
TOKEN_INSECURE=(--insecure-registry "$tok_HOST" --insecure-registry "127.0.0.1:$tok_TOKEN_PORT")
"$BALE" keygen -q -o "$T/k" >/dev/null
auth=$(printf '%s:%s' "$BALE_TEST_USER" "$BALE_TEST_PASS" | base64 -w0)
config() { printf '{"auths":{"%s":{"auth":"%s"}}}' "$1" "$auth" | base64 -w0; }
M="$T/k8s"
mkdir -p "$M"
cat >"$M/secrets.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: shop}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: $(config "$sec_HOST")
---
apiVersion: v1
kind: Secret
metadata: {name: tokcred, namespace: shop}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: $(config "$tok_HOST")
YAML
cat >"$M/apps.yaml" <<YAML
# the shop: one workload with its own pull secret, one through its service account
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      imagePullSecrets: [{name: regcred}]
      containers:
        - name: web
          image: $sec_HOST/demo/single:1
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: shop}
imagePullSecrets: [{name: tokcred}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: build, namespace: shop}
spec:
  template:
    spec:
      serviceAccountName: builder
      restartPolicy: Never
      containers:
        - name: build
          image: $tok_HOST/private/multi:1
YAML
B="$T/site.tar.zst"
expect_exit 0 "$BALE" export -v --from-manifests "$M" --ca-file "$CA_CERT" "${TOKEN_INSECURE[@]}" \
  --key "$T/k.key" -o "$B"
assert_eq 2 "$(wc -l <"$LAST_STDOUT")" "images exported"
assert_contains "$LAST_STDOUT" "$tok_HOST/private/multi:1 $DIGEST_private_multi"
assert_not_contains "$LAST_STDERR" "$BALE_TEST_PASS"
assert_contains "$tok_TOKEN_LOG" "user=$BALE_TEST_USER"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$B"

# A referenced Secret that is not base64 is a usage error (2) naming it, before any pull.
sed -i "0,/dockerconfigjson: .*/s//dockerconfigjson: '!!not-base64!!'/" "$M/secrets.yaml"
tokens=$(wc -l <"$tok_TOKEN_LOG")
expect_exit 2 "$BALE" export --from-manifests "$M" --ca-file "$CA_CERT" \
  "${TOKEN_INSECURE[@]}" --key "$T/k.key" -o "$T/bad.tar.zst"
assert_contains "$LAST_STDERR" "Secret regcred: .dockerconfigjson in data: invalid base64"
assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one-line error"
[[ ! -e $T/bad.tar.zst ]] || fail "a bundle was written"
assert_eq "$tokens" "$(wc -l <"$tok_TOKEN_LOG")" "token requests after the bad Secret"

# Without the Secrets the same manifests are refused by the registries (5).
rm "$M/secrets.yaml"
expect_exit 5 "$BALE" export --from-manifests "$M" --ca-file "$CA_CERT" \
  "${TOKEN_INSECURE[@]}" --key "$T/k.key" -o "$T/none.tar.zst"
assert_contains "$LAST_STDERR" "pull secret regcred"
# Nothing bale printed or wrote (the bundle, decompressed too, its index.db, the content
# cache) holds the password, a token the token server issued, or their base64 forms.
secret_scan
echo "test_export_manifests: ok"
