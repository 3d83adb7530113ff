#!/usr/bin/env bash
# bale import and bale pull into a real containerd (Debian's, started here with its own
# root, state and socket): the names, digest references, platforms and CRI labels a
# kubelet needs; trust first and a node left as it was after every refusal; re-import
# writes nothing; a killed import names nothing and a re-run finishes.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images --layer-kib 1024
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
"$BALE" keygen -q -o "$T/other" >/dev/null
B="$T/site.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" \
  "$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/single:1" >/dev/null
"$BALE" export -q --platform linux/arm64 --insecure-registry "$H" --key "$T/k.key" \
  -o "$T/arm.tar.zst" "$H/demo/multi:1" >/dev/null
"$BALE" export -q --unsigned --insecure-registry "$H" -o "$T/unsigned.tar.zst" "$H/demo/single:1" >/dev/null

start_containerd
CTD="containerd:$CTD_SOCK"
imp() { "$BALE" import --ledger "$T/ledger.db" --store "$CTD" "$@"; }
node_state() { { ctd images ls -q | sort; ctd content ls -q | sort; } | sha256sum; }
empty=$(node_state)

# Trust first; refusals leave the node as it was.
expect_exit 4 imp --key "$T/other.pub" "$B"
expect_exit 4 imp --key "$T/k.pub" "$T/unsigned.tar.zst"
layer=$(tar --zstd -xOf "$B" "blobs/sha256/${DIGEST_demo_multi_amd64#sha256:}" | jq -r '.layers[0].digest[7:]')
"$PY" "$LIB_DIR/rebundle.py" "$B" "$T/bad.tar.zst" --flip "blobs/sha256/$layer"
expect_exit 3 imp --key "$T/k.pub" "$T/bad.tar.zst"
assert_contains "$LAST_STDERR" "$layer"
# ctr's importer commits a tampered layer under the digest of its bytes before the
# stream is cut; no lease holds it once ctr has failed, so containerd collects it soon.
for _ in $(seq 50); do [[ $(node_state) == "$empty" ]] && break || sleep 0.1; done
assert_eq "$empty" "$(node_state)" "containerd after refused imports"
# ... nor a half-written ingest or a lease that would hold it for a day (a later import
# of the same layer would resume that ingest and containerd could collect the layer).
assert_eq "" "$(ctd content active | tail -n +2)" "ingests left by refused imports"
assert_eq "" "$(ctd leases ls -q)" "leases left by refused imports"

# Preflight: before the import every pod would fail to start with imagePullPolicy: Never.
mkdir -p "$T/k8s"
cat >"$T/k8s/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - {name: web, image: $H/demo/multi:1, imagePullPolicy: Never}
    - {name: db, image: "$H/demo/single@$DIGEST_demo_single", imagePullPolicy: Never}
---
apiVersion: batch/v1
kind: Job
metadata: {name: report}
spec:
  template:
    spec:
      containers:
        - {name: report, image: $H/demo/dlist:1, imagePullPolicy: Never}
YAML
expect_exit 6 "$BALE" verify --manifests "$T/k8s" --store "$CTD" --platform linux/amd64 --json
assert_eq "absent absent absent" "$(jq -r '[.[] | .status] | join(" ")' "$LAST_STDOUT")" "preflight before"

# The import: names as pods write them, repo@digest references, the host's platform,
# the CRI labels, pinned.
expect_exit 0 imp --key "$T/k.pub" --pin "$B"
ctd images ls >"$T/images.txt"
for image in multi dlist single; do
  want=DIGEST_demo_$image
  grep -qE "^$H/demo/$image:1 .* ${!want} " "$T/images.txt" || fail "no $H/demo/$image:1 at ${!want}"
  grep -qE "^$H/demo/$image@${!want} " "$T/images.txt" || fail "no digest reference for $image"
  labels=$(grep -E "^$H/demo/$image:1 " "$T/images.txt" | awk '{print $NF}')
  [[ $labels == *io.cri-containerd.image=managed* ]] || fail "$image: not managed for the CRI"
  [[ $labels == *io.cri-containerd.pinned=pinned* ]] || fail "$image: not pinned"
done
ctd content ls -q | sort >"$T/content.txt"
for d in "$DIGEST_demo_multi" "$DIGEST_demo_multi_amd64" "sha256:$layer"; do
  grep -qx "$d" "$T/content.txt" || fail "content $d missing"
