#!/usr/bin/env bash
# bale export and inspect on images that are not plain runnable images, against a real
# registry (seeded from the shapes corpus, docs/shapes.md): an index listing an index, indexes
# nested deeper than bale walks, a referrers index of platform-less artifacts, an
# image with an attestation but not the platform asked for, two Windows builds told apart
# by os.version (with foreign layers); and a Docker schema 1 manifest from a registry that
# signs it on every GET (hostile_registry.py), refused as such, not as tampering.
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"
: "${BALE:?BALE must name the bale binary}"

# The corpus' odd trees (mkshapes.py), byte for byte; the registry takes the Windows
# builds' foreign layers (layers with urls).
start_registry reg plain foreign-urls
seed_shapes reg nested-mixed deep app sbom notary-sig referrers attested windows-stack
R=$reg_HOST
# The digests below the roots, read from the corpus (assignments: a missing one stops the test).
ATT_S390X=$(shape_jq "$SHAPE_attested" '.manifests[0].digest')
ATT_ATTESTATION=$(shape_jq "$SHAPE_attested" '.manifests[1].digest')
N_ROOT=$SHAPE_nested_mixed
N_S390X=$(shape_jq "$N_ROOT" '.manifests[0].digest')
N_CHILD=$(shape_jq "$N_ROOT" '.manifests[1].digest')
N_AMD64=$(shape_jq "$N_CHILD" '.manifests[0].digest')
N_ARM64=$(shape_jq "$N_CHILD" '.manifests[1].digest')
REF_ARTIFACT=$(shape_jq "$SHAPE_referrers" '.manifests[] | select(.artifactType == "application/spdx+json") | .digest')
W_MANIFEST=$(shape_jq "$SHAPE_windows_stack" '.manifests[] | select(.platform."os.version" == "10.0.17763.5576") | .digest')
W_FOREIGN=$(shape_jq "$W_MANIFEST" '.layers[0].digest')
W_LAYER0=$(shape_jq "$W_MANIFEST" '.layers[1].digest')
W_LAYER1=$(shape_jq "$W_MANIFEST" '.layers[2].digest')
[[ $(shape_jq "$W_MANIFEST" '.layers[0].mediaType') == *foreign* ]] || fail "windows-stack: the first layer is not foreign"
# q BUNDLE SQL: rows as "a|b|c"
q() { "$BALE" query --csv "$@" | tr , '|'; }
X=(--insecure-registry "$R")

# ---- nested index: --platform finds amd64 in the child index
expect_exit 0 "$BALE" inspect "${X[@]}" --platform linux/amd64 "$R/shapes/nested:mixed"
assert_contains "$LAST_STDOUT" "linux/amd64"
assert_contains "$LAST_STDOUT" "Indexes:"
assert_contains "$LAST_STDOUT" "$N_CHILD"
expect_exit 0 "$BALE" export "${X[@]}" --unsigned --platform linux/amd64 -o "$T/nested.tar.zst" \
  "$R/shapes/nested:mixed"
expect_exit 0 "$BALE" ls "$T/nested.tar.zst"
assert_contains "$LAST_STDOUT" "linux/amd64"
expect_exit 0 q "$T/nested.tar.zst" \
  "SELECT digest, parent_digest, depth, carried FROM image_indexes"
assert_contains "$LAST_STDOUT" "$N_CHILD|$N_ROOT|1|1"
expect_exit 0 q "$T/nested.tar.zst" \
  "SELECT manifest_digest, carried, parent_digest FROM image_platforms ORDER BY position"
assert_contains "$LAST_STDOUT" "$N_S390X|0|$N_ROOT"
assert_contains "$LAST_STDOUT" "$N_AMD64|1|$N_CHILD"
assert_contains "$LAST_STDOUT" "$N_ARM64|0|$N_CHILD"
# every index kept byte for byte: the bundle's child index hashes to its digest
child=$N_CHILD
tar --zstd -xOf "$T/nested.tar.zst" "blobs/sha256/${child#sha256:}" >"$T/child.json"
assert_eq "$child" "sha256:$(sha256sum <"$T/child.json" | cut -d' ' -f1)" "child index bytes"
expect_exit 0 "$BALE" verify --insecure-skip-verify "$T/nested.tar.zst"
# with no platform for the host, the image's platforms are named, those in the child too
expect_exit 6 "$BALE" export "${X[@]}" --unsigned --platform linux/ppc64le -o "$T/none.tar.zst" \
  "$R/shapes/nested:mixed"
assert_contains "$LAST_STDERR" "no manifest for linux/ppc64le (the image has linux/s390x, linux/amd64, linux/arm64/v8)"

# ---- deeper than bale walks: one clear line
expect_exit 3 "$BALE" inspect "${X[@]}" "$R/shapes/deep:1"
assert_contains "$LAST_STDERR" "5 levels below the root; bale walks indexes 4 levels deep at most"

