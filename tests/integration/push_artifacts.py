#!/usr/bin/env python3
"""Push, byte for byte, what a site carries besides runnable images, to a registry on
loopback (plain HTTP): a Helm chart, a cosign-style signature, an SBOM artifact, a
referrers index over both, a tiny runnable image, and a runnable image containerd
cannot unpack (its config names a layer diff id the layer does not have). Prints JSON:
{"name": {"ref": "HOST/art/NAME:TAG", "digest": …, "config": …, "layers": […]}}.

Usage: push_artifacts.py HOST"""
import gzip
import hashlib
import io
import json
import sys
import tarfile
import urllib.request

HOST = sys.argv[1]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(method, url, data=None, ctype=None):
    req = urllib.request.Request(url, data=data, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req) as r:
        return r.headers


def push_blob(repo, data):
    loc = request("POST", f"http://{HOST}/v2/{repo}/blobs/uploads/")["Location"]
    if loc.startswith("/"):
        loc = f"http://{HOST}{loc}"
    sep = "&" if "?" in loc else "?"
    request("PUT", f"{loc}{sep}digest={digest(data)}", data, "application/octet-stream")
    return {"digest": digest(data), "size": len(data)}


def push_manifest(repo, tag, doc, media_type):
    data = json.dumps(doc, separators=(",", ":")).encode()
    request("PUT", f"http://{HOST}/v2/{repo}/manifests/{tag}", data, media_type)
    return {"mediaType": media_type, "digest": digest(data), "size": len(data)}


def targz(name, content):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        t.addfile(info, io.BytesIO(content))
    tar = raw.getvalue()
    return tar, gzip.compress(tar, mtime=0)


def manifest(repo, tag, config_type, config, layers, artifact_type=None):
    """layers: [(media type, bytes)]"""
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = dict(mediaType=config_type, **push_blob(repo, config))
    doc["layers"] = [dict(mediaType=t, **push_blob(repo, b)) for t, b in layers]
    desc = push_manifest(repo, tag, doc, OCI_MANIFEST)
    return desc, doc


def image(repo, tag, diff_id=None):
    tar, gz = targz(f"{repo.replace('/', '-')}.txt", f"{repo}:{tag}\n".encode())
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id or digest(tar)]},
        "config": {"Cmd": ["/bin/true"]},
    }, separators=(",", ":")).encode()
    return manifest(repo, tag, "application/vnd.oci.image.config.v1+json", config,
                    [("application/vnd.oci.image.layer.v1.tar+gzip", gz)])


out = {}


def note(name, repo, tag, desc, doc):
    out[name] = {"ref": f"{HOST}/{repo}:{tag}", "digest": desc["digest"],
                 "config": doc.get("config", {}).get("digest"),
                 "layers": [l["digest"] for l in doc.get("layers", [])]}


tar, chart = targz("mychart/Chart.yaml", b"apiVersion: v2\nname: mychart\nversion: 0.1.0\n")
d, doc = manifest("art/helm", "0.1.0", "application/vnd.cncf.helm.config.v1+json",
                  b'{"name":"mychart","version":"0.1.0","apiVersion":"v2"}',
                  [("application/vnd.cncf.helm.chart.content.v1.tar.gz", chart)])
note("helm", "art/helm", "0.1.0", d, doc)

d, doc = image("art/good", "1")
note("good", "art/good", "1", d, doc)
subject = d

d, doc = image("art/broken", "1", diff_id=digest(b"not the layer"))
note("broken", "art/broken", "1", d, doc)

sig_payload = json.dumps({"critical": {"image": {"docker-manifest-digest": subject["digest"]},
                                       "type": "cosign container image signature"}}).encode()
# An image config over a layer that is no tar: what makes it a signature is the layer type.
sig_config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
    "type": "layers", "diff_ids": [digest(sig_payload)]}, "config": {}}).encode()
tag = subject["digest"].replace(":", "-") + ".sig"
sig, doc = manifest("art/good", tag, "application/vnd.oci.image.config.v1+json", sig_config,
                    [("application/vnd.dev.cosign.simplesigning.v1+json", sig_payload)])
note("sig", "art/good", tag, sig, doc)

sbom, doc = manifest("art/sbom", "1", "application/vnd.oci.empty.v1+json", b"{}",
                     [("application/spdx+json", b'{"spdxVersion":"SPDX-2.3"}')],
                     artifact_type="application/spdx+json")
note("sbom", "art/sbom", "1", sbom, doc)

# a referrers index: artifacts, no platforms. Its children live in its repository.
refs_children = []
for name in ("sbom", "sig"):
    repo = "art/refs"
    d2, doc2 = (manifest(repo, f"child-{name}", "application/vnd.oci.empty.v1+json", b"{}",
                         [("application/spdx+json", b'{"spdxVersion":"SPDX-2.3"}')],
                         artifact_type="application/spdx+json") if name == "sbom" else
                manifest(repo, f"child-{name}", "application/vnd.oci.image.config.v1+json",
                         sig_config,
                         [("application/vnd.dev.cosign.simplesigning.v1+json", sig_payload)]))
    entry = dict(d2)
    if name == "sbom":
        entry["artifactType"] = "application/spdx+json"
    refs_children.append(entry)
idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": refs_children}
d = push_manifest("art/refs", "1", idx, OCI_INDEX)
out["refs"] = {"ref": f"{HOST}/art/refs:1", "digest": d["digest"], "config": None,
               "layers": []}
json.dump(out, sys.stdout, indent=1)
