#!/usr/bin/env bash
# The static bale (scripts/build.sh Static) on a node that has nothing: an empty chroot
# holding only the binary, a bundle and a key. It makes a key pair, verifies a bundle the
# regular bale exported and signed with that key, imports it into an OCI layout and a
# ledger, and checks the store; a tampered bundle is refused there as anywhere. Then the
# bundle carries it (export --with-bale): the site takes it out with tar, checks it with
# openssl and sha256sum as docs/signing.md says, and that copy does the same work; every
# volume of a set carries it too. The arm64 one (scripts/build.sh Static-arm64) does the
# same under qemu-user in an empty chroot, and a bundle carries both.
source "$(dirname "$0")/lib.sh"

STATIC=${BALE_STATIC_BIN:-$BALE_SOURCE_DIR/build/static/bale}
[[ -x $STATIC ]] || fail "no static bale at $STATIC: run scripts/build.sh Static (scripts/test.sh does)"
[[ $(id -u) == 0 ]] || fail "test_static.sh chroots: run it as root (scripts/test.sh is)"
# no program interpreter, no shared library: it runs where nothing else is
readelf -l "$STATIC" >"$T/elf.txt"
grep -q INTERP "$T/elf.txt" && fail "the static bale asks for a program interpreter"
readelf -d "$STATIC" >"$T/dyn.txt" 2>&1 || true
grep -q NEEDED "$T/dyn.txt" && fail "the static bale needs shared libraries: $(grep NEEDED "$T/dyn.txt")"

root=$T/root
mkdir -p "$root/tmp"
cp "$STATIC" "$root/bale"
in_root() { TMPDIR=/tmp chroot "$root" /bale "$@"; } # the test's TMPDIR is not in it
expect_exit 0 in_root keygen -q -o /site
[[ -f $root/site.key && -f $root/site.pub ]] || fail "keygen wrote no key pair in the chroot"

start_registry reg plain
build_images --layer-kib 256
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" export -q --insecure-registry "$H" --key "$root/site.key" -o "$root/b.tar.zst" \
  "$H/demo/multi:1" "$H/demo/single:1" >/dev/null

expect_exit 0 in_root verify --key /site.pub /b.tar.zst
assert_contains "$LAST_STDOUT" "ok: 2 images"
expect_exit 0 in_root import -q --key /site.pub --store oci:/store --ledger /ledger.db /b.tar.zst
expect_exit 0 in_root check --store oci:/store
assert_contains "$LAST_STDOUT" "2 images checked"
assert_contains "$LAST_STDOUT" "whole, no damage"
expect_exit 0 in_root query /b.tar.zst "SELECT ref FROM images ORDER BY ref"
assert_contains "$LAST_STDOUT" "$H/demo/single:1"
# the store is a real OCI layout: skopeo reads the image back whole
run_skopeo copy -q "oci:$root/store:$H/demo/single:1" "dir:$T/copy"
[[ -s $T/copy/manifest.json ]] || fail "skopeo read nothing from the chroot's store"

# a flipped byte in the signed head: refused in the chroot too, the store untouched
cp "$root/b.tar.zst" "$root/bad.tar.zst"
printf '\x00' | dd of="$root/bad.tar.zst" bs=1 seek=600 conv=notrunc status=none
expect_exit 3 in_root verify --key /site.pub /bad.tar.zst

# The bundle carries the static bale; the site checks and runs that copy.
expect_exit 2 "$BALE" export --with-bale "$BALE" -o "$T/x.tar.zst" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "dynamically linked"
arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
"$BALE" export -q --insecure-registry "$H" --key "$root/site.key" --with-bale "$STATIC" \
  -o "$T/carry.tar.zst" "$H/demo/multi:1" "$H/demo/single:1" >/dev/null
expect_exit 0 "$BALE" verify --key "$root/site.pub" "$T/carry.tar.zst"
site=$T/site
mkdir -p "$site" && cd "$site"
tar --zstd -xf "$T/carry.tar.zst" bale/manifest.json bale/manifest.json.sig "bale/bin/linux-$arch/bale"
openssl dgst -sha256 -verify "$root/site.pub" -signature <(base64 -d bale/manifest.json.sig) \
  bale/manifest.json >"$T/openssl.out" || fail "openssl does not verify the manifest: $(cat "$T/openssl.out")"
awk -F'"' '/"path":/ {p = $4} /"digest":/ && p ~ /^bale\/bin\// {print substr($4, 8) "  " p}' \
  bale/manifest.json | sha256sum -c >"$T/sum.out" || fail "the carried bale's digest: $(cat "$T/sum.out")"
