#!/usr/bin/env bash
# What an image brings from its registry (bale export --referrers): a cosign signature, an
# attestation and an SBOM under cosign's tags, and an OCI 1.1 referrer found through the
# referrers tag schema (distribution 2.8 has no referrers API), made here with openssl
# (cosign_sign.py) and pushed to a real registry. Each is carried byte for byte, listed in
# index.db's referrers table and by bale ls, verified with the rest, and lands at a site
# registry under the same tag, byte for byte; bale serve hands them on by the same names.
source "$(dirname "$0")/lib.sh"
source "$LIB_DIR/containerd.sh"

start_registry reg plain
build_images --layer-kib 64
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
"$BALE" keygen -q -o "$T/site" >/dev/null

digest_of() { curl -fsS -o /dev/null -D - -H "Accept: $2" "http://$H/v2/$1" | tr -d '\r' |
  sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'; }
OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
root=$(digest_of demo/multi/manifests/1 "$OCI_INDEX")
[[ $root == sha256:* ]] || fail "no digest for demo/multi:1"
arm=$(curl -fsS -H "Accept: $OCI_INDEX" "http://$H/v2/demo/multi/manifests/1" |
  jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest')
sign() { "$PY" "$LIB_DIR/cosign_sign.py" --key "$T/site.key" --registry "http://$H" --repo demo/multi "$@"; }
sign --digest "$root" --sig --att --sbom --referrer >"$T/signed.json"
sign --digest "$arm" --sig >"$T/signed-arm.json"
SIG=$(jq -r .sig "$T/signed.json")
REFERRER=$(jq -r .referrer "$T/signed.json")
hex=${root#sha256:}

sql() { "$BALE" query --csv --no-header "$1" "$2"; }

# All of it, by default: four attachments of the index, and the arm64 manifest's signature.
B="$T/all.tar.zst"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --key "$T/site.key" -o "$B" "$H/demo/multi:1"
expect_exit 0 "$BALE" verify --key "$T/site.pub" "$B"
assert_eq 5 "$(sql "$B" "PRAGMA user_version")" "index.db schema version with attachments"
assert_eq "cosign-attestation,sha256-$hex.att,$root
cosign-sbom,sha256-$hex.sbom,$root
cosign-signature,sha256-${arm#sha256:}.sig,$arm
cosign-signature,sha256-$hex.sig,$root
oci-referrer,,$root" "$(sql "$B" "SELECT kind, tag, subject FROM referrers ORDER BY kind, tag")" \
  "the referrers table"
assert_eq "$SIG" "$(sql "$B" "SELECT digest FROM referrers WHERE tag = 'sha256-$hex.sig'")" \
  "the signature's manifest digest"
assert_eq "application/vnd.example.sbom+json" \
  "$(sql "$B" "SELECT artifact_type FROM referrers WHERE kind = 'oci-referrer'")" "the referrer's artifactType"
assert_eq "$H/demo/multi@$REFERRER" \
  "$(sql "$B" "SELECT i.ref FROM referrers r JOIN images i ON i.id = r.image_id WHERE r.kind = 'oci-referrer'")" \
  "the referrer's name"
# byte for byte: the signature manifest and its payload as the registry serves them
curl -fsS -H "Accept: $OCI_MANIFEST" "http://$H/v2/demo/multi/manifests/sha256-$hex.sig" >"$T/sig.registry"
tar --zstd -xOf "$B" "blobs/sha256/${SIG#sha256:}" >"$T/sig.bundle"
cmp -s "$T/sig.registry" "$T/sig.bundle" || fail "the bundle's .sig manifest differs from the registry's"
payload=$(jq -r '.layers[0].digest' "$T/sig.registry")
tar --zstd -xOf "$B" "blobs/sha256/${payload#sha256:}" | jq -e '.critical.image["docker-manifest-digest"]' >/dev/null ||
  fail "the signed payload is not in the bundle"
expect_exit 0 "$BALE" ls "$B"
assert_contains "$LAST_STDOUT" "cosign-signature    of $H/demo/multi:1: $H/demo/multi:sha256-$hex.sig"
assert_contains "$LAST_STDOUT" "oci-referrer        of $H/demo/multi:1: $H/demo/multi@$REFERRER"
expect_exit 0 "$BALE" ls --json "$B"
assert_eq 5 "$(jq '.attachments | length' "$LAST_STDOUT")" "attachments in ls --json"
assert_eq "$H/demo/multi:1" "$(jq -r '.attachments[] | select(.kind == "cosign-sbom") | .of' "$LAST_STDOUT")" \
  "what the SBOM is of"

expect_exit 0 "$BALE" inspect --json "$B" "$H/demo/multi:1"
assert_eq "cosign-signature $arm
cosign-signature $root" "$(jq -r '.attachments[] | select(.kind == "cosign-signature") | "\(.kind) \(.subject)"' "$LAST_STDOUT" | sort)" \
  "inspect: the image's signatures, of its index and of its arm64 manifest"
expect_exit 0 "$BALE" inspect "$B" "$H/demo/multi:1"
assert_contains "$LAST_STDOUT" "Attachments:"

# Only what the platforms carried bring theirs; signatures only; nothing.
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --platform linux/amd64 \
  --referrers signatures -o "$T/sigs.tar.zst" "$H/demo/multi:1"
assert_eq "cosign-signature,$root" "$(sql "$T/sigs.tar.zst" "SELECT kind, subject FROM referrers")" \
  "signatures of the amd64 export"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --referrers none \
  -o "$T/none.tar.zst" "$H/demo/multi:1"
assert_eq 3 "$(sql "$T/none.tar.zst" "PRAGMA user_version")" "schema version without attachments"
assert_eq 1 "$(sql "$T/none.tar.zst" "SELECT count(*) FROM images")" "images without attachments"
expect_exit 2 "$BALE" export --referrers some --unsigned -o "$T/x.tar.zst" "$H/demo/multi:1"
assert_contains "$LAST_STDERR" "--referrers: want all, signatures or none"
# An image with nothing attached: no tag listing is an error, and nothing is added.
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned -o "$T/single.tar.zst" "$H/demo/single:1"
assert_eq 3 "$(sql "$T/single.tar.zst" "PRAGMA user_version")" "schema version of an image without attachments"

# The site's policy at export (containers-policy.json): this repository signed by the
# site's key. The signed image is exported; an unsigned one, or one the policy's other key
# did not sign, is not, and no bundle is left behind.
cat >"$T/policy.json" <<JSON
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$H/demo": [{"type": "sigstoreSigned", "keyPath": "$T/site.pub",
   "signedIdentity": {"type": "matchRepository"}}]}}}
