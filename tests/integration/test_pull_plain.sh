#!/usr/bin/env bash
# bale pull against a plain-HTTP registry: every manifest type, by tag and by digest,
# platform subsets, byte-for-byte agreement with skopeo, and the not-found paths.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/pull.sh"

start_registry reg plain
build_images
seed_registry reg
H=$reg_HOST

# Every kind of image: OCI index, Docker manifest list, Docker schema 2, OCI manifest.
for image in multi dlist schema2 single; do
  pull_and_compare reg "demo/$image:1"
  # The printed line names the normalized ref and the digest the registry serves.
  want_digest=DIGEST_demo_$image
  assert_eq "$H/demo/$image:1 ${!want_digest}" "$(cut -d' ' -f1,2 "$LAST_STDOUT")" "pull output"
done

# OCI-typed images agree with skopeo's own oci: layout too, and skopeo reads bale's store.
for image in multi single; do
  pull_and_compare reg "demo/$image:1"
  peer="$T/peer-oci-$image"
  run_skopeo copy --quiet --all --src-tls-verify=false "docker://$H/demo/$image:1" "oci:$peer:$H/demo/$image:1"
  assert_eq "$(store_digests "$peer")" "$(store_digests "$PULLED_STORE")" "bale vs skopeo oci: for $image"
  got=$(run_skopeo inspect --raw "oci:$PULLED_STORE:$H/demo/$image:1" | sha256sum | cut -d' ' -f1)
  want_digest=DIGEST_demo_$image
  assert_eq "${!want_digest}" "sha256:$got" "skopeo inspect --raw oci:bale-store"
done

# index.json names the image with both annotations, as containerd and skopeo read them.
ann=$(jq -r '.manifests[0].annotations | [."org.opencontainers.image.ref.name", ."io.containerd.image.name"] | join(" ")' "$PULLED_STORE/index.json")
assert_eq "$H/demo/single:1 $H/demo/single:1" "$ann" "index.json annotations"

# By digest: the reference keeps its digest and no tag is invented.
store="$T/by-digest"
expect_exit 0 "$BALE" pull -q --platform all --insecure-registry "$H" --store "oci:$store" "$H/demo/multi@$DIGEST_demo_multi"
assert_eq "$H/demo/multi@$DIGEST_demo_multi" "$(jq -r '.manifests[0].annotations."org.opencontainers.image.ref.name"' "$store/index.json")" "digest ref name"
assert_eq "$DIGEST_demo_multi" "$(jq -r '.manifests[0].digest' "$store/index.json")" "digest ref root"

# Tag and digest together: both kept in the name; the digest decides what is pulled,
# whatever the tag points to now (as docker and containerd resolve it).
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/dlist:1@$DIGEST_demo_dlist"
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/dlist:1@$DIGEST_demo_dlist_amd64"
assert_eq "$H/demo/dlist:1@$DIGEST_demo_dlist_amd64 $DIGEST_demo_dlist_amd64" "$(cut -d' ' -f1,2 "$LAST_STDOUT")" "pinned ref"
# A digest the repository does not have: not found.
expect_exit 6 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/dlist@sha256:$(printf '0%.0s' {1..64})"

