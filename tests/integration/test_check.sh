#!/usr/bin/env bash
# bale check of node stores, damaged on purpose behind bale's back: an oci: layout, a real
# containerd (started here) and a site registry (docker-registry, its storage directory
# edited by hand). A whole store checks 0; a removed blob, a flipped bit and the partial
# files of interrupted writes are reported (3); what a running writer holds is left alone;
# --repair removes partials and drops the damaged names, never a blob a remaining name
# needs, and a re-import makes the store whole again.
source "$(dirname "$0")/lib.sh"
track_secrets # the token registry's checks take credentials
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images --layer-kib 256
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
B="$T/site.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" \
  "$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/single:1" >/dev/null
imp() { "$BALE" import -q --ledger "$T/ledger.db" --key "$T/k.pub" --platform all "$@" >/dev/null; }
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"; }
# flip FILE: one bit of FILE's 4th byte changed in place (same size, other digest).
flip() {
  local b
  chmod u+w "$1"
  b=$(od -An -tu1 -j3 -N1 "$1" | tr -d ' ')
  printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek=3 conv=notrunc status=none
}
# Digests from mkimages' summary: single's own config, and a layer every image shares.
single_config=$(jq -r '.single.images[0].config' "$IMAGES_SUMMARY")
shared_layer=$(jq -r '.single.images[0].layers[1]' "$IMAGES_SUMMARY") # amd64, multi and dlist too

# ------------------------------------------------------------------------- oci:
S="$T/oci"
imp --store "oci:$S" "$B"
expect_exit 0 "$BALE" check --store "oci:$S"
assert_contains "$LAST_STDOUT" "oci:$S: 3 images checked"
assert_contains "$LAST_STDOUT" "no damage"

# A removed index and a flipped bit in a config: named with image, object and digest.
rm "$S/blobs/sha256/${DIGEST_demo_dlist#sha256:}"
flip "$S/blobs/sha256/${single_config#sha256:}"
expect_exit 3 "$BALE" check --store "oci:$S"
assert_contains "$LAST_STDOUT" "$H/demo/dlist:1 index $DIGEST_demo_dlist ($S/blobs/sha256/${DIGEST_demo_dlist#sha256:}): missing"
got=$(grep "^$H/demo/single:1 config $single_config " "$LAST_STDOUT") || fail "single's config not reported"
[[ $got == *"digest mismatch: has sha256:"*" want $single_config" ]] || fail "mismatch line: $got"
assert_not_contains "$LAST_STDOUT" "$H/demo/multi:1"
assert_contains "$LAST_STDOUT" "2 damaged images (2 findings)"

# Partial files: a killed import's staging directory (it had staged the missing index),
# temporary files of interrupted writes; and the same kinds held by live writers through
# the store's own locks (flock), which are neither reported nor removed.
rc=0
traced -f -o /dev/null -e inject=rename:signal=KILL:when=1 \
  "$BALE" import -q --ledger "$T/ledger.db" --key "$T/k.pub" --platform all --store "oci:$S" "$B" \
  >/dev/null 2>&1 || rc=$?
