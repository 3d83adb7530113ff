#!/usr/bin/env bash
# Hostile input is refused in bounded time and memory, with one line naming the file or
# member at fault, and nothing written to a store: decompression bombs (after the tar
# end-of-archive, inside a frame, behind a tar header that lies), seek tables and digest
# frames that lie, bale/manifest.json with millions of entries or values or nested too
# deep (re-signed with the test key, so the signature passes and the bomb is what bale
# meets next), hostile manifests from a registry, a store's index.json, auth files and
# Kubernetes YAML. Time and memory are asserted loosely: under 256 MiB peak RSS and 30 s
# a run, where the same input cost bale before these limits up to 11 GB and minutes.
# shellcheck disable=SC2154 # NAME_HOST variables come from lib.sh
# shellcheck disable=SC2154 # NAME_HOST and friends come from lib.sh
source "$(dirname "$0")/lib.sh"

start_registry reg plain
build_images
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
B="$T/b.tar.zst"
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$B" "$H/demo/multi:1" "$H/demo/single:1" >/dev/null
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$B"
mkdir "$T/x" && tar --zstd -xf "$B" -C "$T/x"
layer=blobs/sha256/$(bundle_blobs "$T/x" | jq -r '[.[] | select(.kind == "layer")] | max_by(.size) | .digest[7:]')
HB="$T/h.tar.zst"
hostile() { "$PY" "$LIB_DIR/hostile.py" "$B" "$HB" "$@"; }

MAX_RSS_KB=$((256 * 1024))
MAX_SECONDS=30

# bounded CODE WHAT CMD…: CMD exits with CODE and one line of stderr containing WHAT,
# peaking under MAX_RSS_KB and finishing under MAX_SECONDS. ASan keeps freed memory in
# quarantine (256 MiB by default), which would count here as if bale still held it.
bounded() {
  local code=$1 what=$2 rss secs
  shift 2
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16 \
    expect_exit "$code" /usr/bin/time -f '%M %e' -o "$T/usage" "$@"
  assert_contains "$LAST_STDERR" "$what"
  assert_eq 1 "$(wc -l <"$LAST_STDERR")" "lines of stderr ($(head -c 600 "$LAST_STDERR"))"
  read -r rss secs < <(tail -n 1 "$T/usage")
  ((rss < MAX_RSS_KB)) || fail "$* peaked at $rss KiB (limit $MAX_RSS_KB)"
  [[ ${secs%.*} -lt $MAX_SECONDS ]] || fail "$* took $secs s (limit $MAX_SECONDS)"
}

# refused CODE WHAT: bale verify, bale import and bale ls all refuse $HB, each within the
# bounds; the import leaves the store without a blob or a name.
refused() {
  local code=$1 what=$2 store="$T/store"
  bounded "$code" "$what" "$BALE" verify --key "$T/k.pub" "$HB"
  rm -rf "$store"
  bounded "$code" "$what" "$BALE" import --ledger "$T/ledger.db" --store "oci:$store" \
    --key "$T/k.pub" --platform all "$HB"
  [[ -z $(find "$store" -type f -path '*/blobs/*' 2>/dev/null) ]] || fail "a refused import wrote blobs"
  [[ ! -f $store/index.json ]] || assert_eq 0 "$(jq '.manifests | length' "$store/index.json")" "names in the store"
}

# ------------------------------------------------------------ decompression bombs

# 8 GiB of zeros after the end-of-archive marker (300 KB of file): refused from the seek
# table alone. bale verify used to decompress and check all of it (68 s) and pass. An
# import takes only the blobs it needs and never reads the tail.
hostile tail-bomb 8
bounded 3 "8589934592 bytes after the end of the tar archive" "$BALE" verify --key "$T/k.pub" "$HB"

# A frame that decodes to 1 GiB more than the seek table says: stopped at the table's size.
hostile frame-bomb index.json 1024
bounded 3 "holds more than the 1536 decompressed bytes in the seek table" "$BALE" verify --key "$T/k.pub" "$HB"

# A tar header (with frames to match) that says 900 MiB where the signed manifest says
# 110 kB: refused before a byte is decompressed. bale/index.db used to be read whole
# into memory first (1.1 GB, 3.8 s), for verify, import and ls alike.
hostile header-bomb bale/index.db 900
refused 3 "bale/index.db: 943718400 bytes in the archive, expected"
bounded 3 "bale/index.db: 943718400 bytes in the archive" "$BALE" ls "$HB"
bounded 3 "bale/index.db: 943718400 bytes in the archive" "$BALE" query "$HB" "SELECT 1"
hostile header-bomb "$layer" 2048
refused 3 "$layer: 2147483648 bytes"

