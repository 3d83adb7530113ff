#!/usr/bin/env bash
# bale's benchmark harness: bale beside the tools users run today, on the same machine in
# the same run, alternating run by run, against a real docker-registry on loopback.
#
#   bench/run.sh [--corpus LIST] [--scenarios LIST] [--runs N] [--results FILE]
#
# LIST is a comma-separated choice of (default: bench,real,many,synthetic,large):
#   bench      8 images x 2 platforms, ~180 MB of gzip layers (bench/corpus.py)
#   real       4 images x 2 platforms of this machine's /usr, gzip -6, ~130 MB
#   large      the same shape as bench at ~2 GB
#   many       200 small images: per-image overhead, index size, growth 1/8/64 images
#   synthetic  10,000 tiny images: memory and time at 200, 2,000 and 10,000 images
#              (export, verify, import, ls, query, and a prune plan of the store they fill);
#              `ls` and `query` on a big index
#   cycle      the site's month on the bench corpus: its first half exported and imported,
#              then all of it as a delta against `bale have` of that store (bytes beside
#              the new blobs' and the full bundle's); the full set cut into 60M volumes,
#              each verified alone, imported last-first (not in the default list)
# For bench, real and large: (1) export vs `skopeo copy --all` + `tar | zstd -T0` and vs
# `skopeo sync --all`, beside this machine's floor (every blob from the registry through
# curl into one SHA-256, two at a time); (2) verify vs one `openssl dgst -sha256` of the
# bundle file and `sha256sum` of the extracted blobs; (3) import
# into a fresh containerd vs `ctr images import` of the same content, then re-import, and
# with --platform all vs `ctr images import --all-platforms`;
# (4) online `bale pull` into containerd vs `ctr images pull`; (5) `bale serve` of the bundle
# vs the docker-registry it came from, to skopeo (every platform) and to ctr (4 pulls at
# once), and serve's peak RSS. --scenarios picks among export,verify,import,pull,serve
# (default all; each runs with the ones before it).
# Prints a Markdown table (median of N runs: wall time, throughput, CPU, peak RSS, bale/peer)
# and writes every run as JSON to FILE (default bench/results/<UTC time>.json).
# Needs a Release build (scripts/build.sh Release) and the packages of scripts/install-deps.sh.
# Generated layers are kept in $BALE_BENCH_CACHE (default ~/.cache/bale-bench; about
# 2.3 GB with large), so later runs skip generating them.

# Generated layers outlive the run: taken before the test library points HOME at $T.
CACHE_ROOT=${BALE_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bale-bench}
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/integration/containerd.sh
source "$top/tests/integration/containerd.sh"

corpora=bench,real,many,synthetic,large
scenarios=export,verify,import,pull,serve
runs=3
results="$top/bench/results/$(date -u +%Y%m%dT%H%M%SZ).json"
while (($#)); do
  case $1 in
  --corpus) corpora=$2 && shift 2 ;;
  --runs) runs=$2 && shift 2 ;;
  --scenarios) scenarios=$2 && shift 2 ;;
  --results) results=$2 && shift 2 ;;
  -h | --help) sed -n '2,/^$/p' "$0" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
  *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2 && exit 2 ;;
  esac
done

bench_setup
bench_keygen
mkdir -p "$(dirname "$results")"
: >"$T/runs.jsonl"
: >"$T/table.md"

# measure ID CMD…: one timed run of CMD (stdout dropped); appends "wall cpu rss_kib" to
# $T/ID.times and the run to the JSON lines.
measure() {
  local id=$1 e u s m
  shift
  if ! /usr/bin/time -f '%e %U %S %M' -o "$T/time" "$@" >/dev/null 2>"$T/err"; then
    cat "$T/err" >&2
    fail "$id: $* failed"
  fi
  read -r e u s m <"$T/time"
  echo "$e $(echo "$u + $s" | bc) $m" >>"$T/$id.times"
  jq -nc --arg id "$id" --argjson wall "$e" --argjson cpu "$(echo "$u + $s" | bc)" \
    --argjson rss_kib "$m" '{id: $id, wall_s: $wall, cpu_s: $cpu, rss_kib: $rss_kib}' >>"$T/runs.jsonl"
}
col() { awk -v c="$2" '{print $c}' "$T/$1.times" | median; }