JSON
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --policy "$T/policy.json" \
  -o "$T/admitted.tar.zst" "$H/demo/multi:1"
# who signed what, under which policy, in index.db (NULL without --policy)
site_id=$(openssl pkey -pubin -in "$T/site.pub" -outform DER | sha256sum | cut -d' ' -f1)
assert_eq "$site_id,sha256:$(sha256sum <"$T/policy.json" | cut -d' ' -f1)" \
  "$(sql "$T/admitted.tar.zst" "SELECT DISTINCT signer_key_id, policy_digest FROM referrers WHERE kind = 'cosign-signature'")" \
  "the signer and the policy of the admitted export"
assert_eq ",," "$(sql "$B" "SELECT DISTINCT coalesce(signer_key_id, ''), coalesce(policy_digest, ''), '' FROM referrers")" \
  "signer and policy without --policy"
expect_exit 4 "$BALE" export -q --insecure-registry "$H" --unsigned --policy "$T/policy.json" \
  -o "$T/refused.tar.zst" "$H/demo/multi:1" "$H/demo/single:1"
assert_contains "$LAST_STDERR" "1 of 2 images refused by the site policy: $H/demo/single:1: not admitted by policy $T/policy.json (scope \"$H/demo\"): a signature is required, and the image carries none"
[[ ! -e $T/refused.tar.zst ]] || fail "a bundle was written though the policy refused an image"
"$BALE" keygen -q -o "$T/other" >/dev/null
sed "s|$T/site.pub|$T/other.pub|" "$T/policy.json" >"$T/other-policy.json"
expect_exit 4 "$BALE" export -q --insecure-registry "$H" --unsigned --policy "$T/other-policy.json" \
  -o "$T/refused.tar.zst" "$H/demo/multi:1"
