#!/usr/bin/python3
"""A read-only OCI distribution registry that serves what a real registry would refuse to
store, for bale's tests of bounded work and hostile content. Listens on 127.0.0.1 only and
stops by itself after --lifetime seconds. Standard library only.

Repositories (all under /v2/, GET and HEAD, by tag or digest):
  plain/image:1      an ordinary OCI index: linux/amd64 and linux/arm64/v8
  fat/index:1        an OCI index of --children manifests of --child-bytes each (padded
                     with an annotation), every one distinct, all sharing one config and
                     one small layer; made on request, so nothing big is kept in memory
  amb/image:as-index the same bytes under both tags: no mediaType, both "manifests" and
  amb/image:as-image "layers"; only Content-Type says index (linux/amd64 child) or image
                     (an arm64 config): the CVE-2021-41190 ambiguity
  amb/image:typed-index-with-layers     mediaType index, with config and layers too
  amb/image:typed-image-with-manifests  mediaType manifest, with manifests too
  huge/image:1       a manifest whose layer declares 10^15 bytes
  huge/image:2       the same layer declaring --huge-size bytes
                     (the layer's bytes stream without end, up to --endless-cap)
  esc/image:1        an image whose config labels, created time and layer media type
                     carry terminal escape sequences
Logs one line per request to --log (method and path).
"""
import argparse
import hashlib
import http.server
import json
import threading

ARGS = None
LOCK = threading.Lock()

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Content:
    """Blobs and manifests by digest; tags per repository."""

    def __init__(self):
        self.blobs = {}      # digest -> bytes
        self.manifests = {}  # digest -> (make() -> bytes, content type)
        self.tags = {}       # (repo, tag) -> digest
        self.endless = {}    # digest -> byte pattern streamed without end

    def blob(self, data, media_type):
        d = sha256(data)
        self.blobs[d] = data
        return {"mediaType": media_type, "digest": d, "size": len(data)}

    def manifest(self, data, content_type, repo=None, tag=None, digest=None):
        d = digest or sha256(data)
        self.manifests[d] = ((lambda: data) if isinstance(data, bytes) else data, content_type)
        if repo:
            self.tags[(repo, tag)] = d
        return d


def config(arch, variant=None, labels=None, created="2024-01-01T00:00:00Z"):
    c = {"architecture": arch, "os": "linux", "created": created,
         "config": {"Labels": labels or {}},
         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}
    if variant:
        c["variant"] = variant
    return dumps(c)


def build():
    c = Content()
    layer = c.blob(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                   MT_LAYER)
    amd64 = c.blob(config("amd64"), MT_CONFIG)
    arm64 = c.blob(config("arm64", "v8"), MT_CONFIG)

    # fat/index:1 — children made on request from their number.
    pad = b"x" * ARGS.child_bytes

    def child_parts(i):
        head = dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": amd64,
                      "layers": [layer], "annotations": {"org.example.child": str(i),
                                                         "org.example.padding": ""}})
        head, tail = head[:-3], head[-3:]  # ...padding":"  |  "}}
        room = ARGS.child_bytes - len(head) - len(tail)
        return head, max(room, 0), tail

    entries = []
    for i in range(ARGS.children):
        head, room, tail = child_parts(i)
        h = hashlib.sha256(head)
        h.update(pad[:room])
        h.update(tail)
        d = "sha256:" + h.hexdigest()

        def make(i=i):
            head, room, tail = child_parts(i)
            return head + pad[:room] + tail

        c.manifest(make, MT_MANIFEST, digest=d)
        entries.append({"mediaType": MT_MANIFEST, "digest": d,
                        "size": len(head) + room + len(tail),
                        "platform": {"architecture": "amd64", "os": "linux"}})
    c.manifest(dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}),
               MT_INDEX, "fat/index", "1")

    # plain/image:1 — an ordinary index of two platforms, for bundles to tamper with.
    plain = []
    for cfg, plat in ((amd64, {"architecture": "amd64", "os": "linux"}),
                      (arm64, {"architecture": "arm64", "os": "linux", "variant": "v8"})):
        body = dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": cfg,
                      "layers": [layer]})
        plain.append({"mediaType": MT_MANIFEST, "digest": c.manifest(body, MT_MANIFEST),
                      "size": len(body), "platform": plat})
    c.manifest(dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": plain}),
               MT_INDEX, "plain/image", "1")

    # amb/image — one body, two readings.
    child = dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": amd64,
                   "layers": [layer]})
    child_digest = c.manifest(child, MT_MANIFEST)
    child_desc = {"mediaType": MT_MANIFEST, "digest": child_digest, "size": len(child),
                  "platform": {"architecture": "amd64", "os": "linux"}}
    ambiguous = dumps({"schemaVersion": 2, "manifests": [child_desc], "config": arm64,
                       "layers": [layer]})
    d = sha256(ambiguous)
    c.manifest(ambiguous, MT_INDEX)
    c.tags[("amb/image", "as-index")] = d
    c.tags[("amb/image", "as-image")] = d
    ctype = {"as-index": MT_INDEX, "as-image": MT_MANIFEST}
    c.tag_types = {("amb/image", t): ct for t, ct in ctype.items()}
    c.manifest(dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [child_desc],
                      "config": arm64, "layers": [layer]}),
               MT_INDEX, "amb/image", "typed-index-with-layers")
    c.manifest(dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": amd64,
                      "layers": [layer], "manifests": [child_desc]}),
               MT_MANIFEST, "amb/image", "typed-image-with-manifests")

    # huge/image — declared sizes beyond reason; the bytes never end.
    endless = b"\0" * 16  # any digest will do: the download never gets that far
    fake = "sha256:" + hashlib.sha256(b"bale endless layer").hexdigest()
    c.endless[fake] = endless
    for tag, size in (("1", 10 ** 15), ("2", ARGS.huge_size)):
        c.manifest(dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": amd64,
                          "layers": [{"mediaType": MT_LAYER, "digest": fake, "size": size}]}),
                   MT_MANIFEST, "huge/image", tag)

    # esc/image — escape sequences wherever a registry may put free text.
    esc_labels = {
        "title": "\x1b]0;PWNED\x07retitled",
        "colour": "\x1b[31;1mred\x1b[0m",
        "c1": "\u009b31mcsi",
        "newline": "line1\nline2",
        "bidi": "abc\u202edcba",
        "plain": "Grüße",
    }
    esc_config = c.blob(config("amd64", labels=esc_labels, created="\x1b]0;T\x07 2024"),
                        MT_CONFIG)
    esc_layer = dict(layer)
    esc_layer["mediaType"] = MT_LAYER + "\x1b[2J"
    c.manifest(dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": esc_config,
                      "layers": [esc_layer]}), MT_MANIFEST, "esc/image", "1")
    return c