# bale/manifest.json over its 160 MiB cap: refused from its tar header, before a byte of
# it is decompressed. (A million entries as bale writes them are 212 MB: bale used to
# read and parse them, 2.2 GB and 33 s, before finding the member list wrong.)
hostile manifest-zeros 170
refused 3 "bale/manifest.json: 178257920 bytes is over the 167772160 byte limit"
# 100 MiB of zeros, within the cap: read, but never parsed before its signature, which
# cannot fit: exit 4.
hostile manifest-zeros 100
bounded 4 "the bundle is not signed" "$BALE" verify --key "$T/k.pub" "$HB"

# ------------------------------------------------------------ seek table, frame check

hostile table index.json bigger
refused 3 "decompresses to 1536 bytes, the seek table says 5632"
hostile table index.json smaller
refused 3 "holds more than the 1024 decompressed bytes in the seek table"
hostile table index.json zero
refused 3 "seek table entry 4: empty frame"
# the frame check of the shifted frame no longer matches its bytes
hostile table-shift index.json
refused 3 "do not match the frame check"
hostile table-short
refused 3 "seek table frames add up to"
hostile digest missing
refused 3 "no frame check before the seek table"
hostile digest first
refused 3 "no frame check before the seek table"
# listed as a data frame, it is not where a check for that many frames would start
hostile digest in-table
refused 3 "no frame check before the seek table"
# The signed format version says how the file is framed: format 1's trailer under a
# format 2 manifest is refused.
hostile digest v1
refused 3 "format version 2, but the file is framed as format 1"
# A wrong frame check is caught when that frame is loaded: here the last one, past the
# members, which bale verify reads and an import of the images does not.
hostile digest wrong
bounded 3 "do not match the frame check" "$BALE" verify --key "$T/k.pub" "$HB"

# ------------------------------------------------------------ bale/manifest.json

# gen_manifest STYLE N: bale/manifest.json of the bundle grown to N entries (or values).
gen_manifest() {
  "$PY" - "$T/x/bale/manifest.json" "$T/m.json" "$2" "$1" <<'EOF'
import json, sys
src, out, n, style = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
m = json.load(open(src))
rest = {k: v for k, v in m.items() if k != "blobs"}
if style == "compact":  # as small as an entry gets: 94 bytes
    text = (json.dumps(rest, separators=(",", ":"))[:-1] + ',"blobs":['
            + ",".join('{"digest":"sha256:%064x","size":1}' % i for i in range(n)) + "]}")
elif style == "deep":
    text = json.dumps(m)[:-1] + ',"x":' + "[" * n + "]" * n + "}"
elif style == "objects":  # 3 bytes a value, about 230 bytes of jansson memory each
    text = json.dumps(m)[:-1] + ',"x":[' + ",".join(["{}"] * n) + "]}"
open(out, "w").write(text)
EOF
  hostile manifest "$T/m.json" "$T/k.key"
}

# A million entries, as compact as entries get (94 MB): counted in the raw text and
# refused before jansson builds them (1.6 GB and 22 s before).
# (bale import reads the head through the same code as bale verify: verify alone here.)
gen_manifest compact 1000000
bounded 3 "lists 1000003 members and 0 images, more than the 500000 a bundle may hold" \
  "$BALE" verify --key "$T/k.pub" "$HB"
# Nine million empty objects (27 MB): over the value cap (they cost 10.9 GB before, and
# the bundle verified).
gen_manifest objects 9000000
refused 3 "bale/manifest.json: more than 8000000 JSON values"
gen_manifest deep 100000
refused 3 "bale/manifest.json: nested deeper than 64 levels"
rm -f "$T/m.json" "$HB"

# ------------------------------------------------------------ registry manifests

# A manifest the registry serves with an unknown field that is nested too deep, or full
# of empty objects (3 MB, under the 4 MiB manifest cap, 230 MB in jansson before).
curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$H/v2/demo/single/manifests/1" >"$T/single.json"
put_manifest() {
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$T/evil.json" "http://$H/v2/demo/single/manifests/$1" >/dev/null \
    || fail "the registry refused the $1 manifest"
}
"$PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); print(json.dumps(m)[:-1] + ",\"x\":" + "[" * 200 + "]" * 200 + "}")' \
  "$T/single.json" >"$T/evil.json"
put_manifest deep
"$PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); print(json.dumps(m)[:-1] + ",\"x\":[" + ",".join(["{}"] * 1000000) + "]}")' \
  "$T/single.json" >"$T/evil.json"
put_manifest objects
for tag in deep objects; do
  bounded 3 "$H/demo/single:$tag" "$BALE" pull -q --store "oci:$T/pulled" --insecure-registry "$H" "$H/demo/single:$tag"
done
assert_contains "$LAST_STDERR" "more than 262144 JSON values"
[[ -z $(find "$T/pulled" -type f -path '*/blobs/*' 2>/dev/null) ]] || fail "a refused pull wrote blobs"

