#!/usr/bin/env bash
# kill -9 at several points of export, pull and import into a site registry: nothing
# half-written under a final name, no name whose content is missing, and the same
# command then finishes. What a killed export leaves beside its output is swept by the
# next export to that output, but never a temporary that a running export holds.
# (Imports into oci: and containerd stores are killed in test_import and test_containerd.)
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/pull.sh"

start_registry reg plain
build_images --layer-kib 2048
seed_registry reg
H=$reg_HOST
"$BALE" keygen -q -o "$T/k" >/dev/null
REFS=("$H/demo/multi:1" "$H/demo/single:1")
mkdir -p "$T/out"
OUT="$T/out/site.tar.zst"

# killed SYSCALL:WHEN CMD…: runs CMD, killed with SIGKILL at the WHEN-th call of SYSCALL
# (counted over all its threads). A point the command never reaches fails the test, so
# the points keep meaning what they say. LeakSanitizer cannot run under ptrace.
killed() {
  local point=$1 rc=0
  shift
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -o /dev/null \
    -e "inject=${point%%:*}:signal=KILL:when=${point#*:}" "$@" >/dev/null 2>&1 || rc=$?
  ((rc == 128 + 9 || rc == 9)) || fail "not killed at $point (exit $rc): $*"
}
temporaries() { find "$T/out" -name 'site.tar.zst.tmp-*' | wc -l; }

# ---- export: killed while blobs arrive in the cache (linkat), while index.db is built
# (pwrite64, SQLite's), while the bundle is written (sync_file_range, once per output
# buffer) and just before it is renamed into place (renameat2). These calls come the
# same number of times in every run, unlike plain writes, whose count follows the
# network. The cache keeps only verified content; no bundle appears; the next export
# finishes, sweeping what the killed one left.
left=0
for point in linkat:2 pwrite64:10 sync_file_range:2 renameat2:1; do
  cache="$T/cache-${point//:/-}"
  killed "$point" env XDG_CACHE_HOME="$cache" "$BALE" export -q --insecure-registry "$H" \
    --key "$T/k.key" -o "$OUT" "${REFS[@]}"
  [[ ! -e $OUT ]] || fail "a bundle appeared although the export was killed at $point"
  store_complete "$cache/bale"
  left=$((left + $(temporaries)))
  expect_exit 0 env XDG_CACHE_HOME="$cache" "$BALE" export -v --insecure-registry "$H" \
    --key "$T/k.key" -o "$OUT" "${REFS[@]}"
  assert_eq 0 "$(temporaries)" "temporaries after the export that followed a kill at $point"
  expect_exit 0 "$BALE" verify -q --key "$T/k.pub" "$OUT"
  rm "$OUT"
done
((left >= 3)) || fail "only $left temporaries were left by the killed exports: the sweep went untested"

# The sweep takes only what no live export holds: a temporary held under flock(2), as a
# running export holds its own, stays; a stale one goes with its index.db companion and
# an orphaned companion; names that are not this output's temporaries stay.
touch "$OUT.tmp-LIVE01" "$OUT.tmp-STALE1" "$OUT.tmp-STALE1.index.db" \
  "$OUT.tmp-GONE01.index.db-journal" "$OUT.tmp-notmine" "$T/out/other.tar.zst.tmp-ABCDEF"
head -c 100000 /dev/zero >"$OUT.tmp-STALE1"
# the sleep itself holds the lock (fd 9), so stopping it releases the lock at once
(
  exec 9<"$OUT.tmp-LIVE01"
  flock 9
  exec sleep 60
) >/dev/null 2>&1 &
holder=$!
track_pid "$holder"
for _ in $(seq 1 50); do # until the holder has its lock
  flock -n "$OUT.tmp-LIVE01" true || break
  sleep 0.1
done
expect_exit 0 env XDG_CACHE_HOME="$T/count" "$BALE" export -v --insecure-registry "$H" \
  --key "$T/k.key" -o "$OUT" "${REFS[@]}"
