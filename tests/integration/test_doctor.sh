#!/usr/bin/env bash
# bale doctor on fixture kubelet and containerd configurations and manifests
# (tests/data/doctor): the trip case shows each check's finding, the clean case prints
# nothing and exits 0, --json parses with the right counts. An oci: store made here holds
# one image with a known layer, for the Never preflight and the pull deadline.
source "$(dirname "$0")/lib.sh"

DATA="$BALE_SOURCE_DIR/tests/data/doctor"

# containerd's config_path is absolute: the fixtures say @CERTS@.
for c in clean trip; do
  sed "s|@CERTS@|$DATA/$c/certs.d|" "$DATA/$c/containerd.toml" >"$T/$c-containerd.toml"
done
mkdir -p "$T/imagefs"

# ---- the clean case: nothing to say
expect_exit 0 "$BALE" doctor -f "$DATA/clean/k8s.yaml" --kubelet-config "$DATA/clean/kubelet.yaml" \
  --containerd-config "$T/clean-containerd.toml" --imagefs "$T/imagefs"
assert_eq 0 "$(wc -c <"$LAST_STDOUT")" "clean case: stdout"
assert_eq 0 "$(wc -c <"$LAST_STDERR")" "clean case: stderr"
expect_exit 0 "$BALE" doctor --json -f "$DATA/clean/k8s.yaml" --kubelet-config "$DATA/clean/kubelet.yaml" \
  --containerd-config "$T/clean-containerd.toml" --imagefs "$T/imagefs"
assert_eq "0 0 0 0" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["errors"], d["warnings"], d["infos"], len(d["findings"]))' "$LAST_STDOUT")" "clean --json"

