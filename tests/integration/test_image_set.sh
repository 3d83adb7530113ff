#!/usr/bin/env bash
# Image sets (docs/image-set.md): tags chosen by a semver range with newest-N and an
# excluded digest, by a regex, and a plain reference with its own platforms, against
# tags pushed to a real registry; the dry run and the export carry exactly those, and a
# repository whose rules choose nothing is named.
source "$(dirname "$0")/lib.sh"

start_registry reg plain
build_images --layer-kib 64
seed_registry reg
H=$reg_HOST
export XDG_CACHE_HOME="$T/cache"
for tag in 1.26.0 1.27.0 1.27.1 1.27.2 v1.27.4 1.28.0 1.27.3-rc.1 latest; do
  run_skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
    "docker://$H/demo/single:1" "docker://$H/demo/set:$tag"
done
# 1.27.9 is other content, whose digest the set excludes
run_skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
  "docker://$H/demo/multi:1" "docker://$H/demo/set:1.27.9"
excluded=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.index.v1+json' \
  "http://$H/v2/demo/set/manifests/1.27.9" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
[[ $excluded == sha256:* ]] || fail "no digest for demo/set:1.27.9"

cat >"$T/set.yaml" <<YAML
# what the site carries this month
imageSet: 1
images:
- ref: $H/demo/dlist:1
  platforms: [linux/arm64]
- repository: $H/demo/set
  tags: {semver: '>=1.27.0 <1.28.0', newest: 3}
  exclude: [$excluded]
- repository: $H/demo/set
  tags: {regex: '^1\.2[68]\.'}
YAML
expect_exit 0 "$BALE" export --dry-run --json --insecure-registry "$H" -f "$T/set.yaml"
assert_eq "$H/demo/dlist:1
$H/demo/set:1.26.0
$H/demo/set:1.27.1
$H/demo/set:1.27.2
$H/demo/set:1.28.0
$H/demo/set:v1.27.4" "$(jq -r '.images[].ref' "$LAST_STDOUT" | sort)" "what the set chooses"
assert_contains "$LAST_STDERR" "image set: $H/demo/set:v1.27.4 ($H/demo/set: semver >=1.27.0 <1.28.0, newest 3)"
assert_eq '["linux/arm64/v8"]' "$(jq -c --arg r "$H/demo/dlist:1" '.images[] | select(.ref == $r) | .platforms' "$LAST_STDOUT")" \
  "the plain entry's own platforms"
expect_exit 0 "$BALE" export -q --insecure-registry "$H" --unsigned -f "$T/set.yaml" -o "$T/b.tar.zst"
q() { "$BALE" query --csv --no-header "$T/b.tar.zst" "$1"; }
assert_eq 6 "$(q "SELECT count(*) FROM images")" "images exported"
# index.db says which rule chose which tag (schema 6); a plain reference has none
assert_eq 6 "$(q "PRAGMA user_version")" "schema version with image set rules"
assert_eq "$H/demo/set:1.26.0 <- $H/demo/set: regex ^1\.2[68]\.
$H/demo/set:1.27.1 <- $H/demo/set: semver >=1.27.0 <1.28.0; newest 3" \
  "$(q "SELECT i.ref || ' <- ' || replace(r.rule, ',', ';') FROM image_rules r JOIN images i ON i.id = r.image_id WHERE i.ref IN ('$H/demo/set:1.26.0', '$H/demo/set:1.27.1') ORDER BY i.ref")" \
  "the rules that chose the tags"
assert_eq 5 "$(q "SELECT count(*) FROM image_rules")" "images chosen by rules"

# Newest by creation time: images whose configs say when they were made, tags that are
# not versions.
"$PY" - "$H" <<'PY'
import gzip, hashlib, json, sys, urllib.request
host = sys.argv[1]
def put(method, path, data=None, ctype=None):
    r = urllib.request.Request(f"http://{host}{path}", data=data, method=method)
    if ctype:
        r.add_header("Content-Type", ctype)
    with urllib.request.urlopen(r) as resp:
        return resp.headers
