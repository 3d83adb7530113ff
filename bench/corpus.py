#!/usr/bin/python3
"""Generate one of bale's benchmark corpora and push it into a registry.

Usage: corpus.py SHAPE HOST [--cache DIR] [--images N]

Shapes (deterministic: the same arguments give the same digests on every machine):
  bench      8 images x 2 platforms (linux/amd64, linux/arm64); each platform has one
             base layer shared by every image (~24 MB gzip) and each image has its own
             app layer per platform (~8 MB gzip): ~180 MB of unique layers.
  large      the same shape at ~2 GB (base ~270 MB, app ~90 MB).
  many       200 small images, linux/amd64: a shared 64 KiB base, a 16 KiB app layer.
  synthetic  10,000 tiny images sharing one layer: for index size and per-image cost.
  real       4 images x 2 platforms of real files: each platform's base layer holds 64 MB
             of this machine's /usr, each image's app layer the next 12 MB, gzip -6 as
             registries serve them (~100 MB of unique layers; the digests follow the
             machine's /usr).

Layer bytes (but real's) alternate 4 KiB of text and 4 KiB of seeded random bytes, so gzip
halves them and no tool can win by compressing well. Layers are real tar+gzip files with
correct diff_ids (containerd unpacks them). Generated layers are kept in --cache and
reused. Images go to HOST/<shape>/appNNNN:1 over the distribution API (blob upload,
cross-repository mounts for shared layers, manifests and indexes by tag). Prints JSON:
{"refs": [...], "bytes": N} with N the total size of unique blobs.

Standard library only; Debian's /usr/bin/python3.
"""

import argparse
import gzip
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import sys
import tarfile

# The test images' helpers and constants: the same media types, times and JSON bytes.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from mkimages import CREATED, MT_CONFIG, MT_INDEX, MT_LAYER, MT_MANIFEST, MTIME, dumps, sha256  # noqa: E402

MIB = 1 << 20

AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64", "variant": "v8"}

# name: (images, platforms, base gzip bytes, app gzip bytes)
SHAPES = {
    "bench": (8, [AMD64, ARM64], 24 * MIB, 8 * MIB),
    "large": (8, [AMD64, ARM64], 270 * MIB, 90 * MIB),
    "many": (200, [AMD64], 64 << 10, 16 << 10),
    "synthetic": (10000, [AMD64], 4 << 10, 0),
    "real": (4, [AMD64, ARM64], 64 * MIB, 12 * MIB),  # sizes of /usr taken, before gzip
}
REAL_ROOT = "/usr"


class Hashing:
    """A write-only file that hashes what passes to the file under it."""

    def __init__(self, under):
        self.under, self.h = under, hashlib.sha256()

    def write(self, data):
        self.h.update(data)
        return self.under.write(data)

    def flush(self):
        self.under.flush()


