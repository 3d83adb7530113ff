#!/usr/bin/env bash
# bale import and bale pull into a site registry (registry://HOST/PREFIX): the bundle's
# digests on the other side, shared blobs sent once and mounted elsewhere, a re-import
# that uploads nothing, credentials and TLS as for pulling, and what a platform subset does.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
track_secrets # the secure site registry takes credentials

start_registry reg plain
build_images --layer-kib 1024
seed_registry reg
H=$reg_HOST
start_registry site plain
start_registry secure tls-basic
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
B="$T/site.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" \
  "$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/single:1" >/dev/null
"$BALE" export -q --platform linux/arm64 --insecure-registry "$H" --key "$T/k.key" \
  -o "$T/arm.tar.zst" "$H/demo/multi:1" >/dev/null
S=$site_HOST
imp() { "$BALE" import --ledger "$T/ledger.db" --key "$T/k.pub" "$@"; }

expect_exit 0 imp --platform all --insecure-registry "$S" --store "registry://$S/mirror" "$B"
for image in multi dlist single; do
  want=DIGEST_demo_$image
  got=$(run_skopeo inspect --raw --tls-verify=false "docker://$S/mirror/demo/$image:1" | sha256sum | cut -d' ' -f1)
  assert_eq "${!want}" "sha256:$got" "$image on the site registry"
  run_skopeo copy -q --all --src-tls-verify=false "docker://$S/mirror/demo/$image:1" "dir:$T/back-$image"
  run_skopeo copy -q --all --src-tls-verify=false "docker://$H/demo/$image:1" "dir:$T/orig-$image"
  assert_eq "$(peer_digests_dir "$T/orig-$image")" "$(peer_digests_dir "$T/back-$image")" "$image content"
done
# The digest reference works too.
run_skopeo inspect --raw --tls-verify=false "docker://$S/mirror/demo/multi@$DIGEST_demo_multi" >/dev/null ||
  fail "digest reference on the site registry"
# The big shared layer travelled once; the other repositories got it by mount.
layer=$(bundle_blobs "$B" | jq -r '[.[] | select(.kind == "layer")] | max_by(.size) | .digest')
assert_eq 1 "$(grep -cE "PUT /v2/mirror/demo/[a-z]+/blobs/uploads/[^ ]*digest=${layer/:/%3A}" "$site_LOG" || true)" "uploads of the shared layer"
(($(grep -cE "POST /v2/mirror/demo/[a-z]+/blobs/uploads/\?.*mount=${layer/:/%3A}" "$site_LOG" || true) >= 2)) ||
  fail "the shared layer was not mounted into the other repositories"

# Re-import: nothing uploaded.
mark=$(wc -l <"$site_LOG")
expect_exit 0 imp --platform all --insecure-registry "$S" --store "registry://$S/mirror" "$B"
assert_eq 0 "$(tail -n +"$((mark + 1))" "$site_LOG" | grep -cE '(POST|PATCH) /v2/' || true)" "uploads on re-import"

# Credentials and TLS as for pulling; a wrong password is exit 5 and never printed.
expect_exit 0 imp --platform all --ca-file "$CA_CERT" --creds "$BALE_TEST_USER:$BALE_TEST_PASS" \
  --store "registry://$secure_HOST" "$B"
got=$(run_skopeo inspect --raw --cert-dir "$T/ca-only" --creds "$BALE_TEST_USER:$BALE_TEST_PASS" \
  "docker://$secure_HOST/demo/dlist:1" | sha256sum | cut -d' ' -f1)
assert_eq "$DIGEST_demo_dlist" "sha256:$got" "dlist on the authenticated registry"
expect_exit 5 imp --platform all --ca-file "$CA_CERT" --creds "$BALE_TEST_USER:wrong-Pa55" \
  --store "registry://$secure_HOST" "$B"
assert_not_contains "$LAST_STDERR" "wrong-Pa55"

# A platform subset: the registry refuses an index whose children are missing, and bale
# says why (docs/bale-import.1.md).
expect_exit 3 imp --platform linux/arm64 --insecure-registry "$S" --store "registry://$S/subset" "$T/arm.tar.zst"
assert_contains "$LAST_STDERR" "only some of its platforms"

# Online: bale pull from one registry straight into another.
expect_exit 0 "$BALE" pull -q --platform all --insecure-registry "$H" --insecure-registry "$S" \
  --store "registry://$S/online" "$H/demo/multi:1" "$H/demo/schema2:1"
got=$(run_skopeo inspect --raw --tls-verify=false "docker://$S/online/demo/multi:1" | sha256sum | cut -d' ' -f1)
assert_eq "$DIGEST_demo_multi" "sha256:$got" "pulled into the site registry"
# A password in a store's address is refused, and not repeated in any message.
secret_add "addr-pw-9f3k"
for verb in "import --key $T/k.pub $B" "check" "have -o $T/reg.have" "pull $H/demo/single:1"; do
  # shellcheck disable=SC2086 # the verb's words
  expect_exit 2 "$BALE" $verb --insecure-registry "$S" --store "registry://admin:addr-pw-9f3k@$S/mirror"
  assert_contains "$LAST_STDERR" "user information (USER:PASS@) in its address"
done
expect_exit 2 "$BALE" check --store "https://admin:addr-pw-9f3k@$S/mirror"
# Nothing bale printed (with -v too) or wrote holds a test secret (lib.sh).
secret_scan
echo "test_registry_store: ok"
