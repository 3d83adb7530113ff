#!/usr/bin/python3
"""Pushes image trees that are not plain runnable images to a registry, byte for byte
(monolithic blob uploads and manifest PUTs), for bale's pull engine tests:

  tree/nested:1     OCI index: linux/s390x, then a child index (no platform) listing
                    linux/amd64 and linux/arm64
  tree/deep:1       indexes nested 5 levels below the root, then linux/amd64
  tree/referrers:1  OCI index whose only entry is an artifact (artifactType, no
                    platform, empty config, a subject)
  tree/attested:1   OCI index: linux/s390x and its buildx attestation (unknown/unknown)
  tree/windows:1    Docker manifest list: two windows/amd64 builds told apart by
                    os.version (10.0.17763.5576 with os.features win32k, 10.0.20348.2340);
                    each manifest's first layer is foreign (urls), then two layers

Prints a JSON object of every digest a test needs. Standard library only.
usage: pushtree.py HOST:PORT
"""
import hashlib
import json
import sys
import urllib.request

HOST = sys.argv[1]
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
EMPTY = "application/vnd.oci.empty.v1+json"
D_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
D_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
D_CONFIG = "application/vnd.docker.container.image.v1+json"
D_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
D_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OUT = {}


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as resp:
        return resp


def blob(repo, data, media_type):
    d = digest(data)
    resp = request("POST", f"http://{HOST}/v2/{repo}/blobs/uploads/")
    location = resp.headers["Location"]
    if location.startswith("/"):
        location = f"http://{HOST}{location}"
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={d}", data,
            {"Content-Type": "application/octet-stream"})
    return {"mediaType": media_type, "digest": d, "size": len(data)}


def manifest(repo, doc, ref=None):
    data = json.dumps(doc, indent=2, sort_keys=True).encode()
    d = digest(data)
    request("PUT", f"http://{HOST}/v2/{repo}/manifests/{ref or d}", data,
            {"Content-Type": doc["mediaType"]})
    return {"mediaType": doc["mediaType"], "digest": d, "size": len(data)}


def image(repo, os_, arch, seed, variant=None):
    """A runnable one-layer OCI image; returns its manifest descriptor."""
    layer = blob(repo, f"layer of {seed}\n".encode() * 16, OCI_LAYER)
    cfg = {"os": os_, "architecture": arch, "created": "2024-01-01T00:00:00Z",
           "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}, "config": {}}
    if variant:
        cfg["variant"] = variant
    config = blob(repo, json.dumps(cfg, sort_keys=True).encode(), OCI_CONFIG)
    return manifest(repo, {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": config, "layers": [layer]})


def index(repo, entries, ref=None, media_type=OCI_INDEX):
    return manifest(repo, {"schemaVersion": 2, "mediaType": media_type,
                           "manifests": entries}, ref)


def with_platform(desc, os_, arch, variant=None, **extra):
    p = {"os": os_, "architecture": arch}
    if variant:
        p["variant"] = variant
    p.update(extra)
    return dict(desc, platform=p)


def nested():
    repo = "tree/nested"
    s390x = image(repo, "linux", "s390x", "nested s390x")
    amd64 = image(repo, "linux", "amd64", "nested amd64")
    arm64 = image(repo, "linux", "arm64", "nested arm64", "v8")
    child = index(repo, [with_platform(amd64, "linux", "amd64"),
                         with_platform(arm64, "linux", "arm64", "v8")])
    root = index(repo, [with_platform(s390x, "linux", "s390x"), child], "1")
    OUT["nested"] = {"root": root["digest"], "child": child["digest"],
                     "amd64": amd64["digest"], "arm64": arm64["digest"],
                     "s390x": s390x["digest"]}


def deep():
    repo = "tree/deep"
    below = with_platform(image(repo, "linux", "amd64", "deep amd64"), "linux", "amd64")
    for _ in range(5):
        below = index(repo, [below])
    OUT["deep"] = {"root": index(repo, [below], "1")["digest"]}


def referrers():
    repo = "tree/referrers"
    subject = image(repo, "linux", "amd64", "referred")
    empty = blob(repo, b"{}", EMPTY)
    sbom = blob(repo, b'{"spdxVersion": "SPDX-2.3"}', "application/spdx+json")
    art = manifest(repo, {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "artifactType": "application/spdx+json", "config": empty,
                          "layers": [sbom], "subject": subject})
    root = index(repo, [dict(art, artifactType="application/spdx+json")], "1")
    OUT["referrers"] = {"root": root["digest"], "artifact": art["digest"]}


def attested():
    repo = "tree/attested"
    s390x = image(repo, "linux", "s390x", "attested s390x")
    empty = blob(repo, b"{}", EMPTY)
    statement = blob(repo, b'{"_type": "https://in-toto.io/Statement/v0.1"}',
                     "application/vnd.in-toto+json")
    att = manifest(repo, {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": empty,
                          "layers": [statement]})
    att_entry = dict(with_platform(att, "unknown", "unknown"), annotations={
        "vnd.docker.reference.digest": s390x["digest"],
        "vnd.docker.reference.type": "attestation-manifest"})
    root = index(repo, [with_platform(s390x, "linux", "s390x"), att_entry], "1")
    OUT["attested"] = {"root": root["digest"], "s390x": s390x["digest"],
                       "attestation": att["digest"]}


def windows():
    repo = "tree/windows"
    out = {}
    entries = []
    for build, features in (("10.0.17763.5576", ["win32k"]), ("10.0.20348.2340", [])):
        base = f"windows base {build}".encode()
        foreign = {"mediaType": D_FOREIGN, "digest": digest(base), "size": len(base),
                   "urls": [f"https://mcr.example/{build}/base"]}
        layers = [blob(repo, f"layer {i} of {build}\n".encode() * 8, D_LAYER) for i in (1, 2)]
        cfg = {"os": "windows", "architecture": "amd64", "os.version": build,
               "created": "2024-03-01T00:00:00Z",
               "rootfs": {"type": "layers", "diff_ids": [foreign["digest"]] +
                          [l["digest"] for l in layers]}, "config": {}}
        config = blob(repo, json.dumps(cfg, sort_keys=True).encode(), D_CONFIG)
        m = manifest(repo, {"schemaVersion": 2, "mediaType": D_MANIFEST, "config": config,
                            "layers": [foreign] + layers})
        extra = {"os.version": build}
        if features:
            extra["os.features"] = features
        entries.append(with_platform(m, "windows", "amd64", **extra))
        out[build] = {"manifest": m["digest"], "foreign": foreign["digest"],
                      "layers": [l["digest"] for l in layers]}
    out["root"] = index(repo, entries, "1", D_LIST)["digest"]
    OUT["windows"] = out


for make in (nested, deep, referrers, attested, windows):
    make()
json.dump(OUT, sys.stdout, indent=2)
print()
