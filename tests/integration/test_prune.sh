#!/usr/bin/env bash
# bale prune: a node that carries three months of imports of one application. The plan
# keeps what a container uses, what the manifests name and the newest import, lists the
# rest with its blobs and bytes, and removes nothing; --apply frees exactly those bytes on
# disk, leaves every other image complete, keeps an image that became used after the
# plan, and records the prune in the ledger. Against an oci: store, a real containerd and
# a site registry (deletes by digest; its garbage collector frees the bytes).
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
# Three months of demo/app: each month's tag is other content, its own layers.
for month in 1 2 3; do
  "$PY" "$LIB_DIR/mkimages.py" --layer-kib 256 --seed "$month" --kinds single "$T/m$month" >/dev/null
  run_skopeo copy -q --dest-tls-verify=false --preserve-digests \
    "oci:$T/m$month/single:single" "docker://$H/demo/app:1.$month"
  "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/month$month.tar.zst" \
    "$H/demo/app:1.$month" >/dev/null
done
digest_of() { # the root digest a bundle's index gives REF
  "$BALE" query "$1" "SELECT digest FROM images WHERE ref = '$2'" --csv --no-header
}
D1=$(digest_of "$T/month1.tar.zst" "$H/demo/app:1.1")
D2=$(digest_of "$T/month2.tar.zst" "$H/demo/app:1.2")
D3=$(digest_of "$T/month3.tar.zst" "$H/demo/app:1.3")
[[ $D1 == sha256:* && $D2 == sha256:* && $D3 == sha256:* && $D1 != "$D2" ]] || fail "month digests: $D1 $D2 $D3"
bytes_on_disk() { # the bytes of the blob files under DIR
  find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'
}

# ---- an oci: store ----
S="oci:$T/store"
L="$T/ledger.db"
for m in 1 2 3; do
  "$BALE" import -q --ledger "$L" --store "$S" --key "$T/k.pub" --platform all "$T/month$m.tar.zst" >/dev/null
done
# Something bale did not import is never a candidate.
run_skopeo copy -q --src-tls-verify=false "docker://$H/demo/single:1" "oci:$T/store:$H/demo/other:1"
mkdir -p "$T/k8s"
cat >"$T/k8s/app.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    spec:
      containers:
        - {name: app, image: $H/demo/app:1.1, imagePullPolicy: Never}
YAML
before=$(bytes_on_disk "$T/store/blobs")
expect_exit 0 "$BALE" prune --store "$S" --ledger "$L" --keep-manifests "$T/k8s" -o "$T/plan.json"
assert_contains "$LAST_STDOUT" "remove  $H/demo/app:1.2"
assert_contains "$LAST_STDOUT" "keep    $H/demo/app:1.1"
assert_contains "$LAST_STDOUT" "named by Deployment/app ($T/k8s/app.yaml:"
assert_contains "$LAST_STDOUT" "keep    $H/demo/app:1.3"
assert_contains "$LAST_STDOUT" "among the newest 1 of $H/demo/app"
assert_contains "$LAST_STDOUT" "which bale did not import"
assert_eq "$before" "$(bytes_on_disk "$T/store/blobs")" "bytes after the plan (nothing removed)"
assert_eq "1 $D2" "$(jq -r '[.remove.images, ([.images[] | select(.action == "remove")][0].digest)] | join(" ")' "$T/plan.json")" "the plan removes month 2"
planned=$(jq -r .remove.bytes "$T/plan.json")
[[ $planned -gt 100000 ]] || fail "the plan frees only $planned bytes: its layers are missing"
assert_eq "$planned" "$(jq '[.images[] | select(.action == "remove") | .blobs[].size] | add' "$T/plan.json")" "plan bytes = its blobs"
# A plan file refuses to be overwritten; a plan that is not one is refused.
expect_exit 2 "$BALE" prune --store "$S" --ledger "$L" -o "$T/plan.json"
echo '{"balePrunePlan": 99}' >"$T/future.json"
expect_exit 2 "$BALE" prune --apply "$T/future.json"
assert_contains "$LAST_STDERR" "version 99"
expect_exit 2 "$BALE" prune --apply "$T/plan.json" --store "$S"
expect_exit 6 "$BALE" prune --apply "$T/no-such-plan.json"
assert_contains "$LAST_STDERR" "no-such-plan.json: no such file"
expect_exit 8 "$BALE" prune --store "oci:$T/no-such-store" --ledger "$L" -o "$T/nothing.json"
assert_contains "$LAST_STDERR" "is not an OCI image layout"