def blob(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = put("POST", "/v2/demo/dated/blobs/uploads/")["Location"]
    loc = loc if loc.startswith("/") else "/" + loc.split("/", 3)[3]
    put("PUT", f"{loc}{'&' if '?' in loc else '?'}digest={d}", data, "application/octet-stream")
    return {"digest": d, "size": len(data)}
for tag, created in [("a", "2024-01-01T00:00:00Z"), ("b", "2024-06-01T00:00:00Z"),
                     ("c", "2023-12-31T00:00:00Z"), ("d", "2024-03-01T00:00:00Z")]:
    layer = gzip.compress(tag.encode(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": created,
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tag.encode()).hexdigest()]}}).encode()
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": dict(blob(config), mediaType="application/vnd.oci.image.config.v1+json"),
         "layers": [dict(blob(layer), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}
    put("PUT", f"/v2/demo/dated/manifests/{tag}", json.dumps(m).encode(),
        "application/vnd.oci.image.manifest.v1+json")
PY
cat >"$T/dated.yaml" <<YAML
imageSet: 1
images:
- repository: $H/demo/dated
  tags: {regex: '^[a-z]\$', newest: 2, by: created}
YAML
expect_exit 0 "$BALE" export --dry-run --json --insecure-registry "$H" -f "$T/dated.yaml"
assert_eq "$H/demo/dated:b
$H/demo/dated:d" "$(jq -r '.images[].ref' "$LAST_STDOUT")" "the two newest by creation time"
assert_contains "$LAST_STDERR" "($H/demo/dated: regex ^[a-z]\$, newest 2 by created)"
printf 'imageSet: 1\nimages:\n- repository: %s/demo/set\n  tags: {regex: x, by: created}\n' "$H" >"$T/by.yaml"
expect_exit 2 "$BALE" export --dry-run -f "$T/by.yaml"
assert_contains "$LAST_STDERR" "by goes with newest"

# Rules that choose nothing, and what is not an image set, are named.
cat >"$T/none.yaml" <<YAML
imageSet: 1
images:
- repository: $H/demo/set
  tags: {semver: '>=9.0.0'}
- repository: $H/demo/single
  tags: {regex: '^nothing$'}
YAML
expect_exit 6 "$BALE" export --dry-run --insecure-registry "$H" -f "$T/none.yaml"
assert_contains "$LAST_STDERR" "no tag chosen for 2 repositories: $H/demo/set: semver >=9.0.0; $H/demo/single: regex ^nothing\$"
printf 'imageSet: 2\nimages: []\n' >"$T/v2.yaml"
expect_exit 9 "$BALE" export --dry-run -f "$T/v2.yaml"
assert_contains "$LAST_STDERR" "image set version 2; this bale reads version 1"
printf 'imageSet: 1\nimages:\n- repository: %s/demo/set:1\n  tags: {newest: 1}\n' "$H" >"$T/tagged.yaml"
expect_exit 2 "$BALE" export --dry-run -f "$T/tagged.yaml"
assert_contains "$LAST_STDERR" "tagged.yaml:3: repository: a name without a tag or digest"
printf 'imageSet: 1\nimages:\n- repository: %s/demo/set\n  tags: {semver: ">=1.x.x.x"}\n' "$H" >"$T/bad.yaml"
expect_exit 2 "$BALE" export --dry-run -f "$T/bad.yaml"
assert_contains "$LAST_STDERR" "bad.yaml:4: semver range"
printf 'imageSet: 1\nimages:\n- repository: %s/demo/set\n  tags: {newest: 2}\n  colour: red\n' "$H" >"$T/unknown.yaml"
expect_exit 2 "$BALE" export --dry-run -f "$T/unknown.yaml"
assert_contains "$LAST_STDERR" 'unknown field "colour"'
echo "test_image_set: ok"
