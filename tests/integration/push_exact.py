#!/usr/bin/python3
"""Push an OCI image layout to a registry byte for byte, over the distribution API.

Usage: push_exact.py [--ref REF]... LAYOUT http://HOST[:PORT]

Each index.json entry is named "REPO:TAG" (org.opencontainers.image.ref.name)
and goes to REPO:TAG on the registry; --ref pushes only the named ones.
Children go before their parents (the registry refuses an index whose
manifests it lacks), each manifest by digest first and the root by tag last.

Blobs: HEAD first, skipped when present; else one monolithic upload
(POST /v2/REPO/blobs/uploads/, then PUT LOCATION?digest=…). Layers of the
foreign / non-distributable media types are never pushed: the registry keeps
only their descriptors, the bytes live at their `urls`.

Manifests: PUT with their exact bytes, Content-Type = their own mediaType, or,
when they have none, the media type their descriptor records (index.json for
a root, the parent's descriptor for a child). Every manifest is read back
(GET by digest, and by tag for a root) and must come back byte for byte with
the digest it was pushed under. A signed schema 1 manifest (its index.json entry says so) goes by tag only:
distribution 2.8 takes its digest over the bytes without the signatures and
signs it anew when read back, so the digest and those bytes are what is
checked. Plain HTTP; standard library only (urllib).
Prints "REPO:TAG DIGEST" for each pushed root.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

FOREIGN = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
}
MANIFEST_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
]
INDEX_TYPES = {MANIFEST_TYPES[1], MANIFEST_TYPES[3]}
SCHEMA1 = MANIFEST_TYPES[4]
ACCEPT = ", ".join(MANIFEST_TYPES)


class PushError(Exception):
    pass


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def schema1_payload(signed):
    """What a signed schema 1 manifest's digest is taken over (libtrust): the bytes up to
    the protected header's formatLength, then its formatTail."""
    doc = json.loads(signed)
    protected = doc["signatures"][0]["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    tail = header["formatTail"]
    return signed[:header["formatLength"]] + base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))


class Registry:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.blobs_sent = 0
        self.blobs_skipped = 0

    def request(self, method, url, data=None, headers=None, ok=(200,)):
        if not url.startswith("http"):
            url = self.base + url
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            if e.code in ok:
                return e.code, e.headers, body
            raise PushError("%s %s: HTTP %d: %s" % (method, url, e.code, body[:300].decode(errors="replace")))

    def push_blob(self, repo, digest, path):
        status, _, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest), ok=(200, 404))
        if status == 200:
            self.blobs_skipped += 1
            return
        with open(path, "rb") as f:
            data = f.read()
        if digest_of(data) != digest:
            raise PushError("%s: content hashes to %s" % (path, digest_of(data)))
        _, headers, _ = self.request("POST", "/v2/%s/blobs/uploads/" % repo, ok=(202,))
        location = headers.get("Location")
        if not location:
            raise PushError("POST upload for %s in %s: no Location" % (digest, repo))
        location = urllib.parse.urljoin(self.base + "/", location)
        sep = "&" if "?" in location else "?"
        self.request("PUT", location + sep + "digest=" + urllib.parse.quote(digest), data=data,
                     headers={"Content-Type": "application/octet-stream",
                              "Content-Length": str(len(data))}, ok=(201,))
        self.blobs_sent += 1

    def put_manifest(self, repo, reference, data, media_type, want=None):
        _, headers, _ = self.request("PUT", "/v2/%s/manifests/%s" % (repo, reference), data=data,
                                     headers={"Content-Type": media_type}, ok=(201,))
        want = want or digest_of(data)
        got = headers.get("Docker-Content-Digest")
        if got and got != want:
            raise PushError("PUT %s:%s: registry says %s, the bytes are %s" % (repo, reference, got, want))

    def check_manifest(self, repo, reference, data, media_type):
        _, headers, body = self.request("GET", "/v2/%s/manifests/%s" % (repo, reference),
                                        headers={"Accept": ACCEPT})
        if body != data:
            raise PushError("GET %s:%s: %d bytes come back (%s), %d pushed (%s)" % (
                repo, reference, len(body), digest_of(body), len(data), digest_of(data)))
        got = headers.get("Docker-Content-Digest")
        if got != digest_of(data):
            raise PushError("GET %s:%s: Docker-Content-Digest %s, want %s" % (repo, reference, got, digest_of(data)))
        ctype = headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != media_type:
            raise PushError("GET %s:%s: Content-Type %s, pushed as %s" % (repo, reference, ctype, media_type))