assert_contains "$T/sum.out" "bale/bin/linux-$arch/bale: OK"
cmp -s "bale/bin/linux-$arch/bale" "$STATIC" || fail "the carried bale is not the static one"
cd "$T"
root2=$T/root2
mkdir -p "$root2/tmp"
install -m 0755 "$site/bale/bin/linux-$arch/bale" "$root2/bale"
cp "$root/site.pub" "$T/carry.tar.zst" "$root2/"
in_root2() { TMPDIR=/tmp chroot "$root2" /bale "$@"; }
expect_exit 0 in_root2 keygen -q -o /other
expect_exit 0 in_root2 verify --key /site.pub /carry.tar.zst
expect_exit 0 in_root2 import -q --key /site.pub --store oci:/store --ledger /ledger.db /carry.tar.zst
expect_exit 0 in_root2 check --store oci:/store
assert_contains "$LAST_STDOUT" "2 images checked"
# a carried bale that is not the one the manifest names: refused by verify
cp "$T/carry.tar.zst" "$T/swapped.tar.zst"
size=$(stat -c %s "$T/swapped.tar.zst")
printf '\x01' | dd of="$T/swapped.tar.zst" bs=1 seek=$((size - 100000)) conv=notrunc status=none
expect_exit 3 "$BALE" verify --key "$root/site.pub" "$T/swapped.tar.zst"

# Every volume of a set carries it, and verifies alone.
mkdir -p "$T/vol"
build_images --layer-kib 8192 --seed 2
SEED_PREFIXES=big seed_registry reg
"$BALE" export -q --insecure-registry "$H" --key "$root/site.key" --with-bale "$STATIC" \
  --volume-size 11M -o "$T/vol/set.tar.zst" "$H/big/single:1" >/dev/null
n=0
for v in "$T"/vol/set.*.tar.zst; do
  n=$((n + 1))
  expect_exit 0 "$BALE" verify --key "$root/site.pub" "$v"
  tar --zstd -tf "$v" >"$T/list.txt"
  assert_contains "$T/list.txt" "bale/bin/linux-$arch/bale"
done
((n >= 2)) || fail "want a set of at least 2 volumes, got $n"

# The arm64 static bale, under qemu in an empty chroot (qemu-aarch64-static is static too).
ARM=${BALE_STATIC_ARM64_BIN:-$BALE_SOURCE_DIR/build/static-arm64/bale}
[[ -x $ARM ]] || fail "no arm64 static bale at $ARM: run scripts/build.sh Static-arm64 (scripts/test.sh does)"
QEMU=$(command -v qemu-aarch64-static) || fail "no qemu-aarch64-static: scripts/install-deps.sh --static-arm64"
readelf -h "$ARM" | grep -q AArch64 || fail "$ARM is not an arm64 executable"
readelf -l "$ARM" | grep -q INTERP && fail "the arm64 bale asks for a program interpreter"
root3=$T/root3
mkdir -p "$root3/tmp"
cp "$ARM" "$root3/bale"
cp "$QEMU" "$root3/qemu"
cp "$root/site.pub" "$T/carry.tar.zst" "$root3/"
in_arm() { TMPDIR=/tmp chroot "$root3" /qemu /bale "$@"; }
expect_exit 0 in_arm keygen -q -o /arm
expect_exit 0 in_arm verify --key /site.pub /carry.tar.zst
expect_exit 0 in_arm import -q --key /site.pub --store oci:/store --ledger /ledger.db /carry.tar.zst
expect_exit 0 in_arm check --store oci:/store
assert_contains "$LAST_STDOUT" "2 images checked"
# one bundle carries both, each at its architecture's member
"$BALE" export -q --insecure-registry "$H" --key "$root/site.key" --with-bale "$STATIC" --with-bale "$ARM" \
  -o "$T/both.tar.zst" "$H/demo/single:1" >/dev/null
tar --zstd -tf "$T/both.tar.zst" >"$T/both.txt"
assert_contains "$T/both.txt" "bale/bin/linux-amd64/bale"
assert_contains "$T/both.txt" "bale/bin/linux-arm64/bale"
expect_exit 2 "$BALE" export --with-bale "$ARM" --with-bale "$ARM" --unsigned -o "$T/twice.tar.zst" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "bale/bin/linux-arm64/bale is carried already"
echo "test_static: ok"