CONTENT = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _log(self):
        if ARGS.log:
            with LOCK, open(ARGS.log, "a") as f:
                f.write("%s %s\n" % (self.command, self.path.split("?")[0]))

    def _send(self, status, ctype, data, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _not_found(self, code="MANIFEST_UNKNOWN"):
        self._send(404, "application/json",
                   dumps({"errors": [{"code": code, "message": "unknown"}]}))

    def _endless(self, pattern, declared):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        if self.command == "HEAD":
            return
        chunk = pattern * (65536 // len(pattern))
        sent = 0
        try:
            while sent < ARGS.endless_cap:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        self.close_connection = True

    def _handle(self):
        self._log()
        path = self.path.split("?")[0]
        if path in ("/v2/", "/v2"):
            return self._send(200, "application/json", b"{}")
        if not path.startswith("/v2/"):
            return self._not_found("NAME_UNKNOWN")
        rest = path[4:]
        if "/manifests/" in rest:
            repo, ref = rest.rsplit("/manifests/", 1)
            digest = ref if ref.startswith("sha256:") else CONTENT.tags.get((repo, ref))
            if not digest or digest not in CONTENT.manifests:
                return self._not_found()
            make, ctype = CONTENT.manifests[digest]
            ctype = getattr(CONTENT, "tag_types", {}).get((repo, ref), ctype)
            return self._send(200, ctype, make(), [("Docker-Content-Digest", digest)])
        if "/blobs/" in rest:
            digest = rest.rsplit("/blobs/", 1)[1]
            if digest in CONTENT.endless:
                declared = 10 ** 15
                return self._endless(CONTENT.endless[digest], declared)
            if digest not in CONTENT.blobs:
                return self._not_found("BLOB_UNKNOWN")
            return self._send(200, "application/octet-stream", CONTENT.blobs[digest],
                              [("Docker-Content-Digest", digest)])
        return self._not_found("NAME_UNKNOWN")

    do_GET = do_HEAD = _handle


def main():
    global ARGS, CONTENT
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", default="")
    p.add_argument("--children", type=int, default=400)
    p.add_argument("--child-bytes", type=int, default=4_000_000)
    p.add_argument("--huge-size", type=int, default=10 ** 12)
    p.add_argument("--endless-cap", type=int, default=64 << 20,
                   help="bytes of an endless blob sent before hanging up")
    p.add_argument("--lifetime", type=int, default=300)
    ARGS = p.parse_args()
    CONTENT = build()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    threading.Timer(ARGS.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