assert_contains "$LAST_STDERR" "removed 3 temporary files of interrupted exports to $OUT (0.1 MB)"
for kept in "$OUT.tmp-LIVE01" "$OUT.tmp-notmine" "$T/out/other.tar.zst.tmp-ABCDEF"; do
  [[ -e $kept ]] || fail "the sweep removed $kept"
done
for gone in "$OUT.tmp-STALE1" "$OUT.tmp-STALE1.index.db" "$OUT.tmp-GONE01.index.db-journal"; do
  [[ ! -e $gone ]] || fail "the sweep left $gone"
done
kill "$holder"
rm -f "$OUT" "$T/out/"*.tmp-*

# ---- pull into an oci: store: killed while blobs are published and just before
# index.json; the store never names what it lacks, and the pull then finishes.
export XDG_CACHE_HOME="$T/count"
for point in linkat:3 rename:1 rename:2; do
  S="$T/pulled-${point//:/-}"
  killed "$point" "$BALE" pull -q --platform all --insecure-registry "$H" --store "oci:$S" "${REFS[@]}"
  store_complete "$S"
  expect_exit 0 "$BALE" pull -q --platform all --insecure-registry "$H" --store "oci:$S" "${REFS[@]}"
  store_complete "$S"
  assert_eq 2 "$(jq '.manifests | length' "$S/index.json")" "names after a pull killed at $point and a re-run"
  [[ -z $(find "$S" -maxdepth 1 -name '.bale-staging-*') ]] || fail "staging left after $point"
done

# ---- import into a site registry, killed while a request is in flight, held by a
# proxy: the first blob upload, the first manifest (every blob is up), the second tag
# (the first is up). Every tag the registry shows is complete (skopeo copies it,
# checking every digest); the import then finishes.
start_registry site plain
S=$site_HOST
B="$T/bundle.tar.zst"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" "${REFS[@]}"
IMP=("$BALE" import --ledger "$T/ledger.db" --key "$T/k.pub" --platform all)
site_tags() { # "repo:tag" of every tag on the site registry under PREFIX
  local repo
  for repo in $(curl -fsS "http://$S/v2/_catalog?n=1000" | jq -r '.repositories[]' | grep "^$1/" || true); do
    curl -fsS "http://$S/v2/$repo/tags/list" | jq -r --arg r "$repo" '(.tags // [])[] | $r + ":" + .'
  done
}
n=0
for hold in "upload;(PATCH|PUT) .*/blobs/uploads/;1;0" "manifest;PUT .*/manifests/sha256:;1;0" \
  "tag;PUT .*/manifests/[^s];2;1"; do # what is in flight; its request; which match; tags up
  IFS=';' read -r what pattern at tags <<<"$hold"
  n=$((n + 1))
  start_fault_proxy "hold$n" "$site_PORT" --hold "$pattern" --hold-at "$at"
  proxy=hold${n}_HOST
  proxy_log=hold${n}_LOG
  "${IMP[@]}" -q --insecure-registry "${!proxy}" --store "registry://${!proxy}/$what" "$B" >/dev/null 2>&1 &
  pid=$!
  track_pid "$pid"
  for _ in $(seq 1 300); do # until the request is held (bounded: 30 s)
    grep -qx held "${!proxy_log}" && break
    kill -0 "$pid" 2>/dev/null || fail "the import finished before its $what was held"
    sleep 0.1
  done
  grep -qx held "${!proxy_log}" || fail "no $what was held"
  kill -KILL "$pid"
  wait "$pid" || true
  assert_eq "$tags" "$(site_tags "$what" | wc -l)" "tags up after a kill during the $what"
  for tag in $(site_tags "$what"); do
    peer_copy_dir site "$tag" "$T/peer" --src-tls-verify=false
  done
  expect_exit 0 "${IMP[@]}" --insecure-registry "$S" --store "registry://$S/$what" "$B"
  assert_eq 2 "$(site_tags "$what" | wc -l)" "tags after a kill during the $what and a re-run"
  for tag in $(site_tags "$what"); do
    peer_copy_dir site "$tag" "$T/peer" --src-tls-verify=false
  done
done
echo "test_crash: ok"