((rc != 0)) || fail "the import was not killed"
dead=$(find "$S" -maxdepth 1 -name '.bale-staging-*')
[[ -n $dead && -f $dead/${DIGEST_demo_dlist#sha256:} ]] || fail "no staging directory with the index"
printf '{"schemaVersion":2,' >"$S/index.json.tmp-Dead01"
printf 'half a blob' >"$S/blobs/sha256/.${shared_layer#sha256:}.partial-Dead02"
mkdir "$S/.bale-staging-Live01"
printf 'being written' >"$S/blobs/sha256/.${shared_layer#sha256:}.partial-Live02"
# The live writer is this shell: it holds the locks on descriptors of its own.
exec 5<"$S/.bale-staging-Live01" 6<"$S/blobs/sha256/.${shared_layer#sha256:}.partial-Live02"
flock -n 5 && flock -n 6 || fail "cannot take the live writer's locks"
expect_exit 3 "$BALE" check --store "oci:$S"
assert_contains "$LAST_STDOUT" "- staging directory ($dead): partial files of an interrupted run"
assert_contains "$LAST_STDOUT" "- temporary file ($S/index.json.tmp-Dead01): partial file"
assert_contains "$LAST_STDOUT" "- temporary blob file ($S/blobs/sha256/.${shared_layer#sha256:}.partial-Dead02): partial file"
assert_not_contains "$LAST_STDOUT" "Live0"
assert_contains "$LAST_STDOUT" "3 partial files"

# For machines; and --image checks those images only (no partial files).
expect_exit 3 "$BALE" check --store "oci:$S" --json
assert_eq "missing digest-mismatch partial partial partial" \
  "$(jq -r '[.findings[].problem] | join(" ")' "$LAST_STDOUT")" "problems in --json"
assert_eq "3 2 false" "$(jq -r '[.summary.images, .summary.damaged_images, .summary.whole] | join(" ")' "$LAST_STDOUT")" "--json summary"
expect_exit 0 "$BALE" check --store "oci:$S" --image "$H/demo/multi:1"
assert_contains "$LAST_STDOUT" "1 image checked"
expect_exit 3 "$BALE" check --store "oci:$S" --image "$H/demo/single:1"
expect_exit 6 "$BALE" check --store "oci:$S" --image "$H/demo/absent:1"
expect_exit 8 "$BALE" check --store "oci:$T/nowhere"
expect_exit 2 "$BALE" check --store "oci:$S" extra
expect_exit 2 "$BALE" check --store "nowhere:$S"

# --repair: partials gone, damaged names dropped (index.json rewritten), live writers'
# files kept, the damaged config removed, multi untouched and whole.
expect_exit 0 "$BALE" check --store "oci:$S" --repair
assert_contains "$LAST_STDOUT" "repaired: $H/demo/dlist:1 index $DIGEST_demo_dlist"
assert_contains "$LAST_STDOUT" "repaired: $H/demo/single:1 config $single_config"
assert_contains "$LAST_STDOUT" "name dropped, damaged blob removed"
assert_contains "$LAST_STDOUT" "repaired: - staging directory ($dead)"
assert_not_contains "$LAST_STDOUT" "not repaired"
assert_contains "$LAST_STDOUT" "whole now"
[[ ! -e $dead && ! -e $S/index.json.tmp-Dead01 && ! -e $S/blobs/sha256/.${shared_layer#sha256:}.partial-Dead02 ]] ||
  fail "a dead writer's partial file is left"
[[ -d $S/.bale-staging-Live01 && -f $S/blobs/sha256/.${shared_layer#sha256:}.partial-Live02 ]] ||
  fail "a live writer's file was removed"
[[ ! -e $S/blobs/sha256/${single_config#sha256:} ]] || fail "the damaged config is still there"
assert_eq "$H/demo/multi:1" "$(jq -r '.manifests[].annotations."org.opencontainers.image.ref.name"' "$S/index.json")" "names left"
expect_exit 0 "$BALE" check --store "oci:$S"
assert_contains "$LAST_STDOUT" "1 image checked"
got=$(run_skopeo inspect --raw "oci:$S:$H/demo/multi:1" | sha256sum | cut -d' ' -f1)
assert_eq "$DIGEST_demo_multi" "sha256:$got" "multi after the repair"
exec 5<&- 6<&- # the live writer is done

# A damaged blob that a name left out of the check still needs is never removed: the name
# checked goes, the blob stays for the other; a full repair then drops that one too, and
# a re-import makes the store whole.
imp --store "oci:$S" "$B"
rm -rf "$S/.bale-staging-Live01" "$S/blobs/sha256/.${shared_layer#sha256:}.partial-Live02"
expect_exit 0 "$BALE" check --store "oci:$S"
flip "$S/blobs/sha256/${shared_layer#sha256:}"
expect_exit 0 "$BALE" check --store "oci:$S" --image "$H/demo/single:1" --repair
assert_contains "$LAST_STDOUT" "repaired: $H/demo/single:1 layer $shared_layer"
assert_contains "$LAST_STDOUT" "blob kept: a remaining name needs it"
[[ -f $S/blobs/sha256/${shared_layer#sha256:} ]] || fail "a blob remaining names need was removed"
expect_exit 3 "$BALE" check --store "oci:$S"
assert_contains "$LAST_STDOUT" "$H/demo/multi:1 layer $shared_layer"
expect_exit 0 "$BALE" check --store "oci:$S" --repair
assert_eq "0" "$(jq '.manifests | length' "$S/index.json")" "names after the full repair"
imp --store "oci:$S" "$B"
expect_exit 0 "$BALE" check --store "oci:$S"
assert_contains "$LAST_STDOUT" "3 images checked"

# --------------------------------------------------------------------- containerd
start_containerd
CTD="containerd:$CTD_SOCK"
CONTENT="$(dirname "$CTD_LOG")/root/io.containerd.content.v1.content/blobs/sha256"
imp --store "$CTD" "$B"
# Every name: the reference, its digest reference, and the CRI's image-id names.
names() { ctd images ls -q | wc -l; }
expect_exit 0 "$BALE" check --store "$CTD"
assert_contains "$LAST_STDOUT" "$(names) images checked"

rm "$CONTENT/${DIGEST_demo_multi#sha256:}"
flip "$CONTENT/${single_config#sha256:}"
# An ingest whose writer was killed mid-stream, and one a live writer holds. (ctr itself
# in the background, not the ctd function: $! must be ctr's own pid.)
ingest_size() { ctd content active | awk -v r="$1" '$1 == r { print $2 }'; }
mkfifo "$T/dead.fifo" "$T/live.fifo"
ctr -a "$CTD_SOCK" -n k8s.io content ingest bale-test-dead <"$T/dead.fifo" >/dev/null 2>&1 &
dead_pid=$!
exec 7>"$T/dead.fifo"
head -c 3000000 /dev/urandom >&7
for _ in $(seq 100); do
  [[ $(ingest_size bale-test-dead) =~ ^[1-9] ]] && break
  sleep 0.1
done
kill -9 "$dead_pid"
wait "$dead_pid" 2>/dev/null || true
exec 7>&-
ctr -a "$CTD_SOCK" -n k8s.io content ingest bale-test-live <"$T/live.fifo" >/dev/null 2>&1 &
live_pid=$!
at_exit "kill $live_pid 2>/dev/null"
exec 8>"$T/live.fifo"
printf 'still coming' >&8
for _ in $(seq 100); do
  [[ -n $(ingest_size bale-test-live) ]] && break
  sleep 0.1
done
ctd_grep -q '^bale-test-dead' content active || fail "no interrupted ingest to find"
expect_exit 3 "$BALE" check --store "$CTD"
for name in "$H/demo/multi:1" "$H/demo/multi@$DIGEST_demo_multi"; do
  assert_contains "$LAST_STDOUT" "$name index $DIGEST_demo_multi: missing"
done
got=$(grep "^$H/demo/single:1 config $single_config" "$LAST_STDOUT") || fail "single's config not reported"
[[ $got == *"digest mismatch: has sha256:"*" want $single_config" ]] || fail "mismatch line: $got"
assert_contains "$LAST_STDOUT" "- ingest (bale-test-dead): partial file of an interrupted ingest"
assert_not_contains "$LAST_STDOUT" "bale-test-live"
assert_not_contains "$LAST_STDOUT" "$H/demo/dlist"
expect_exit 0 "$BALE" check --store "$CTD" --repair
assert_contains "$LAST_STDOUT" "repaired: - ingest (bale-test-dead)"
assert_contains "$LAST_STDOUT" "repaired: $H/demo/single@$DIGEST_demo_single config $single_config"
assert_contains "$LAST_STDOUT" "whole now"
ctd_grep -q '^bale-test-live' content active || fail "the live writer's ingest was touched"
exec 8>&- # the live writer ends; its ingest commits and goes
wait "$live_pid" 2>/dev/null || true
ctd_grep -qx "$H/demo/dlist:1" images ls -q || fail "dlist was dropped"
ctd_grep -qx "$H/demo/dlist@$DIGEST_demo_dlist" images ls -q || fail "dlist's digest name was dropped"
ctd_grep -qE "demo/(multi|single)" images ls -q && fail "damaged names are left"
ctd_grep -qx "$single_config" content ls -q && fail "the damaged config is still there"
expect_exit 0 "$BALE" check --store "$CTD"
assert_contains "$LAST_STDOUT" "$(names) images checked"
imp --store "$CTD" "$B"
expect_exit 0 "$BALE" check --store "$CTD"
assert_contains "$LAST_STDOUT" "$(names) images checked"

# ----------------------------------------------------------------------- registry://
start_registry site plain # deletes enabled, as lib.sh configures every test registry
SR="registry://$site_HOST/mirror"
imp --insecure-registry "$site_HOST" --store "$SR" "$B"
expect_exit 0 "$BALE" check --insecure-registry "$site_HOST" --store "$SR"
assert_contains "$LAST_STDOUT" "3 images checked"
assert_contains "$LAST_STDOUT" "a registry does not list its upload sessions"
flip "$(registry_blob_path site "$single_config")"
rm "$(registry_blob_path site "$DIGEST_demo_multi_arm64_v8")"
expect_exit 3 "$BALE" check --insecure-registry "$site_HOST" --store "$SR"
got=$(grep "^$site_HOST/mirror/demo/single:1 config $single_config" "$LAST_STDOUT") || fail "single's config not reported"
[[ $got == *"digest mismatch: has sha256:"*" want $single_config" ]] || fail "mismatch line: $got"
assert_contains "$LAST_STDOUT" "$site_HOST/mirror/demo/multi:1 manifest $DIGEST_demo_multi_arm64_v8: missing"
assert_not_contains "$LAST_STDOUT" "demo/dlist"
expect_exit 0 "$BALE" check --insecure-registry "$site_HOST" --store "$SR" --repair
assert_contains "$LAST_STDOUT" "repaired: $site_HOST/mirror/demo/multi:1"
assert_contains "$LAST_STDOUT" "manifest deleted"
expect_exit 0 "$BALE" check --insecure-registry "$site_HOST" --store "$SR"
assert_contains "$LAST_STDOUT" "1 image checked"
expect_exit 6 "$BALE" check --insecure-registry "$site_HOST" --store "$SR" --image "$site_HOST/mirror/demo/single:1"

# A registry that lists nothing and deletes nothing for us (token auth granting pull and
# push only): the catalog is refused (5, and the way out is --image), a repair is
# refused and said so (3).
start_registry tok token
ST="registry://$tok_HOST/mirror"
creds=(--creds "$BALE_TEST_USER:$BALE_TEST_PASS" --insecure-registry "$tok_HOST"
  --insecure-registry "127.0.0.1:$tok_TOKEN_PORT") # a plain-HTTP token server
imp "${creds[@]}" --store "$ST" "$B"
expect_exit 5 "$BALE" check "${creds[@]}" --store "$ST"
assert_contains "$LAST_STDERR" "--image"
flip "$(registry_blob_path tok "$single_config")"
expect_exit 3 "$BALE" check "${creds[@]}" --store "$ST" --image "$tok_HOST/mirror/demo/single:1" --repair
assert_contains "$LAST_STDOUT" "not repaired: $tok_HOST/mirror/demo/single:1 config $single_config"
assert_contains "$LAST_STDOUT" "access refused"
assert_not_contains "$LAST_STDOUT" "$BALE_TEST_PASS"
assert_not_contains "$LAST_STDERR" "$BALE_TEST_PASS"
expect_exit 0 "$BALE" check "${creds[@]}" --store "$ST" --image "$tok_HOST/mirror/demo/dlist:1"
echo "test_check: ok"
