#!/usr/bin/env bash
# bale serve beyond a plain pull: byte ranges (how a client resumes a layer), containerd's
# ?ns= when two registries share a repository path, the referrers API, HTTPS with the
# site's certificate (skopeo copies through it), an IPv6 address, the access log, and a
# reload on SIGHUP that adds the next bundle of a directory while a transfer is under way.
source "$(dirname "$0")/lib.sh"

# Two registries, the same repository paths, different images (other layer bytes).
start_registry reg plain
start_registry other plain
build_images --layer-kib 2048 --seed 1
seed_registry reg
reg_single=$DIGEST_demo_single
build_images --layer-kib 64 --seed 2
seed_registry other
other_single=$DIGEST_demo_single
[[ $reg_single != "$other_single" ]] || fail "the two registries' images should differ"
seed_shapes reg app sbom notary-sig
H=$reg_HOST
O=$other_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
mkdir -p "$T/site"
"$BALE" export -q --insecure-registry "$H" --insecure-registry "$O" --key "$T/k.key" \
  -o "$T/site/2026-11.tar.zst" "$H/demo/single:1" "$O/demo/single:1" \
  "$H/$(shape_field app ref)" "$H/$(shape_field sbom ref)" "$H/$(shape_field notary-sig ref)" >/dev/null

