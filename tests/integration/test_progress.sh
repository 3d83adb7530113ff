#!/usr/bin/env bash
# Progress, on standard error: on a terminal (a pty from script(1)) a block redrawn with
# a line per transfer and the blobs, bytes, rate and ETA while a slow registry (fault_proxy.py --slow) sends a layer;
# nothing in a pipe; --progress plain and json give lines a log or CI reads; import reports
# the blobs it takes too. Results (stdout) are the same in every mode.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/pull.sh"

start_registry reg plain
build_images --layer-kib 2048
seed_registry reg
start_fault_proxy slow "$reg_PORT" --slow 0.15 --min-size 300000
S=$slow_HOST
export XDG_CACHE_HOME="$T/cache"
export_slow() { # OUT OPTIONS…: export demo/single from the slow proxy, cold cache
  local out=$1
  shift
  rm -rf "$T/cache"
  "$BALE" export "$@" --insecure-registry "$S" --unsigned --force -o "$out" "$S/demo/single:1"
}

# A terminal: the redrawn line, several times, with a rate and an ETA.
script -qfec "$(printf '%q ' env XDG_CACHE_HOME="$T/cache" "$BALE" export --insecure-registry "$S" \
  --unsigned --force -o "$T/tty.tar.zst" "$S/demo/single:1")" "$T/tty.out" >/dev/null
redraws=$(grep -o $'\r\033\\[K' "$T/tty.out" | wc -l)
((redraws >= 3)) || fail "a terminal saw $redraws progress redraws: $(tr '\r' '\n' <"$T/tty.out" | tail -n 5)"
# the block: a line for the layer under way (its repository, digest, bytes, percent), taken
# off again (cursor up, erase) before the next drawing
grep -qE '^  demo/single +sha256:[0-9a-f]{12}  [0-9.]+ [kMG]?B / [0-9.]+ [kMG]?B  [0-9]+%' <(tr '\r' '\n' <"$T/tty.out" | sed 's/\x1b\[[0-9]*[A-Z]//g') ||
  fail "no line for the transfer under way: $(tr '\r' '\n' <"$T/tty.out" | tail -n 5)"
grep -q $'\033\\[A\033\\[K' "$T/tty.out" || fail "the block's lines are not taken off before a redraw"
grep -qE 'blobs [0-9]+/[0-9]+ +[0-9.]+ [kMG]?B / [0-9.]+ [kMG]?B +[0-9.]+ [kMG]?B/s +ETA [0-9]+:[0-9]{2}' "$T/tty.out" ||
  fail "no line with a rate and an ETA: $(tr '\r' '\n' <"$T/tty.out" | tail -n 5)"
# A pipe: results only.
export_slow "$T/pipe.tar.zst" >"$T/pipe.out" 2>"$T/pipe.err"
assert_not_contains "$T/pipe.err" "blobs "
assert_contains "$T/pipe.out" "$S/demo/single:1 sha256:"
# plain: lines a log keeps; json: one object a line.
export_slow "$T/plain.tar.zst" --progress plain >/dev/null 2>"$T/plain.err"
grep -qE '^progress: ([0-9]+) of \1 blobs, (.*) of \2, .*/s, 0:00 left$' "$T/plain.err" ||
  fail "no final plain progress line: $(cat "$T/plain.err")"
export_slow "$T/json.tar.zst" --progress json >/dev/null 2>"$T/json.err"
grep '^{' "$T/json.err" | jq -e -s 'length >= 2 and (.[-1] | .event == "progress" and .blobsDone == .blobsTotal and .bytesDone == .bytesTotal and (.bytesPerSecond | type) == "number")' >/dev/null ||
  fail "JSON progress: $(cat "$T/json.err")"
# the transfers under way, each with its repository and blob
grep '^{' "$T/json.err" | jq -e -s 'map(select(.transfers)) | length >= 1 and (.[0].transfers[0] | .name == "demo/single" and (.digest | startswith("sha256:")) and .bytesTotal > 300000)' >/dev/null ||
  fail "no transfers in the JSON progress: $(cat "$T/json.err")"
# a wait without bytes says what it waits for: resolving the references
grep '^{' "$T/json.err" | jq -e -s 'map(select(.event == "phase")) | length >= 1 and (.[-1] | .phase == "resolving references" and .done == .total and .total == 1)' >/dev/null ||
  fail "no resolving phase in the JSON progress: $(cat "$T/json.err")"
expect_exit 2 "$BALE" export --progress fancy --unsigned -o "$T/x.tar.zst" "$S/demo/single:1"
assert_contains "$LAST_STDERR" "--progress: want auto, tty, plain or json"
# verify reports the members it has checked, of all of them
expect_exit 0 "$BALE" verify --progress json --insecure-skip-verify "$T/json.tar.zst"
grep '^{' "$LAST_STDERR" | jq -e -s '.[-1] | .blobsDone == .blobsTotal and .bytesDone == .bytesTotal and .blobsTotal >= 5' >/dev/null ||
  fail "verify progress: $(cat "$LAST_STDERR")"
# serve says how far it is in opening its bundles
"$BALE" serve --listen 127.0.0.1:0 --insecure-skip-verify --progress json "$T/json.tar.zst" "$T/plain.tar.zst" \
  >"$T/serve.out" 2>"$T/serve.err" &
serve_pid=$!
track_pid "$serve_pid" "$T/serve.err"
for _ in $(seq 100); do grep -q '^serving' "$T/serve.out" && break; sleep 0.1; done
grep '^{' "$T/serve.err" | jq -e -s 'map(select(.event == "phase")) | .[-1] | .phase == "opening bundles" and .done == 2 and .total == 2' >/dev/null ||
  fail "serve progress: $(cat "$T/serve.err")"
kill "$serve_pid" && wait "$serve_pid" || true
# import reports what it takes from the bundle
expect_exit 0 "$BALE" import --progress json --insecure-skip-verify --store "oci:$T/store" \
  --ledger "$T/ledger.db" "$T/json.tar.zst"
grep '^{' "$LAST_STDERR" | jq -e -s '.[-1] | .blobsDone == .blobsTotal and .blobsTotal >= 3 and .imagesDone == .imagesTotal and .imagesTotal == 1' >/dev/null ||
  fail "import progress: $(cat "$LAST_STDERR")"
echo "test_progress: ok"
