#!/usr/bin/env bash
# The static bale (scripts/build.sh Static) on a node that has nothing: an empty chroot
# holding only the binary, a bundle and a key. It makes a key pair, verifies a bundle the
# regular bale exported and signed with that key, imports it into an OCI layout and a
# ledger, and checks the store; a tampered bundle is refused there as anywhere.
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
echo "test_static: ok"
