#!/usr/bin/python3
"""Build small, deterministic OCI image layouts for bale's integration tests.

Usage: mkimages.py [--layer-kib N] [--seed S] [--kinds multi,single] OUTDIR

Writes one OCI image layout per kind:
  OUTDIR/multi   ref "multi": an OCI index for linux/amd64, linux/arm64/v8 and
                 linux/arm/v7; every manifest has a shared base layer and a
                 per-architecture layer.
  OUTDIR/single  ref "single": one OCI manifest for linux/amd64.
and prints a JSON summary (digests of every index, manifest, config, layer).

Everything is reproducible: fixed mtimes, uid/gid 0, gzip mtime 0 and no file
name in the gzip header, fixed JSON key order, and a seeded PRNG for the
optional big file (--layer-kib), so the same arguments give the same digests
on every run.  Standard library only.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

MTIME = 1700000000  # 2023-11-14T22:13:20Z: any fixed value works
CREATED = "2023-11-14T22:13:20Z"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

PLATFORMS = [
    {"os": "linux", "architecture": "amd64"},
    {"os": "linux", "architecture": "arm64", "variant": "v8"},
    {"os": "linux", "architecture": "arm", "variant": "v7"},
]


def dumps(obj):
    # Compact and in insertion order: the bytes, hence the digest, never vary.
    return json.dumps(obj, separators=(",", ":")).encode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout on disk; blobs are written once, by digest."""

    def __init__(self, path):
        self.path = path
        self.blobdir = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blobdir, exist_ok=True)
        self.refs = []

    def put(self, blob, media_type, **extra):
        # extra: more descriptor fields, "data" (an embedded blob) among them.
        digest = sha256(blob)
        dest = os.path.join(self.blobdir, digest.split(":", 1)[1])
        if not os.path.exists(dest):
            with open(dest, "wb") as f:
                f.write(blob)
        desc = {"mediaType": media_type, "digest": digest, "size": len(blob)}
        desc.update(extra)
        return desc

    def tag(self, desc, ref):
        d = dict(desc)
        d["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.refs.append(d)

    def close(self):
        with open(os.path.join(self.path, "oci-layout"), "wb") as f:
            f.write(dumps({"imageLayoutVersion": "1.0.0"}))
        with open(os.path.join(self.path, "index.json"), "wb") as f:
            f.write(dumps({"schemaVersion": 2, "manifests": self.refs}))


def big_bytes(kib, seed):
    """kib KiB alternating 4 KiB of text and 4 KiB of seeded random bytes, so
    gzip can squeeze only about half of it and the layer stays big."""
    rng = random.Random(seed)
    line = b"bale integration test payload: the quick brown fox jumps over the lazy dog\n"
    text = (line * (4096 // len(line) + 1))[:4096]
    out = bytearray()
    chunk = 0
    while len(out) < kib * 1024:
        out += text if chunk % 2 == 0 else rng.randbytes(4096)
        chunk += 1
    return bytes(out[: kib * 1024])


def make_layer(files):
    """files: list of (path, bytes, mode). Directories implied by paths are
    added first. Returns (gzip bytes, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs = sorted({os.path.dirname(p) for p, _, _ in files} - {""})
        seen = set()
        for d in dirs:
            parts = d.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub in seen:
                    continue
                seen.add(sub)
                add_entry(tar, sub, None, 0o755)
        for path, data, mode in sorted(files):
            add_entry(tar, path, data, mode)
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    # mtime=0 and an empty file name keep the gzip header constant.
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0, compresslevel=6) as g:
        g.write(tar_bytes)
    return gz.getvalue(), sha256(tar_bytes)


def add_entry(tar, path, data, mode):
    info = tarfile.TarInfo(path)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = mode
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def make_image(layout, platform, layers, kind, summary):
    """Write config + manifest for one platform; returns the manifest descriptor."""
    arch = platform["architecture"] + ("/" + platform["variant"] if "variant" in platform else "")
    layer_descs = [layout.put(gz, MT_LAYER) for gz, _ in layers]
    config = {
        "created": CREATED,
        "architecture": platform["architecture"],
        "os": platform["os"],
    }
    if "variant" in platform:
        config["variant"] = platform["variant"]
    config["config"] = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["/bin/hello"],
        "Labels": {
            "org.opencontainers.image.title": "bale-test-" + kind,
            "org.opencontainers.image.version": "1",
            "io.bale.test.platform": platform["os"] + "/" + arch,
        },
    }
    config["rootfs"] = {"type": "layers", "diff_ids": [diff for _, diff in layers]}
    config["history"] = [
        {"created": CREATED, "created_by": "mkimages.py layer %d" % i} for i in range(len(layers))
    ]
    config_desc = layout.put(dumps(config), MT_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
        "annotations": {"org.opencontainers.image.created": CREATED},
    }
    desc = layout.put(dumps(manifest), MT_MANIFEST)
    summary.append({
        "platform": platform["os"] + "/" + arch,
        "manifest": desc["digest"],
        "config": config_desc["digest"],
        "layers": [d["digest"] for d in layer_descs],
    })
    return desc


def base_layer(kib, seed):
    files = [
        ("etc/os-release", b'NAME="bale test"\nID=baletest\nVERSION_ID=1\n', 0o644),
        ("bin/hello", b"#!/bin/sh\necho hello from a bale test image\n", 0o755),
    ]
    if kib > 0:
        files.append(("data/big.bin", big_bytes(kib, seed), 0o644))
    return make_layer(files)


def arch_layer(platform):
    arch = platform["architecture"] + ("/" + platform["variant"] if "variant" in platform else "")
    return make_layer([("etc/bale-arch", (platform["os"] + "/" + arch + "\n").encode(), 0o644)])


def build_multi(outdir, kib, seed):
    layout = Layout(os.path.abspath(os.path.join(outdir, "multi")))
    base = base_layer(kib, seed)
    images = []
    descs = []
    for p in PLATFORMS:
        d = make_image(layout, p, [base, arch_layer(p)], "multi", images)
        d["platform"] = dict(p)
        descs.append(d)
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": descs}
    idx = layout.put(dumps(index), MT_INDEX)
    layout.tag(idx, "multi")
    layout.close()
    return {"layout": layout.path, "ref": "multi", "digest": idx["digest"],
            "mediaType": MT_INDEX, "images": images}


def build_single(outdir, kib, seed):
    layout = Layout(os.path.abspath(os.path.join(outdir, "single")))
    images = []
    p = PLATFORMS[0]
    d = make_image(layout, p, [base_layer(kib, seed), arch_layer(p)], "single", images)
    layout.tag(d, "single")
    layout.close()
    return {"layout": layout.path, "ref": "single", "digest": d["digest"],
            "mediaType": MT_MANIFEST, "images": images}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--layer-kib", type=int, default=0,
                    help="add N KiB of half-text/half-random bytes to the base layer")
    ap.add_argument("--seed", type=int, default=1, help="seed for the random bytes")
    ap.add_argument("--kinds", default="multi,single", help="comma-separated: multi,single")
    args = ap.parse_args()
    if args.layer_kib < 0:
        ap.error("--layer-kib must be >= 0")
    builders = {"multi": build_multi, "single": build_single}
    summary = {}
    for kind in args.kinds.split(","):
        if kind not in builders:
            ap.error("unknown kind %r (want multi or single)" % kind)
        summary[kind] = builders[kind](args.outdir, args.layer_kib, args.seed)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