class Pusher:
    def __init__(self, layout, registry):
        self.layout = layout
        self.reg = registry
        self.done = set()  # (repo, digest) of manifests pushed in this run

    def blob_path(self, digest):
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.layout, "blobs", algo, hexd)

    def read(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            data = f.read()
        if digest_of(data) != digest:
            raise PushError("%s: content hashes to %s" % (self.blob_path(digest), digest_of(data)))
        return data

    def push_schema1(self, repo, desc, tag):
        """A signed schema 1 manifest: by tag only (its digest is that of the bytes without
        the signatures, which distribution 2.8 replaces with its own when read back), so
        only that digest and those bytes can be checked."""
        data = self.read(desc["digest"])
        doc = json.loads(data)
        for layer in doc.get("fsLayers", []):
            self.reg.push_blob(repo, layer["blobSum"], self.blob_path(layer["blobSum"]))
        self.reg.put_manifest(repo, tag, data, SCHEMA1, want=digest_of(schema1_payload(data)))
        _, headers, body = self.reg.request("GET", "/v2/%s/manifests/%s" % (repo, tag),
                                            headers={"Accept": ACCEPT})
        want = schema1_payload(data)
        if schema1_payload(body) != want or headers.get("Docker-Content-Digest") != digest_of(want):
            raise PushError("GET %s:%s: the schema 1 manifest comes back as %s, pushed as %s" % (
                repo, tag, headers.get("Docker-Content-Digest"), digest_of(want)))

    def push_tree(self, repo, desc, tag=None):
        """Push the manifest or index desc names, and everything below it."""
        if desc.get("mediaType") == SCHEMA1:
            return self.push_schema1(repo, desc, tag)
        digest = desc["digest"]
        data = self.read(digest)
        doc = json.loads(data)
        media_type = doc.get("mediaType") or desc.get("mediaType")
        if not media_type:
            raise PushError("%s: no mediaType in the manifest nor in its descriptor" % digest)
        if (repo, digest) not in self.done:
            if media_type in INDEX_TYPES or "manifests" in doc:
                for child in doc.get("manifests", []):
                    self.push_tree(repo, child)
            else:
                for blob in [doc.get("config")] + doc.get("layers", []):
                    if blob is None:
                        continue
                    if blob.get("mediaType") in FOREIGN:
                        continue
                    self.reg.push_blob(repo, blob["digest"], self.blob_path(blob["digest"]))
            self.reg.put_manifest(repo, digest, data, media_type)
            self.reg.check_manifest(repo, digest, data, media_type)
            self.done.add((repo, digest))
        if tag is not None:
            self.reg.put_manifest(repo, tag, data, media_type)
            self.reg.check_manifest(repo, tag, data, media_type)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("layout")
    ap.add_argument("registry", help="http://HOST:PORT")
    ap.add_argument("--ref", action="append", default=[], help="push only this REPO:TAG (repeatable)")
    args = ap.parse_args()
    with open(os.path.join(args.layout, "index.json"), "rb") as f:
        index = json.load(f)
    reg = Registry(args.registry)
    pusher = Pusher(args.layout, reg)
    wanted = set(args.ref)
    seen = set()
    try:
        for desc in index["manifests"]:
            ref = desc.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
            repo, _, tag = ref.rpartition(":")
            if not repo or not tag:
                raise PushError("index.json: ref name %r is not REPO:TAG" % ref)
            if wanted and ref not in wanted:
                continue
            seen.add(ref)
            pusher.push_tree(repo, desc, tag)
            print("%s %s" % (ref, desc["digest"]))
        if wanted - seen:
            raise PushError("not in %s/index.json: %s" % (args.layout, ", ".join(sorted(wanted - seen))))
    except (PushError, OSError, ValueError) as e:
        print("push_exact: %s" % e, file=sys.stderr)
        return 1
    print("push_exact: %d blobs uploaded, %d already there" % (reg.blobs_sent, reg.blobs_skipped),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