expect_exit 0 "$BALE" prune --apply "$T/plan.json" --json
assert_eq "1 $planned" "$(jq -r '"\(.imagesRemoved) \(.bytesFreed)"' "$LAST_STDOUT")" "applied"
assert_eq "$((before - planned))" "$(bytes_on_disk "$T/store/blobs")" "bytes on disk after the apply"
expect_exit 0 "$BALE" check --store "$S"
expect_exit 0 "$BALE" ls "$T/month1.tar.zst" # the bundles are untouched
expect_exit 6 "$BALE" check --store "$S" --image "$H/demo/app:1.2"
# The ledger: the prune, and what the store holds now.
expect_exit 0 "$BALE" ledger --ledger "$L" --csv --no-header "SELECT result, names_removed, bytes_freed FROM prunes"
assert_eq "ok,1,$planned" "$(cat "$LAST_STDOUT")" "the prune in the ledger"
expect_exit 0 "$BALE" ledger --ledger "$L" --csv --no-header "SELECT plan_path, plan_digest FROM prunes"
assert_eq "$T/plan.json,sha256:$(sha256sum "$T/plan.json" | cut -d' ' -f1)" "$(cat "$LAST_STDOUT")" "the plan applied, in the ledger"
expect_exit 0 "$BALE" ledger --ledger "$L" --csv --no-header "SELECT ref FROM current_images ORDER BY ref"
assert_eq "$H/demo/app:1.1
$H/demo/app:1.3" "$(cat "$LAST_STDOUT")" "current_images after the prune"
# Applied again: nothing left to do.
expect_exit 0 "$BALE" prune --apply "$T/plan.json" --json
assert_eq "0 0" "$(jq -r '"\(.imagesRemoved) \(.bytesFreed)"' "$LAST_STDOUT")" "applied twice"

# Killed in the middle (at its first blob removal, index.json already rewritten): every
# name left is whole, and applying the plan again finishes it.
expect_exit 0 "$BALE" prune --store "$S" --ledger "$L" --keep-manifests "$T/k8s" --keep-newest 0 -o "$T/plan2.json"
assert_eq "$D3" "$(jq -r '[.images[] | select(.action == "remove") | .digest] | join(" ")' "$T/plan2.json")" "without --keep-newest month 3 goes"
planned=$(jq -r .remove.bytes "$T/plan2.json")
before=$(bytes_on_disk "$T/store/blobs")
rc=0
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -o /dev/null \
  -e inject=unlinkat:signal=KILL:when=1 "$BALE" prune --apply "$T/plan2.json" >/dev/null 2>&1 || rc=$?
((rc != 0)) || fail "the apply was not killed"
expect_exit 0 "$BALE" check --store "$S"
expect_exit 6 "$BALE" check --store "$S" --image "$H/demo/app:1.3"
assert_eq "$before" "$(bytes_on_disk "$T/store/blobs")" "bytes after the killed apply (names gone, blobs not yet)"
expect_exit 0 "$BALE" prune --apply "$T/plan2.json" --json
assert_eq "$planned" "$(jq -r .bytesFreed "$LAST_STDOUT")" "the re-run frees what the plan said"
assert_eq "$((before - planned))" "$(bytes_on_disk "$T/store/blobs")" "bytes after the re-run"
expect_exit 0 "$BALE" ledger --ledger "$L" --csv --no-header "SELECT ref FROM current_images ORDER BY ref"
assert_eq "$H/demo/app:1.1" "$(cat "$LAST_STDOUT")" "the re-run's prune in the ledger"

# ---- a site registry: the names it gives what the ledger records ----
start_registry site plain # deletes enabled, as lib.sh configures every test registry
R="registry://$site_HOST/mirror"
for m in 1 2 3; do
  "$BALE" import -q --ledger "$T/reg.db" --store "$R" --insecure-registry "$site_HOST" \
    --key "$T/k.pub" "$T/month$m.tar.zst" >/dev/null
done
manifest_status() { # HTTP status of a manifest of the site registry
  curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$site_HOST/v2/mirror/demo/app/manifests/$1"
}
expect_exit 0 "$BALE" prune --store "$R" --ledger "$T/reg.db" --insecure-registry "$site_HOST" \
  --keep-manifests "$T/k8s" -o "$T/reg-plan.json"
