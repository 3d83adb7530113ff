#!/usr/bin/python3
"""Attach what cosign attaches to an image, without cosign (Debian has none).

Usage: cosign_sign.py --key KEY --registry http://HOST[:PORT] --repo REPO --digest D
                      [--identity REF] [--sig] [--att] [--sbom] [--referrer]

--sig: a cosign simple-signing signature under the tag sha256-<hex>.sig: the payload
  {"critical":{"identity":{"docker-reference":REF},"image":{"docker-manifest-digest":D},
  "type":"cosign container image signature"},"optional":null} as the one layer
  (application/vnd.dev.cosign.simplesigning.v1+json), signed by `openssl dgst -sha256
  -sign KEY` (DER ECDSA P-256 over the payload's SHA-256, as cosign signs), base64 in
  the layer's dev.cosignproject.cosign/signature annotation. REF defaults to
  HOST/REPO (cosign signs the repository only).
--att: a DSSE envelope layer under sha256-<hex>.att (an in-toto statement naming D).
--sbom: an SPDX document layer under sha256-<hex>.sbom.
--referrer: an OCI 1.1 artifact (artifactType application/vnd.example.sbom+json) whose
  subject is D, pushed by digest; the registry lacks the referrers API (distribution
  2.8), so the index under the tag sha256-<hex> lists it, as the distribution spec says
  a client keeps it.

Prints one JSON object: {"sig": DIGEST, "att": …, "sbom": …, "referrer": …} of the
manifests pushed (read back and checked byte for byte). Standard library only.
"""

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def push_blob(base, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _, headers, _ = request("POST", f"{base}/v2/{repo}/blobs/uploads/")
    location = headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={digest}", data,
            {"Content-Type": "application/octet-stream"})
    return {"digest": digest, "size": len(data)}


def push_manifest(base, repo, ref, doc, media_type):
    data = json.dumps(doc, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    request("PUT", f"{base}/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type})
    _, _, back = request("GET", f"{base}/v2/{repo}/manifests/{digest}",
                         headers={"Accept": media_type})
    if back != data:
        sys.exit(f"cosign_sign: {repo}@{digest} did not come back byte for byte")
    return digest, len(data)


def manifest(base, repo, layers, media_types, config=None, annotations=None, extra=None):
    """An OCI manifest of the given layer bytes (each with its annotations)."""
    cfg = config if config is not None else json.dumps(
        {"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": []}},
        separators=(",", ":")).encode()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": dict(push_blob(base, repo, cfg),
                          mediaType="application/vnd.oci.image.config.v1+json"),
           "layers": []}
    for data, mt, ann in zip(layers, media_types, annotations or [None] * len(layers)):
        layer = dict(push_blob(base, repo, data), mediaType=mt)
        if ann:
            layer["annotations"] = ann
        doc["layers"].append(layer)
    if extra:
        doc.update(extra)
    return doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--digest", required=True)
    ap.add_argument("--identity")
    for flag in ("sig", "att", "sbom", "referrer"):
        ap.add_argument(f"--{flag}", action="store_true")
    a = ap.parse_args()
    base = a.registry.rstrip("/")
    host = base.split("://", 1)[1]
    hexd = a.digest.split(":", 1)[1]
    out = {}
    if a.sig:
        payload = json.dumps({"critical": {
            "identity": {"docker-reference": a.identity or f"{host}/{a.repo}"},
            "image": {"docker-manifest-digest": a.digest},
            "type": "cosign container image signature"}, "optional": None},
            separators=(",", ":")).encode()
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key], input=payload,
                             check=True, capture_output=True).stdout
        doc = manifest(base, a.repo, [payload],
                       ["application/vnd.dev.cosign.simplesigning.v1+json"],
                       annotations=[{"dev.cosignproject.cosign/signature":
                                     base64.b64encode(der).decode()}])
        out["sig"] = push_manifest(base, a.repo, f"sha256-{hexd}.sig", doc, OCI_MANIFEST)[0]
    if a.att:
        statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                                "predicateType": "https://slsa.dev/provenance/v0.2",
                                "subject": [{"name": a.repo, "digest": {"sha256": hexd}}],
                                "predicate": {}}).encode()
        envelope = json.dumps({"payloadType": "application/vnd.in-toto+json",
                               "payload": base64.b64encode(statement).decode(),
                               "signatures": []}).encode()
        doc = manifest(base, a.repo, [envelope], ["application/vnd.dsse.envelope.v1+json"],
                       annotations=[{"predicateType": "https://slsa.dev/provenance/v0.2",
                                     "dev.cosignproject.cosign/signature": ""}])
        out["att"] = push_manifest(base, a.repo, f"sha256-{hexd}.att", doc, OCI_MANIFEST)[0]
    if a.sbom:
        sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": a.repo}).encode()
        doc = manifest(base, a.repo, [sbom], ["text/spdx+json"])
        out["sbom"] = push_manifest(base, a.repo, f"sha256-{hexd}.sbom", doc, OCI_MANIFEST)[0]
    if a.referrer:
        _, headers, subject = request("GET", f"{base}/v2/{a.repo}/manifests/{a.digest}",
                                      headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}, "
                                               "application/vnd.docker.distribution.manifest.v2+json, "
                                               "application/vnd.docker.distribution.manifest.list.v2+json"})
        art = "application/vnd.example.sbom+json"
        doc = manifest(base, a.repo, [b'{"sbom":true}'], [art], config=b"{}",
                       extra={"artifactType": art,
                              "subject": {"mediaType": headers["Content-Type"],
                                          "digest": a.digest, "size": len(subject)}})
        doc["config"]["mediaType"] = "application/vnd.oci.empty.v1+json"
        data = json.dumps(doc, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        request("PUT", f"{base}/v2/{a.repo}/manifests/{digest}", data,
                {"Content-Type": OCI_MANIFEST})
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                 "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest,
                                "size": len(data), "artifactType": art}]}
        push_manifest(base, a.repo, f"sha256-{hexd}", index, OCI_INDEX)
        out["referrer"] = digest
    print(json.dumps(out))


if __name__ == "__main__":
    main()
