#!/usr/bin/env bash
# What a site carries besides plain runnable images (docs/shapes.md): Helm charts, cosign
# and Notary signatures, SBOMs with a subject, a referrers index, ORAS artifacts with a
# 0-byte layer, buildx attestations, zstd and plain tar layers, Windows images with foreign
# layers, a 5 MiB config, fields bale does not know. Seeded byte for byte into a real
# registry, exported in one signed bundle, verified, imported into an OCI layout and into
# a second registry; every manifest, index, config and layer must arrive byte-identical
# and every tag must resolve to the digest it had at the source. Peers read it back:
# skopeo (inspect --raw, copy) and curl on the distribution API.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/peer.sh"

# Both registries take the Windows manifests, whose foreign layers have loopback urls; the
# source has a signed schema 1 image too.
start_registry reg plain foreign-urls schema1
seed_shapes reg
start_registry site plain foreign-urls
H=$reg_HOST
S=$site_HOST
export XDG_CACHE_HOME="$T/cache"

# Every shape but schema1, a signed Docker schema 1 image, which bale refuses (below).
CARRIED=(helm helm-nomt app sbom cosign-sig notary-sig referrers oras buildx zstd uncompressed
  nested windows bigconfig extras)

# sha FILE: sha256:<hex> of FILE.
sha() { printf 'sha256:%s' "$(sha256sum <"$1" | cut -d' ' -f1)"; }
ACCEPT='application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json,
application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'
ACCEPT=${ACCEPT//$'\n'/ }

# registry_has URL REPO SHAPE: every manifest of SHAPE comes back from the registry at URL
# by digest and hashes to it, its root by tag too, every config and layer is there byte for
# byte, and no foreign layer is (curl on the distribution API).
registry_has() {
  local url=$1 repo=$2 shape=$3 d got
  local f="$T/fetched"
  curl -fsS -H "Accept: $ACCEPT" -D "$f.headers" -o "$f" "$url/v2/$repo/manifests/$(shape_field "$shape" tag)" \
    || fail "$shape: tag $(shape_field "$shape" tag) missing in $url/$repo"
  assert_eq "$(shape_field "$shape" digest)" "$(sha "$f")" "$shape: tag on $url/$repo"
  # The type it was pushed as: for a manifest without mediaType, only the push said it.
  got=$(sed -n 's/^Content-Type: \([^;[:space:]]*\).*/\1/ip' "$f.headers")
  assert_eq "$(shape_field "$shape" mediaType)" "$got" "$shape: Content-Type on $url/$repo"
  for d in $(shape_field "$shape" digest) $(shape_field "$shape" manifests); do
    curl -fsS -H "Accept: $ACCEPT" -o "$f" "$url/v2/$repo/manifests/$d" || fail "$shape: manifest $d missing in $url/$repo"
    cmp -s "$f" "$SHAPES_LAYOUT/blobs/sha256/${d#sha256:}" || fail "$shape: manifest $d differs in $url/$repo"
  done
  for d in $(shape_field "$shape" blobs); do
    curl -fsS -o "$f" "$url/v2/$repo/blobs/$d" || fail "$shape: blob $d missing in $url/$repo"
    assert_eq "$d" "$(sha "$f")" "$shape: blob in $url/$repo"
  done
  for d in $(shape_field "$shape" foreign); do
    got=$(curl -sS -o /dev/null -w '%{http_code}' -I "$url/v2/$repo/blobs/$d")
    assert_eq 404 "$got" "$shape: foreign layer $d in $url/$repo"
  done
}

# The seed, read by the peers: every shape as mkshapes wrote it, the foreign layers only
# at their urls.
for shape in "${CARRIED[@]}"; do
  registry_has "$reg_URL" "$(shape_field "$shape" repo)" "$shape"
done
# The registry signs a schema 1 manifest anew each time it is read; its digest stays.
curl -fsS -D "$T/headers" -o /dev/null -H "Accept: application/vnd.docker.distribution.manifest.v1+prettyjws" \
  "$reg_URL/v2/shapes/schema1/manifests/1" || fail "schema1 not seeded"
assert_contains "$T/headers" "Docker-Content-Digest: $SHAPE_schema1"
assert_contains "$T/headers" "Content-Type: application/vnd.docker.distribution.manifest.v1+prettyjws"
refs=()
want_all=()
for shape in "${CARRIED[@]}"; do
  refs+=("$H/$(shape_field "$shape" ref)")
  mapfile -t -O "${#want_all[@]}" want_all < <(shape_field "$shape" digest; shape_field "$shape" manifests; shape_field "$shape" blobs)
done
want=$(printf '%s\n' "${want_all[@]}" | sort -u)
for d in $(shape_field windows foreign); do
  u=$(for m in $(shape_field windows manifests); do
    jq -r --arg d "$d" '.layers[] | select(.digest == $d) | .urls[]' "$SHAPES_LAYOUT/blobs/sha256/${m#sha256:}"
  done)
  assert_eq "$foreign_URL/sha256/${d#sha256:}" "$u" "url of foreign layer $d"
  curl -fsS -o "$T/fetched" "$u" || fail "foreign layer $d not served at $u"
  assert_eq "$d" "$(sha "$T/fetched")" "foreign layer at its url"
done

# One signed bundle of every carried shape; verify.
"$BALE" keygen -q -o "$T/k" >/dev/null
B="$T/shapes.tar.zst"
# the shapes as asked for, each once: what they refer to is test_referrers.sh's
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --referrers none -o "$B" "${refs[@]}"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$B"
assert_eq "$want" "$(bundle_blobs "$B" | jq -r '.[].digest' | sort -u)" "blobs in the bundle"
mkdir -p "$T/unpacked"
tar --zstd -xf "$B" -C "$T/unpacked"
assert_eq "$want" "$(store_digests "$T/unpacked")" "the bundle's OCI layout"

# Schema 1 is told apart before any digest check: its own message and exit status, not
# the digest mismatch that would read like tampering.
expect_exit 9 "$BALE" export -q --insecure-registry "$H" -o "$T/schema1.tar.zst" --unsigned "$H/shapes/schema1:1"
assert_contains "$LAST_STDERR" "Docker schema 1"
assert_contains "$LAST_STDERR" "re-push it"
assert_not_contains "$LAST_STDERR" "hashes to"
[[ ! -e $T/schema1.tar.zst ]] || fail "a bundle was written for schema 1"

# The host's platform alone (no --platform): artifacts, attestations and a referrers index
# of artifacts only never block the import; the nested index lands with its child index
# and the host's manifest; bale check finds every name complete.
# The Windows pair truly lacks the host's platform: it alone stays out, named with the
# platforms it has, and the exit status says so.
expect_exit 6 "$BALE" import --ledger "$T/ledger.db" --key "$T/k.pub" --store "oci:$T/host" "$B"
assert_eq "$((${#CARRIED[@]} - 1))" "$(wc -l <"$LAST_STDOUT")" "images imported for the host's platform"
assert_contains "$LAST_STDERR" "not imported: $H/shapes/windows:ltsc: no manifest for"
assert_contains "$LAST_STDERR" "windows/amd64:10.0.17763.5576+win32k, windows/amd64:10.0.20348.2227"
assert_contains "$LAST_STDERR" "1 image not imported"
assert_not_contains "$LAST_STDOUT" "shapes/windows"
expect_exit 0 "$BALE" ledger --ledger "$T/ledger.db" --csv "SELECT count(*) FROM current_images WHERE store = 'oci:$T/host'"
assert_eq "$((${#CARRIED[@]} - 1))" "$(tail -n1 "$LAST_STDOUT" | tr -d '\r')" "images the ledger says landed"
child=$(jq -r '.manifests[] | select(.mediaType | test("index")) | .digest' \
  "$SHAPES_LAYOUT/blobs/sha256/$(shape_field nested digest | cut -d: -f2)")
[[ -n $child ]] || fail "the nested shape has no child index"
[[ -f $T/host/blobs/sha256/${child#sha256:} ]] || fail "the nested child index $child was not imported"
expect_exit 0 "$BALE" check --store "oci:$T/host"

imp() { "$BALE" import --ledger "$T/ledger.db" --key "$T/k.pub" --platform all "$@" "$B"; }

# Into an OCI layout: exactly these blobs, each hashing to its name; every name resolves to
# the source digest, with the media type the source recorded (also for a manifest without
# a mediaType field); skopeo reads each name back.
O="$T/oci"
expect_exit 0 imp --store "oci:$O"
assert_eq "$want" "$(store_digests "$O")" "blobs in the OCI store"
for shape in "${CARRIED[@]}"; do
  name="$H/$(shape_field "$shape" ref)"
  got=$(jq -r --arg n "$name" '.manifests[] | select(.annotations."org.opencontainers.image.ref.name" == $n)
    | "\(.digest) \(.mediaType)"' "$O/index.json")
  assert_eq "$(shape_field "$shape" digest) $(shape_field "$shape" mediaType)" "$got" "$shape: name in the OCI store"
  # skopeo 1.9 looks up names in an OCI layout among OCI media types only: not the
  # Docker manifest list of the Windows pair.
  [[ $shape != windows ]] || continue
  run_skopeo inspect --raw "oci:$O:$name" >"$T/raw" || fail "$shape: skopeo cannot read oci:$O:$name"
  assert_eq "$(shape_field "$shape" digest)" "$(sha "$T/raw")" "$shape: skopeo on the OCI store"
done

# Into a second registry: the same bytes by digest and by tag, no foreign layer pushed;
# skopeo copies what it can copy from both registries to the same digests.
expect_exit 0 imp --insecure-registry "$S" --store "registry://$S/mirror"
for shape in "${CARRIED[@]}"; do
  repo=$(shape_field "$shape" repo)
  registry_has "$site_URL" "mirror/$repo" "$shape"
  run_skopeo inspect --raw --tls-verify=false "docker://$S/mirror/$(shape_field "$shape" ref)" >"$T/raw" \
    || fail "$shape: skopeo cannot read the site registry"
  assert_eq "$(shape_field "$shape" digest)" "$(sha "$T/raw")" "$shape: skopeo on the site registry"
done
# skopeo 1.9 cannot copy the referrers and extras indexes byte for byte (it would convert
# them), nor a config over 4 MiB.
for shape in helm helm-nomt app sbom notary-sig oras buildx zstd uncompressed windows; do
  ref=$(shape_field "$shape" ref)
  peer_copy_dir reg "$ref" "$T/orig" --preserve-digests
  peer_copy_dir site "mirror/$ref" "$T/back" --preserve-digests
  assert_eq "$(peer_digests_dir "$T/orig")" "$(peer_digests_dir "$T/back")" "$shape: skopeo copies"
done
# A re-import uploads nothing.
mark=$(wc -l <"$site_LOG")
expect_exit 0 imp --insecure-registry "$S" --store "registry://$S/mirror"
assert_eq 0 "$(tail -n +"$((mark + 1))" "$site_LOG" | grep -cE '(POST|PATCH) /v2/' || true)" "uploads on re-import"
# ---- Foreign layers
# Without --include-foreign-layers the bundle lacks them, and bale ls says so.
expect_exit 0 "$BALE" ls "$B"
assert_contains "$LAST_STDOUT" "$H/shapes/windows:ltsc: lacks 2 foreign layers"
expect_exit 0 "$BALE" query --csv "$B" "SELECT count(*), sum(carried) FROM foreign_layers"
assert_eq "2,0" "$(tail -n1 "$LAST_STDOUT" | tr -d '\r')" "foreign layers recorded, none carried"
# With it: each is fetched from its url, checked, carried like any layer and recorded as
# carried; bale ls no longer says the bundle lacks it.
F="$T/foreign.tar.zst"
FR=("$H/shapes/windows:ltsc" "$H/shapes/foreign-linux:1")
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/k.key" --include-foreign-layers \
  -o "$F" "${FR[@]}"
assert_not_contains "$LAST_STDERR" "left to the runtime"
expect_exit 0 "$BALE" verify --key "$T/k.pub" "$F"
FOREIGN=($(shape_field windows foreign) $(shape_field foreign-linux foreign))
assert_eq 3 "${#FOREIGN[@]}" "foreign layers of the shapes"
for d in "${FOREIGN[@]}"; do
  tar --zstd -xOf "$F" "blobs/sha256/${d#sha256:}" >"$T/carried" || fail "foreign layer $d is not in the bundle"
  assert_eq "$d" "$(sha "$T/carried")" "foreign layer $d in the bundle"
  expect_exit 0 "$BALE" query --csv "$F" "SELECT carried FROM foreign_layers WHERE layer_digest = '$d'"
  assert_eq 1 "$(tail -n1 "$LAST_STDOUT" | tr -d '\r')" "foreign layer $d recorded as carried"
  expect_exit 0 "$BALE" query --csv "$F" "SELECT kind FROM blobs WHERE digest = '$d'"
  assert_eq layer "$(tail -n1 "$LAST_STDOUT" | tr -d '\r')" "foreign layer $d a blob of the bundle"
done
expect_exit 0 "$BALE" ls "$F"
assert_not_contains "$LAST_STDOUT" "lacks"
# Into an OCI layout: the foreign layers are there like any blob.
FO="$T/oci-foreign"
expect_exit 0 "$BALE" import --ledger "$T/ledger.db" --key "$T/k.pub" --platform all --store "oci:$FO" "$F"
for d in "${FOREIGN[@]}"; do
  [[ -f $FO/blobs/sha256/${d#sha256:} ]] || fail "foreign layer $d not imported into the OCI layout"
  assert_eq "$d" "$(sha "$FO/blobs/sha256/${d#sha256:}")" "foreign layer $d in the OCI layout"
done
expect_exit 0 "$BALE" check --store "oci:$FO"
# Into a registry: as from the source, the manifests point at the urls and no foreign
# layer is pushed (registry_has checks for a 404).
expect_exit 0 "$BALE" import --ledger "$T/ledger.db" --key "$T/k.pub" --platform all \
  --insecure-registry "$S" --store "registry://$S/carried" "$F"
registry_has "$site_URL" "carried/shapes/windows" windows
registry_has "$site_URL" "carried/shapes/foreign-linux" foreign-linux
# A url that serves other bytes (of the right size) fails the export, naming the layer
# and the url; no bundle is written. A fresh cache: the one above holds the layer.
d=$(shape_field foreign-linux foreign)
served="$SHAPES_DIR/foreign/sha256/${d#sha256:}"
cp "$served" "$T/foreign.orig"
head -c "$(stat -c %s "$served")" /dev/zero >"$served"
expect_exit 3 "$BALE" export -q --insecure-registry "$H" --cache "$T/cache2" --unsigned \
  --include-foreign-layers -o "$T/bad.tar.zst" "${FR[1]}"
assert_contains "$LAST_STDERR" "foreign layer $d from $foreign_URL/sha256/${d#sha256:}: digest mismatch"
[[ ! -e $T/bad.tar.zst ]] || fail "a bundle was written with a foreign layer that failed its digest"
cp "$T/foreign.orig" "$served"
echo "test_shapes: ok"