assert_contains "$LAST_STDERR" "its signature: it does not verify with the policy's keys"
expect_exit 2 "$BALE" export --policy "$T/policy.json" --referrers none --unsigned -o "$T/x.tar.zst" "$H/demo/multi:1"
assert_contains "$LAST_STDERR" "not with --referrers none"
echo '{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}' >"$T/gpg.json"
expect_exit 2 "$BALE" export --policy "$T/gpg.json" --unsigned -o "$T/x.tar.zst" "$H/demo/multi:1"
assert_contains "$LAST_STDERR" "signedBy (GPG signatures) is not something bale can check"

# At the site, offline: the carried signatures checked again with the site's policy.
expect_exit 0 "$BALE" verify --key "$T/site.pub" --policy "$T/policy.json" "$B"
assert_contains "$LAST_STDOUT" "policy $T/policy.json: 1 image admitted"
expect_exit 4 "$BALE" verify --key "$T/site.pub" --policy "$T/other-policy.json" "$B"
assert_contains "$LAST_STDERR" "1 of 1 images refused by the site policy: $H/demo/multi:1: not admitted"
expect_exit 4 "$BALE" verify --insecure-skip-verify --json --policy "$T/policy.json" "$T/none.tar.zst"
assert_eq "1 1 4" "$(jq -r '"\(.policy.images) \(.policy.refused) \(.exitCode)"' "$LAST_STDOUT")" \
  "verify --json of a bundle without the signatures"
