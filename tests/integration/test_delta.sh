#!/usr/bin/env bash
# The site's update cycle, first half (docs/site-cycle.md): a have-list of what a store
# holds (oci: and a real containerd) or of the bundles received, a delta exported against
# it that carries only the new layers (and every index, manifest and config), verified and
# listed as a delta, completing the store it was made for, and refused with nothing written
# by a store that lacks (or holds damaged) a layer it expects; the same onto a site
# registry, which uploads nothing it has. Have-lists of another format are refused.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
H=$reg_HOST
for s in 1 2; do # two sets of the demo images, each with its own layers
  build_images --layer-kib 512 --seed "$s"
  SEED_PREFIXES=set$s seed_registry reg
done
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
old=("$H/set1/multi:1" "$H/set1/dlist:1" "$H/set1/schema2:1" "$H/set1/single:1")
new=("$H/set2/multi:1" "$H/set2/dlist:1" "$H/set2/schema2:1" "$H/set2/single:1")
export_to() { # OUT ARGS…
  local out=$1
  shift
  "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$out" "$@" >/dev/null
}
imp() { "$BALE" import -q --key "$T/k.pub" --platform all --ledger "$T/ledger.db" "$@"; }
sql() { "$BALE" query --csv "$1" "$2" | tail -n +2 | tr -d '\r'; }
have_blobs() { jq -r 'select(.blob) | "\(.blob) \(.size)"' "$1" | sort; }

# Last month: the old images, imported whole.
B1=$T/month1.tar.zst
export_to "$B1" "${old[@]}"
S=$T/site
expect_exit 0 imp --store "oci:$S" "$B1"

# What the store holds, and what the bundle carried: the same blobs, every image.
expect_exit 0 "$BALE" have --store "oci:$S" -o "$T/site.have"
assert_contains "$LAST_STDERR" "4 images"
assert_eq 1 "$(head -n 1 "$T/site.have" | jq .haveList)" "have-list version"
assert_eq "oci:$S" "$(head -n 1 "$T/site.have" | jq -r '.from[0]')" "have-list source"
sql "$B1" "SELECT digest || ' ' || size FROM blobs" | sort >"$T/b1.blobs"
have_blobs "$T/site.have" >"$T/site.blobs"
assert_eq "$(cat "$T/b1.blobs")" "$(cat "$T/site.blobs")" "the store's have-list: the bundle's blobs"
assert_eq 4 "$(jq -r 'select(.image) | .image' "$T/site.have" | wc -l)" "images in the have-list"
expect_exit 0 "$BALE" have "$B1" -o "$T/b1.have" --json
assert_eq "4 $(wc -l <"$T/b1.blobs")" "$(jq -r '"\(.images) \(.blobs)"' "$LAST_STDOUT")" "have --json: counts as numbers"
expect_exit 2 "$BALE" have "$B1" -o - --json
assert_contains "$LAST_STDERR" "name a file with -o"
expect_exit 0 "$BALE" have "$B1" -o -
assert_eq "$(cat "$T/b1.blobs")" "$(have_blobs "$LAST_STDOUT")" "the bundle's have-list"

# This month: old and new images, as a delta against the store.
D=$T/month2-delta.tar.zst F=$T/month2-full.tar.zst
export_to "$D" --have "$T/site.have" "${old[@]}" "${new[@]}"
export_to "$F" "${old[@]}" "${new[@]}"
expected=$(sql "$B1" "SELECT count(*) FROM blobs WHERE kind = 'layer'")
assert_eq "$expected" "$(sql "$D" "SELECT count(*) FROM blobs WHERE member IS NULL")" "layers the delta expects"
assert_eq "$(sql "$B1" "SELECT digest FROM blobs WHERE kind = 'layer'" | sort)" \
  "$(sql "$D" "SELECT digest FROM blobs WHERE member IS NULL" | sort)" "the expected layers: last month's"
# It carries the rest of the full bundle: every index, manifest, config, and the new layers.
assert_eq "$(sql "$F" "SELECT digest FROM blobs" | sort | comm -23 - <(sql "$B1" "SELECT digest FROM blobs WHERE kind = 'layer'" | sort))" \
  "$(tar --zstd -tf "$D" | sed -n 's|^blobs/sha256/|sha256:|p' | sort)" "what the delta carries (tar)"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$D"