done
grep -qx "$DIGEST_demo_multi_arm64_v8" "$T/content.txt" && fail "arm64 content imported uninvited"
# The digest reference resolves to the same image content.
ctd images check "name==$H/demo/multi@$DIGEST_demo_multi" >"$T/check.txt"
assert_contains "$T/check.txt" "complete"
# Preflight after the import: every pod starts; on an arm64 node multi would not.
expect_exit 0 "$BALE" verify --manifests "$T/k8s" --store "$CTD" --platform linux/amd64
assert_eq 0 "$(wc -l <"$LAST_STDOUT")" "pods reported after the import"
expect_exit 6 "$BALE" verify --manifests "$T/k8s" --store "$CTD" --platform linux/arm64 --json
assert_eq "wrong-platform" "$(jq -r '.[0].status' "$LAST_STDOUT")" "multi on arm64"

# Re-import: nothing written, nothing changed.
before=$(node_state)
expect_exit 0 imp --key "$T/k.pub" --pin "$B"
assert_eq "$before" "$(node_state)" "containerd after a re-import"
assert_eq "0" "$("$BALE" ledger --ledger "$T/ledger.db" --csv 'SELECT blobs_written FROM imports ORDER BY id DESC LIMIT 1' | tail -n 1 | tr -d '\r')" "blobs written by the re-import"

# Another platform on this host, and a platform-subset bundle: the original index kept.
expect_exit 0 imp --key "$T/k.pub" --platform linux/arm64 --image "$H/demo/multi:1" "$B"
ctd_grep -qx "$DIGEST_demo_multi_arm64_v8" content ls -q || fail "arm64 manifest not imported"
# The platform imported before is still whole: ctr's importer references only the new
# one from the index, bale's own labels keep the rest from containerd's collector.
sleep 2
ctd_grep -qx "$DIGEST_demo_multi_amd64" content ls -q || fail "the amd64 manifest was collected"
ctd_grep -qx "sha256:$layer" content ls -q || fail "an amd64 layer was collected"
ctd_grep -q complete images check "name==$H/demo/multi:1" || fail "multi:1 no longer complete"
start_containerd # a second, empty node
CTD="containerd:$CTD_SOCK"
expect_exit 0 imp --key "$T/k.pub" --platform linux/arm64 "$T/arm.tar.zst"
ctd_grep -qE "^$H/demo/multi:1 .* $DIGEST_demo_multi " images ls || fail "subset lost the index digest"

# kill -9 in the middle of the stream: no name appears; the re-run finishes.
start_containerd
CTD="containerd:$CTD_SOCK"
# killed_at_write N CMD…: CMD killed with SIGKILL at its N-th write. The orphaned ctr sees
# its input end and gives up; wait until it has (bounded), so a re-run does not race its
# cleanup. LeakSanitizer cannot run under ptrace.
killed_at_write() {
  local when=$1 rc=0
  shift
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -o /dev/null \
    -e "inject=write:signal=KILL:when=$when" "$@" >/dev/null 2>&1 || rc=$?
  ((rc != 0)) || fail "not killed: $*"
  for _ in $(seq 1 100); do
    pgrep -f "ctr -a $CTD_SOCK" >/dev/null || break
    sleep 0.1
  done
}
killed_at_write 6 "$BALE" import -q --ledger "$T/ledger.db" --store "$CTD" --key "$T/k.pub" "$B"
assert_eq "" "$(ctd images ls -q | grep "^$H/" || true)" "names after a killed import"
expect_exit 0 imp --key "$T/k.pub" "$B"
ctd_grep -qx "$H/demo/single:1" images ls -q || fail "the re-run did not finish"

# Online: bale pull straight into containerd.
start_containerd
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "containerd:$CTD_SOCK" "$H/demo/dlist:1" "$H/demo/single:1"
ctd_grep -qE "^$H/demo/dlist:1 .* $DIGEST_demo_dlist " images ls || fail "pull: dlist"
ctd_grep -qE "^$H/demo/single@$DIGEST_demo_single " images ls || fail "pull: digest reference"

# The pull into containerd killed at its sixth write: no name appears; the
# re-run finishes.
start_containerd
killed_at_write 6 "$BALE" pull -q --insecure-registry "$H" --store "containerd:$CTD_SOCK" "$H/demo/multi:1"
assert_eq "" "$(ctd images ls -q | grep "^$H/" || true)" "names after a killed pull"
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "containerd:$CTD_SOCK" "$H/demo/multi:1"
ctd_grep -q complete images check "name==$H/demo/multi:1" || fail "the pull after a kill is not complete"
echo "test_containerd: ok"
