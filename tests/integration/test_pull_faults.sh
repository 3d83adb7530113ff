#!/usr/bin/env bash
# bale pull when things go wrong: registries that lie, drop connections, are busy or
# gone; blob storage behind a redirect to another host. Nothing unverified is stored,
# errors name the culprit with the documented exit status, transient faults are
# survived with retries and Range resumes.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"
source "$LIB_DIR/pull.sh"
track_secrets # credentials go through the redirecting front below

start_registry reg plain
build_images --layer-kib 1024 # a base layer big enough to cut in the middle
seed_registry reg
H=$reg_HOST
fast=(--retry-delay 50 -q)

blob_count() { find "$1/blobs/sha256" -type f 2>/dev/null | wc -l; }
names() { jq '.manifests | length' "$1/index.json"; }

# The reference store, for comparing what a faulty transfer finally stored.
pull_and_compare reg demo/single:1
good=$(store_digests "$PULLED_STORE")
big=$(jq -r '.layers | max_by(.size) | .digest' "$PULLED_STORE/blobs/sha256/${DIGEST_demo_single#sha256:}")

# 1. A connection dropped in the middle of a blob: resumed with a Range request.
start_fault_proxy cut "$reg_PORT" --drop-times 1 --honour-range --min-size 100000
store="$T/cut"
expect_exit 0 "$BALE" pull "${fast[@]}" --insecure-registry "$cut_HOST" --store "oci:$store" "$cut_HOST/demo/single:1"
assert_eq "$good" "$(store_digests "$store")" "store after a resumed transfer"
assert_eq 1 "$(count_lines "$cut_LOG" "GET /v2/demo/single/blobs/$big range=yes")" "one Range request for the cut blob"

# A server that ignores Range: the transfer starts over and still verifies.
start_fault_proxy cut2 "$reg_PORT" --drop-times 1 --min-size 100000
store="$T/cut2"
expect_exit 0 "$BALE" pull "${fast[@]}" --insecure-registry "$cut2_HOST" --store "oci:$store" "$cut2_HOST/demo/single:1"
assert_eq "$good" "$(store_digests "$store")" "store after a restarted transfer"

# 2. 503 twice, then fine: retried with backoff, and done.
start_fault_proxy busy "$reg_PORT" --fail-times 2 --fail-status 503
store="$T/busy"
expect_exit 0 "$BALE" pull "${fast[@]}" --insecure-registry "$busy_HOST" --store "oci:$store" "$busy_HOST/demo/single:1"
assert_eq "$good" "$(store_digests "$store")" "store after 503s"

# 429 with Retry-After: 1 -> bale waits at least that long, then succeeds.
start_fault_proxy slow "$reg_PORT" --throttle-times 1 --retry-after 1
store="$T/slow"
start=$(date +%s%N)
expect_exit 0 "$BALE" pull "${fast[@]}" --insecure-registry "$slow_HOST" --store "oci:$store" "$slow_HOST/demo/single:1"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
((elapsed_ms >= 1000)) || fail "Retry-After: 1 not honoured (took ${elapsed_ms} ms)"
assert_eq "$good" "$(store_digests "$store")" "store after 429"

# A registry that stays broken: exit 7 after the configured retries, nothing named.
start_fault_proxy down "$reg_PORT" --fail-times 1000 --fail-status 500 --fail-manifests
store="$T/down"
expect_exit 7 "$BALE" pull "${fast[@]}" --retries 2 --insecure-registry "$down_HOST" --store "oci:$store" "$down_HOST/demo/single:1"
assert_contains "$LAST_STDERR" "gave up after 3 attempts"
assert_eq 3 "$(count_lines "$down_LOG" "^GET /v2/")" "attempts on a broken registry"

