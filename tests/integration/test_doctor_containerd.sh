#!/usr/bin/env bash
# bale doctor against a real containerd (Debian 12's 1.6.20): a Never image pinned and
# one not, and the version check (1.6.20 does not report pins to the kubelet).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/containerd.sh"

start_containerd

# Two images as an OCI archive ctr imports and unpacks: a real tar layer each.
python3 - "$T/images.tar" <<'PY'
import hashlib, io, json, sys, tarfile
blobs = {}
def blob(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return {"digest": d, "size": len(data)}
def image(name, content):
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        t.addfile(info, io.BytesIO(content))
    l = blob(layer.getvalue())
    c = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [l["digest"]]}}).encode())
    m = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(c, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(l, mediaType="application/vnd.oci.image.layer.v1.tar")]}).encode())
    return dict(m, mediaType="application/vnd.oci.image.manifest.v1+json",
                annotations={"io.containerd.image.name": name,
                             "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]})
index = {"schemaVersion": 2, "manifests": [image("registry.site:5000/shop/pinned:1", b"pinned\n"),
                                           image("registry.site:5000/shop/loose:1", b"loose\n")]}
with tarfile.open(sys.argv[1], "w") as t:
    def add(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", json.dumps(index).encode())
    for d, data in blobs.items():
        add("blobs/sha256/" + d[7:], data)
PY
ctd images import --platform linux/amd64 "$T/images.tar" >/dev/null
ctd images label registry.site:5000/shop/pinned:1 io.cri-containerd.pinned=pinned >/dev/null

cat >"$T/k8s.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: pinned}
spec:
  containers:
    - {name: app, image: "registry.site:5000/shop/pinned:1", imagePullPolicy: Never}
---
apiVersion: v1
kind: Pod
metadata: {name: loose}
spec:
  containers:
    - {name: app, image: "registry.site:5000/shop/loose:1", imagePullPolicy: Never}
YAML
cat >"$T/kubelet.yaml" <<'YAML'
kind: KubeletConfiguration
evictionHard: {imagefs.available: 1Ki}
YAML
printf 'version = 2\n' >"$T/containerd.toml"

expect_exit 0 "$BALE" doctor -f "$T/k8s.yaml" --store "containerd:$CTD_SOCK" --platform linux/amd64 \
  --kubelet-config "$T/kubelet.yaml" --containerd-config "$T/containerd.toml" --imagefs "$T"
cp "$LAST_STDOUT" "$T/out.txt"
assert_contains "$T/out.txt" "warning Pod/default/loose container app [pin]: registry.site:5000/shop/loose:1 (imagePullPolicy Never) is in the store but not pinned"
assert_contains "$T/out.txt" "bale import BUNDLE --store containerd:$CTD_SOCK --pin"
assert_not_contains "$T/out.txt" "Pod/default/pinned"
assert_contains "$T/out.txt" "warning node [containerd-version]: containerd 1.6.20"
assert_contains "$T/out.txt" "imageGCHighThresholdPercent: 100"
assert_eq 2 "$(wc -l <"$T/out.txt")" "findings"

# the image GC threshold against what is pinned: a low threshold of 0% trips it
cat >"$T/kubelet-gc.yaml" <<'YAML'
kind: KubeletConfiguration
imageGCHighThresholdPercent: 0
imageGCLowThresholdPercent: 0
evictionHard: {imagefs.available: 1Ki}
YAML
expect_exit 1 "$BALE" doctor -f "$T/k8s.yaml" --store "containerd:$CTD_SOCK" --platform linux/amd64 \
  --kubelet-config "$T/kubelet-gc.yaml" --containerd-config "$T/containerd.toml" --imagefs "$T"
assert_contains "$LAST_STDOUT" "error node [image-gc]: pinned images take "
assert_contains "$LAST_STDOUT" "above imageGCHighThresholdPercent 0%"
echo "test_doctor_containerd: ok"