# Signed per platform only (as cosign sign --recursive signs each child): an image is
# admitted when every manifest it carries is.
DL=application/vnd.docker.distribution.manifest.list.v2+json
dl_arm=$(curl -fsS -H "Accept: $DL" "http://$H/v2/demo/dlist/manifests/1" |
  jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest')
"$PY" "$LIB_DIR/cosign_sign.py" --key "$T/site.key" --registry "http://$H" --repo demo/dlist \
  --digest "$dl_arm" --sig >/dev/null
cat >"$T/any-policy.json" <<JSON
{"default": [{"type": "sigstoreSigned", "keyPath": "$T/site.pub",
  "signedIdentity": {"type": "matchRepository"}}]}
JSON
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned --platform linux/arm64 \
  --referrers signatures -o "$T/arm.tar.zst" "$H/demo/dlist:1"
expect_exit 0 "$BALE" verify --insecure-skip-verify --policy "$T/any-policy.json" "$T/arm.tar.zst"
expect_exit 4 "$BALE" export -q --insecure-registry "$H" --unsigned --policy "$T/any-policy.json" \
  -o "$T/dl-all.tar.zst" "$H/demo/dlist:1"
assert_contains "$LAST_STDERR" "$H/demo/dlist:1: not admitted by policy $T/any-policy.json (scope \"default\")"

# At the site: a registry store gets each under its tag (or digest), byte for byte.
start_registry site plain
expect_exit 0 "$BALE" import --ledger "$T/ledger.db" --key "$T/site.pub" --platform all --insecure-registry "$site_HOST" \
  --store "registry://$site_HOST" "$B"
for tag in "sha256-$hex.sig" "sha256-$hex.sbom" "sha256-$hex.att" "sha256-${arm#sha256:}.sig" "$REFERRER"; do
  curl -fsS -H "Accept: $OCI_MANIFEST" "http://$H/v2/demo/multi/manifests/$tag" >"$T/origin"
  curl -fsS -H "Accept: $OCI_MANIFEST" "http://$site_HOST/v2/demo/multi/manifests/$tag" >"$T/at-site" ||
    fail "the site registry lacks demo/multi:$tag"
  cmp -s "$T/origin" "$T/at-site" || fail "demo/multi:$tag differs at the site"
done
# The site registry has no referrers API either: the referrer joins the referrers tag
# schema's index of its subject there, for the site's tools (oras discover, cosign tree).
curl -fsS -H "Accept: $OCI_INDEX" "http://$site_HOST/v2/demo/multi/manifests/sha256-$hex" >"$T/site-referrers.json" ||
  fail "the site registry has no referrers index for the image"
assert_eq "$REFERRER application/vnd.example.sbom+json" \
  "$(jq -r '.manifests[] | "\(.digest) \(.artifactType)"' "$T/site-referrers.json")" "the site's referrers index"
# a second import lists it once
expect_exit 0 "$BALE" import --ledger "$T/ledger2.db" --key "$T/site.pub" --platform all --insecure-registry "$site_HOST" \
  --store "registry://$site_HOST" "$B"
curl -fsS -H "Accept: $OCI_INDEX" "http://$site_HOST/v2/demo/multi/manifests/sha256-$hex" >"$T/site-referrers.json"
assert_eq 1 "$(jq '.manifests | length' "$T/site-referrers.json")" "referrers listed after a second import"

# An OCI layout keeps them as images of their own names, and bale check finds them whole.
expect_exit 0 "$BALE" import --ledger "$T/ledger.db" --key "$T/site.pub" --store "oci:$T/oci" "$B"
assert_eq 6 "$(jq '.manifests | length' "$T/oci/index.json")" "names in the OCI layout"
expect_exit 0 "$BALE" check --store "oci:$T/oci"

# containerd keeps them as content under their names (nothing to unpack), beside the image.
start_containerd
expect_exit 0 "$BALE" import --ledger "$T/ledger.db" --key "$T/site.pub" --store "containerd:$CTD_SOCK" "$B"
ctd images ls -q >"$T/ctd.names"
assert_contains "$T/ctd.names" "$H/demo/multi:sha256-$hex.sig"
assert_contains "$T/ctd.names" "$H/demo/multi@$REFERRER"
ctd content get "$SIG" >"$T/sig.ctd"
cmp -s "$T/sig.registry" "$T/sig.ctd" || fail "containerd's .sig manifest differs"
expect_exit 0 "$BALE" check --store "containerd:$CTD_SOCK"

# bale serve hands them on by the same names.
"$BALE" serve --listen 127.0.0.1:0 --key "$T/site.pub" "$B" >"$T/serve.out" 2>"$T/serve.err" &
serve_pid=$!
track_pid "$serve_pid" "$T/serve.err"
for _ in $(seq 100); do grep -q '^serving' "$T/serve.out" && break; sleep 0.1; done
S=$(sed -n 's|^serving .* on http://||p' "$T/serve.out")
[[ -n $S ]] || fail "bale serve did not start: $(cat "$T/serve.err")"
curl -fsS -H "Accept: $OCI_MANIFEST" "http://$S/v2/demo/multi/manifests/sha256-$hex.sig" >"$T/served" ||
  fail "bale serve does not serve the signature's tag"
cmp -s "$T/sig.registry" "$T/served" || fail "the served .sig manifest differs"
curl -fsS "http://$S/v2/demo/multi/referrers/$root" >"$T/referrers.json"
assert_eq "$REFERRER" "$(jq -r '.manifests[].digest' "$T/referrers.json")" "bale serve's referrers of the index"
kill "$serve_pid" && wait "$serve_pid" || true
echo "test_referrers: ok"