# serve ARG…: bale serve in the background; S is what it said it serves on.
serve() {
  "$BALE" serve "$@" >"$T/serve.out" 2>"$T/serve.err" &
  SERVE_PID=$!
  track_pid "$SERVE_PID" "$T/serve.err"
  for _ in $(seq 100); do grep -q '^serving' "$T/serve.out" && break; sleep 0.1; done
  S=$(sed -n 's|^serving .* on https\{0,1\}://||p' "$T/serve.out" | head -n 1)
  [[ -n $S ]] || fail "bale serve did not start: $(cat "$T/serve.err")"
}
# stop_serve: SIGTERM; bale serve must stop cleanly (exit 0, nothing leaked under ASan).
stop_serve() {
  kill "$SERVE_PID"
  wait "$SERVE_PID" || fail "bale serve exited $? on SIGTERM: $(tail -n 30 "$T/serve.err")"
}
code() { curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@"; }
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip"; }

serve --listen 127.0.0.1:0 --key "$T/k.pub" --access-log "$T/access.log" "$T/site"
assert_contains "$T/serve.out" "serving 5 images on http://127.0.0.1:"

# Ranges of the largest layer, against its whole bytes.
layer=$("$BALE" query --csv "$T/site/2026-11.tar.zst" \
  "SELECT digest || ' ' || size FROM blobs WHERE kind = 'layer' ORDER BY size DESC LIMIT 1" | tail -n 1 | tr -d '\r')
digest=${layer% *} size=${layer#* }
url="http://$S/v2/demo/single/blobs/$digest"
assert_eq 200 "$(code "$url")" "the whole layer"
assert_eq "$digest" "sha256:$(sha256sum <"$T/body" | cut -d' ' -f1)" "the whole layer's bytes"
assert_eq bytes "$(header Accept-Ranges)" "Accept-Ranges"
cp "$T/body" "$T/whole"
# range SPEC FIRST LAST: a 206 of bytes FIRST..LAST of the layer.
range() {
  assert_eq 206 "$(code -H "Range: bytes=$1" "$url")" "Range: bytes=$1"
  assert_eq "bytes $2-$3/$size" "$(header Content-Range)" "Content-Range of $1"
  assert_eq $(($3 - $2 + 1)) "$(header Content-Length)" "Content-Length of $1"
  cmp -s "$T/body" <(tail -c +$(($2 + 1)) "$T/whole" | head -c $(($3 - $2 + 1))) || fail "bytes of range $1"
}
range 1000-1999 1000 1999
range 5000- 5000 $((size - 1))
range -100 $((size - 100)) $((size - 1))
range "0-$((size * 2))" 0 $((size - 1))
# curl resumes a download with a Range: the two halves make the layer
head -c 777777 "$T/whole" >"$T/resumed"
curl -sf -C - -o "$T/resumed" "$url" || fail "curl could not resume the layer"
cmp -s "$T/resumed" "$T/whole" || fail "a resumed download differs"
assert_eq 416 "$(code -H "Range: bytes=$size-" "$url")" "a range past the end"
assert_eq "bytes */$size" "$(header Content-Range)" "Content-Range of a range past the end"
for ignored in "bytes=0-1,5-6" "bytes=9-1" "items=0-1" "bytes=x-"; do
  assert_eq 200 "$(code -H "Range: $ignored" "$url")" "Range: $ignored is served whole"
  cmp -s "$T/body" "$T/whole" || fail "Range: $ignored: not the whole layer"
done

# Two registries share demo/single: ?ns= picks one, a registry the bundle lacks none.
manifest() { code -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$S/v2/demo/single/manifests/1$1"; }
assert_eq 200 "$(manifest "?ns=$H")" "ns=$H"
assert_eq "$reg_single" "$(header Docker-Content-Digest)" "demo/single of $H"
assert_eq 200 "$(manifest "?ns=$O")" "ns=$O"
assert_eq "$other_single" "$(header Docker-Content-Digest)" "demo/single of $O"
assert_eq 404 "$(manifest "?ns=registry.example")" "ns of a registry the bundle lacks"
assert_eq NAME_UNKNOWN "$(jq -r '.errors[0].code' "$T/body")" "its error"
assert_eq 200 "$(manifest "")" "no ns"
want=$(printf '%s\n%s\n' "$H $reg_single" "$O $other_single" | sort | head -n 1 | cut -d' ' -f2)
assert_eq "$want" "$(header Docker-Content-Digest)" "no ns: the first registry by name"

# The referrers of shapes/app: its SBOM and its signature; filtered by artifactType.
assert_eq 200 "$(code "http://$S/v2/shapes/app/referrers/$SHAPE_app")" "referrers"
assert_eq application/vnd.oci.image.index.v1+json "$(header Content-Type)" "referrers' type"
assert_eq "$(printf '%s\n' "$SHAPE_notary_sig" "$SHAPE_sbom" | sort)" \
  "$(jq -r '.manifests[].digest' "$T/body" | sort)" "the referrers of app"
sbom_type=$(jq -r '.artifactType' "$SHAPES_LAYOUT/blobs/sha256/${SHAPE_sbom#sha256:}")
assert_eq "$sbom_type" "$(jq -r --arg d "$SHAPE_sbom" '.manifests[] | select(.digest == $d) | .artifactType' "$T/body")" \
  "the SBOM's artifactType"
assert_eq 200 "$(code -G --data-urlencode "artifactType=$sbom_type" "http://$S/v2/shapes/app/referrers/$SHAPE_app")" \
  "referrers by artifactType"
assert_eq "$SHAPE_sbom" "$(jq -r '.manifests[].digest' "$T/body")" "referrers of the SBOM's type"
assert_eq artifactType "$(header OCI-Filters-Applied)" "OCI-Filters-Applied"
assert_eq 200 "$(code "http://$S/v2/shapes/app/referrers/$SHAPE_sbom")" "referrers of a manifest without any"
assert_eq 0 "$(jq '.manifests | length' "$T/body")" "no referrers"
assert_eq 400 "$(code "http://$S/v2/shapes/app/referrers/latest")" "referrers of a tag"

# The access log: a line a request, in the common log format.
line='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \+0000\] "GET /v2/'
grep -Eq "$line"'demo/single/blobs/'"$digest"' HTTP/1\.1" 206 1000$' "$T/access.log" ||
  fail "no access log line for the 1000-byte range: $(head -n 5 "$T/access.log")"
grep -Eq "$line"'shapes/app/referrers/latest HTTP/1\.1" 400 [0-9]+$' "$T/access.log" ||
  fail "no access log line for the 400"
grep -Evq "$line" "$T/access.log" && fail "access log lines not in the common log format: $(grep -Ev "$line" "$T/access.log" | head -n 3)"

# A reload on SIGHUP: the next bundle of the directory is served, and a transfer under
# way when it comes finishes with the right bytes.
build_images --layer-kib 64 --seed 3
SEED_PREFIXES=next seed_registry reg
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/next.tar.zst" "$H/next/single:1" >/dev/null
assert_eq 404 "$(code "http://$S/v2/next/single/manifests/1")" "next/single before the reload"
# a client that reads slowly through a small window, so the blob is still being read from
# the bundle when the reload comes (curl's --limit-rate leaves it in socket buffers)
"$PY" "$LIB_DIR/slow_reader.py" "$S" "/v2/demo/single/blobs/$digest" "$T/slow" &
slow=$!
sleep 1
kill -0 "$slow" 2>/dev/null || fail "the slow transfer ended before the reload: the test proves nothing"
mv "$T/next.tar.zst" "$T/site/2026-12.tar.zst"
kill -HUP "$SERVE_PID"
for _ in $(seq 100); do [[ $(grep -c '^serving' "$T/serve.out") == 2 ]] && break; sleep 0.1; done
assert_eq "serving 6 images on http://$S" "$(sed -n 2p "$T/serve.out")" "after the reload"
assert_eq 200 "$(code -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$S/v2/next/single/manifests/1")" \
  "next/single after the reload"
assert_eq "$DIGEST_next_single" "$(header Docker-Content-Digest)" "next/single's digest"
wait "$slow" || fail "the transfer under way failed across the reload"
cmp -s "$T/slow" "$T/whole" || fail "the transfer under way got other bytes"
# A reload that fails keeps serving what was served.
printf 'not a bundle' >"$T/site/2027-01.tar.zst"
kill -HUP "$SERVE_PID"
for _ in $(seq 100); do grep -q 'reload:' "$T/serve.err" && break; sleep 0.1; done
assert_contains "$T/serve.err" "still serving what was served"
assert_eq 200 "$(code -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$S/v2/next/single/manifests/1")" \
  "next/single after a failed reload"
rm "$T/site/2027-01.tar.zst"
stop_serve

# HTTPS with the site's certificate: skopeo copies byte for byte through it.
ensure_ca
expect_exit 2 "$BALE" serve --listen 127.0.0.1:0 --tls-cert "$T/pki/server.crt" "$T/site"
serve --listen 127.0.0.1:0 --key "$T/k.pub" --tls-cert "$T/pki/server.crt" --tls-key "$T/pki/server.key" "$T/site"
assert_contains "$T/serve.out" "on https://127.0.0.1:"
curl -sf --cacert "$CA_CERT" "https://$S/v2/" >/dev/null || fail "GET /v2/ over HTTPS"
app=$(shape_field app ref)
run_skopeo copy -q --src-cert-dir "$CA_ONLY_DIR" "docker://$S/$app" "dir:$T/tls-copy"
run_skopeo copy -q --src-tls-verify=false "docker://$H/$app" "dir:$T/orig"
assert_eq "$(cd "$T/orig" && sha256sum -- * | sort)" "$(cd "$T/tls-copy" && sha256sum -- * | sort)" \
  "$app over HTTPS"
curl -s --max-time 5 "http://$S/v2/" >/dev/null && fail "plain HTTP answered on the HTTPS port"
stop_serve

# IPv6 loopback where the kernel has it; where it has not, the address is refused plainly.
if grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
  serve --listen '[::1]:0' --key "$T/k.pub" "$T/site"
  assert_contains "$T/serve.out" "on http://[::1]:"
  curl -sfg "http://$S/v2/demo/single/tags/list" -o "$T/tags" || fail "GET over IPv6"
  assert_eq '{"name":"demo/single","tags":["1"]}' "$(cat "$T/tags")" "tags over IPv6"
  stop_serve
else
  expect_exit 2 "$BALE" serve --listen '[::1]:0' --key "$T/k.pub" "$T/site"
  assert_contains "$LAST_STDERR" "cannot listen on [::1]:0"
fi
expect_exit 2 "$BALE" serve --listen '::1:0' --key "$T/k.pub" "$T/site"
assert_contains "$LAST_STDERR" "is not an IPv4 address or a bracketed IPv6 one"
echo "test_serve_api: ok"
