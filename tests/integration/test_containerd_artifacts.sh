#!/usr/bin/env bash
# Every kind of image a site carries, into a real containerd: Helm charts, cosign
# signatures, SBOMs and referrers indexes land as content with their names, runnable
# images unpacked; one image containerd refuses fails alone and leaves no name; the
# content carries the distribution-source labels containerd's own pull sets, so a pull
# of the same image fetches no blob. Tags move forward only (on oci:, where it is cheap).
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images
seed_registry reg
# From the shapes corpus (docs/shapes.md): a Helm chart, a runnable image (app), its
# cosign signature, an SBOM, the referrers index of that SBOM and a Notary signature, and
# bad-diffid, a runnable image containerd cannot unpack (its config names a diff id its
# layer does not have).
ARTS=(helm app cosign-sig sbom referrers)
seed_shapes reg "${ARTS[@]}" notary-sig bad-diffid
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
# art SHAPE ref|digest|config|layer: a shape's name on the registry, its digest, its
# config's or its first layer's digest (assignments below: a missing one stops the test).
art() {
  case $2 in
    ref) echo "$H/$(shape_field "$1" ref)" ;;
    digest) shape_field "$1" digest ;;
    config) shape_jq "$(shape_field "$1" digest)" .config.digest ;;
    layer) shape_jq "$(shape_field "$1" digest)" '.layers[0].digest' ;;
  esac
}
BROKEN_REF=$(art bad-diffid ref)
BROKEN_CONFIG=$(art bad-diffid config)
BROKEN_LAYER=$(art bad-diffid layer)
HELM_LAYER=$(art helm layer)
REFS_REF=$(art referrers ref)
refs=("$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/single:1")
for a in "${ARTS[@]}"; do refs+=("$(art "$a" ref)"); done
B="$T/site.tar.zst"
# the artifacts as asked for, each once: what they refer to is test_referrers.sh's
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --referrers none -o "$B" "${refs[@]}" >/dev/null
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --referrers none -o "$T/broken.tar.zst" \
  "${refs[@]}" "$BROKEN_REF" >/dev/null

start_containerd
CTD="containerd:$CTD_SOCK"
imp() { "$BALE" import --ledger "$T/ledger.db" --store "$CTD" --key "$T/k.pub" "$@"; }

# One image containerd cannot unpack: it fails alone, named and explained; the others land.
expect_exit 8 imp "$T/broken.tar.zst"
assert_contains "$LAST_STDERR" "not imported: $BROKEN_REF: containerd could not unpack it"
assert_contains "$LAST_STDERR" "1 of 9 images did not land"
assert_eq 8 "$(wc -l <"$LAST_STDOUT")" "lines of the images that landed"
ctd images ls -q | sort >"$T/names.txt"
grep -q "shapes/bad-diffid" "$T/names.txt" && fail "a name of the refused image is left: $(grep shapes/bad-diffid "$T/names.txt")"
for d in "$BROKEN_CONFIG" "$BROKEN_LAYER"; do
  ctd_grep -qx "$d" content ls -q && fail "content of the refused image is left: $d"
done
# No name without its content: every name containerd has is complete. (`ctr images
# check` gives up on a whole list holding an index whose children have no platform, such
# as a referrers index; its content is checked below.)
all_complete() {
  local name n=0
  while read -r name; do
    [[ $name == "$REFS_REF" || $name == "$H/shapes/app@$SHAPE_referrers" ]] && continue
    ctd images check "name==$name" >"$T/check.txt"
    grep -q ' complete ' "$T/check.txt" || fail "$name is not complete: $(cat "$T/check.txt")"
    [[ $name == sha256:* ]] || n=$((n + 1)) # the CRI's image ids are checked, not counted
  done < <(ctd images ls -q)
  echo "$n"
}
assert_eq "14" "$(all_complete)" "complete names (7 images, tag and digest, besides refs)"
for d in $SHAPE_referrers $(shape_jq "$SHAPE_referrers" '.manifests[].digest'); do
  ctd_grep -qx "$d" content ls -q || fail "the referrers index lacks $d"
done
# The ledger lists the images that landed, and the run as failed.
q() { "$BALE" ledger --ledger "$T/ledger.db" --csv "$1" | tail -n +2 | tr -d '\r'; }
assert_eq "8" "$(q 'SELECT count(*) FROM imported_images WHERE import_id = (SELECT max(id) FROM imports)')" "images listed"
assert_eq "failed|8" "$(q "SELECT result || '|' || exit_status FROM imports ORDER BY id DESC LIMIT 1")" "the run"
assert_eq "0" "$(q "SELECT count(*) FROM current_images WHERE ref LIKE '%shapes/bad-diffid%'")" "bad-diffid in current_images"