assert_contains "$LAST_STDOUT" "remove  $site_HOST/mirror/demo/app:1.2"
assert_contains "$LAST_STDOUT" "keep    $site_HOST/mirror/demo/app:1.1"
assert_contains "$LAST_STDOUT" "keep    $site_HOST/mirror/demo/app:1.3"
assert_eq "$D2" "$(jq -r '[.images[] | select(.action == "remove") | .digest] | join(" ")' "$T/reg-plan.json")" "registry plan"
# Without the registry's options the apply cannot talk to it (HTTPS to a plain registry).
expect_exit 7 "$BALE" prune --apply "$T/reg-plan.json"
assert_eq "200" "$(manifest_status 1.2)" "nothing removed by a failed apply"
expect_exit 0 "$BALE" prune --apply "$T/reg-plan.json" --insecure-registry "$site_HOST"
assert_contains "$LAST_STDOUT" "removed 1 image (1 names)"
assert_contains "$LAST_STDOUT" "note: $site_HOST keeps the blobs until its garbage collector runs"
assert_eq "404 200 200" "$(manifest_status 1.2) $(manifest_status 1.1) $(manifest_status 1.3)" "tags after the registry prune"
expect_exit 0 "$BALE" check --insecure-registry "$site_HOST" --store "$R"

# ---- containerd: one image used by a container, one that becomes used ----
start_containerd
C="containerd:$CTD_SOCK"
for m in 1 2 3; do
  "$BALE" import -q --ledger "$T/ctd.db" --store "$C" --pin --key "$T/k.pub" "$T/month$m.tar.zst" >/dev/null
done
ctd containers create "$H/demo/app:1.1" web >/dev/null
content="$CTD_ROOT/io.containerd.content.v1.content/blobs"
expect_exit 0 "$BALE" prune --store "$C" --ledger "$T/ctd.db" -o "$T/ctd-plan.json"
assert_contains "$LAST_STDOUT" "remove  $H/demo/app:1.2"
assert_contains "$LAST_STDOUT" "used by a container (as $H/demo/app:1.1)"
assert_contains "$LAST_STDOUT" "among the newest 1 of $H/demo/app"
assert_eq "$D2" "$(jq -r '[.images[] | select(.action == "remove") | .digest] | join(" ")' "$T/ctd-plan.json")" "containerd plan"
# Month 2 becomes used between the plan and the apply: kept, and said (exit 1). The
# container is made as containerd's CRI makes some: no image in its record, the image in
# its spec's CRI annotation.
mkdir -p "$T/rootfs"
ctd containers create --rootfs --annotation "io.kubernetes.cri.image-name=$H/demo/app:1.2" \
  "$T/rootfs" late >/dev/null
assert_eq "-" "$(ctd containers ls | awk '$1 == "late" {print $2}')" "a container record without its image"
expect_exit 1 "$BALE" prune --apply "$T/ctd-plan.json"
assert_contains "$LAST_STDOUT" "kept    $H/demo/app:1.2"
assert_contains "$LAST_STDERR" "changed since the plan"
ctd_grep -q "^$H/demo/app:1.2 " images ls || fail "an image a container uses was removed"
expect_exit 0 "$BALE" ledger --ledger "$T/ctd.db" --csv --no-header "SELECT result, exit_status FROM prunes"
assert_eq "partial,1" "$(cat "$LAST_STDOUT")" "the partial prune in the ledger"
# A container nothing names an image for could use any: no plan while it stands.
ctd containers create --rootfs "$T/rootfs" mystery >/dev/null
expect_exit 8 "$BALE" prune --store "$C" --ledger "$T/ctd.db" -o "$T/ctd-plan-refused.json"
assert_contains "$LAST_STDERR" "container mystery names no image"
[[ ! -e $T/ctd-plan-refused.json ]] || fail "a refused plan was written"
ctd containers rm mystery
# Its container gone, a new plan removes it, and the bytes leave the disk.
ctd containers rm late
expect_exit 0 "$BALE" prune --store "$C" --ledger "$T/ctd.db" -o "$T/ctd-plan2.json"
planned=$(jq -r .remove.bytes "$T/ctd-plan2.json")
before=$(bytes_on_disk "$content")
expect_exit 0 "$BALE" prune --apply "$T/ctd-plan2.json"
assert_eq "$((before - planned))" "$(bytes_on_disk "$content")" "containerd content bytes after the apply"
if ctd_grep -q "demo/app.*$D2" images ls; then fail "month 2 still named"; fi
# Every image left is complete.
out=$(ctd images check)
incomplete=$(grep -v -E '^REF|complete \(' <<<"$out" || true)
[[ -z $incomplete ]] || fail "images not complete after the prune: $incomplete"
ctd_grep -q "^$H/demo/app:1.1 " images ls || fail "the used image went"
ctd_grep -q "^$H/demo/app:1.3 " images ls || fail "the newest image went"
