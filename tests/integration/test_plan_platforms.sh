#!/usr/bin/env bash
# Platforms from the manifests: a workload pinned to arm64 by nodeSelector, one to amd64 by
# a required nodeAffinity, one anywhere; with the site's node inventory (kubectl get nodes
# -o json, or a YAML list) each image carries exactly the platforms its workloads can run
# on there, checked against the registry's own index; --platform still overrides; an
# image no node can run is refused, named; plan --pin --registry relocates the manifests
# to the site registry the bundle was imported into, and they pull from there.
source "$(dirname "$0")/lib.sh"

start_registry reg plain
build_images --layer-kib 64
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
M="$T/manifests"
mkdir -p "$M"
cat >"$M/apps.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: on-arm, namespace: shop}
spec:
  template:
    spec:
      nodeSelector: {kubernetes.io/arch: arm64}
      containers: [{name: c, image: $H/demo/multi:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: on-amd, namespace: shop}
spec:
  template:
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: kubernetes.io/arch, operator: In, values: [amd64, s390x]}
              - {key: kubernetes.io/os, operator: NotIn, values: [windows]}
      containers: [{name: c, image: $H/demo/dlist:1}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere, namespace: kube-system}
spec:
  template:
    spec:
      containers: [{name: c, image: $H/demo/single:1}]
YAML
cat >"$T/nodes.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
 {"kind": "Node", "metadata": {"name": "a1", "labels": {"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}}},
 {"kind": "Node", "metadata": {"name": "r1", "labels": {"kubernetes.io/arch": "arm64", "kubernetes.io/os": "linux"}},
  "status": {"nodeInfo": {"architecture": "arm64", "operatingSystem": "linux"}}}]}
JSON

# The plan says which platforms each image needs, and why.
expect_exit 0 "$BALE" plan --platforms --nodes "$T/nodes.json" -f "$M"
assert_contains "$LAST_STDOUT" "$H/demo/multi:1 linux/arm64 (Deployment/on-arm: linux/arm64,windows/arm64)"
assert_contains "$LAST_STDOUT" "$H/demo/dlist:1 linux/amd64 (Deployment/on-amd: linux/amd64,linux/s390x)"
assert_contains "$LAST_STDOUT" "$H/demo/single:1 linux/amd64,linux/arm64 (DaemonSet/everywhere: all)"
expect_exit 0 "$BALE" plan --json -f "$M"
assert_eq "all" "$(jq -r --arg r "$H/demo/single:1" '.[] | select(.image == $r) | .platforms' "$LAST_STDOUT")" \
  "an unconstrained image without an inventory"

# The export carries exactly those, per image (what index.db says is carried, beside the
# registry's own index).
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none \
  --from-manifests "$M" --nodes "$T/nodes.json" -o "$T/b.tar.zst"
carried() { "$BALE" query --csv --no-header "$1" "SELECT group_concat(p.os || '/' || p.architecture ||
  coalesce('/' || p.variant, ''), ',') FROM image_platforms p JOIN images i ON i.id = p.image_id
  WHERE i.ref = '$2' AND p.carried = 1"; }
arm=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$H/v2/demo/multi/manifests/1" |
  jq -r '[.manifests[] | select(.platform.architecture == "arm64")] | length')
assert_eq 1 "$arm" "arm64 entries in the registry's index"
assert_eq "linux/arm64/v8" "$(carried "$T/b.tar.zst" "$H/demo/multi:1")" "platforms carried for the arm64 workload"
assert_eq "linux/amd64" "$(carried "$T/b.tar.zst" "$H/demo/dlist:1")" "platforms carried for the amd64 workload"
assert_eq "linux/amd64" "$(carried "$T/b.tar.zst" "$H/demo/single:1")" "the single-platform image"
# A saved plan carries the same: planned on one machine, exported on another.
expect_exit 0 "$BALE" plan --json --nodes "$T/nodes.json" -f "$M/apps.yaml"
cp "$LAST_STDOUT" "$T/plan.json"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none \
  --plan "$T/plan.json" -o "$T/planned.tar.zst"
for ref in "$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/single:1"; do
  assert_eq "$(carried "$T/b.tar.zst" "$ref")" "$(carried "$T/planned.tar.zst" "$ref")" "$ref from a saved plan"
done
# A YAML list of platforms is an inventory too; without one, the constraints alone.
printf -- '- linux/amd64\n- linux/arm64/v8\n' >"$T/nodes.yaml"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none \
  --from-manifests "$M" --nodes "$T/nodes.yaml" -o "$T/yaml.tar.zst"
assert_eq "linux/arm64/v8" "$(carried "$T/yaml.tar.zst" "$H/demo/multi:1")" "with a YAML inventory"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none \
  --from-manifests "$M" -o "$T/free.tar.zst"
assert_eq "linux/arm64/v8" "$(carried "$T/free.tar.zst" "$H/demo/multi:1")" "arm64 without an inventory"
# --platform still decides for every image.
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none --platform all \
  --from-manifests "$M" --nodes "$T/nodes.json" -o "$T/all.tar.zst"
assert_eq 3 "$(carried "$T/all.tar.zst" "$H/demo/multi:1" | tr ',' '\n' | wc -l)" "every platform with --platform all"

