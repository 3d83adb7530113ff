#!/usr/bin/env bash
# bale pull into a real containerd unpacks one image while the next ones stream
# (docs/containerd.md, step 1). Here the first unpack is held until the content stream
# after it has ended, so every later image is named while that unpack runs: each must
# still be unpacked (`ctr images check` says complete and unpacked, snapshots exist),
# tagged and labelled. Then a pull whose last content stream fails while a background
# unpack lands an image: everything goes, names (the CRI's too) and content.
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

# Every image named while the first unpack ran is unpacked, tagged and labelled.
start_containerd
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "containerd:$CTD_SOCK" \
  --ctr "$T/slow-ctr" "${refs[@]}"
grep -qx unpack-overlap "$T/ctr.log" || fail "no image was named while an unpack ran: $(cat "$T/ctr.log")"
ctd images ls >"$T/images.txt"
for ref in "${refs[@]}"; do
  repo=${ref#"$H"/} && repo=${repo%:1}
  want=DIGEST_${repo/\//_}
  for name in "$ref" "$H/$repo@${!want}"; do
    ctd images check "name==$name" >"$T/check.txt"
    # REF TYPE DIGEST STATUS SIZE UNPACKED
    assert_eq "complete true" "$(awk 'NR == 2 {print $4, $NF}' "$T/check.txt")" "$name: complete, unpacked"
    labels=$(awk -v n="$name" '$1 == n {print $NF}' "$T/images.txt")
    [[ $labels == *io.cri-containerd.image=managed* ]] || fail "$name: not managed for the CRI"
  done
done
# Two layers in each set's chain (dlist and schema2 share set3's): six snapshots.
assert_eq 6 "$(ctd snapshots ls | tail -n +2 | wc -l)" "snapshots"

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
for _ in $(seq 50); do [[ -z $(node) ]] && break || sleep 0.1; done
assert_eq "" "$(node)" "names and content in containerd after a failed pull"
echo "test_containerd_overlap: ok"
