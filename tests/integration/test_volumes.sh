#!/usr/bin/env bash
# Volumes for media (docs/bundle-format.md, "Volumes"; docs/site-cycle.md): an export cut
# into volumes no larger than asked, each a signed bundle that verifies alone (a flipped bit
# in one is caught by verifying that one), listed whole by bale ls; blobs larger than a
# volume cut into parts; imported last-first, one volume a call, into an empty oci: store
# with every visible image whole after each step, and in two calls into a real containerd;
# a delta cut into volumes; a volume of another set refused.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
H=$reg_HOST
for s in 1 2; do # layers of 12 MiB (half of it random): larger than the volumes below
  build_images --layer-kib 12288 --seed "$s"
  SEED_PREFIXES=set$s seed_registry reg
done
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
refs=("$H/set1/multi:1" "$H/set1/dlist:1" "$H/set1/schema2:1" "$H/set1/single:1"
  "$H/set2/multi:1" "$H/set2/single:1")
sql() { "$BALE" query --csv "$1" "$2" | tail -n +2 | tr -d '\r'; }
SIZE=$((4 << 20))
mkdir "$T/out" "$T/delta" "$T/state" "$T/other"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --volume-size 4M \
  -o "$T/out/site.tar.zst" "${refs[@]}"
mapfile -t vols < <(ls "$T"/out/site.*.tar.zst)
((${#vols[@]} >= 3)) || fail "${#vols[@]} volumes, want at least 3"
[[ ! -e $T/out/site.tar.zst ]] || fail "a volume set also wrote the bundle's own name"
assert_eq "" "$(find "$T/out" -name '*.tmp-*')" "temporaries left beside the volumes"
n=${#vols[@]}
for v in "${vols[@]}"; do
  (($(stat -c %s "$v") <= SIZE)) || fail "$v: $(stat -c %s "$v") bytes, more than $SIZE"
  expect_exit 0 "$BALE" verify --key "$T/k.pub" "$v"
  assert_contains "$LAST_STDOUT" "of $n, "
  tar --zstd -tf "$v" >"$T/members.txt" || fail "tar cannot list $v"
  assert_eq bale/manifest.json "$(head -n 1 "$T/members.txt")" "$v: first member"
done
# Blobs larger than a volume went in parts, each with its own digest.
(($(sql "${vols[0]}" "SELECT count(*) FROM volume_members WHERE part > 0") >= 2)) ||
  fail "no blob was cut into parts"
# Every volume lists the whole set.
expect_exit 0 "$BALE" ls "${vols[1]}"
assert_contains "$LAST_STDOUT" "volume 2 of a set of $n"
assert_contains "$LAST_STDOUT" "volume 2 (this file)"
for ref in "${refs[@]}"; do assert_contains "$LAST_STDOUT" "$ref"; done
expect_exit 0 "$BALE" ls --json "${vols[0]}"
assert_eq "1 $n $n" "$(jq -r '"\(.volume.number) \(.volume.count) \(.volume.volumes | length)"' "$LAST_STDOUT")" "ls --json: volumes"

# A volume's have-list: what it holds whole, not the rest of its set.
expect_exit 0 "$BALE" have "${vols[1]}" -o "$T/vol2.have"
assert_eq "$(sql "${vols[1]}" "SELECT digest FROM volume_members WHERE volume = 2 AND part = 0" | sort)" \
  "$(jq -r 'select(.blob) | .blob' "$T/vol2.have" | sort)" "volume 2's have-list"

# One flipped bit in a volume: verifying that volume alone says so.
cp "${vols[1]}" "$T/flipped.tar.zst"
pos=$(($(stat -c %s "$T/flipped.tar.zst") / 2))
byte=$(od -An -tu1 -j "$pos" -N1 "$T/flipped.tar.zst" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 4)))" | dd of="$T/flipped.tar.zst" bs=1 seek="$pos" conv=notrunc status=none
expect_exit 3 "$BALE" verify --key "$T/k.pub" "$T/flipped.tar.zst"

# Last volume first, one a call, into an empty store: after each, whatever is named is
# whole, and the others say which volumes they wait for.
S=$T/site
imp() { "$BALE" import --key "$T/k.pub" --platform all --ledger "$T/state/ledger.db" "$@"; }
for ((k = n - 1; k >= 0; k--)); do
  expect_exit 0 imp --store "oci:$S" "${vols[k]}"
  names=$(jq '.manifests | length' "$S/index.json" 2>/dev/null || echo 0)
  waiting=$(grep -c ' waits for volume' "$LAST_STDOUT" || true)
  assert_eq 6 "$((names + waiting))" "after volume $((k + 1)): images named or waiting"
  if ((names)); then
    expect_exit 0 "$BALE" check --store "oci:$S"
    assert_contains "$LAST_STDOUT" "whole, no damage"
  fi
  ((k == 0)) || [[ -d $T/state/staging ]] || fail "no staging directory beside the ledger"
  # what a killed import left (an unlocked temporary) goes with the next one
  if ((k == n - 1)); then
    set_dir=$(ls -d "$T"/state/staging/*)
    leftover=$set_dir/$(printf 'a%.0s' {1..64}).tmp-Xk9pQz
    echo partial >"$leftover"
  elif ((k == n - 2)); then
    [[ ! -e $leftover ]] || fail "a killed import's temporary outlived the next import"
  fi
done
assert_eq 6 "$(jq '.manifests | length' "$S/index.json")" "images after every volume"
assert_eq "" "$(ls "$T/state/staging")" "the set's staging area once it landed"
[[ ! -e $set_dir ]] || fail "the set's staging directory outlived the set"
skopeo inspect --raw "oci:$S:$H/set2/multi:1" >/dev/null || fail "skopeo cannot read set2/multi"

# Every volume in one call: the images land as the walk reaches their blobs, nothing is
# staged but the parts of blobs cut across volumes.
parts=$(sql "${vols[0]}" "SELECT count(*) FROM volume_members WHERE part > 0")
expect_exit 0 imp -v --staging "$T/one-call" --store "oci:$T/all-at-once" "${vols[@]}"
assert_contains "$LAST_STDERR" "staged $parts blobs and parts of blobs"
assert_eq 6 "$(jq '.manifests | length' "$T/all-at-once/index.json")" "images imported in one call"

# A volume the signature does not cover is refused before anything is staged.
"$BALE" keygen -q -o "$T/other" >/dev/null
expect_exit 4 "$BALE" import --key "$T/other.pub" --platform all --ledger "$T/other/ledger.db" \
  --store "oci:$T/refused" "${vols[0]}"
assert_eq "" "$(ls "$T/other/staging" 2>/dev/null)" "staged from an untrusted volume"

# Into a real containerd: the last volume alone (what it names is whole), then the others
# together.
start_containerd
cimp() { imp --staging "$T/ctd-staging" --store "containerd:$CTD_SOCK" "$@"; }
expect_exit 0 cimp "${vols[n - 1]}"
for name in $(ctd images ls -q | grep -v '^sha256:' || true); do
  ctd images check "name==$name" >"$T/check.txt"
  assert_eq complete "$(awk 'NR == 2 {print $4}' "$T/check.txt")" "$name after the last volume"
done
expect_exit 0 cimp "${vols[@]:0:n-1}"
for ref in "${refs[@]}"; do
  ctd images check "name==$ref" >"$T/check.txt"
  assert_eq complete "$(awk 'NR == 2 {print $4}' "$T/check.txt")" "$ref in containerd"
done

# A delta cut into volumes: only the new layers travel, and they complete the store.
"$BALE" have --store "oci:$S" -o "$T/site.have"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --volume-size 4M \
  --have "$T/site.have" -o "$T/delta/month.tar.zst" "${refs[@]}" "$H/set2/dlist:1"
mapfile -t dvols < <(ls "$T"/delta/month.*.tar.zst)
expect_exit 0 "$BALE" verify --key "$T/k.pub" "${dvols[0]}"
assert_contains "$LAST_STDOUT" "volume 1 of ${#dvols[@]}"
expect_exit 0 imp --store "oci:$S" "${dvols[@]}"
assert_eq 7 "$(jq '.manifests | length' "$S/index.json")" "images after the delta's volumes"

# Volumes of two sets in one call, two bundles in one call, and sizes that are no size.
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/one.tar.zst" "${refs[3]}"
expect_exit 2 imp --store "oci:$T/two" "$T/one.tar.zst" "${vols[0]}"
assert_contains "$LAST_STDERR" "only the volumes of a set are imported together"
expect_exit 2 imp --store "oci:$T/mixed" "${vols[0]}" "${dvols[0]}"
assert_contains "$LAST_STDERR" "is not a volume of the set"
expect_exit 2 "$BALE" export -q --insecure-registry "$H" --unsigned --volume-size 10 -o "$T/x.tar.zst" "${refs[0]}"
assert_contains "$LAST_STDERR" "volume size \"10\""
echo "test_volumes: ok"