# row CORPUS SCENARIO TOOL ID BYTES [PEER_ID]: a table row of medians (and bale/peer).
row() {
  local corpus=$1 scenario=$2 tool=$3 id=$4 bytes=$5 peer=${6:-} w ratio=""
  w=$(col "$id" 1)
  [[ -n $peer ]] && ratio=$(printf '%.2f' "$(echo "$w / $(col "$peer" 1)" | bc -l)")
  local rate=-
  ((bytes > 0)) && rate=$(printf '%.0f' "$(echo "$bytes / ($w + 0.0001) / 1000000" | bc -l)")
  printf '| %s | %s | %s | %.2f | %s | %.2f | %.1f | %s |\n' "$corpus" "$scenario" "$tool" "$w" \
    "$rate" "$(col "$id" 2)" \
    "$(echo "$(col "$id" 3) / 1024" | bc -l)" "$ratio" | tee -a "$T/table.md"
  jq -nc --arg corpus "$corpus" --arg scenario "$scenario" --arg tool "$tool" --arg id "$id" \
    --argjson wall "$w" --argjson cpu "$(col "$id" 2)" --argjson rss "$(col "$id" 3)" \
    --argjson bytes "$bytes" --arg ratio "$ratio" \
    '{corpus: $corpus, scenario: $scenario, tool: $tool, id: $id, median_wall_s: $wall,
      median_cpu_s: $cpu, median_rss_kib: $rss, bytes: $bytes,
      bale_over_peer: (if $ratio == "" then null else ($ratio | tonumber) end)}' >>"$T/rows.jsonl"
}
note() { printf '%s\n' "$*" | tee -a "$T/notes.md"; }

# seed SHAPE [IMAGES]: push a corpus; sets refs and bytes.
seed() {
  "$PY" "$top/bench/corpus.py" "$1" "$H" --cache "$CACHE_ROOT" ${2:+--images "$2"} >"$T/corpus.json"
  mapfile -t refs < <(jq -r '.refs[]' "$T/corpus.json")
  bytes=$(jq -r .bytes "$T/corpus.json")
}

# What users script today: skopeo copy of each image into one OCI layout, tar, zstd.
cat >"$T/peer-export.sh" <<'EOF'
layout=$1 out=$2 && shift 2
for r; do skopeo --policy "$POLICY" copy -q --all --src-tls-verify=false "docker://$r" "oci:$layout:$r"; done
tar -C "$layout" -cf - . | zstd -q -T0 -3 -o "$out"
EOF
cat >"$T/peer-pull.sh" <<'EOF'
for r; do ctr -a "$CTD_SOCK" -n k8s.io images pull --plain-http "$r"; done
EOF
export POLICY=$T/policy.json

bale_export() { # OUT REF…
  local out=$1
  shift
  rm -rf "$T/cache" "$out"
  measure "$id" env XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" \
    --key "$T/k.key" -o "$out" "$@"
}
peer_export() { # OUT REF…
  rm -rf "$T/layout" "$1"
  measure "$id" bash "$T/peer-export.sh" "$T/layout" "$@"
}

# The limit SHA-256 and zstd set: single-core rates over real layer bytes, combined for
# every core (each byte is hashed once and compressed once).
limits() {
  local layer sha zst fast
  layer=$(find "$CACHE_ROOT/bench" -name 'base-amd64' | head -n 1)
  sha=$(openssl speed -bytes 1048576 -seconds 2 -evp sha256 2>/dev/null | awk '/^sha256/ {print $2 / 1000}')
  zstd_mbs() { zstd "$@" -i2 -T1 "$layer" 2>&1 | tr '\r' '\n' | grep -oE '[0-9.]+ MB/s' | tail -n 2 | head -n 1 | cut -d' ' -f1; }
  zst=$(zstd_mbs -b3)
  fast=$(zstd_mbs -b1 --fast=1)
  SHA_MBS=$sha
  LIMIT_MBS=$(echo "$(nproc) / (1 / $sha + 1 / $zst)" | bc -l)
  note "$(printf 'Limits on this machine: SHA-256 %.0f MB/s (openssl speed), zstd -3 %.0f MB/s and zstd --fast=1 %.0f MB/s (zstd -b on a gzip layer), each on one core; hashing once + zstd -3 on %d cores: %.0f MB/s.' "$sha" "$zst" "$fast" "$(nproc)" "$LIMIT_MBS")"
}

