#!/usr/bin/env bash
# What a new user meets in the first five minutes, answered with the cause and the fix at
# once: a plain-HTTP registry asked over HTTPS, nothing listening, a name that does not
# resolve, a containerd socket that is missing or dead (none of them retried); a platform
# a single-platform image lacks; every failing reference of a run named, and every image
# `plan --pin` cannot pin; query and ledger output as data; `bale help VERB`, `bale
# version`, "did you mean".
source "$(dirname "$0")/lib.sh"

start_registry reg plain
build_images --layer-kib 64
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"

# no_retries: the last run's stderr (at -v) shows no retry.
no_retries() { assert_not_contains "$LAST_STDERR" "retrying in"; }

# A plain-HTTP registry asked over HTTPS: the cause and the flag, no retries.
expect_exit 7 "$BALE" inspect -v "$H/demo/single:1"
assert_contains "$LAST_STDERR" "$H: the registry speaks plain HTTP, not HTTPS; pass --insecure-registry $H"
no_retries
# Nothing listens there.
port=$(free_port)
expect_exit 7 "$BALE" inspect -v --insecure-registry "127.0.0.1:$port" "127.0.0.1:$port/demo/single:1"
assert_contains "$LAST_STDERR" "is the registry running, and on this port?"
no_retries
# A name that resolves nowhere (.invalid never does, RFC 6761).
expect_exit 7 "$BALE" inspect -v "registry.invalid/demo/single:1"
assert_contains "$LAST_STDERR" "does this machine's DNS know it?"
no_retries

# containerd's socket, checked before ctr would wait 10 s for it.
"$BALE" export -q --insecure-registry "$H" --unsigned -o "$T/b.tar.zst" "$H/demo/single:1" >/dev/null
expect_exit 8 "$BALE" import --insecure-skip-verify --store "containerd:$T/none.sock" "$T/b.tar.zst"
assert_contains "$LAST_STDERR" "containerd at $T/none.sock: no socket there (is containerd running?"
expect_exit 8 "$BALE" import --insecure-skip-verify --store "containerd:$T/b.tar.zst" "$T/b.tar.zst"
assert_contains "$LAST_STDERR" "not a socket"
"$PY" -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' "$T/dead.sock"
expect_exit 8 "$BALE" check --store "containerd:$T/dead.sock"
assert_contains "$LAST_STDERR" "containerd at $T/dead.sock: nothing listens there"

# A single-platform image for another platform than the one asked: refused, named.
expect_exit 6 "$BALE" export --insecure-registry "$H" --unsigned --platform linux/arm64 \
  -o "$T/arm.tar.zst" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "$H/demo/single:1: a single-platform image for linux/amd64 only, not for linux/arm64/v8"
[[ ! -e $T/arm.tar.zst ]] || fail "a refused export wrote its bundle"
expect_exit 6 "$BALE" pull --insecure-registry "$H" --platform linux/arm64 --store "oci:$T/s" "$H/demo/schema2:1"
assert_contains "$LAST_STDERR" "a single-platform image for linux/amd64 only"
# the multi-platform image has it: fine, as is the single one with its own platform
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --platform linux/arm64,linux/amd64 \
  -o "$T/both.tar.zst" "$H/demo/multi:1" "$H/demo/single:1"

# Every failing reference of a run, named; nothing written.
expect_exit 6 "$BALE" export --insecure-registry "$H" --unsigned -o "$T/some.tar.zst" \
  "$H/demo/single:1" "$H/demo/nope:1" "$H/demo/multi:1" "$H/demo/gone:2"
assert_contains "$LAST_STDERR" "2 of 4 references failed"
assert_contains "$LAST_STDERR" "$H/demo/nope:1: not found"
assert_contains "$LAST_STDERR" "$H/demo/gone:2: not found"
[[ ! -e $T/some.tar.zst ]] || fail "an export with failing references wrote its bundle"

# plan --pin: every image of every file the bundle lacks, with its file:line.
for f in a b; do
  cat >"$T/$f.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $f}
spec:
  containers:
  - name: one
    image: $H/demo/single:1
  - name: two
    image: registry.example/missing/$f:1
YAML
done
expect_exit 6 "$BALE" plan --pin "$T/b.tar.zst" -f "$T/a.yaml" -f "$T/b.yaml" -o "$T/pinned.yaml"
assert_contains "$LAST_STDERR" "$T/a.yaml:9: registry.example/missing/a:1: not in the bundle"
assert_contains "$LAST_STDERR" "$T/b.yaml:9: registry.example/missing/b:1: not in the bundle"
[[ ! -e $T/pinned.yaml ]] || fail "a refused pin wrote its output"

