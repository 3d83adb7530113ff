#!/usr/bin/env bash
# bale pull and bale import into a real containerd unpack one image while the next ones
# stream (docs/containerd.md, step 1). Here the first unpack is held until the content
# stream after it has ended, so every later image is named while that unpack runs: each
# must still be unpacked (`ctr images check` says complete and unpacked, snapshots exist),
# tagged and labelled. Then a pull whose last content stream fails, and an import whose
# bundle is damaged in its last image, while a background unpack lands an image:
# everything goes, names (the CRI's too) and content.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
# Three sets of the demo images, each with its own base layer: an image is unpacked only
# if its own layers are (a snapshot another image made would not tell).
for s in 1 2 3; do
  build_images --layer-kib 64 --seed "$s"
  SEED_PREFIXES=set$s seed_registry reg
done
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
refs=("$H/set1/multi:1" "$H/set2/single:1" "$H/set3/dlist:1" "$H/set3/schema2:1")

# slow-ctr: ctr, logging each run to $T/ctr.log. The first unpack (an import without
# --no-unpack) waits until a content stream (--no-unpack) that started after it has ended,
# at most 60 s; it logs whether it saw one (a run that overlaps) or not.
cat >"$T/slow-ctr" <<EOF
#!/usr/bin/env bash
log=$T/ctr.log
if [[ " \$* " == *" images import "* && " \$* " != *" --no-unpack "* ]] &&
  mkdir "$T/first-unpack" 2>/dev/null; then
  seen=\$(grep -c '^content-end' "\$log" || true)
  echo unpack-start >>"\$log"
  held=timeout
  for _ in \$(seq 600); do
    [[ \$(grep -c '^content-end' "\$log" || true) -gt \$seen ]] && held=overlap && break
    sleep 0.1
  done
  echo "unpack-\$held" >>"\$log"
  exec ctr "\$@"
fi
[[ " \$* " == *" --no-unpack "* ]] || exec ctr "\$@"
echo content-start >>"\$log"
n=\$(grep -c '^content-start' "\$log")
ctr "\$@"
rc=\$?
echo content-end >>"\$log"
# FAIL_CONTENT=N: the N-th content stream fails once ctr has taken it all.
[[ \$n == "\${FAIL_CONTENT:-}" ]] && echo "ctr: content stream \$n failed" && exit 1
exit \$rc
EOF
chmod +x "$T/slow-ctr"
: >"$T/ctr.log"

# every_image_landed WHAT: each of refs is in the newest containerd by tag and by digest,
# complete, unpacked and managed for the CRI, after an unpack that overlapped a stream.
every_image_landed() {
  grep -qx unpack-overlap "$T/ctr.log" || fail "$1: no image was named while an unpack ran: $(cat "$T/ctr.log")"
  ctd images ls >"$T/images.txt"
  local ref repo want name labels
  for ref in "${refs[@]}"; do
    repo=${ref#"$H"/} && repo=${repo%:1}
    want=DIGEST_${repo/\//_}
    for name in "$ref" "$H/$repo@${!want}"; do
      ctd images check "name==$name" >"$T/check.txt"
      # REF TYPE DIGEST STATUS SIZE UNPACKED
      assert_eq "complete true" "$(awk 'NR == 2 {print $4, $NF}' "$T/check.txt")" "$1: $name: complete, unpacked"
      labels=$(awk -v n="$name" '$1 == n {print $NF}' "$T/images.txt")
      [[ $labels == *io.cri-containerd.image=managed* ]] || fail "$1: $name: not managed for the CRI"
    done
  done
  # Two layers in each set's chain (dlist and schema2 share set3's): six snapshots.
  assert_eq 6 "$(ctd snapshots ls | tail -n +2 | wc -l)" "$1: snapshots"
}

# Every image named while the first unpack ran is unpacked, tagged and labelled.
start_containerd
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "containerd:$CTD_SOCK" \
  --ctr "$T/slow-ctr" "${refs[@]}"
every_image_landed pull

# An import names each image as soon as the bundle has streamed its blobs (a bundle keeps
# each image's blobs together): the same overlap, with every platform carried.
"$BALE" keygen -q -o "$T/k" >/dev/null
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/b.tar.zst" "${refs[@]}"
import() { # BUNDLE: into the newest containerd through slow-ctr, every platform
  "$BALE" import -q --key "$T/k.pub" --ledger "$T/ledger.db" --store "containerd:$CTD_SOCK" \
    --ctr "$T/slow-ctr" --platform all "$1"
}
start_containerd
: >"$T/ctr.log" && rmdir "$T/first-unpack"
expect_exit 0 import "$T/b.tar.zst"
every_image_landed import

# A content stream that fails after a background unpack has landed an image: the run is
# undone whole, names (the CRI's too) and content, as if never pulled. The second stream
# (set2/single's blobs) is taken by containerd, then ctr fails.
start_containerd
: >"$T/ctr.log" && rmdir "$T/first-unpack"
FAIL_CONTENT=2 expect_exit 8 "$BALE" pull -q --insecure-registry "$H" --store "containerd:$CTD_SOCK" \
  --ctr "$T/slow-ctr" "$H/set1/multi:1" "$H/set2/single:1"
assert_contains "$LAST_STDERR" "content stream 2 failed"
grep -qx unpack-overlap "$T/ctr.log" || fail "no unpack ran while the failing stream did: $(cat "$T/ctr.log")"
node() { ctd images ls -q; ctd content ls -q; }
node_empty() { # WHAT
  for _ in $(seq 50); do [[ -z $(node) ]] && break || sleep 0.1; done
  assert_eq "" "$(node)" "names and content in containerd after $1"
}
node_empty "a failed pull"

# An import whose bundle is damaged in a layer of its last image, once an earlier image
# is unpacking: refused as damaged (3), and the node keeps nothing of it.
at=$("$PY" -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", data[-9:-5])[0]
sizes = [struct.unpack("<II", data[-9 - 8 * n + 8 * i:-9 - 8 * n + 8 * i + 8]) for i in range(n)]
last = max(i for i in range(n) if sizes[i][0] > 16384)  # the last layer frame
print(sum(c for c, _ in sizes[:last]) + sizes[last][0] // 2)' "$T/b.tar.zst")
cp "$T/b.tar.zst" "$T/damaged.tar.zst"
printf '\x5a' | dd of="$T/damaged.tar.zst" bs=1 seek="$at" conv=notrunc status=none
start_containerd
: >"$T/ctr.log" && rmdir "$T/first-unpack"
expect_exit 3 import "$T/damaged.tar.zst"
grep -qx unpack-start "$T/ctr.log" || fail "no unpack ran before the damage was found: $(cat "$T/ctr.log")"
node_empty "a damaged import"
echo "test_containerd_overlap: ok"
