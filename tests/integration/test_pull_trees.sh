#!/usr/bin/env bash
# bale export and inspect on images that are not plain runnable images, against a real
# registry (pushtree.py pushes them byte for byte): an index listing an index, indexes
# nested deeper than bale walks, a referrers index of one platform-less artifact, an
# image with an attestation but not the platform asked for, two Windows builds told apart
# by os.version (with foreign layers); and a Docker schema 1 manifest from a registry that
# signs it on every GET (hostile_registry.py), refused as such, not as tampering.
# shellcheck disable=SC2154
source "$(dirname "$0")/lib.sh"
: "${BALE:?BALE must name the bale binary}"

# A plain registry that takes foreign layers (layers with urls), as Windows base images
# have them: lib.sh's _serve_registry with one more block of configuration.
dir=$T/reg
mkdir -p "$dir/data"
# shellcheck disable=SC2034 # read by _serve_registry
extra=$'\nvalidation:\n  manifests:\n    urls:\n      allow:\n        - "^https://"'
_launch "$dir/registry.log" _serve_registry
reg_HOST=127.0.0.1:$_LAUNCH_PORT
"$PY" "$LIB_DIR/pushtree.py" "$reg_HOST" >"$T/tree.json"
# tree KEY…: a digest pushtree.py printed (a number indexes a list)
tree() {
  "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$T/tree.json" "$@"
}
R=$reg_HOST
# The digests pushtree.py printed (assignments: a missing one stops the test).
ATT_ATTESTATION=$(tree attested attestation)
ATT_S390X=$(tree attested s390x)
N_AMD64=$(tree nested amd64)
N_ARM64=$(tree nested arm64)
N_CHILD=$(tree nested child)
N_ROOT=$(tree nested root)
N_S390X=$(tree nested s390x)
REF_ARTIFACT=$(tree referrers artifact)
W_FOREIGN=$(tree windows 10.0.17763.5576 foreign)
W_LAYER0=$(tree windows 10.0.17763.5576 layers 0)
W_LAYER1=$(tree windows 10.0.17763.5576 layers 1)
W_MANIFEST=$(tree windows 10.0.17763.5576 manifest)
# q BUNDLE SQL: rows as "a|b|c"
q() { "$BALE" query --csv "$@" | tr , '|'; }
X=(--insecure-registry "$R")

# ---- nested index: --platform finds amd64 in the child index
expect_exit 0 "$BALE" inspect "${X[@]}" --platform linux/amd64 "$R/tree/nested:1"
assert_contains "$LAST_STDOUT" "linux/amd64"
assert_contains "$LAST_STDOUT" "Indexes:"
assert_contains "$LAST_STDOUT" "$N_CHILD"
expect_exit 0 "$BALE" export "${X[@]}" --unsigned --platform linux/amd64 -o "$T/nested.tar.zst" \
  "$R/tree/nested:1"
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
  "$R/tree/nested:1"
assert_contains "$LAST_STDERR" "no manifest for linux/ppc64le (the image has linux/s390x, linux/amd64, linux/arm64/v8)"

# ---- deeper than bale walks: one clear line
expect_exit 3 "$BALE" inspect "${X[@]}" "$R/tree/deep:1"
assert_contains "$LAST_STDERR" "5 levels below the root; bale walks indexes 4 levels deep at most"

# ---- a referrers index of one artifact: carried with the host platform selection
expect_exit 0 "$BALE" export "${X[@]}" --unsigned -o "$T/ref.tar.zst" "$R/tree/referrers:1"
expect_exit 0 "$BALE" ls "$T/ref.tar.zst"
assert_contains "$LAST_STDOUT" "artifact"
expect_exit 0 q "$T/ref.tar.zst" \
  "SELECT digest, artifact, artifact_type FROM manifests"
assert_contains "$LAST_STDOUT" "$REF_ARTIFACT|1|application/spdx+json"

# ---- an attestation never stands for a platform: the image lacks the host's
expect_exit 6 "$BALE" export "${X[@]}" --unsigned --platform linux/amd64 -o "$T/att.tar.zst" \
  "$R/tree/attested:1"
assert_contains "$LAST_STDERR" "no manifest for linux/amd64 (the image has linux/s390x and one without a platform)"
# and goes with the image it describes
expect_exit 0 "$BALE" export "${X[@]}" --unsigned --platform linux/s390x -o "$T/att.tar.zst" \
  "$R/tree/attested:1"
expect_exit 0 q "$T/att.tar.zst" \
  "SELECT manifest_digest, carried, artifact FROM image_platforms ORDER BY position"
assert_contains "$LAST_STDOUT" "$ATT_S390X|1|0"
assert_contains "$LAST_STDOUT" "$ATT_ATTESTATION|1|1"
expect_exit 0 q "$T/att.tar.zst" "SELECT subject_digest FROM manifests WHERE artifact = 1"
assert_contains "$LAST_STDOUT" "$ATT_S390X"

# ---- Windows builds told apart by os.version, chosen in either spelling
expect_exit 0 "$BALE" inspect "${X[@]}" --platform all "$R/tree/windows:1"
assert_contains "$LAST_STDOUT" "windows/amd64:10.0.17763.5576+win32k"
assert_contains "$LAST_STDOUT" "windows/amd64:10.0.20348.2340"
for spelling in "windows/amd64:10.0.17763.5576" "windows(10.0.17763)/amd64"; do
  rm -f "$T/win.tar.zst"
  expect_exit 0 "$BALE" export "${X[@]}" --unsigned --platform "$spelling" -o "$T/win.tar.zst" \
    "$R/tree/windows:1"
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
  -o "$T/win2.tar.zst" "$R/tree/windows:1"
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