# query and ledger output as data: numbers as numbers, NULL as null, CSV lines end in LF.
expect_exit 0 "$BALE" query --json "$T/b.tar.zst" "SELECT ref, size, NULL AS none, 0.5 AS half FROM images"
assert_eq "number null number" "$(jq -r '.[0] | [(.size | type), (.none | type), (.half | type)] | join(" ")' "$LAST_STDOUT")" "JSON types"
expect_exit 0 "$BALE" query --csv --no-header "$T/b.tar.zst" "SELECT ref, size FROM images"
assert_eq 1 "$(wc -l <"$LAST_STDOUT")" "one record, no header"
assert_not_contains "$LAST_STDOUT" "$(printf '\r')"
"$BALE" import -q --insecure-skip-verify --store "oci:$T/store" --ledger "$T/ledger.db" "$T/b.tar.zst" >/dev/null
expect_exit 0 "$BALE" ledger --ledger "$T/ledger.db" --json "SELECT id, exit_status FROM imports"
assert_eq "number number" "$(jq -r '.[0] | [(.id | type), (.exit_status | type)] | join(" ")' "$LAST_STDOUT")" "ledger JSON types"

# A file named that does not exist: exit 6 in every verb, naming it.
for args in "verify --insecure-skip-verify $T/none.tar.zst" "ls $T/none.tar.zst" \
  "query $T/none.tar.zst SELECT" "import --insecure-skip-verify --store oci:$T/n $T/none.tar.zst" \
  "have -o - $T/none.tar.zst" "plan -f $T/none.yaml" "plan --pin $T/none.tar.zst -f $T/a.yaml" \
  "export --unsigned -o $T/n.tar.zst -f $T/none.txt" "export --key $T/none.key -o $T/n.tar.zst x" \
  "export --unsigned --have $T/none.jsonl -o $T/n.tar.zst x" "verify --key $T/none.pub $T/b.tar.zst"; do
  # shellcheck disable=SC2086 # words on purpose
  expect_exit 6 "$BALE" $args
  assert_contains "$LAST_STDERR" "$T/none."
done

# --json on the verbs that make things: numbers numbers, every field there.
expect_exit 0 "$BALE" keygen -q --json -o "$T/jk"
assert_eq "$(jq -r .keyId "$LAST_STDOUT")" "$("$BALE" keygen -o "$T/jk2" -q >/dev/null; openssl pkey -pubin -in "$T/jk.pub" -outform DER | sha256sum | cut -d' ' -f1)" "keygen --json keyId"
expect_exit 0 "$BALE" export -q --json --insecure-registry "$H" --key "$T/jk.key" -o "$T/j.tar.zst" "$H/demo/single:1"
assert_eq "$H/demo/single:1 $DIGEST_demo_single false" "$(jq -r '"\(.images[0].ref) \(.images[0].digest) \(.volumes)"' "$LAST_STDOUT")" "export --json"
expect_exit 0 "$BALE" import -q --json --key "$T/jk.pub" --store "oci:$T/jstore" --ledger "$T/jl.db" "$T/j.tar.zst"
assert_eq "0 number $DIGEST_demo_single" "$(jq -r '"\(.exitStatus) \(.blobsWritten | type) \(.images[0].digest)"' "$LAST_STDOUT")" "import --json"
expect_exit 4 "$BALE" import -q --json --key "$T/jk2.pub" --store "oci:$T/jstore" --ledger "$T/jl.db" "$T/j.tar.zst"
assert_eq "4 true" "$(jq -r '"\(.exitStatus) \(.error | test("not trusted"))"' "$LAST_STDOUT")" "a failed import --json"
expect_exit 0 "$BALE" pull -q --json --insecure-registry "$H" --store "oci:$T/jpull" "$H/demo/single:1"
assert_eq "linux/amd64" "$(jq -r '.images[0].platforms[0]' "$LAST_STDOUT")" "pull --json"

expect_exit 0 "$BALE" plan -q --lint --json -f "$T/a.yaml"
assert_eq "0 number $T/a.yaml" "$(jq -r '"\(.errors) \(.findings[0].line | type) \(.findings[0].file)"' "$LAST_STDOUT")" "plan --lint --json"

