#!/usr/bin/env bash
# The shapes corpus (docs/shapes.md) into a real containerd, for the host's platform: the
# bundle test_shapes.sh carries, imported whole. The Windows pair has no manifest for the
# host and alone stays out (exit 6); every other shape lands under its name, the runnable
# ones complete, the artifacts and the referrers index as content with every blob of their
# tree; no name is left without its content, and every blob containerd holds is
# byte-identical to the bundle's.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

# As test_shapes.sh carries them. For buildx, containerd keeps the host's manifest, not its
# attestation (its importer collects what the platform does not name): bale says so.
CARRIED=(helm helm-nomt app sbom cosign-sig notary-sig referrers oras buildx zstd uncompressed
  nested windows bigconfig extras)
# What `ctr images check` cannot judge: an index whose entries have no platform (containerd
# 1.6: `no match for platform in manifest`); its tree is checked blob by blob.
CONTENT_ONLY=(referrers)
start_registry reg plain foreign-urls
seed_shapes reg "${CARRIED[@]}"
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
refs=()
for shape in "${CARRIED[@]}"; do refs+=("$H/$(shape_field "$shape" ref)"); done
B="$T/shapes.tar.zst"
# the shapes as asked for, each once: what they refer to is test_referrers.sh's
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --referrers none -o "$B" "${refs[@]}"
mkdir -p "$T/unpacked"
tar --zstd -xf "$B" -C "$T/unpacked" blobs

start_containerd
expect_exit 6 "$BALE" import --ledger "$T/ledger.db" --store "containerd:$CTD_SOCK" --key "$T/k.pub" "$B"
assert_contains "$LAST_STDERR" "not imported: $H/shapes/windows:ltsc: no manifest for"
assert_contains "$LAST_STDERR" "1 image not imported"
assert_contains "$LAST_STDERR" "$H/shapes/buildx:1: containerd kept none of the 3 blobs of what no platform names"
assert_eq "$((${#CARRIED[@]} - 1))" "$(wc -l <"$LAST_STDOUT")" "images imported for the host's platform"
assert_not_contains "$LAST_STDOUT" "shapes/windows"

ctd images ls -q | sort >"$T/names.txt"
ctd content ls -q | sort >"$T/content.txt"
# Every name is a shape's tag or digest reference, or a CRI image id (sha256:<config>).
: >"$T/want-names.txt"
for shape in "${CARRIED[@]}"; do
  [[ $shape == windows ]] && continue
  printf '%s\n' "$H/$(shape_field "$shape" ref)" "$H/$(shape_field "$shape" repo)@$(shape_field "$shape" digest)" \
    >>"$T/want-names.txt"
done
sort -u -o "$T/want-names.txt" "$T/want-names.txt"
assert_eq "$(cat "$T/want-names.txt")" "$(grep -v '^sha256:' "$T/names.txt")" "names in containerd"
assert_not_contains "$T/names.txt" "shapes/windows"
for d in $(shape_field windows digest) $(shape_field windows manifests) $(shape_field windows blobs); do
  grep -qx "$d" "$T/content.txt" && fail "windows: $d is in containerd's content, the image was not imported"
done

# Name by name: complete (ctr images check), or, for what ctr cannot check, every blob of
# the tree in the content store.
for shape in "${CARRIED[@]}"; do
  [[ $shape == windows ]] && continue
  for name in "$H/$(shape_field "$shape" ref)" "$H/$(shape_field "$shape" repo)@$(shape_field "$shape" digest)"; do
    if [[ " ${CONTENT_ONLY[*]} " == *" $shape "* ]]; then
      for d in $(shape_field "$shape" digest) $(shape_field "$shape" manifests) $(shape_field "$shape" blobs); do
        grep -qx "$d" "$T/content.txt" || fail "$shape: $d of $name is not in containerd's content"
      done
      continue
    fi
    ctd images check "name==$name" >"$T/check.txt" || fail "$name: ctr images check failed: $(cat "$T/check.txt")"
    assert_eq 1 "$(grep -c ' complete ' "$T/check.txt" || true)" "$name: complete in ctr images check"
  done
done
# Artifacts are content with their names: the whole tree, nothing unpacked needed.
for shape in helm helm-nomt cosign-sig sbom notary-sig oras; do
  for d in $(shape_field "$shape" digest) $(shape_field "$shape" blobs); do
    grep -qx "$d" "$T/content.txt" || fail "$shape: $d is not in containerd's content"
  done
done
# No name without its content: every name containerd checks, none incomplete or unavailable.
grep -v -e '^sha256:' "$T/names.txt" | while read -r name; do
  [[ $name == "$H/$(shape_field referrers ref)" || $name == "$H/shapes/app@$SHAPE_referrers" ]] && continue
  ctd images check "name==$name"
done >"$T/check-all.txt"
assert_not_contains "$T/check-all.txt" "incomplete"
assert_not_contains "$T/check-all.txt" "unavailable"

# Byte-identical: every blob containerd holds is one of the bundle's, with its bytes.
n=0
while read -r d; do
  f="$T/unpacked/blobs/sha256/${d#sha256:}"
  [[ -f $f ]] || fail "containerd holds $d, which the bundle does not"
  ctd content get "$d" | cmp -s - "$f" || fail "$d differs between containerd and the bundle"
  n=$((n + 1))
done <"$T/content.txt"
((n > 0)) || fail "containerd holds no content"
echo "test_shapes_containerd: ok ($n blobs compared)"
