#!/usr/bin/env bash
# bale verify --manifests: would these pods start with imagePullPolicy: Never? Against a
# bundle and an oci: node store, before and after the import: absent images, a platform
# the bundle does not carry, a pinned digest the tag no longer has.
source "$(dirname "$0")/lib.sh"

start_registry reg plain
build_images
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
M="$T/k8s"
mkdir -p "$M"
cat >"$M/apps.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - {name: web, image: $H/demo/multi:1, imagePullPolicy: Never}
      initContainers:
        - {name: init, image: "$H/demo/single@$DIGEST_demo_single", imagePullPolicy: Never}
---
apiVersion: batch/v1
kind: Job
metadata: {name: report}
spec:
  template:
    spec:
      containers:
        - {name: report, image: $H/demo/dlist:1, imagePullPolicy: Never}
YAML
B="$T/site.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" \
  "$H/demo/multi:1" "$H/demo/single@$DIGEST_demo_single" "$H/demo/dlist:1" >/dev/null
"$BALE" export -q --platform linux/arm64 --insecure-registry "$H" --key "$T/k.key" \
  -o "$T/arm.tar.zst" "$H/demo/multi:1" >/dev/null

# The bundle would make every pod startable on this node.
expect_exit 0 "$BALE" verify --manifests "$M" --bundle "$B" --platform linux/amd64
# An arm64-only bundle: wrong platform for multi, the others absent (exit 6).
expect_exit 6 "$BALE" verify --manifests "$M" --bundle "$T/arm.tar.zst" --platform linux/amd64 --json
assert_eq "wrong-platform absent absent" "$(jq -r '[.[] | .status] | join(" ")' "$LAST_STDOUT")" "arm64 bundle"
# On an arm64 node the same bundle serves multi; the other images it does not carry.
expect_exit 6 "$BALE" verify --manifests "$M" --bundle "$T/arm.tar.zst" --platform linux/arm64 --json
assert_eq "ok absent absent" "$(jq -r '[.[] | .status] | join(" ")' "$LAST_STDOUT")" "arm64 node"

# A node store: before the import every container fails, after it none does.
S="oci:$T/store"
"$BALE" import -q --ledger "$T/l.db" --store "$S" --key "$T/k.pub" --image "$H/demo/dlist:1" "$B" >/dev/null
expect_exit 6 "$BALE" verify --manifests "$M" --store "$S" --platform linux/amd64
assert_eq 2 "$(wc -l <"$LAST_STDOUT")" "containers reported before the import"
assert_contains "$LAST_STDOUT" "container web: $H/demo/multi:1: absent"
expect_exit 0 "$BALE" import -q --ledger "$T/l.db" --store "$S" --key "$T/k.pub" --platform all "$B"
expect_exit 0 "$BALE" verify --manifests "$M" --store "$S" --platform linux/amd64
assert_eq 0 "$(wc -l <"$LAST_STDOUT")" "containers reported after the import"

# A pod pinned to a digest the tag does not have in the store.
sed "s|$H/demo/multi:1,|$H/demo/multi:1@$DIGEST_demo_dlist,|" "$M/apps.yaml" >"$T/pinned.yaml"
expect_exit 6 "$BALE" verify --manifests "$T/pinned.yaml" --store "$S" --platform linux/amd64 --json
assert_eq "digest-mismatch" "$(jq -r '.[0].status' "$LAST_STDOUT")" "pinned digest"
# A layer deleted from the store: incomplete.
layer=$(jq -r '.layers[0].digest[7:]' "$T/store/blobs/sha256/${DIGEST_demo_single#sha256:}")
rm "$T/store/blobs/sha256/$layer"
expect_exit 6 "$BALE" verify --manifests "$M" --store "$S" --platform linux/amd64 --json
assert_contains "$LAST_STDOUT" '"incomplete"'
# plan --lint names the digest the bundle would pin an unpinned image to.
expect_exit 0 "$BALE" plan -q --lint --bundle "$B" -f "$M/apps.yaml"
assert_contains "$LAST_STDOUT" "$H/demo/dlist:1: pull policy Never on a mutable tag: the node runs whatever carries that tag; pin a digest (the bundle has it at $DIGEST_demo_dlist)"