expect_exit 0 "$BALE" mirror-config --json --mirror "http://$H" --registry docker.io --format containerd -o "$T/mc"
assert_eq "$T/mc/certs.d/docker.io/hosts.toml" "$(jq -r '.files[0].path' "$LAST_STDOUT")" "mirror-config --json"
[[ -f $T/mc/certs.d/docker.io/hosts.toml ]] || fail "mirror-config --json -o wrote nothing"
"$BALE" serve --json --listen 127.0.0.1:0 --insecure-skip-verify "$T/b.tar.zst" >"$T/serve.json" 2>"$T/serve.err" &
serve_pid=$!
track_pid "$serve_pid" "$T/serve.err"
for _ in $(seq 100); do [[ -s $T/serve.json ]] && break; sleep 0.1; done
assert_eq "1 1" "$(jq -r '"\(.images) \(.bundles)"' "$T/serve.json")" "serve --json"
curl -sf "$(jq -r .url "$T/serve.json")/v2/" >/dev/null || fail "serve --json's url does not answer"
kill "$serve_pid" && wait "$serve_pid" || true

# Site defaults: config.toml, the environment over it, a flag over both; a typo refused.
cat >"$T/config.toml" <<TOML
# the site's defaults
store = "oci:$T/cfg-store"
cache = "$T/cfg-cache"   # export's
insecure_registries = ["$H", "other.example:5000"]
TOML
expect_exit 0 env BALE_CONFIG="$T/config.toml" "$BALE" pull -q "$H/demo/single:1"
[[ -f $T/cfg-store/index.json ]] || fail "config.toml's store was not used"
expect_exit 0 env BALE_CONFIG="$T/config.toml" "$BALE" export -q --unsigned -o "$T/cfg.tar.zst" "$H/demo/single:1"
[[ -d $T/cfg-cache/blobs ]] || fail "config.toml's cache was not used"
expect_exit 0 env BALE_CONFIG="$T/config.toml" BALE_STORE="oci:$T/env-store" "$BALE" pull -q "$H/demo/single:1"
[[ -f $T/env-store/index.json ]] || fail "BALE_STORE did not win over config.toml"
expect_exit 0 env BALE_CONFIG="$T/config.toml" "$BALE" pull -q --store "oci:$T/flag-store" "$H/demo/single:1"
[[ -f $T/flag-store/index.json ]] || fail "--store did not win"
# the cache config.toml named: counted, kept when young, pruned whole, filled again
expect_exit 0 env BALE_CONFIG="$T/config.toml" "$BALE" cache ls --json
cached=$(jq -r .blobs "$LAST_STDOUT")
((cached >= 3)) || fail "the cache holds $cached blobs after an export"
assert_eq "$T/cfg-cache" "$(jq -r .cache "$LAST_STDOUT")" "the cache config.toml names"
expect_exit 0 env BALE_CONFIG="$T/config.toml" "$BALE" cache prune --older-than 1 --json
assert_eq "0 $cached" "$(jq -r '"\(.prunedBlobs) \(.blobs)"' "$LAST_STDOUT")" "a prune of old blobs keeps today's"
expect_exit 0 env BALE_CONFIG="$T/config.toml" "$BALE" cache prune --json
assert_eq "$cached 0 0" "$(jq -r '"\(.prunedBlobs) \(.blobs) \(.images)"' "$LAST_STDOUT")" "a prune of every blob"
expect_exit 0 env BALE_CONFIG="$T/config.toml" "$BALE" export -q --unsigned --force -o "$T/cfg.tar.zst" "$H/demo/single:1"
expect_exit 0 "$BALE" verify --insecure-skip-verify "$T/cfg.tar.zst"
expect_exit 2 "$BALE" cache tidy
printf 'stroe = "oci:/x"\n' >"$T/typo.toml"
expect_exit 2 env BALE_CONFIG="$T/typo.toml" "$BALE" ls "$T/cfg.tar.zst"
assert_contains "$LAST_STDERR" "$T/typo.toml:1: not understood"

# help, version, did you mean.
expect_exit 2 "$BALE" exprot
assert_contains "$LAST_STDERR" 'unknown verb "exprot"; did you mean "export"?'
expect_exit 2 "$BALE" frobnicate
assert_contains "$LAST_STDERR" 'unknown verb "frobnicate" (bale help lists them)'
expect_exit 0 "$BALE" help export
assert_eq "Usage: bale export" "$(head -c 18 "$LAST_STDOUT")" "bale help export"
expect_exit 0 "$BALE" help
assert_contains "$LAST_STDOUT" "mirror-config"
expect_exit 0 "$BALE" version --json
assert_eq "bale $(jq -r .version "$LAST_STDOUT")" "$("$BALE" --version | head -n 1)" "version --json"
assert_eq "[1,4]" "$(jq -c .bundleFormats.read "$LAST_STDOUT")" "formats read"
expect_exit 2 "$BALE" version --yaml
echo "test_cli_grammar: ok"