# A platform subset keeps the original index bytes, carries only that platform.
for image in multi dlist; do
  store="$T/subset-$image"
  expect_exit 0 "$BALE" pull -q --platform linux/arm64 --insecure-registry "$H" --store "oci:$store" "$H/demo/$image:1"
  want_digest=DIGEST_demo_${image}
  arm=DIGEST_demo_${image}_arm64_v8
  amd=DIGEST_demo_${image}_amd64
  assert_eq "${!want_digest}" "$(jq -r '.manifests[0].digest' "$store/index.json")" "subset root is the original index"
  [[ -f $store/blobs/sha256/${!want_digest#sha256:} ]] || fail "index blob missing"
  [[ -f $store/blobs/sha256/${!arm#sha256:} ]] || fail "arm64 manifest missing"
  [[ ! -e $store/blobs/sha256/${!amd#sha256:} ]] || fail "amd64 manifest pulled although not asked for"
  assert_eq "$H/demo/$image:1 ${!want_digest} linux/arm64/v8" "$(cat "$LAST_STDOUT")" "subset output"
  store_digests "$store" >/dev/null # every stored file hashes to its name
done

# Default platform: the host's, exactly one manifest carried.
store="$T/host"
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/multi:1"
assert_eq "linux/amd64" "$(cut -d' ' -f3 "$LAST_STDOUT")" "host platform"

# Two images sharing a base layer: stored once, both named, one process.
store="$T/two"
expect_exit 0 "$BALE" pull -q --platform all --insecure-registry "$H" --store "oci:$store" "$H/demo/multi:1" "$H/demo/dlist:1"
assert_eq 2 "$(jq '.manifests | length' "$store/index.json")" "two names"
union=$( (store_digests "$T/store-reg-demo_multi_1"; store_digests "$T/store-reg-demo_dlist_1") | sort -u)
assert_eq "$union" "$(store_digests "$store")" "shared blobs stored once"

# Pulling again is a no-op that still succeeds; two pulls at once into one store both land.
expect_exit 0 "$BALE" pull -q --platform all --insecure-registry "$H" --store "oci:$store" "$H/demo/multi:1"
"$BALE" pull -q --insecure-registry "$H" --store "oci:$T/together" "$H/demo/single:1" & p1=$!
"$BALE" pull -q --insecure-registry "$H" --store "oci:$T/together" "$H/demo/schema2:1" & p2=$!
wait $p1 || fail "first concurrent pull failed"
wait $p2 || fail "second concurrent pull failed"
assert_eq 2 "$(jq '.manifests | length' "$T/together/index.json")" "concurrent writers"

# Not found: unknown tag, unknown repository, missing platform -> exit 6, store untouched.
store="$T/nf"
expect_exit 6 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/multi:nope"
assert_contains "$LAST_STDERR" "$H/demo/multi:nope"
expect_exit 6 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/absent:1"
expect_exit 6 "$BALE" pull -q --platform linux/s390x --insecure-registry "$H" --store "oci:$store" "$H/demo/multi:1"
assert_contains "$LAST_STDERR" "linux/s390x"
assert_contains "$LAST_STDERR" "linux/arm64/v8"
assert_eq 0 "$(jq '.manifests | length' "$store/index.json")" "nothing named after failures"

# A failed reference fails the whole run before anything is named.
expect_exit 6 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/single:1" "$H/demo/absent:1"
assert_eq 0 "$(jq '.manifests | length' "$store/index.json")" "no partial runs"
# Images are resolved several at once, yet every failing reference is named in reference
# order, every time: the second's, then the fourth's.
for _ in 1 2 3; do
  expect_exit 6 "$BALE" pull -q --jobs 4 --insecure-registry "$H" --store "oci:$store" \
    "$H/demo/single:1" "$H/demo/absent:1" "$H/demo/multi:1" "$H/demo/multi:nope"
  assert_contains "$LAST_STDERR" "2 of 4 references failed: $H/demo/absent:1: not found"
  assert_contains "$LAST_STDERR" "; $H/demo/multi:nope: not found"
done

# Malformed references and options: usage errors (2) naming the fault.
expect_exit 2 "$BALE" pull --store "oci:$store" "$H/Demo/x:1"
assert_contains "$LAST_STDERR" "uppercase"
expect_exit 2 "$BALE" pull --store "oci:$store" "$H/demo/x:"
expect_exit 2 "$BALE" pull --platform amd64 --store "oci:$store" "$H/demo/x:1"
expect_exit 2 "$BALE" pull --retries many "$H/demo/x:1"
expect_exit 2 "$BALE" pull
expect_exit 2 "$BALE" pull --store "tarball:$T/x" "$H/demo/x:1"

# Plain HTTP only when asked: without --insecure-registry the TLS handshake fails (7).
expect_exit 7 "$BALE" pull -q --retries 0 --store "oci:$store" "$H/demo/multi:1"

# inspect: digest, platforms and sizes; --raw is the served bytes.
expect_exit 0 "$BALE" inspect --insecure-registry "$H" --json "$H/demo/multi:1"
assert_eq "$DIGEST_demo_multi" "$(jq -r .digest "$LAST_STDOUT")" "inspect digest"
assert_eq "linux/amd64 linux/arm64/v8 linux/arm/v7" "$(jq -r '[.manifests[].platform] | join(" ")' "$LAST_STDOUT")" "inspect platforms"
[[ $(jq '[.manifests[].imageSize] | min' "$LAST_STDOUT") -gt 0 ]] || fail "inspect sizes"
expect_exit 0 "$BALE" inspect --insecure-registry "$H" --raw "$H/demo/dlist:1"
assert_eq "$DIGEST_demo_dlist" "sha256:$(sha256sum <"$LAST_STDOUT" | cut -d' ' -f1)" "inspect --raw"
expect_exit 0 "$BALE" inspect --insecure-registry "$H" "$H/demo/schema2:1"
assert_contains "$LAST_STDOUT" "application/vnd.docker.distribution.manifest.v2+json"
expect_exit 0 "$BALE" pull --help
assert_contains "$LAST_STDOUT" "--store"
echo "test_pull_plain: ok"