# plan --pin: every image pinned from the bundle, pulled Never; the result still reads as
# the same workloads, and lint finds nothing unpinned in it.
expect_exit 0 "$BALE" plan --pin "$B" -f "$M/apps.yaml"
cp "$LAST_STDOUT" "$T/pinned-apps.yaml"
assert_eq 3 "$(grep -c 'image: .*@sha256:' "$T/pinned-apps.yaml")" "pinned images"
assert_eq 3 "$(grep -c 'imagePullPolicy: Never' "$T/pinned-apps.yaml")" "Never policies"
grep -qE "image: '?$H/demo/multi:1@$DIGEST_demo_multi" "$T/pinned-apps.yaml" || fail "multi pinned to its index"
expect_exit 0 "$BALE" plan -q --lint -f "$T/pinned-apps.yaml"
assert_not_contains "$LAST_STDOUT" "not pinned"
expect_exit 0 "$BALE" verify --manifests "$T/pinned-apps.yaml" --bundle "$B" --platform linux/amd64
# An image the bundle does not carry: refused, nothing printed.
sed "s|demo/dlist:1|demo/absent:1|" "$M/apps.yaml" >"$T/other.yaml"
expect_exit 6 "$BALE" plan --pin "$B" -f "$T/other.yaml"
assert_eq 0 "$(wc -c <"$LAST_STDOUT")" "no partial output"
assert_contains "$LAST_STDERR" "$T/other.yaml:"

# A directory pins into a tree that mirrors it (-o DIR); other files are left out.
mkdir -p "$T/tree/team/jobs"
cp "$M/apps.yaml" "$T/tree/team/apps.yml"
printf '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"%s"}]}}\n' \
  "$H/demo/dlist:1" >"$T/tree/team/jobs/pod.json"
echo "not a manifest" >"$T/tree/README.md"
expect_exit 2 "$BALE" plan --pin "$B" -f "$T/tree"
assert_contains "$LAST_STDERR" "-o DIR"
expect_exit 0 "$BALE" plan --pin "$B" -f "$T/tree" -o "$T/out"
assert_eq "team/apps.yml team/jobs/pod.json" "$(cd "$T/out" && find . -type f | sed 's|^\./||' | sort | xargs)" "pinned tree"
assert_eq "$(cat "$T/pinned-apps.yaml")" "$(cat "$T/out/team/apps.yml")" "a file pinned alone and in a tree"
grep -q "$H/demo/dlist:1@$DIGEST_demo_dlist" "$T/out/team/jobs/pod.json" || fail "JSON manifest not pinned"
# Nothing is replaced without --force; with it the tree is rewritten in place.
expect_exit 2 "$BALE" plan --pin "$B" -f "$T/tree" -o "$T/out"
assert_contains "$LAST_STDERR" "$T/out/team/apps.yml exists"
expect_exit 0 "$BALE" plan --pin "$B" -f "$T/tree" -o "$T/out" --force
# A file pins into one file, also from standard input; a refusal writes nothing at all.
expect_exit 0 "$BALE" plan --pin "$B" -f - -o "$T/one.yaml" <"$M/apps.yaml"
assert_eq "$(cat "$T/pinned-apps.yaml")" "$(cat "$T/one.yaml")" "pinned into a file"
cp "$T/other.yaml" "$T/tree/team/jobs/other.yaml"
expect_exit 6 "$BALE" plan --pin "$B" -f "$T/tree" -o "$T/out2"
[[ ! -e $T/out2 ]] || fail "a refused pin wrote $(find "$T/out2")"
expect_exit 2 "$BALE" plan -f "$T/tree" -o "$T/out3"
echo "test_preflight: ok"