# ---- an oci: store with registry.site:5000/shop/big:1 (a 3000-byte layer); the Never
# image of the trip case is not there.
python3 - "$T/store" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{root}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
layer = blob(bytes(range(256)) * 11 + bytes(184))  # 3000 bytes
config = blob(json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
manifest = blob(json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar")]}).encode())
name = "registry.site:5000/shop/big:1"
index = {"schemaVersion": 2, "manifests": [dict(manifest,
         mediaType="application/vnd.oci.image.manifest.v1+json",
         annotations={"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name})]}
json.dump(index, open(f"{root}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{root}/oci-layout", "w"))
PY

# ---- the trip case: every check that these files can trip
trip=("$BALE" doctor -f "$DATA/trip/k8s.yaml" --kubelet-config "$DATA/trip/kubelet.yaml"
  --containerd-config "$T/trip-containerd.toml" --imagefs "$T/imagefs"
  --insecure-registry plain.site:5000 --store "oci:$T/store" --platform linux/amd64
  --link-speed 8bit)
expect_exit 1 "${trip[@]}"
out="$LAST_STDOUT"
cp "$out" "$T/trip.txt"
# the Never preflight, folded in
assert_contains "$T/trip.txt" "error Pod/default/offline container app [never-image]: registry.site:5000/shop/app:1@sha256:2222222222222222222222222222222222222222222222222222222222222222 (imagePullPolicy Never) is absent in oci:$T/store; fix: bale import"
# pull secrets: missing, of the wrong type, without credentials for the registry
assert_contains "$T/trip.txt" "warning Deployment/default/secrets [pull-secret]: pull secret missing-pull (named by the pod) is not in the manifests"
assert_contains "$T/trip.txt" "error Deployment/default/secrets [pull-secret]: pull secret opaque-pull (named by the pod, $DATA/trip/k8s.yaml:2) is of type Opaque"
assert_contains "$T/trip.txt" "warning Deployment/default/secrets container api [pull-secret]: the pod's pull secrets hold no credentials for registry.site:5000"
# no secret is ever printed
assert_not_contains "$T/trip.txt" "not-a-real-secret"
assert_not_contains "$T/trip.txt" "$(printf 'doctor:not-a-real-secret' | base64 -w0)"
# lint: latest (no tag) with IfNotPresent; a malformed reference
assert_contains "$T/trip.txt" "warning Pod/default/latest container tool [tag]: registry.site:5000/shop/tool"
assert_contains "$T/trip.txt" "with imagePullPolicy IfNotPresent"
assert_contains "$T/trip.txt" "error Pod/default/broken container bad [reference]: invalid reference"
# registry trust: CA files unreadable and not PEM, a plain-HTTP registry configured HTTPS
assert_contains "$T/trip.txt" "error node [registry-trust]: registry.site:5000: a ca of $DATA/trip/certs.d/registry.site:5000/hosts.toml: "
assert_contains "$T/trip.txt" "missing.pem: No such file or directory"
assert_contains "$T/trip.txt" "not-a-cert.pem: no PEM certificate in it"
assert_contains "$T/trip.txt" "error node [registry-trust]: plain.site:5000 is an insecure (plain HTTP) registry, but its hosts.toml names no http:// server or host"
assert_contains "$T/trip.txt" "server = \"http://plain.site:5000\" and [host.\"http://plain.site:5000\"]"
# eviction already firing
assert_contains "$T/trip.txt" "error node [eviction]: $T/imagefs has "
assert_contains "$T/trip.txt" "under evictionHard imagefs.available<"
# containerd's CRI settings
assert_contains "$T/trip.txt" "warning node [discard-unpacked-layers]: discard_unpacked_layers = true"
assert_contains "$T/trip.txt" "warning node [snapshotter]: the CRI snapshotter is zfs"
assert_contains "$T/trip.txt" "CONTAINERD_SNAPSHOTTER=zfs"
# the pull deadline: 3000 bytes at 8 bit/s is 3000 s, over runtimeRequestTimeout (a note)
assert_contains "$T/trip.txt" "info StatefulSet/default/big container db [pull-deadline]: the largest layer of registry.site:5000/shop/big:1"
assert_contains "$T/trip.txt" "takes 3000 s at 1 B/s, longer than the kubelet's runtimeRequestTimeout (120 s): the pod waits that long"
assert_contains "$T/trip.txt" "containerd cancels only a pull that receives nothing for image_pull_progress_timeout (60 s)"

# --json: the same findings, counted
expect_exit 1 "${trip[@]}" --json
assert_eq "7 5 1 13" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["errors"], d["warnings"], d["infos"], len(d["findings"]))' "$LAST_STDOUT")" "trip --json"
assert_eq "$(wc -l <"$T/trip.txt")" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]))' "$LAST_STDOUT")" "a line per finding"

# containerd config version 3, without config_path; the kubelet's file missing
# (no image filesystem to measure: the kubelet's default thresholds are not this test's)
expect_exit 0 "$BALE" doctor -f "$DATA/clean/k8s.yaml" --kubelet-config "$T/no-such-kubelet.yaml" \
  --containerd-config "$DATA/trip/containerd-v3.toml" --imagefs "$T/no-such-imagefs"
assert_contains "$LAST_STDOUT" "info node [config]: no kubelet configuration at $T/no-such-kubelet.yaml"
assert_contains "$LAST_STDOUT" "warning node [registry-trust]: containerd's CRI registry config_path is not set in $DATA/trip/containerd-v3.toml"
assert_contains "$LAST_STDOUT" "[plugins.\"io.containerd.cri.v1.images\".registry]"
assert_contains "$LAST_STDOUT" "warning node [discard-unpacked-layers]"
assert_contains "$LAST_STDOUT" "warning node [snapshotter]: the CRI snapshotter is native"
# an insecure registry with no config_path at all is an error
expect_exit 1 "$BALE" doctor -f "$DATA/clean/k8s.yaml" --kubelet-config "$DATA/clean/kubelet.yaml" \
  --containerd-config "$DATA/trip/containerd-v3.toml" --imagefs "$T/imagefs"  \
  --insecure-registry registry.site:5000
assert_contains "$LAST_STDOUT" "error node [registry-trust]: containerd's CRI registry config_path is not set"
# $BALE_INSECURE_REGISTRIES as the other verbs take it
BALE_INSECURE_REGISTRIES=plain.site:5000 expect_exit 1 "$BALE" doctor -f "$DATA/trip/k8s.yaml" \
  --kubelet-config "$DATA/clean/kubelet.yaml" --containerd-config "$T/trip-containerd.toml" \
  --imagefs "$T/imagefs"
assert_contains "$LAST_STDOUT" "plain.site:5000 is an insecure (plain HTTP) registry"
# a containerd configuration that is not TOML: a warning, the defaults assumed
printf '[plugins\nversion = 2\n' >"$T/broken.toml"
expect_exit 0 "$BALE" doctor -f "$DATA/clean/k8s.yaml" --kubelet-config "$DATA/clean/kubelet.yaml" \
  --containerd-config "$T/broken.toml" --imagefs "$T/imagefs"
assert_contains "$LAST_STDOUT" "warning node [config]: containerd's configuration: $T/broken.toml:1: expected ']' after a table name"

# exit statuses: usage 2, a manifest file that does not exist 6, an unreadable store 8
expect_exit 2 "$BALE" doctor
expect_exit 2 "$BALE" doctor -f "$DATA/clean/k8s.yaml" --link-speed fast
expect_exit 6 "$BALE" doctor -f "$T/no-such-manifest.yaml"
expect_exit 8 "$BALE" doctor -f "$DATA/clean/k8s.yaml" --store "oci:$T/no-such-store"
echo "test_doctor: ok"