assert_contains "$LAST_STDOUT" "delta: expects $expected layers"
expect_exit 0 "$BALE" verify --json --key "$T/k.pub" "$D"
assert_eq "$expected" "$(jq .delta.expectedBlobs "$LAST_STDOUT")" "verify --json: expected layers"
expect_exit 0 "$BALE" ls "$D"
assert_contains "$LAST_STDOUT" "delta: expects $expected layers"
expect_exit 0 "$BALE" ls --json "$D"
assert_eq "$expected" "$(jq .delta.expectedBlobs "$LAST_STDOUT")" "ls --json: expected layers"
expect_exit 0 "$BALE" ls --json "$F"
assert_eq null "$(jq .delta "$LAST_STDOUT")" "a full bundle is no delta"
# Its bytes: the new blobs' and a small overhead (5% and 1 MiB).
new_bytes=$(sql "$D" "SELECT sum(size) FROM blobs WHERE member IS NOT NULL AND digest NOT IN
  (SELECT digest FROM blobs WHERE member IS NULL)")
(($(stat -c %s "$D") <= new_bytes * 105 / 100 + 1048576)) ||
  fail "delta of $(stat -c %s "$D") bytes for $new_bytes bytes of new blobs"

# Onto the store it was made for: every image whole, read by skopeo.
expect_exit 0 imp --store "oci:$S" "$D"
assert_eq 8 "$(jq '.manifests | length' "$S/index.json")" "images in the store"
expect_exit 0 "$BALE" check --store "oci:$S"
assert_contains "$LAST_STDOUT" "8 images checked"
skopeo inspect --raw "oci:$S:$H/set1/single:1" >/dev/null || fail "skopeo cannot read set1/single"
skopeo inspect --raw "oci:$S:$H/set2/single:1" >/dev/null || fail "skopeo cannot read set2/single"

# Onto an empty store: refused before anything is written, naming a layer it lacks.
E=$T/empty
expect_exit 8 imp --store "oci:$E" "$D"
assert_contains "$LAST_STDERR" "the store lacks $expected of the $expected layers this delta expects"
assert_contains "$LAST_STDERR" "$(head -n 1 "$T/b1.blobs" | cut -c1-7)"
assert_contains "$LAST_STDERR" "bale have --store"
assert_eq 0 "$(find "$E/blobs" -type f 2>/dev/null | wc -l)" "blobs written into the empty store"
assert_eq 0 "$(jq '.manifests | length' "$E/index.json" 2>/dev/null || echo 0)" "names in the empty store"
# A store (no names) whose copy of an expected layer is damaged: its bytes are re-hashed.
cp -a "$T/site" "$T/damaged"
layer=$(sql "$B1" "SELECT digest FROM blobs WHERE kind = 'layer' LIMIT 1")
printf 'X' | dd of="$T/damaged/blobs/sha256/${layer#sha256:}" bs=1 seek=100 conv=notrunc status=none
jq '.manifests = []' "$T/site/index.json" >"$T/damaged/index.json"
expect_exit 8 imp --store "oci:$T/damaged" "$D"
assert_contains "$LAST_STDERR" "$layer (a layer of"
assert_eq 0 "$(jq '.manifests | length' "$T/damaged/index.json")" "names after a refused delta"

# The same cycle into a real containerd: its have-list, the delta completing it, and an
# empty containerd refusing it with no image named.
start_containerd
expect_exit 0 imp --store "containerd:$CTD_SOCK" "$B1"
expect_exit 0 "$BALE" have --store "containerd:$CTD_SOCK" -o "$T/node.have"
assert_eq "$(cat "$T/b1.blobs")" "$(have_blobs "$T/node.have")" "containerd's have-list"
expect_exit 0 imp --store "containerd:$CTD_SOCK" "$D"
for ref in "${old[@]}" "${new[@]}"; do
  ctd images check "name==$ref" >"$T/check.txt"
  assert_eq complete "$(awk 'NR == 2 {print $4}' "$T/check.txt")" "$ref in containerd"
done
start_containerd
expect_exit 8 imp --store "containerd:$CTD_SOCK" "$D"
assert_contains "$LAST_STDERR" "the store lacks $expected of the $expected layers"
assert_eq "" "$(ctd images ls -q)" "names in an empty containerd after a refused delta"

# A site registry: its have-list (its catalog's tags), and the delta onto it uploading the
# new blobs and nothing it already has.
start_registry siteReg plain
R="registry://$siteReg_HOST/mirror"
expect_exit 0 imp --insecure-registry "$siteReg_HOST" --store "$R" "$B1"
expect_exit 0 "$BALE" have --insecure-registry "$siteReg_HOST" --store "$R" -o "$T/reg.have"
assert_eq "$(cat "$T/b1.blobs")" "$(have_blobs "$T/reg.have")" "the registry's have-list"
assert_eq 4 "$(jq -r 'select(.image) | .image' "$T/reg.have" | wc -l)" "images in the registry's have-list"
mark=$(wc -l <"$siteReg_LOG")
expect_exit 0 imp --insecure-registry "$siteReg_HOST" --store "$R" "$D"
# An expected layer is never uploaded; a new repository that uses one gets it by a mount.
for layer in $(sql "$D" "SELECT digest FROM blobs WHERE member IS NULL"); do
  assert_eq 0 "$(tail -n +"$mark" "$siteReg_LOG" | grep -cE "PUT /v2/[^ ]*digest=${layer/:/%3A}" || true)" \
    "uploads of expected layer $layer"
  assert_eq 0 "$(tail -n +"$mark" "$siteReg_LOG" | grep -cE "POST /v2/mirror/set1/[^ ]*mount=${layer/:/%3A}" || true)" \
    "mounts of expected layer $layer into a repository that has it"
done
run_skopeo inspect --raw --tls-verify=false "docker://$siteReg_HOST/mirror/set2/multi:1" >/dev/null ||
  fail "set2/multi on the site registry"

# Have-lists that are not ones this bale reads.
echo '{"haveList":2}' >"$T/v2.have"
expect_exit 9 "$BALE" export -q --insecure-registry "$H" --unsigned -o "$T/x.tar.zst" --have "$T/v2.have" "${new[0]}"
assert_contains "$LAST_STDERR" "have-list format 2"
echo '{"images":[]}' >"$T/not.have"
expect_exit 2 "$BALE" have --have "$T/not.have" -o "$T/out.have"
assert_contains "$LAST_STDERR" "not a have-list"
printf '{"haveList":1}\n{"blob":"sha256:nothex","size":1}\n' >"$T/bad.have"
expect_exit 2 "$BALE" have --have "$T/bad.have" -o "$T/out.have"
assert_contains "$LAST_STDERR" "bad.have:2"
[[ ! -e $T/out.have && ! -e $T/x.tar.zst ]] || fail "a refused have-list left a file"
echo "test_delta: ok"