# A store whose index.json is nested too deep: named, and left as it was.
mkdir -p "$T/bad-store"
printf '{"imageLayoutVersion":"1.0.0"}' >"$T/bad-store/oci-layout"
"$PY" -c 'print("{\"schemaVersion\":2,\"manifests\":" + "[" * 100 + "]" * 100 + "}")' >"$T/bad-store/index.json"
cp "$T/bad-store/index.json" "$T/index.before"
rm -f "$HB"
cp "$B" "$HB"
bounded 3 "$T/bad-store/index.json: nested deeper than 64 levels" "$BALE" import --ledger "$T/ledger.db" \
  --store "oci:$T/bad-store" --key "$T/k.pub" "$HB"
cmp -s "$T/index.before" "$T/bad-store/index.json" || fail "the store's index.json was changed"

# ------------------------------------------------------------ auth files, Kubernetes YAML

# A pull secret whose .dockerconfigjson nests too deep, and one that is YAML nested 200,000
# flow sequences deep (libyaml's scanner is quadratic in that depth: minutes). bale export
# reads pull secrets before any download. (Auth files: tests/unit/test_auth.c.)
export_with_secret() {
  bounded 2 "$1" "$BALE" export -q --insecure-registry "$H" --pull-secret "$2" --key "$T/k.key" \
    -o "$T/never.tar.zst" "$H/demo/single:1"
  [[ ! -e $T/never.tar.zst ]] || fail "a bundle was written"
}
"$PY" -c 'print("kind: Secret\nmetadata: {name: deep}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: \x27" + "{\"a\":" * 100 + "{}" + "}" * 100 + "\x27")' >"$T/deep-secret.yaml"
export_with_secret "$T/deep-secret.yaml: Secret deep: .dockerconfigjson" "$T/deep-secret.yaml"
assert_contains "$LAST_STDERR" "nested deeper than 64 levels"
"$PY" -c 'print("kind: Pod\nspec: " + "[" * 200000 + "]" * 200000)' >"$T/deep.yaml"
export_with_secret "$T/deep.yaml:2: nested deeper than 128 levels" "$T/deep.yaml"
bounded 2 "$T/deep.yaml:2: nested deeper than 128 levels" "$BALE" plan -f "$T/deep.yaml"
# 1.2 MB of one-letter items (a 20 MB file of them took libyaml's loader 3 GB).
"$PY" -c 'print("kind: Pod\nspec: [" + "a," * 600000 + "a]")' >"$T/wide.yaml"
bounded 2 "$T/wide.yaml:2: more than 500000 YAML nodes in one document" "$BALE" plan -f "$T/wide.yaml"
# Aliases: a billion laughs in a Secret, and a List of aliases to a Deployment with a
# thousand containers (it ran for minutes making a hundred million containers).
{
  printf 'kind: Secret\nmetadata: {name: lol}\ntype: Opaque\ndata:\n  a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n'
  for i in 1 2 3 4 5 6 7 8 9; do
    printf '  a%d: &a%d [%s]\n' "$i" "$i" "$(printf '*a%d,' $((i - 1)){,,,,,,,,,} | sed 's/,$//')"
  done
} >"$T/lol.yaml"
bounded 2 "$T/lol.yaml:10: more than 500000 YAML nodes in one document" "$BALE" plan -f "$T/lol.yaml"
{
  printf 'kind: List\nitems:\n- &d\n  kind: Deployment\n  metadata: {name: d}\n  spec:\n    template:\n      spec:\n        containers:\n'
  for i in $(seq 1000); do printf '        - {name: c%d, image: img%d}\n' "$i" "$i"; done
  for _ in $(seq 100000); do printf -- '- *d\n'; done
} >"$T/list.yaml"
bounded 2 "$T/list.yaml:1108: more than 500000 YAML nodes in one document" "$BALE" plan -f "$T/list.yaml"
# An alias cycle in a 51-byte Secret: bale plan --pin, which writes the manifests back,
# used to walk it for ever; every reader refuses it now.
printf 'kind: Secret\nmetadata: {name: s}\ndata: &a [*a, *a]\n' >"$T/cycle.yaml"
bounded 2 "$T/cycle.yaml:3: an alias inside the node it names (a cycle)" "$BALE" plan --pin "$B" -f "$T/cycle.yaml"
bounded 2 "$T/cycle.yaml:3: an alias inside the node it names (a cycle)" "$BALE" plan -f "$T/cycle.yaml"
bounded 2 "$T/deep.yaml:2: nested deeper than 128 levels" "$BALE" plan --pin "$B" -f "$T/deep.yaml"
# A scalar over 16 MiB.
{ printf 'kind: Pod\nspec:\n  containers:\n  - name: x\n    image: '; head -c 20000000 /dev/zero | tr '\0' a; } >"$T/scalar.yaml"
bounded 2 "$T/scalar.yaml:5: a scalar of 20000000 bytes is over the 16777216 byte limit" "$BALE" plan -f "$T/scalar.yaml"

echo "test_hostile_input: ok"