class Payload:
    """size bytes of alternating 4 KiB text and 4 KiB seeded random, readable as a file."""

    def __init__(self, size, seed):
        self.left, self.rng, self.odd, self.rest = size, random.Random(seed), False, b""
        line = b"bale benchmark payload: the quick brown fox jumps over the lazy dog\n"
        self.text = (line * (4096 // len(line) + 1))[:4096]

    def read(self, n=-1):
        want = self.left if n < 0 else min(n, self.left)
        out = bytearray(self.rest)
        while len(out) < want:
            out += self.rng.randbytes(4096) if self.odd else self.text
            self.odd = not self.odd
        chunk, self.rest = bytes(out[:want]), bytes(out[want:])
        self.left -= len(chunk)
        return chunk


def real_files():
    """Every regular file under REAL_ROOT, sorted, with its size: the real corpus's source."""
    out = []
    for top, dirs, files in os.walk(REAL_ROOT):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(top, f)
            if os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.R_OK):
                out.append((p, os.path.getsize(p)))
    return out


def make_real_layer(path, files):
    """A tar+gzip -6 layer of the files (paths of this machine), written once."""
    with open(path + ".tmp", "wb") as out:
        digest = Hashing(out)
        with gzip.GzipFile(filename="", mode="wb", fileobj=digest, mtime=0, compresslevel=6) as gz:
            diff = Hashing(gz)
            with tarfile.open(fileobj=diff, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for p in files:
                    info = tar.gettarinfo(p, arcname=p.lstrip("/"))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
                    with open(p, "rb") as f:
                        tar.addfile(info, f)
    return digest, diff


def make_payload_layer(path, gz_size, seed, name):
    """A tar+gzip -1 layer of one file of Payload bytes, about gz_size compressed."""
    raw_size = max(1024, gz_size * 2 - gz_size // 64)
    with open(path + ".tmp", "wb") as out:
        digest = Hashing(out)
        with gzip.GzipFile(filename="", mode="wb", fileobj=digest, mtime=0, compresslevel=1) as gz:
            diff = Hashing(gz)
            with tarfile.open(fileobj=diff, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = raw_size, MTIME, 0o644
                info.uname = info.gname = "root"
                tar.addfile(info, Payload(raw_size, seed))
    return digest, diff


def make_layer(spec):
    """spec: (path, gzip size wanted, seed, file name), or for the real corpus (path,
    None, None, [files]). Writes path (tar+gzip) once; returns (digest, diff_id, size)."""
    path, gz_size, seed, name = spec
    meta = path + ".json"
    if os.path.exists(meta):
        with open(meta) as f:
            return tuple(json.load(f))
    if gz_size is None:
        digest, diff = make_real_layer(path, name)
    else:
        digest, diff = make_payload_layer(path, gz_size, seed, name)
    size = os.path.getsize(path + ".tmp")
    os.rename(path + ".tmp", path)
    result = ("sha256:" + digest.h.hexdigest(), "sha256:" + diff.h.hexdigest(), size)
    with open(meta, "w") as f:
        json.dump(result, f)
    return result


class Registry:
    def __init__(self, host):
        self.host = host
        self.conn = http.client.HTTPConnection(host, timeout=120)
        self.has = {}  # digest -> a repository that holds it

    def request(self, method, path, body=None, headers=None, ok=(200, 201, 202)):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        r.read()
        if r.status not in ok:
            sys.exit("corpus.py: %s %s: HTTP %d" % (method, path, r.status))
        return r

    def upload(self, repo, digest, size, body):
        """body: bytes or a path. Mounted from another repository when one has it."""
        if digest in self.has:
            if self.has[digest] == repo:
                return
            r = self.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s"
                             % (repo, digest, self.has[digest]))
            if r.status == 201:
                self.has[digest] = repo
                return
        else:
            r = self.request("POST", "/v2/%s/blobs/uploads/" % repo)
        location = r.getheader("Location")
        if location.startswith("http"):
            location = "/" + location.split("/", 3)[3]
        sep = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(body, bytes):
            self.request("PUT", location + sep + "digest=" + digest, body, headers)
        else:
            with open(body, "rb") as f:
                self.request("PUT", location + sep + "digest=" + digest, f, headers)
        self.has[digest] = repo

    def put_manifest(self, repo, ref, media_type, data):
        self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), data,
                     {"Content-Type": media_type})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shape", choices=sorted(SHAPES))
    ap.add_argument("host")
    ap.add_argument("--cache", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "bale-bench"))
    ap.add_argument("--images", type=int, help="only the first N images")
    args = ap.parse_args()
    n_images, platforms, base_size, app_size = SHAPES[args.shape]
    if args.images:
        n_images = min(n_images, args.images)
    cache = os.path.join(args.cache, args.shape)
    os.makedirs(cache, exist_ok=True)

    def arch(p):
        return p["architecture"] + ("-" + p["variant"] if "variant" in p else "")

    specs = {}  # key -> spec; seeds differ per shape so corpora share nothing
    shape_seed = sorted(SHAPES).index(args.shape) * 1000003
    if args.shape == "real":  # consecutive slices of /usr: bases first, then the apps
        files, at = real_files(), 0

        def take(size):
            nonlocal at
            start, total = at, 0
            while at < len(files) and total < size:
                total += files[at][1]
                at += 1
            return [p for p, _ in files[start:at]]
        for k, p in enumerate(platforms):
            specs[("base", k)] = (os.path.join(cache, "base-" + arch(p)), None, None,
                                  take(base_size))
        for i in range(n_images):
            for k, p in enumerate(platforms):
                specs[("app", k, i)] = (os.path.join(cache, "app-%04d-%s" % (i, arch(p))), None,
                                        None, take(app_size))
    for k, p in enumerate(platforms if args.shape != "real" else []):
        specs[("base", k)] = (os.path.join(cache, "base-" + arch(p)), base_size,
                              shape_seed + k, "opt/base/data.bin")
        for i in range(n_images if app_size else 0):
            specs[("app", k, i)] = (os.path.join(cache, "app-%04d-%s" % (i, arch(p))), app_size,
                                    shape_seed + 100 + i * len(platforms) + k, "opt/app/data.bin")
    keys = list(specs)
    with multiprocessing.Pool(os.cpu_count() or 2) as pool:
        layers = dict(zip(keys, pool.map(make_layer, [specs[k] for k in keys], chunksize=1)))

    reg = Registry(args.host)
    refs, unique = [], {}
    for i in range(n_images):
        repo = "%s/app%04d" % (args.shape, i)
        children = []
        for k, p in enumerate(platforms):
            used = [("base", k)] + ([("app", k, i)] if app_size else [])
            for key in used:
                digest, _, size = layers[key]
                reg.upload(repo, digest, size, specs[key][0])
                unique[digest] = size
            config = dumps({
                "created": CREATED, "architecture": p["architecture"], "os": p["os"],
                **({"variant": p["variant"]} if "variant" in p else {}),
                "config": {"Cmd": ["/bin/sh"], "Labels": {"io.bale.bench.image": repo}},
                "rootfs": {"type": "layers", "diff_ids": [layers[key][1] for key in used]},
            })
            reg.upload(repo, sha256(config), len(config), config)
            unique[sha256(config)] = len(config)
            manifest = dumps({
                "schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": sha256(config), "size": len(config)},
                "layers": [{"mediaType": MT_LAYER, "digest": layers[key][0], "size": layers[key][2]}
                           for key in used],
            })
            unique[sha256(manifest)] = len(manifest)
            if len(platforms) == 1:
                reg.put_manifest(repo, "1", MT_MANIFEST, manifest)
            else:
                reg.put_manifest(repo, sha256(manifest), MT_MANIFEST, manifest)
                children.append({"mediaType": MT_MANIFEST, "digest": sha256(manifest),
                                 "size": len(manifest), "platform": p})
        if children:
            index = dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": children})
            reg.put_manifest(repo, "1", MT_INDEX, index)
            unique[sha256(index)] = len(index)
        refs.append("%s/%s:1" % (args.host, repo))
    json.dump({"refs": refs, "bytes": sum(unique.values())}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