# Artifacts are content with their names; runnable images are unpacked, artifacts not.
for a in helm cosign-sig sbom referrers; do
  grep -qx "$(art $a ref)" "$T/names.txt" || fail "$a: no name"
  digest_ref="$H/$(shape_field $a repo)@$(art $a digest)"
  grep -qx "$digest_ref" "$T/names.txt" || fail "$a: no digest reference $digest_ref"
done
ctd_grep -qx "$HELM_LAYER" content ls -q || fail "the chart's content is missing"
ctd snapshot ls >"$T/snaps.txt"
[[ $(wc -l <"$T/snaps.txt") -ge 3 ]] || fail "runnable images were not unpacked: $(cat "$T/snaps.txt")"

# Distribution-source labels as containerd's pull sets them: the key and the value of a
# real `ctr images pull` of the same image, into another namespace.
ctr -a "$CTD_SOCK" -n pulled images pull --plain-http "$H/demo/single:1" >/dev/null
layer=$(ctr -a "$CTD_SOCK" -n pulled content get "$DIGEST_demo_single" | jq -r '.layers[0].digest')
pulled_label=$(ctr -a "$CTD_SOCK" -n pulled content ls | awk -v d="$layer" '$1 == d {print $NF}' |
  tr ',' '\n' | grep '^containerd.io/distribution.source' || true)
[[ -n $pulled_label ]] || fail "ctr pull set no distribution-source label on $layer"
assert_eq "containerd.io/distribution.source.${H%:*}=demo/single" "$pulled_label" "the label ctr pull set"
# bale's: the same key; the layer is shared by three repositories, listed as containerd does.
ctd content ls | awk -v d="$layer" '$1 == d {print $NF}' >"$T/labels.txt"
assert_contains "$T/labels.txt" "${pulled_label%=*}=demo/dlist,demo/multi,demo/single"
ctd content ls | awk -v d="$HELM_LAYER" '$1 == d {print $NF}' >"$T/labels.txt"
assert_contains "$T/labels.txt" "containerd.io/distribution.source.127.0.0.1=shapes/helm"
# ... so a pull of an imported image fetches no blob.
before=$(grep -c 'GET /v2/demo/single/blobs/' "$reg_LOG" || true)
ctd images pull --plain-http "$H/demo/single:1" >/dev/null
assert_eq "$before" "$(grep -c 'GET /v2/demo/single/blobs/' "$reg_LOG" || true)" "blobs fetched by a pull after the import"

# The bundle without the refused image: everything lands, and the run is a success.
expect_exit 0 imp "$B"
assert_eq "14" "$(all_complete)" "complete names after the re-import"

# Tags move forward only. Every store kind reads one node ledger; oci: shows it cheaply.
O="oci:$T/store"
oimp() { "$BALE" import --ledger "$T/oci-ledger.db" --store "$O" --key "$T/k.pub" "$@"; }
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/old.tar.zst" \
  "$H/demo/single:1" "$H/demo/dlist:1" >/dev/null
sleep 1.1 # bundles are dated to the second
"$PY" - "$H" <<'PY'
import json, sys, urllib.request
host = sys.argv[1]
def req(method, path, data=None, ctype=None):
    r = urllib.request.Request(f"http://{host}{path}", data=data, method=method)
    r.add_header("Accept", "application/vnd.oci.image.manifest.v1+json")
    if ctype: r.add_header("Content-Type", ctype)
    return urllib.request.urlopen(r).read()
# demo/single:1 now points at the runnable image shapes/app:1 (mounted across).
raw = req("GET", "/v2/shapes/app/manifests/1")
m = json.loads(raw)
for d in [m["config"]] + m["layers"]:
    req("POST", f"/v2/demo/single/blobs/uploads/?mount={d['digest']}&from=shapes/app")
req("PUT", "/v2/demo/single/manifests/1", raw, "application/vnd.oci.image.manifest.v1+json")
PY
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/new.tar.zst" "$H/demo/single:1" >/dev/null
new_digest=$SHAPE_app
expect_exit 0 oimp "$T/new.tar.zst"
expect_exit 0 oimp "$T/old.tar.zst"
assert_contains "$LAST_STDERR" "skipped $H/demo/single:1: kept at $new_digest"
assert_contains "$LAST_STDERR" "is older (--allow-downgrade moves the tag back)"
assert_eq "$H/demo/dlist:1 $DIGEST_demo_dlist" "$(cut -d' ' -f1,2 "$LAST_STDOUT")" "what the old bundle imported"
name_at() { jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$T/store/index.json"; }
assert_eq "$new_digest" "$(name_at "$H/demo/single:1")" "the tag after an older bundle"
expect_exit 0 oimp --allow-downgrade "$T/old.tar.zst"
assert_eq "$DIGEST_demo_single" "$(name_at "$H/demo/single:1")" "the tag after --allow-downgrade"
# Forward again with the newer bundle.
expect_exit 0 oimp "$T/new.tar.zst"
assert_eq "$new_digest" "$(name_at "$H/demo/single:1")" "the tag after the newer bundle again"
echo "test_containerd_artifacts: ok"