# The floor of an export on this machine: every unique blob from the registry through
# one curl (two transfers at a time) into one SHA-256 (openssl), nothing written. The registry's CPU
# and one hash of each byte are what no exporter can skip.
floor_fetch() { # BUNDLE: the blobs it lists, fetched from where it got them
  "$BALE" query --csv "$1" "SELECT b.digest, MIN(i.repository) FROM blobs b
    JOIN image_blobs ib ON ib.digest = b.digest JOIN images i ON i.id = ib.image_id
    GROUP BY b.digest" | tail -n +2 | tr -d '\r' |
    awk -F, -v h="$H" '{print "http://" h "/v2/" $2 "/blobs/" $1}' >"$T/floor.urls"
  measure "$id" sh -c 'xargs curl -sf --no-progress-meter -Z --parallel-max 2 <"$1" |
    openssl dgst -sha256' floor "$T/floor.urls"
}

big_corpus() { # SHAPE: scenarios 1-4
  local c=$1 i
  seed "$c"
  { # skopeo sync's list of images: every repository's tag 1
    printf '%s:\n  tls-verify: false\n  images:\n' "$H"
    printf '    %s: ["1"]\n' "${refs[@]#"$H"/}"
  } | sed 's/:1: \[/: [/' >"$T/sync.yaml"
  note "$(printf '%s: %d images, %d bytes of unique blobs.' "$c" "${#refs[@]}" "$bytes")"
  want() { [[ ,$scenarios, == *,$1,* ]]; }
  # 1. export
  for ((i = 0; i < runs; i++)); do
    id=export_bale_$c bale_export "$T/b.tar.zst" "${refs[@]}"
    id=export_peer_$c peer_export "$T/p.tar.zst" "${refs[@]}"
    rm -rf "$T/sync"
    measure "export_sync_$c" skopeo --policy "$POLICY" sync --all --src yaml --dest dir \
      "$T/sync.yaml" "$T/sync"
    rm -f "$T/b.tar.zst"
    measure "export_warm_$c" env XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" \
      --key "$T/k.key" -o "$T/b.tar.zst" "${refs[@]}"
    id=export_floor_$c floor_fetch "$T/b.tar.zst"
  done
  row "$c" export "bale export (cold cache)" "export_bale_$c" "$bytes" "export_peer_$c"
  row "$c" export "bale export (warm cache)" "export_warm_$c" "$bytes" "export_peer_$c"
  row "$c" export "skopeo copy --all + tar + zstd -T0" "export_peer_$c" "$bytes"
  row "$c" export "skopeo sync --all (no archive)" "export_sync_$c" "$bytes"
  row "$c" export "floor: curl of every blob (2 at a time) into one SHA-256" "export_floor_$c" "$bytes"
  note "$(printf '%s export: the peer pipeline takes %.1fx bale'"'"'s time (target 5x); the floor (registry, curl, one SHA-256) allows at most %.1fx; bale takes %.2fx the floor'"'"'s time.' "$c" \
    "$(echo "$(col "export_peer_$c" 1) / $(col "export_bale_$c" 1)" | bc -l)" \
    "$(echo "$(col "export_peer_$c" 1) / $(col "export_floor_$c" 1)" | bc -l)" \
    "$(echo "$(col "export_bale_$c" 1) / $(col "export_floor_$c" 1)" | bc -l)")"

  want verify || want import || want pull || want serve || return 0
  rm -rf "$T/x" && mkdir "$T/x" && tar --zstd -xf "$T/b.tar.zst" -C "$T/x"
  # 2. verify
  if want verify; then
    for ((i = 0; i < runs; i++)); do
      measure "verify_bale_$c" "$BALE" verify -q --key "$T/k.pub" "$T/b.tar.zst"
      measure "verify_dgst_$c" openssl dgst -sha256 "$T/b.tar.zst"
      measure "verify_sha256sum_$c" find "$T/x/blobs" -type f -exec sha256sum {} +
    done
    row "$c" verify "bale verify" "verify_bale_$c" "$bytes" "verify_dgst_$c"
    row "$c" verify "openssl dgst -sha256 of the bundle file" "verify_dgst_$c" "$bytes"
    row "$c" verify "sha256sum of the extracted blobs" "verify_sha256sum_$c" "$bytes"
    note "$(printf '%s verify: bale %.0f MB/s, %.2fx the time of one SHA-256 of the file (target 0.8x); openssl speed sha256 %.0f MB/s on one core.' "$c" \
      "$(echo "$bytes / $(col "verify_bale_$c" 1) / 1000000" | bc -l)" \
      "$(echo "$(col "verify_bale_$c" 1) / $(col "verify_dgst_$c" 1)" | bc -l)" "$SHA_MBS")"
  fi
  want import || want pull || want serve || return 0

  # 3. import into containerd (host platform), each first import into a fresh one
  tar -C "$T/x" -cf "$T/layout.tar" oci-layout index.json blobs
  local amd64_bytes
  for ((i = 0; i < runs; i++)); do
    start_containerd
    measure "import_ctr_$c" ctr -a "$CTD_SOCK" -n k8s.io images import --platform linux/amd64 "$T/layout.tar"
    measure "reimport_ctr_$c" ctr -a "$CTD_SOCK" -n k8s.io images import --platform linux/amd64 "$T/layout.tar"
    stop_containerd
    start_containerd
    measure "import_bale_$c" "$BALE" import -q --ledger "$T/l.db" --store "containerd:$CTD_SOCK" \
      --key "$T/k.pub" "$T/b.tar.zst"
    measure "reimport_bale_$c" "$BALE" import -q --ledger "$T/l.db" --store "containerd:$CTD_SOCK" \
      --key "$T/k.pub" "$T/b.tar.zst"
    stop_containerd
  done
  amd64_bytes=$("$BALE" query --csv "$T/b.tar.zst" \
    "SELECT bytes FROM platform_sizes WHERE platform = 'linux/amd64'" | tail -n 1 | tr -d '\r')
  row "$c" "import (containerd)" "bale import" "import_bale_$c" "$amd64_bytes" "import_ctr_$c"
  row "$c" "import (containerd)" "ctr images import" "import_ctr_$c" "$amd64_bytes"
  row "$c" "re-import" "bale import" "reimport_bale_$c" "$amd64_bytes" "reimport_ctr_$c"
  row "$c" "re-import" "ctr images import" "reimport_ctr_$c" "$amd64_bytes"
  note "$(printf '%s import: bale takes %.2fx ctr'"'"'s time; its re-import is %.1fx faster than its first import.' "$c" \
    "$(echo "$(col "import_bale_$c" 1) / $(col "import_ctr_$c" 1)" | bc -l)" \
    "$(echo "$(col "import_bale_$c" 1) / $(col "reimport_bale_$c" 1)" | bc -l)")"

  # 3b. every platform: --platform all vs ctr's --all-platforms, each into a fresh containerd
  for ((i = 0; i < runs; i++)); do
    start_containerd
    measure "importall_ctr_$c" ctr -a "$CTD_SOCK" -n k8s.io images import --all-platforms "$T/layout.tar"
    stop_containerd
    start_containerd
    measure "importall_bale_$c" "$BALE" import -q --ledger "$T/l.db" --store "containerd:$CTD_SOCK" \
      --platform all --key "$T/k.pub" "$T/b.tar.zst"
    stop_containerd
  done
  row "$c" "import --platform all (containerd)" "bale import --platform all" "importall_bale_$c" "$bytes" "importall_ctr_$c"
  row "$c" "import --platform all (containerd)" "ctr images import --all-platforms" "importall_ctr_$c" "$bytes"

  # 4. online pull into containerd
  want pull || want serve || return 0
  for ((i = 0; i < runs; i++)); do
    start_containerd
    measure "pull_ctr_$c" bash "$T/peer-pull.sh" "${refs[@]}"
    stop_containerd
    start_containerd
    measure "pull_bale_$c" "$BALE" pull -q --insecure-registry "$H" --store "containerd:$CTD_SOCK" "${refs[@]}"
    stop_containerd
  done
  row "$c" "pull into containerd" "bale pull" "pull_bale_$c" "$amd64_bytes" "pull_ctr_$c"
  row "$c" "pull into containerd" "ctr images pull" "pull_ctr_$c" "$amd64_bytes"

  # 5. serving: skopeo copies every image (all platforms) from bale serve of the bundle, and
  # from the registry it came from; ctr pulls them from each, one after another as a
  # kubelet does (4 at once measured containerd's retries: pulls that share a layer wait on
  # its lock with a backoff, 3.3 to 5.8 s for the same server)
  want serve || return 0
  local S rss
  /usr/bin/time -f '%M' -o "$T/serve.rss" "$BALE" serve -q --listen 127.0.0.1:0 --key "$T/k.pub" \
    "$T/b.tar.zst" >"$T/serve.out" 2>&1 &
  local serve_pid=$!
  for i in $(seq 100); do grep -q '^serving' "$T/serve.out" && break; sleep 0.1; done
  S=$(sed -n 's|^serving .* on http://||p' "$T/serve.out")
  [[ -n $S ]] || fail "bale serve did not start: $(cat "$T/serve.out")"
  cat >"$T/peer-copy.sh" <<'SH'
host=$1 && shift
for r; do skopeo --policy "$POLICY" copy -q --all --src-tls-verify=false "docker://$host/${r#*/}" "dir:$SERVE_DIR/${r//[\/:]/_}"; done
SH
  for ((i = 0; i < runs; i++)); do
    rm -rf "$T/sd" && mkdir "$T/sd"
    measure "serve_skopeo_reg_$c" env SERVE_DIR="$T/sd" bash "$T/peer-copy.sh" "$H" "${refs[@]}"
    rm -rf "$T/sd" && mkdir "$T/sd"
    measure "serve_skopeo_bale_$c" env SERVE_DIR="$T/sd" bash "$T/peer-copy.sh" "$S" "${refs[@]}"
    for host in "$H" "$S"; do
      start_containerd
      local who=reg && [[ $host == "$S" ]] && who=bale
      measure "serve_ctr_${who}_$c" bash -c 'for r in "${@:2}"; do echo "$1/${r#*/}"; done |
        xargs -P 1 -n 1 ctr -a "$CTD_SOCK" -n k8s.io images pull --plain-http >/dev/null' _ "$host" "${refs[@]}"
      stop_containerd
    done
  done
  pkill -TERM -P "$serve_pid" || true # bale serve, not the time(1) measuring it
  wait "$serve_pid" || true
  rss=$(tail -n 1 "$T/serve.rss")
  row "$c" "skopeo copy --all of every image" "from bale serve" "serve_skopeo_bale_$c" "$bytes" "serve_skopeo_reg_$c"
  row "$c" "skopeo copy --all of every image" "from docker-registry" "serve_skopeo_reg_$c" "$bytes"
  row "$c" "ctr images pull, one after another" "from bale serve" "serve_ctr_bale_$c" "$amd64_bytes" "serve_ctr_reg_$c"
  row "$c" "ctr images pull, one after another" "from docker-registry" "serve_ctr_reg_$c" "$amd64_bytes"
  note "$(printf '%s serve: bale serve peaked at %.1f MiB RSS over all its clients.' "$c" "$(echo "$rss / 1024" | bc -l)")"
}

many_corpus() { # per-image cost: export of 1, 8, 64 and 200 images; ls and query
  local n i
  seed many
  local all=("${refs[@]}")
  for n in 1 8 64 200; do
    for ((i = 0; i < runs; i++)); do
      id=export_bale_many$n bale_export "$T/m.tar.zst" "${all[@]:0:n}"
      id=export_peer_many$n peer_export "$T/p.tar.zst" "${all[@]:0:n}"
    done
    row many "export $n images" "bale export" "export_bale_many$n" 0 "export_peer_many$n"
    row many "export $n images" "skopeo copy --all + tar + zstd" "export_peer_many$n" 0
  done
  for ((i = 0; i < runs; i++)); do
    measure ls_many "$BALE" ls "$T/m.tar.zst"
    measure query_many "$BALE" query "$T/m.tar.zst" "SELECT COUNT(*), SUM(size) FROM blobs"
  done
  row many "ls (200 images)" "bale ls" ls_many 0
  row many "query (200 images)" "bale query" query_many 0
}

cycle_corpus() { # the site's month on the bench corpus (docs/site-cycle.md)
  local i k half n
  seed bench
  half=$((${#refs[@]} / 2))
  for ((i = 0; i < runs; i++)); do
    rm -rf "$T/cache" "$T/cy" && mkdir -p "$T/cy/vol"
    env XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" \
      -o "$T/cy/half.tar.zst" "${refs[@]:0:half}" >/dev/null
    "$BALE" import -q --platform all --key "$T/k.pub" --ledger "$T/cy/l.db" --store "oci:$T/cy/site" \
      "$T/cy/half.tar.zst" >/dev/null
    measure cycle_have "$BALE" have -q --store "oci:$T/cy/site" -o "$T/cy/site.have"
    measure cycle_full env XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" \
      --key "$T/k.key" -o "$T/cy/full.tar.zst" "${refs[@]}"
    measure cycle_delta env XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" \
      --key "$T/k.key" --have "$T/cy/site.have" -o "$T/cy/delta.tar.zst" "${refs[@]}"
    measure cycle_delta_import "$BALE" import -q --platform all --key "$T/k.pub" \
      --ledger "$T/cy/l.db" --store "oci:$T/cy/site" "$T/cy/delta.tar.zst"
    "$BALE" check -q --store "oci:$T/cy/site" || fail "cycle: the delta left the store damaged"
    measure cycle_volumes env XDG_CACHE_HOME="$T/cache" "$BALE" export -q --insecure-registry "$H" \
      --key "$T/k.key" --volume-size 60M -o "$T/cy/vol/site.tar.zst" "${refs[@]}"
    mapfile -t vols < <(ls "$T"/cy/vol/site.*.tar.zst)
    for ((k = ${#vols[@]} - 1; k >= 0; k--)); do
      measure cycle_volume_verify "$BALE" verify -q --key "$T/k.pub" "${vols[k]}"
      measure cycle_volume_import "$BALE" import -q --platform all --key "$T/k.pub" \
        --ledger "$T/cy/l2.db" --store "oci:$T/cy/empty" "${vols[k]}"
    done
  done
  local new_bytes delta_bytes full_bytes biggest
  new_bytes=$("$BALE" query --csv "$T/cy/delta.tar.zst" \
    "SELECT sum(size) FROM blobs WHERE member IS NOT NULL" | tail -n 1 | tr -d '\r')
  delta_bytes=$(stat -c %s "$T/cy/delta.tar.zst")
  full_bytes=$(stat -c %s "$T/cy/full.tar.zst")
  biggest=$(stat -c %s "${vols[@]}" | sort -n | tail -n 1)
  [[ $(jq '.manifests | length' "$T/cy/empty/index.json") == "${#refs[@]}" ]] ||
    fail "cycle: the volumes did not land every image"
  row cycle "have-list of the half store" "bale have" cycle_have 0
  row cycle "export, full" "bale export" cycle_full "$full_bytes"
  row cycle "export, delta" "bale export --have" cycle_delta "$delta_bytes" cycle_full
  row cycle "import the delta" "bale import" cycle_delta_import "$delta_bytes"
  row cycle "export, 60M volumes" "bale export --volume-size 60M" cycle_volumes "$full_bytes" cycle_full
  row cycle "verify one volume" "bale verify" cycle_volume_verify 0
  row cycle "import one volume (last first)" "bale import" cycle_volume_import 0
  note "$(printf 'cycle: the delta is %d bytes for %d bytes of new blobs (%.3fx; the full bundle: %d bytes); %d volumes of 60M, the largest %d bytes (limit %d).' \
    "$delta_bytes" "$new_bytes" "$(echo "$delta_bytes / $new_bytes" | bc -l)" "$full_bytes" \
    "${#vols[@]}" "$biggest" $((60 << 20)))"
}

synthetic_corpus() { # memory and time at 200, 2,000 and 10,000 images; ls and query
  local i n cmd
  seed synthetic
  for n in 200 2000 10000; do
    printf '%s\n' "${refs[@]:0:n}" >"$T/synthetic.list"
    local reps=$runs
    ((n < 10000)) || reps=1 # minutes each
    for ((i = 0; i < reps; i++)); do
      rm -rf "$T/cache" "$T/s$n.tar.zst" "$T/so"
      measure "syn_export_$n" env XDG_CACHE_HOME="$T/cache" "$BALE" export -q \
        --insecure-registry "$H" --key "$T/k.key" -o "$T/s$n.tar.zst" -f "$T/synthetic.list"
      measure "syn_verify_$n" "$BALE" verify -q --key "$T/k.pub" "$T/s$n.tar.zst"
      measure "syn_import_$n" "$BALE" import -q --ledger "$T/sl.db" --store "oci:$T/so" \
        --key "$T/k.pub" "$T/s$n.tar.zst"
    done
    for ((i = 0; i < runs; i++)); do
      measure "syn_ls_$n" "$BALE" ls "$T/s$n.tar.zst"
      measure "syn_query_$n" "$BALE" query "$T/s$n.tar.zst" "SELECT COUNT(*) FROM images"
      # a plan of the whole store (nothing kept): every image read, every blob counted
      measure "syn_prune_$n" "$BALE" prune -q --store "oci:$T/so" --ledger "$T/sl.db" \
        --keep-newest 0 --force -o "$T/prune.json"
    done
    for cmd in export verify import ls query prune; do
      row synthetic "$cmd $n images" "bale $cmd" "syn_${cmd}_$n" 0
    done
  done
  for cmd in export verify import ls query prune; do
    note "$(printf 'synthetic %s: peak RSS at 2,000 images is %.2fx that at 200 (target 1.2x); time %.1fx for 10x the images.' "$cmd" \
      "$(echo "$(col "syn_${cmd}_2000" 3) / $(col "syn_${cmd}_200" 3)" | bc -l)" \
      "$(echo "$(col "syn_${cmd}_2000" 1) / ($(col "syn_${cmd}_200" 1) + 0.001)" | bc -l)")"
  done
  note "$(printf 'synthetic: index.db of %d bytes for 10,000 images.' \
    "$(tar --zstd -xOf "$T/s10000.tar.zst" bale/index.db | wc -c)")"
}

printf '| corpus | scenario | tool | wall s | MB/s | CPU s | peak RSS MiB | bale/peer |\n|---|---|---|---|---|---|---|---|\n' | tee "$T/table.md"
seed bench # the limits are measured on its layers
limits
IFS=, read -ra chosen <<<"$corpora"
for c in "${chosen[@]}"; do
  case $c in
  bench | large | real) big_corpus "$c" ;;
  many) many_corpus ;;
  synthetic) synthetic_corpus ;;
  cycle) cycle_corpus ;;
  *) fail "unknown corpus $c" ;;
  esac
done

jq -n --slurpfile rows "$T/rows.jsonl" --slurpfile runs "$T/runs.jsonl" \
  --arg when "$(date -u +%FT%TZ)" --arg cpu "$(lscpu | sed -n 's/^Model name: *//p')" \
  --argjson cores "$(nproc)" --arg kernel "$(uname -r)" --arg bale "$("$BALE" --version 2>&1 | head -n 1)" \
  --arg skopeo "$(skopeo --version)" --arg ctr "$(ctr --version)" --arg zstd "$(zstd --version)" \
  --arg openssl "$(openssl version)" --arg notes "$(cat "$T/notes.md")" \
  '{when: $when, machine: {cpu: $cpu, cores: $cores, kernel: $kernel},
    versions: {bale: $bale, skopeo: $skopeo, ctr: $ctr, zstd: $zstd, openssl: $openssl},
    runs_per_scenario: $runs_n, notes: ($notes | split("\n")), rows: $rows, runs: $runs}' \
  --argjson runs_n "$runs" >"$results"
printf '\nMedians of %d runs; MB/s over the unique blob bytes moved. Results: %s\n' "$runs" "$results"