# 3. Unreachable registry (nothing listens): exit 7 at once, one clear line with the likely
# cause; a refused connection is not retried (asking again gives the same answer).
dead=$(free_port)
expect_exit 7 "$BALE" pull -q --retries 2 --retry-delay 100 --insecure-registry "127.0.0.1:$dead" --store "oci:$T/dead" "127.0.0.1:$dead/demo/single:1"
assert_eq 1 "$(wc -l <"$LAST_STDERR")" "one error line"
assert_contains "$LAST_STDERR" "127.0.0.1:$dead"
assert_contains "$LAST_STDERR" "is the registry running, and on this port?"
expect_exit 7 "$BALE" pull -v --retries 2 --retry-delay 100 --insecure-registry "127.0.0.1:$dead" --store "oci:$T/dead" "127.0.0.1:$dead/demo/single:1"
assert_not_contains "$LAST_STDERR" "retrying in"

# 4. A registry that lies: flipped byte in its storage -> exit 3, blob never stored.
store="$T/corrupt"
cp -r "$reg_DATA" "$T/data-backup"
path=$(registry_blob_path reg "$big")
printf '\x00' | dd of="$path" bs=1 seek=1000 count=1 conv=notrunc status=none
expect_exit 3 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "$big"
assert_contains "$LAST_STDERR" "digest mismatch"
[[ ! -e $store/blobs/sha256/${big#sha256:} ]] || fail "corrupted blob was stored"
assert_eq 0 "$(names "$store")" "no image named after a corrupted blob"
rm -rf "$reg_DATA" && cp -r "$T/data-backup" "$reg_DATA"

# The same lie told on the wire, and a blob longer than its descriptor says.
start_fault_proxy flip "$reg_PORT" --corrupt --min-size 100000
expect_exit 3 "$BALE" pull -q --insecure-registry "$flip_HOST" --store "oci:$store" "$flip_HOST/demo/single:1"
start_fault_proxy pad "$reg_PORT" --pad --min-size 100000
expect_exit 3 "$BALE" pull -q --insecure-registry "$pad_HOST" --store "oci:$store" "$pad_HOST/demo/single:1"
assert_contains "$LAST_STDERR" "more than"
# A manifest whose Docker-Content-Digest header disagrees with its bytes.
start_fault_proxy liar "$reg_PORT" --lie-digest
expect_exit 3 "$BALE" pull -q --insecure-registry "$liar_HOST" --store "oci:$store" "$liar_HOST/demo/single:1"
assert_contains "$LAST_STDERR" "hashes to"
[[ ! -e $store/blobs/sha256/${big#sha256:} ]] || fail "a lying registry got a blob stored"
assert_eq 0 "$(names "$store")" "nothing named after lies"

# 5. Blob storage behind a redirect to another host: the blobs arrive, and bale's
# credentials go to the registry but never to the other host.
start_registry sec tls-basic
seed_registry sec
start_fault_proxy storage "$sec_PORT" --upstream-tls --upstream-auth "$BALE_TEST_USER:$BALE_TEST_PASS"
start_fault_proxy front "$sec_PORT" --upstream-tls --redirect-port "$storage_PORT"
expect_exit 0 "$BALE" pull -q -v --creds "$BALE_TEST_USER:$BALE_TEST_PASS" --insecure-registry "$front_HOST" --store "oci:$T/redirected" "$front_HOST/demo/single:1"
assert_eq "$good" "$(store_digests "$T/redirected")" "store through a redirect"
(($(count_lines "$front_LOG" "^GET /v2/demo/single/blobs/.* auth=yes") >= 2)) || fail "registry did not get the credentials"
(($(count_lines "$storage_LOG" "^GET /v2/demo/single/blobs/") >= 2)) || fail "blobs were not fetched from the storage host"
assert_eq 0 "$(count_lines "$storage_LOG" "auth=yes")" "credentials leaked to the storage host"
assert_not_contains "$LAST_STDERR" "$BALE_TEST_PASS"

# 6. The good registry again fills the same store completely.
expect_exit 0 "$BALE" pull -q --insecure-registry "$H" --store "oci:$store" "$H/demo/single:1"
assert_eq "$good" "$(store_digests "$store")" "store after recovery"
# Nothing bale printed (with -v too) or wrote holds a test secret (lib.sh).
secret_scan
echo "test_pull_faults: ok"
