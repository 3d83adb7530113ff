#!/usr/bin/env bash
# Foreign (non-distributable) layers into a real containerd, which unpacks what it takes
# and needs every layer: an image whose foreign layer the bundle lacks is refused up front,
# named with the fix, before anything of it is streamed, and the others land; the same
# image exported with --include-foreign-layers lands, unpacked, and is complete.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain foreign-urls
seed_shapes reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
field() { jq -r --arg s "$1" --arg f "$2" '.shapes[$s][$f] | if type == "array" then .[] else . end' "$SHAPES_SUMMARY"; }
FL="$H/$(field foreign-linux ref)"
refs=("$H/$(field app ref)" "$FL" "$H/$(field zstd ref)")
foreign=$(field foreign-linux foreign)
[[ $foreign == sha256:* ]] || fail "the foreign-linux shape has no foreign layer"

B="$T/lacking.tar.zst"
expect_exit 0 "$BALE" export --insecure-registry "$H" --key "$T/k.key" --referrers none -o "$B" "${refs[@]}"
assert_contains "$LAST_STDERR" "$FL: 1 foreign layer(s) left to the runtime to fetch"
F="$T/carried.tar.zst"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --include-foreign-layers \
  -o "$F" "${refs[@]}"

start_containerd
CTD="containerd:$CTD_SOCK"
imp() { "$BALE" import --ledger "$T/ledger.db" --store "$CTD" --key "$T/k.pub" "$@"; }

# The bundle lacks the layer: that image alone stays out, named with the layer and the
# fix; nothing of it reached containerd; the others landed, unpacked.
expect_exit 6 imp "$B"
assert_contains "$LAST_STDERR" "not imported: $FL: foreign layer $foreign is not in the bundle"
assert_contains "$LAST_STDERR" "export it with --include-foreign-layers"
assert_contains "$LAST_STDERR" "1 image not imported: foreign layers the bundle lacks"
assert_eq 2 "$(wc -l <"$LAST_STDOUT")" "images that landed"
assert_not_contains "$LAST_STDOUT" "$FL"
ctd images ls -q >"$T/names.txt"
assert_not_contains "$T/names.txt" "shapes/foreign-linux"
for d in $(field foreign-linux digest) $(field foreign-linux blobs) "$foreign"; do
  ctd_grep -qx "$d" content ls -q && fail "content of the refused image reached containerd: $d"
done
for r in "${refs[0]}" "${refs[2]}"; do
  ctd images check "name==$r" >"$T/check.txt"
  assert_contains "$T/check.txt" " complete "
done

# Carried: the image lands whole and is unpacked, the foreign layer among its content.
expect_exit 0 imp "$F"
assert_contains "$LAST_STDOUT" "$FL"
ctd images check "name==$FL" >"$T/check.txt"
assert_contains "$T/check.txt" " complete "
ctd_grep -qx "$foreign" content ls -q || fail "the foreign layer $foreign is not in containerd"
ctd snapshot ls >"$T/snaps.txt"
[[ $(wc -l <"$T/snaps.txt") -ge 4 ]] || fail "the images were not unpacked: $(cat "$T/snaps.txt")"
echo "test_containerd_foreign: ok"
