#!/usr/bin/python3
"""A misbehaving front for a real registry, for bale's resilience tests.

Forwards every request to an upstream registry and misbehaves on purpose, as told by
flags: cut a blob transfer short, answer 5xx or 429 a few times, redirect blob downloads
to another host name, corrupt or pad blob bytes, lie in Docker-Content-Digest, hold one
request unanswered (so a test can kill the client at that exact point). Logs one
line per request (method, path, whether Range and Authorization were sent: never values).
Listens on 127.0.0.1 only. Stops by itself after --lifetime seconds.
"""
import argparse
import base64
import http.client
import http.server
import re
import ssl
import threading
import time

ARGS = None
STATE = {"drops": 0, "fails": 0, "throttles": 0, "matches": 0}
LOCK = threading.Lock()
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade",
               "proxy-authorization", "proxy-authenticate", "trailer"}


def log(line):
    with LOCK, open(ARGS.log, "a") as f:
        f.write(line + "\n")


def take(counter, limit):
    """True while counter is under limit, counting each use."""
    with LOCK:
        if STATE[counter] < limit:
            STATE[counter] += 1
            return True
    return False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _is_blob(self):
        return "/blobs/sha256:" in self.path and self.command in ("GET", "HEAD")

    def _forward(self):
        body = None
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            body = self.rfile.read(n)
        if ARGS.upstream_tls:  # the test's own CA: no need to verify our own registry here
            up = http.client.HTTPSConnection("127.0.0.1", ARGS.upstream, timeout=30,
                                             context=ssl._create_unverified_context())
        else:
            up = http.client.HTTPConnection("127.0.0.1", ARGS.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        headers["Host"] = "127.0.0.1:%d" % ARGS.upstream
        if ARGS.upstream_auth:  # plays a pre-signed storage URL: access without the client's credentials
            headers["Authorization"] = "Basic " + base64.b64encode(ARGS.upstream_auth.encode()).decode()
        up.request(self.command, self.path, body=body, headers=headers)
        resp = up.getresponse()
        data = resp.read()
        up.close()
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in HOP_HEADERS | {"content-length"}]
        # an upload's Location names the upstream: the client keeps coming through us
        upstream = "%s://127.0.0.1:%d/" % ("https" if ARGS.upstream_tls else "http", ARGS.upstream)
        here = "%s://%s/" % ("https" if ARGS.upstream_tls else "http", self.headers.get("Host"))
        headers = [(k, here + v[len(upstream):] if k.lower() == "location" and v.startswith(upstream) else v)
                   for k, v in headers]
        return resp.status, headers, data

    def _send(self, status, headers, data, cut_at=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut_at is None and ARGS.slow and len(data) >= ARGS.min_size:
            for at in range(0, len(data), 64 << 10):  # 64 KiB every ARGS.slow seconds
                self.wfile.write(data[at:at + (64 << 10)])
                self.wfile.flush()
                time.sleep(ARGS.slow)
        elif cut_at is None:
            self.wfile.write(data)
        else:  # promise everything, deliver part, hang up
            self.wfile.write(data[:cut_at])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    def _handle(self):
        log("%s %s range=%s auth=%s" % (self.command, self.path.split("?")[0],
                                       "yes" if self.headers.get("Range") else "no",
                                       "yes" if self.headers.get("Authorization") else "no"))
        if ARGS.hold and re.search(ARGS.hold, "%s %s" % (self.command, self.path)):
            with LOCK:
                STATE["matches"] += 1
                held = STATE["matches"] == ARGS.hold_at
            if held:  # neither forwarded nor answered, until the proxy stops
                log("held")
                time.sleep(ARGS.lifetime)
                return
        blob = self._is_blob()
        if blob and ARGS.redirect_port:
            # Blob storage elsewhere: same proxy logic on another port and host name.
            self.send_response(307)
            self.send_header("Location", "http://localhost:%d%s" % (ARGS.redirect_port, self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if (blob or ARGS.fail_manifests) and take("fails", ARGS.fail_times):
            self._send(ARGS.fail_status, [("Content-Type", "text/plain")], b"unavailable\n")
            return
        if blob and take("throttles", ARGS.throttle_times):
            self._send(429, [("Retry-After", str(ARGS.retry_after))], b"slow down\n")
            return
        status, headers, data = self._forward()
        if blob and status == 200 and len(data) >= ARGS.min_size:
            if ARGS.corrupt:
                data = data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1:]
            if ARGS.pad:
                data = data + b"extra"
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes=") and ARGS.honour_range:
                start = int(rng[6:].split("-")[0])
                total = len(data)
                headers.append(("Content-Range", "bytes %d-%d/%d" % (start, total - 1, total)))
                self._send(206, headers, data[start:])
                return
            if self.command == "GET" and take("drops", ARGS.drop_times):
                self._send(status, headers, data, cut_at=len(data) // 2)
                return
        if ARGS.lie_digest and "/manifests/" in self.path:
            headers = [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]
            headers.append(("Docker-Content-Digest", "sha256:" + "0" * 64))
        self._send(status, headers, data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--upstream-tls", action="store_true")
    p.add_argument("--upstream-auth", default="", help="USER:PASS sent upstream by the proxy itself")
    p.add_argument("--log", required=True)
    p.add_argument("--drop-times", type=int, default=0, help="cut this many blob bodies in half")
    p.add_argument("--honour-range", action="store_true", help="answer Range with 206")
    p.add_argument("--min-size", type=int, default=0, help="only touch blobs this large")
    p.add_argument("--fail-times", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--fail-manifests", action="store_true")
    p.add_argument("--throttle-times", type=int, default=0)
    p.add_argument("--retry-after", type=int, default=1)
    p.add_argument("--redirect-port", type=int, default=0)
    p.add_argument("--corrupt", action="store_true")
    p.add_argument("--pad", action="store_true")
    p.add_argument("--lie-digest", action="store_true")
    p.add_argument("--hold", default="", help="regex on 'METHOD PATH': hold the --hold-at-th match")
    p.add_argument("--hold-at", type=int, default=1)
    p.add_argument("--lifetime", type=int, default=600)
    p.add_argument("--slow", type=float, default=0,
                   help="send bodies (of --min-size and more) 64 KiB at a time, this many seconds apart")
    ARGS = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    threading.Timer(ARGS.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
