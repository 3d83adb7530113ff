#!/usr/bin/python3
"""A small misbehaving registry for bale's credential and network tests.

One process plays one server (--role), on 127.0.0.1 only, and stops by itself after
--lifetime seconds:

  registry  an OCI distribution registry serving one tiny image (tag "1", any
            repository), with no auth, Basic auth or bearer tokens, and faults on
            demand: redirect blob or manifest GETs elsewhere, drip bodies a few bytes
            a second, answer 429 with a Retry-After, send a giant response header,
            or serve tag 1 as a signed Docker schema 1 manifest, as distribution does.
  target    a redirect target that answers every request 401 with a Bearer
            challenge whose realm is on a third origin (--realm).
  token     a token server: a token for anyone (Basic credentials are checked when
            sent), or, as told, a token holding CR LF, or an endless token response.

Every request is appended to --log as one JSON line: the server's name, method, path
with query, every header as sent (Authorization values recorded as they are, so a test
can scan where a password went), and the first 4 KiB of a request body. The log lives
in the test's temporary directory. Standard library only.
"""
import argparse
import base64
import hashlib
import io
import json
import ssl
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
SCHEMA1_PAYLOAD = json.dumps({
    "schemaVersion": 1, "name": "old/app", "tag": "1", "architecture": "amd64",
    "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
    "history": [{"v1Compatibility": "{}"}]}, indent=3).encode()
SCHEMA1_DIGEST = "sha256:" + hashlib.sha256(SCHEMA1_PAYLOAD).hexdigest()
# the payload with a signature spliced in before its closing brace, as libtrust does
SCHEMA1_SIGNED = SCHEMA1_PAYLOAD[:-2] + (
    b',\n   "signatures": [{"header": {"alg": "ES256"}, "signature": "c2ln", '
    b'"protected": "e30"}]\n}')


