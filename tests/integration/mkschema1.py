#!/usr/bin/python3
"""Write a signed Docker schema 1 image (application/vnd.docker.distribution.manifest.v1+prettyjws)
for bale's integration tests, as docker 1.x pushed them.

Usage: mkschema1.py LAYOUT REPO TAG

Writes an OCI image layout LAYOUT holding one gzip layer and the signed manifest,
named REPO:TAG in index.json with the schema 1 media type (push_exact.py pushes it). The manifest is signed the way libtrust signs it, which distribution
checks on push: a JWS with alg ES256 and the public key in a `jwk` header (its `kid`
the libtrust key id), over the manifest without its "signatures", whose last bytes
the protected header records (formatLength, formatTail). The key is a fresh P-256 key
from the openssl command, so the signed bytes differ on each run; the manifest's
digest (sha256 of those bytes without the signatures, as distribution computes it)
does not. Prints a JSON summary like mkshapes.py's for the one shape.

Standard library and the openssl command only.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimages import CREATED, dumps, make_layer, sha256  # noqa: E402
from push_exact import schema1_payload  # noqa: E402

MT_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_ints(der):
    """(r, s) of an ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = []
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out.append(int.from_bytes(der[i + 2:i + 2 + n], "big"))
        i += 2 + n
    return out


def libtrust_key_id(spki_der):
    """libtrust's key id: base32 of the first 240 bits of SHA-256(SPKI DER), in 4-char groups."""
    s = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def sign(payload, workdir):
    key = os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spki = subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-outform", "DER"], check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    point = spki[-65:]  # uncompressed point: 04 || X || Y
    assert point[0] == 4
    jwk = {"crv": "P-256", "kid": libtrust_key_id(spki), "kty": "EC",
           "x": b64url(point[1:33]), "y": b64url(point[33:])}
    # libtrust: the JSON's last closing brace and the whitespace before it are the tail.
    close = len(payload.rstrip()) - 1
    assert payload[close:close + 1] == b"}"
    fmt_len = len(payload[:close].rstrip())
    protected = b64url(json.dumps({"formatLength": fmt_len, "formatTail": b64url(payload[fmt_len:]),
                                   "time": CREATED}).encode())
    signing_input = (protected + "." + b64url(payload)).encode()
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input, check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    r, s = der_ints(der)
    sig = {"header": {"jwk": jwk, "alg": "ES256"},
           "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
           "protected": protected}
    # libtrust's PrettySignature: the payload up to formatLength, the signatures, then "}".
    sigs = json.dumps([sig], indent=3)
    sigs = sigs.replace("\n", "\n   ")
    return payload[:fmt_len] + b',\n   "signatures": ' + sigs.encode() + b"\n}"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    layout, repo, tag = sys.argv[1:]
    blobdir = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobdir, exist_ok=True)
    gz, diff = make_layer([("etc/bale-shape", b"schema1\n", 0o644),
                           ("bin/hello", b"#!/bin/sh\necho hello from a schema 1 image\n", 0o755)])
    layer = sha256(gz)
    with open(os.path.join(blobdir, layer[7:]), "wb") as f:
        f.write(gz)
    v1 = json.dumps({"id": hashlib.sha256(diff.encode()).hexdigest(), "created": CREATED,
                     "architecture": "amd64", "os": "linux",
                     "config": {"Cmd": ["/bin/hello"]}}, separators=(",", ":"))
    manifest = {"schemaVersion": 1, "name": repo, "tag": tag, "architecture": "amd64",
                "fsLayers": [{"blobSum": layer}], "history": [{"v1Compatibility": v1}]}
    payload = json.dumps(manifest, indent=3).encode()
    with tempfile.TemporaryDirectory() as work:
        signed = sign(payload, work)
    assert schema1_payload(signed) == payload
    blob = sha256(signed)
    with open(os.path.join(blobdir, blob[7:]), "wb") as f:
        f.write(signed)
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": MT_SCHEMA1, "digest": blob, "size": len(signed),
         "annotations": {"org.opencontainers.image.ref.name": repo + ":" + tag}}]}
    with open(os.path.join(layout, "oci-layout"), "wb") as f:
        f.write(dumps({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(dumps(index))
    json.dump({"schema1": {"ref": repo + ":" + tag, "repo": repo, "tag": tag, "digest": sha256(payload),
                           "signed": blob, "mediaType": MT_SCHEMA1, "manifests": [], "blobs": [layer],
                           "foreign": []}}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
