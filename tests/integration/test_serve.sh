#!/usr/bin/env bash
# bale serve: a read-only registry straight from a signed bundle. skopeo copies every
# image byte for byte as the origin has it; a real containerd pulls through the hosts.toml
# bale mirror-config writes with the origin gone; 8 readers at once get the same bytes; the
# API's HEAD, tags, catalog and errors; a bundle whose layer is damaged ends that blob's
# transfer short, never with wrong bytes; an untrusted bundle is not served.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images --layer-kib 2048
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/k" >/dev/null
"$BALE" keygen -q -o "$T/other" >/dev/null
refs=("$H/demo/multi:1" "$H/demo/dlist:1" "$H/demo/schema2:1" "$H/demo/single:1")
"$BALE" export -q --insecure-registry "$H" --key "$T/k.key" -o "$T/b.tar.zst" "${refs[@]}" >/dev/null
for image in multi dlist schema2 single; do # the origin's bytes, before it goes
  run_skopeo copy -q --all --src-tls-verify=false "docker://$H/demo/$image:1" "dir:$T/orig-$image"
done

# serve BUNDLE…: bale serve on a free port in the background; S is its host:port.
serve() {
  "$BALE" serve --listen 127.0.0.1:0 "$@" >"$T/serve.out" 2>"$T/serve.err" &
  SERVE_PID=$!
  track_pid "$SERVE_PID" "$T/serve.err"
  for _ in $(seq 100); do grep -q '^serving' "$T/serve.out" && break; sleep 0.1; done
  S=$(sed -n 's|^serving .* on http://||p' "$T/serve.out")
  [[ -n $S ]] || fail "bale serve did not start: $(cat "$T/serve.err")"
}

expect_exit 4 "$BALE" serve --listen 127.0.0.1:0 --key "$T/other.pub" "$T/b.tar.zst"
serve --key "$T/k.pub" "$T/b.tar.zst"
assert_contains "$T/serve.out" "serving 4 images"
for image in multi dlist schema2 single; do
  run_skopeo copy -q --all --src-tls-verify=false "docker://$S/demo/$image:1" "dir:$T/served-$image"
  assert_eq "$(cd "$T/orig-$image" && sha256sum -- * | sort)" "$(cd "$T/served-$image" && sha256sum -- * | sort)" \
    "$image as served"
done

# The API, as the distribution spec says.
curl -sf "http://$S/v2/" >/dev/null || fail "GET /v2/"
assert_eq '{"repositories":["demo/dlist","demo/multi","demo/schema2","demo/single"]}' \
  "$(curl -sf "http://$S/v2/_catalog")" "_catalog"
assert_eq '{"name":"demo/single","tags":["1"]}' "$(curl -sf "http://$S/v2/demo/single/tags/list")" "tags/list"
curl -sfI "http://$S/v2/demo/single/manifests/1" | tr -d '\r' >"$T/head.txt"
assert_contains "$T/head.txt" "Docker-Content-Digest: $DIGEST_demo_single"
assert_contains "$T/head.txt" "Content-Type: application/vnd.oci.image.manifest.v1+json"
layer=$("$BALE" query --csv "$T/b.tar.zst" "SELECT digest || ' ' || size FROM blobs WHERE kind = 'layer' ORDER BY size DESC LIMIT 1" | tail -n 1 | tr -d '\r')
curl -sfI "http://$S/v2/demo/single/blobs/${layer% *}" | tr -d '\r' >"$T/head.txt"
assert_contains "$T/head.txt" "Content-Length: ${layer#* }"
code() { curl -s -o "$T/body.json" -w '%{http_code}' "$@"; }
assert_eq 404 "$(code "http://$S/v2/demo/single/manifests/2")" "unknown tag"
assert_eq MANIFEST_UNKNOWN "$(jq -r '.errors[0].code' "$T/body.json")" "unknown tag's error"
assert_eq 404 "$(code "http://$S/v2/demo/single/blobs/sha256:$(printf '0%.0s' {1..64})")" "unknown blob"
assert_eq BLOB_UNKNOWN "$(jq -r '.errors[0].code' "$T/body.json")" "unknown blob's error"
assert_eq 404 "$(code "http://$S/v2/demo/nothing/tags/list")" "unknown repository"
assert_eq 405 "$(code -X PUT "http://$S/v2/demo/single/manifests/1")" "a write"
assert_eq UNSUPPORTED "$(jq -r '.errors[0].code' "$T/body.json")" "a write's error"

# 8 readers of the largest layer at once: the same bytes for each.
readers=()
for i in $(seq 8); do
  curl -sf --max-time 60 "http://$S/v2/demo/single/blobs/${layer% *}" -o "$T/par.$i" &
  readers+=($!)
done
wait "${readers[@]}"
assert_eq "${layer% *}" "sha256:$(sha256sum "$T"/par.* | cut -d' ' -f1 | sort -u)" "8 parallel reads"

# A real containerd pulls through bale mirror-config's hosts.toml, the origin gone.
"$BALE" mirror-config -q --mirror "http://$S" --bundle "$T/b.tar.zst" --format containerd -o "$T/cfg"
pkill -f "$T/reg/config.yml" || fail "could not stop the origin registry"
start_containerd
for image in single multi; do
  expect_exit 0 ctd images pull --hosts-dir "$T/cfg/certs.d" "$H/demo/$image:1"
  ctd images check "name==$H/demo/$image:1" >"$T/check.txt"
  assert_eq complete "$(awk 'NR == 2 {print $4}' "$T/check.txt")" "$image pulled from bale serve"
done
kill "$SERVE_PID" && wait "$SERVE_PID" || true

# A damaged layer: its transfer ends short; the client never gets it whole.
cp "$T/b.tar.zst" "$T/bad.tar.zst"
at=$("$PY" -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", data[-9:-5])[0]
sizes = [struct.unpack("<II", data[-9 - 8 * n + 8 * i:-9 - 8 * n + 8 * i + 8]) for i in range(n)]
big = max(range(n), key=lambda i: sizes[i][0])
print(sum(c for c, _ in sizes[:big]) + sizes[big][0] // 2)' "$T/bad.tar.zst")
printf '\x5a' | dd of="$T/bad.tar.zst" bs=1 seek="$at" conv=notrunc status=none
serve --key "$T/k.pub" "$T/bad.tar.zst"
bad=0
for digest in $("$BALE" query --csv "$T/b.tar.zst" "SELECT digest FROM blobs WHERE kind = 'layer'" | tail -n +2 | tr -d '\r'); do
  if curl -sf "http://$S/v2/demo/single/blobs/$digest" -o "$T/got"; then
    assert_eq "$digest" "sha256:$(sha256sum <"$T/got" | cut -d' ' -f1)" "a blob served whole"
  else
    bad=$((bad + 1))
  fi
done
assert_eq 1 "$bad" "blobs whose transfer failed"
echo "test_serve: ok"