# ---- a referrers index of artifacts (an SBOM, a signature): carried with the host platform selection
expect_exit 0 "$BALE" export "${X[@]}" --unsigned -o "$T/ref.tar.zst" "$R/$(shape_field referrers ref)"
expect_exit 0 "$BALE" ls "$T/ref.tar.zst"
assert_contains "$LAST_STDOUT" "artifact"
expect_exit 0 q "$T/ref.tar.zst" \
  "SELECT digest, artifact, artifact_type FROM manifests"
assert_contains "$LAST_STDOUT" "$REF_ARTIFACT|1|application/spdx+json"

# ---- an attestation never stands for a platform: the image lacks the host's
expect_exit 6 "$BALE" export "${X[@]}" --unsigned --platform linux/amd64 -o "$T/att.tar.zst" \
  "$R/shapes/attested:1"
assert_contains "$LAST_STDERR" "no manifest for linux/amd64 (the image has linux/s390x and one without a platform)"
# and goes with the image it describes
expect_exit 0 "$BALE" export "${X[@]}" --unsigned --platform linux/s390x -o "$T/att.tar.zst" \
  "$R/shapes/attested:1"
expect_exit 0 q "$T/att.tar.zst" \
  "SELECT manifest_digest, carried, artifact FROM image_platforms ORDER BY position"
assert_contains "$LAST_STDOUT" "$ATT_S390X|1|0"
assert_contains "$LAST_STDOUT" "$ATT_ATTESTATION|1|1"
expect_exit 0 q "$T/att.tar.zst" "SELECT subject_digest FROM manifests WHERE artifact = 1"
assert_contains "$LAST_STDOUT" "$ATT_S390X"

# ---- Windows builds told apart by os.version, chosen in either spelling
expect_exit 0 "$BALE" inspect "${X[@]}" --platform all "$R/shapes/windows:stack"
assert_contains "$LAST_STDOUT" "windows/amd64:10.0.17763.5576+win32k"
assert_contains "$LAST_STDOUT" "windows/amd64:10.0.20348.2340"
for spelling in "windows/amd64:10.0.17763.5576" "windows(10.0.17763)/amd64"; do
  rm -f "$T/win.tar.zst"
  expect_exit 0 "$BALE" export "${X[@]}" --unsigned --platform "$spelling" -o "$T/win.tar.zst" \
    "$R/shapes/windows:stack"
  expect_exit 0 "$BALE" ls "$T/win.tar.zst"
  assert_contains "$LAST_STDOUT" "windows/amd64:10.0.17763.5576+win32k"
  assert_not_contains "$LAST_STDOUT" "10.0.20348"
  assert_contains "$LAST_STDOUT" "lacks 1 foreign layer"
done
m=$W_MANIFEST
expect_exit 0 q "$T/win.tar.zst" \
  "SELECT position, layer_digest FROM manifest_layers WHERE manifest_digest = '$m' ORDER BY position"
assert_contains "$LAST_STDOUT" "1|$W_LAYER0"
assert_contains "$LAST_STDOUT" "2|$W_LAYER1"
expect_exit 0 q "$T/win.tar.zst" "SELECT position, layer_digest, carried FROM foreign_layers"
assert_contains "$LAST_STDOUT" "0|$W_FOREIGN|0"
expect_exit 0 q "$T/win.tar.zst" "SELECT os_version, os_features FROM manifests"
assert_contains "$LAST_STDOUT" "10.0.17763.5576|win32k"
expect_exit 6 "$BALE" export "${X[@]}" --unsigned --platform windows/amd64:10.0.26100 \
  -o "$T/win2.tar.zst" "$R/shapes/windows:stack"
assert_contains "$LAST_STDERR" "(the image has windows/amd64:10.0.17763.5576+win32k, windows/amd64:10.0.20348.2340)"

# ---- Docker schema 1, signed on every GET as distribution does: its own message and status
_serve_old() {
  "$PY" "$LIB_DIR/hostile_registry.py" --port "$1" --name old --log "$T/old.jsonl" \
    --lifetime 120 --schema1 >"$T/old.err" 2>&1 &
  _LAUNCH_PID=$!
}
_launch "$T/old.err" _serve_old
port=$_LAUNCH_PORT
for verb in inspect export; do
  args=()
  [[ $verb == export ]] && args=(--unsigned -o "$T/old.tar.zst")
  expect_exit 9 "$BALE" "$verb" --insecure-registry "127.0.0.1:$port" "${args[@]}" \
    "127.0.0.1:$port/old/app:1"
  assert_contains "$LAST_STDERR" "127.0.0.1:$port/old/app:1: a Docker schema 1 manifest"
  assert_contains "$LAST_STDERR" "re-push it with a current client, e.g. skopeo copy or docker push from docker 20+"
  assert_not_contains "$LAST_STDERR" "hashes to"
done
[[ ! -e $T/old.tar.zst ]] || fail "a bundle was written for a schema 1 image"
echo "test_pull_trees: ok"