# Relocation: the site pulls from its own registry. The bundle goes there (bale import
# --store registry://), the manifests are rewritten to its names, pinned by digest, pull
# policy IfNotPresent, and every image pulls from it.
start_registry site plain
expect_exit 0 "$BALE" import --insecure-skip-verify --platform all --ledger "$T/ledger.db" \
  --insecure-registry "$site_HOST" --store "registry://$site_HOST/mirror" "$T/all.tar.zst"
expect_exit 0 "$BALE" plan --pin "$T/all.tar.zst" --registry "$site_HOST/mirror" -f "$M/apps.yaml"
cp "$LAST_STDOUT" "$T/relocated.yaml"
# every container's image and pull policy, read back as YAML
containers() { "$PY" -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    for c in d["spec"]["template"]["spec"]["containers"]:
        print(c["image"], c["imagePullPolicy"])' "$1"; }
mapfile -t moved < <(containers "$T/relocated.yaml" | cut -d' ' -f1)
assert_eq 3 "${#moved[@]}" "relocated images"
for ref in "${moved[@]}"; do
  [[ $ref == "$site_HOST/mirror/demo/"*@sha256:* ]] || fail "not relocated and pinned: $ref"
  name=${ref%@*} # skopeo takes a name and a digest, not a tag too
  run_skopeo copy -q --src-tls-verify=false "docker://${name%:*}@${ref#*@}" "dir:$T/pulled" ||
    fail "$ref does not pull from the site registry"
  rm -rf "$T/pulled"
done
assert_eq 3 "$(containers "$T/relocated.yaml" | grep -c ' IfNotPresent$')" "pull policy of relocated images"
# A registry that takes fewer levels: the import and the relocation keep the last one.
expect_exit 0 "$BALE" import --insecure-skip-verify --platform all --ledger "$T/ledger-flat.db" \
  --insecure-registry "$site_HOST" --store "registry://$site_HOST/flat" --repository-depth 1 "$T/all.tar.zst"
expect_exit 0 "$BALE" plan --pin "$T/all.tar.zst" --registry "$site_HOST/flat" --repository-depth 1 -f "$M/apps.yaml"
containers "$LAST_STDOUT" | cut -d' ' -f1 >"$T/flat.txt"
assert_eq 3 "$(grep -c "^$site_HOST/flat/[a-z]*:1@sha256:" "$T/flat.txt")" "images relocated to one level"
while read -r ref; do
  name=${ref%@*}
  run_skopeo copy -q --src-tls-verify=false "docker://${name%:*}@${ref#*@}" "dir:$T/pulled" ||
    fail "$ref does not pull from the flat site registry"
  rm -rf "$T/pulled"
done <"$T/flat.txt"
# two repositories that would meet there are refused, both named
run_skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$H/demo/single:1" "docker://$H/more/single:1"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none -o "$T/meet.tar.zst" \
  "$H/demo/single:1" "$H/more/single:1"
expect_exit 2 "$BALE" import --insecure-skip-verify --ledger "$T/ledger-meet.db" --insecure-registry "$site_HOST" \
  --store "registry://$site_HOST/flat2" --repository-depth 1 "$T/meet.tar.zst"
assert_contains "$LAST_STDERR" "demo/single and more/single would both be flat2/single with a repository depth of 1"
expect_exit 2 "$BALE" plan --pin "$T/all.tar.zst" --repository-depth 1 -f "$M/apps.yaml"
assert_contains "$LAST_STDERR" "--repository-depth only with --registry"
expect_exit 2 "$BALE" plan --registry "$site_HOST" -f "$M/apps.yaml"
assert_contains "$LAST_STDERR" "--registry only with --pin"
expect_exit 2 "$BALE" plan --pin "$T/all.tar.zst" --registry "Bad Host" -f "$M/apps.yaml"
assert_contains "$LAST_STDERR" "--registry Bad Host:"

# A workload for Windows nodes at a Linux-only site: refused, named.
cat >"$M/win.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: win}
spec:
  nodeSelector: {kubernetes.io/os: windows}
  containers: [{name: c, image: $H/demo/other:1}]
YAML
expect_exit 6 "$BALE" export -q --insecure-registry "$H" --unsigned --from-manifests "$M" \
  --nodes "$T/nodes.json" -o "$T/win.tar.zst"
assert_contains "$LAST_STDERR" "no node of the inventory can run 1 image: $H/demo/other:1"
expect_exit 0 "$BALE" plan --json --nodes "$T/nodes.json" -f "$M"
cp "$LAST_STDOUT" "$T/plan-win.json"
expect_exit 6 "$BALE" export -q --insecure-registry "$H" --unsigned --plan "$T/plan-win.json" -o "$T/win.tar.zst"
assert_contains "$LAST_STDERR" "plan-win.json: no node of the inventory can run 1 image: $H/demo/other:1"
expect_exit 0 "$BALE" plan --platforms --nodes "$T/nodes.json" -f "$M"
assert_contains "$LAST_STDOUT" "$H/demo/other:1 none (Pod/win: windows/"
expect_exit 2 "$BALE" plan --nodes "$M/apps.yaml" -f "$M"
assert_contains "$LAST_STDERR" "no node in it"
echo "test_plan_platforms: ok"