def make_image():
    """A one-layer image, the same bytes in every run: {digest: (media type, bytes)}."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = b"hostile registry test layer\n" * 64
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    layer = layer_tar.getvalue()
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "config": {}}, sort_keys=True).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}]}, sort_keys=True).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    return manifest_digest, manifest, {
        config_digest: ("application/vnd.oci.image.config.v1+json", config),
        layer_digest: ("application/octet-stream", layer),
    }


MANIFEST_DIGEST, MANIFEST, BLOBS = make_image()


def log_request(handler, body):
    entry = {
        "server": ARGS.name,
        "method": handler.command,
        "path": handler.path,
        "headers": [[k, v] for k, v in handler.headers.items()],
        "body": body[:4096].decode("latin-1"),
    }
    with LOCK, open(ARGS.log, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile-registry/1"

    def log_message(self, *a):
        pass

    # ------------------------------------------------------------------ replies

    def reply(self, status, body=b"", headers=(), content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, headers=()):
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.reply(status, body, headers)

    def drip(self, status, body, headers, rate):
        """Promise the whole body, then send it `rate` bytes a second."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        deadline = time.monotonic() + ARGS.lifetime
        try:
            for i in range(0, len(body), rate):
                if time.monotonic() > deadline:
                    break
                self.wfile.write(body[i:i + rate])
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass  # the client hung up: what the test wants
        self.close_connection = True

    def redirect(self, base):
        self.send_response(307)
        self.send_header("Location", base + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # ------------------------------------------------------------------- roles

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        log_request(self, body)
        if ARGS.role == "target":
            challenge = 'Bearer realm="%s",service="hostile"' % ARGS.realm
            self.error(401, "UNAUTHORIZED", "authentication required",
                       [("WWW-Authenticate", challenge)])
        elif ARGS.role == "token":
            self.token()
        else:
            self.registry()

    def basic_ok(self):
        want = base64.b64encode(("%s:%s" % (ARGS.user, ARGS.password)).encode()).decode()
        return self.headers.get("Authorization", "") == "Basic " + want

    def token(self):
        sent = self.headers.get("Authorization")
        if sent and not self.basic_ok():
            self.error(401, "UNAUTHORIZED", "wrong credentials")
            return
        if ARGS.huge:
            self.huge_token()
            return
        token = ARGS.token + ("\r\nX-Injected: yes" if ARGS.crlf else "")
        self.reply(200, json.dumps({"token": token, "expires_in": 300}).encode())

    def huge_token(self):
        """{"token": "aaaa…"} of --huge bytes, streamed until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if ARGS.huge_length:
            self.send_header("Content-Length", str(ARGS.huge + 13))
        else:  # no length: the body ends when the connection does
            self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"a" * 65536
        try:
            self.wfile.write(b'{"token": "')
            sent = 0
            while sent < ARGS.huge:
                n = min(len(chunk), ARGS.huge - sent)
                self.wfile.write(chunk[:n])
                sent += n
            self.wfile.write(b'"}')
        except OSError:
            pass
        self.close_connection = True

    def authorized(self):
        if ARGS.auth == "none":
            return True
        if ARGS.auth == "basic":
            return self.basic_ok()
        return self.headers.get("Authorization", "") == "Bearer " + ARGS.token

    def challenge(self):
        if ARGS.auth == "basic":
            return 'Basic realm="hostile"'
        repo = self.path.split("/v2/", 1)[-1].rsplit("/", 2)[0]
        scope = ',scope="repository:%s:pull"' % repo if self.path != "/v2/" else ""
        # Without --realm, the token realm is this server's own /token.
        realm = ARGS.realm or "%s://%s/token" % ("https" if ARGS.tls else "http",
                                                 self.headers.get("Host"))
        return 'Bearer realm="%s",service="hostile"%s' % (realm, scope)

    def registry(self):
        path = self.path.split("?", 1)[0]
        if path == "/token" and ARGS.auth == "bearer":  # a token realm of its own origin
            self.token()
            return
        if not self.authorized():
            self.error(401, "UNAUTHORIZED", "authentication required",
                       [("WWW-Authenticate", self.challenge())])
            return
        if path in ("/v2/", "/v2"):
            self.reply(200, b"{}")
            return
        parts = path.split("/")
        if len(parts) < 5 or parts[1] != "v2":
            self.error(404, "NAME_UNKNOWN", "no such path")
            return
        kind, ref = parts[-2], parts[-1]
        if kind == "manifests":
            self.manifest(ref)
        elif kind == "blobs":
            self.blob(ref)
        else:
            self.error(404, "NAME_UNKNOWN", "no such path")

    def manifest(self, ref):
        if ARGS.schema1 and ref == "1":
            # distribution signs schema 1 anew on every GET and names the digest of the
            # unsigned payload: the body never hashes to Docker-Content-Digest.
            self.reply(200, SCHEMA1_SIGNED, [("Docker-Content-Digest", SCHEMA1_DIGEST)],
                       content_type="application/vnd.docker.distribution.manifest.v1+prettyjws")
            return
        if ref not in ("1", MANIFEST_DIGEST):
            self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        if ARGS.redirect_manifest and self.command == "GET":
            self.redirect(ARGS.redirect_manifest)
            return
        if ARGS.retry_after >= 0:
            self.error(429, "TOOMANYREQUESTS", "slow down",
                       [("Retry-After", str(ARGS.retry_after))])
            return
        headers = [("Docker-Content-Digest", MANIFEST_DIGEST)]
        if ARGS.big_header:
            headers.append(("X-Hostile", "h" * ARGS.big_header))
        if ARGS.drip_manifest and self.command == "GET":
            self.drip(200, MANIFEST, [("Content-Type", MANIFEST_TYPE)] + headers,
                      ARGS.drip_manifest)
            return
        self.reply(200, MANIFEST, headers, content_type=MANIFEST_TYPE)

    def blob(self, digest):
        if digest not in BLOBS:
            self.error(404, "BLOB_UNKNOWN", "blob unknown")
            return
        if ARGS.redirect_blob and self.command == "GET":
            self.redirect(ARGS.redirect_blob)
            return
        media_type, data = BLOBS[digest]
        headers = [("Docker-Content-Digest", digest)]
        if ARGS.drip_blob and self.command == "GET":
            self.drip(200, data, [("Content-Type", media_type)] + headers, ARGS.drip_blob)
            return
        self.reply(200, data, headers, content_type=media_type)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients hanging up on a drip or an endless answer is the point


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", required=True, help="recorded in every log line")
    p.add_argument("--log", required=True)
    p.add_argument("--lifetime", type=int, default=120, help="stop after this many seconds")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--role", choices=("registry", "target", "token"), default="registry")
    p.add_argument("--auth", choices=("none", "basic", "bearer"), default="none")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--realm", default="", help="bearer challenge realm (default: own /token)")
    p.add_argument("--token", default="hostile-token-0001", help="the bearer token in use")
    p.add_argument("--crlf", action="store_true", help="token: a token holding CR LF")
    p.add_argument("--huge", type=int, default=0, help="token: a token response this large")
    p.add_argument("--huge-length", action="store_true", help="... with a Content-Length")
    p.add_argument("--redirect-blob", default="", help="307 blob GETs to this URL base")
    p.add_argument("--redirect-manifest", default="", help="307 manifest GETs there")
    p.add_argument("--drip-blob", type=int, default=0, help="blob bodies at N bytes/s")
    p.add_argument("--drip-manifest", type=int, default=0, help="manifests at N bytes/s")
    p.add_argument("--retry-after", type=int, default=-1, help="manifests: 429 + Retry-After")
    p.add_argument("--big-header", type=int, default=0, help="manifests: a header this large")
    p.add_argument("--schema1", action="store_true",
                   help="manifests: tag 1 is a signed Docker schema 1 manifest")
    ARGS = p.parse_args()
    server = Server(("127.0.0.1", ARGS.port), Handler)
    if ARGS.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls[0], ARGS.tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    stopper = threading.Timer(ARGS.lifetime, server.shutdown)
    stopper.daemon = True
    stopper.start()
    server.serve_forever()


if __name__ == "__main__":
    main()
