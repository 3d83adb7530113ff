#!/usr/bin/python3
"""A small docker token server for bale's integration tests (distribution 2.8).

Run with Debian's /usr/bin/python3 (needs python3-jwt and python3-cryptography):

  token_server.py --port P --config policy.json --key signing.key \
                  --cert signing.crt --log requests.log [--issued issued.log]

Protocol (https://distribution.github.io/distribution/spec/auth/):
  GET  /token?service=S&scope=repository:NAME:ACTIONS[&scope=…][&offline_token=true&client_id=C]
       optional "Authorization: Basic …"
  POST /token  (application/x-www-form-urlencoded, OAuth2)
       grant_type=password&username=U&password=P&service=S&scope=…&client_id=C[&access_type=offline]
       grant_type=refresh_token&refresh_token=R&service=S&scope=…&client_id=C
  -> 200 {"token","access_token","expires_in","issued_at"[,"refresh_token"]}

The JWT is signed ES256 (EC key) or RS256 (RSA key); its header carries the
signing certificate in x5c, which the registry checks against rootcertbundle.
Claims: iss, sub, aud (a JSON string: distribution 2.8 refuses a list), exp,
nbf, iat, jti, access.

Policy (policy.json):
  {"issuer": "…", "service": "…", "expires_in": 300,
   "users": {"alice": "password"}, "refresh_tokens": {"token": "alice"}}
  repository "public/…": pull for anyone, anonymous included; pull,push for users.
  any other repository:  pull,push for authenticated users only.
Scopes that are malformed or not allowed are left out of "access" (still 200),
as real token servers do; the registry then answers insufficient_scope.
Wrong credentials give 401 with a JSON error.

Every request is logged as one line (method, path without query, status, user,
grant, service, requested scopes, granted access, client_id). Passwords, tokens
and refresh tokens are never logged there. With --issued, every token and refresh
token handed out is also appended, one a line, to that file (mode 0600): the test's
secret scan (lib.sh) looks for them in everything bale wrote.
"""

import argparse
import base64
import binascii
import datetime
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

MAX_BODY = 64 * 1024
# distribution's repository name grammar (reference.NameRegexp, path part only).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
REPO_NAME = re.compile(r"^%s(?:/%s)*$" % (_COMPONENT, _COMPONENT))
KNOWN_ACTIONS = ("pull", "push", "delete", "*")


class AuthError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class TokenIssuer:
    def __init__(self, policy, key_pem, cert_pem, issued=None):
        self.issued = issued or IssuedLog(None)
        self.issuer = policy["issuer"]
        self.service = policy["service"]
        self.expires_in = int(policy.get("expires_in", 300))
        self.users = dict(policy.get("users", {}))
        self.lock = threading.Lock()
        self.refresh_tokens = dict(policy.get("refresh_tokens", {}))
        self.key = serialization.load_pem_private_key(key_pem, password=None)
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            self.alg = "ES256"
        elif isinstance(self.key, rsa.RSAPrivateKey):
            self.alg = "RS256"
        else:
            raise SystemExit("token_server: signing key must be EC P-256 or RSA")
        cert = x509.load_pem_x509_certificate(cert_pem)
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]

    def check_password(self, user, password):
        want = self.users.get(user)
        # compare_digest on both paths so a wrong user costs what a wrong password does.
        ok = hmac.compare_digest((want or "\0").encode(), password.encode())
        return want is not None and ok

    def user_for_refresh(self, token):
        with self.lock:
            return self.refresh_tokens.get(token)

    def new_refresh_token(self, user):
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens[token] = user
        self.issued.add(token)
        return token

    @staticmethod
    def allowed(user, name):
        if user:
            return {"pull", "push"}
        return {"pull"} if name.startswith("public/") else set()

    def grant(self, user, scopes):
        """Return the access list for the requested scopes, merged per repository."""
        granted = {}
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            rtype, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            if rtype != "repository" or not REPO_NAME.match(name):
                continue
            allow = self.allowed(user, name)
            ok = [a for a in actions if a in allow]
            if ok:
                have = granted.setdefault(name, [])
                have.extend(a for a in ok if a not in have)
        return [{"type": "repository", "name": n, "actions": a} for n, a in granted.items()]

    def issue(self, user, access):
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = jwt.encode(claims, self.key, algorithm=self.alg, headers={"x5c": self.x5c})
        self.issued.add(token)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        return token, issued.strftime("%Y-%m-%dT%H:%M:%SZ")


class IssuedLog:
    """The secrets handed out, for the test's scan; None when not asked for."""

    def __init__(self, path):
        self.f = None
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.f = os.fdopen(fd, "a", buffering=1, encoding="utf-8")
        self.lock = threading.Lock()

    def add(self, *secrets):
        if not self.f:
            return
        with self.lock:
            for s in secrets:
                self.f.write(s + "\n")
            self.f.flush()


class RequestLog:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1, encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, line):
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


def scopes_from(values):
    # A client may send several scope parameters or one space-separated list.
    out = []
    for v in values:
        out.extend(s for s in v.split(" ") if s)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bale-test-token/1"
    issuer = None  # set by main()
    realm_path = "/token"
    reqlog = None

    # The default handler logs the raw request line (with its query) to stderr.
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_token("GET")

    def do_POST(self):
        self.handle_token("POST")

    def handle_token(self, method):
        path, _, query = self.path.partition("?")
        info = {"user": "-", "grant": "-", "service": "-", "scopes": [], "granted": [],
                "client_id": None, "offline": False}
        try:
            if path != self.realm_path:
                raise AuthError(404, "NOT_FOUND", "no such endpoint")
            if method == "GET":
                params = urllib.parse.parse_qs(query, keep_blank_values=True)
                body = self.token_get(params, info)
            else:
                params = self.read_form()
                body = self.token_post(params, info)
            self.reply(200, body)
            status = 200
        except AuthError as e:
            err = {"errors": [{"code": e.code, "message": e.message}],
                   "error": e.code.lower(), "error_description": e.message}
            headers = {}
            if e.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="bale-test-token"'
            self.reply(e.status, err, headers)
            status = e.status
        self.log_request_line(method, path, status, info)

    def read_form(self):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise AuthError(400, "INVALID_REQUEST", "POST body must be application/x-www-form-urlencoded")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise AuthError(400, "INVALID_REQUEST", "bad Content-Length")
        if length < 0 or length > MAX_BODY:
            raise AuthError(400, "INVALID_REQUEST", "body too large")
        raw = self.rfile.read(length).decode("utf-8", "replace")
        return urllib.parse.parse_qs(raw, keep_blank_values=True)

    def check_service(self, params, info, required):
        service = params.get("service", [None])[0]
        if service is None and not required:
            service = self.issuer.service
        info["service"] = service or "-"
        if service != self.issuer.service:
            raise AuthError(400, "INVALID_REQUEST", "unknown service")

    def basic_user(self, info):
        header = self.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise AuthError(401, "UNAUTHORIZED", "unsupported authorization scheme")
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(401, "UNAUTHORIZED", "malformed basic credentials")
        info["user"] = re.sub(r"\s", "?", user) or "-"  # logged even when refused; never the password
        if not sep or not self.issuer.check_password(user, password):
            raise AuthError(401, "UNAUTHORIZED", "invalid username or password")
        return user

    def token_get(self, params, info):
        info["client_id"] = params.get("client_id", [None])[0]
        info["scopes"] = scopes_from(params.get("scope", []))
        self.check_service(params, info, required=False)
        info["grant"] = "basic" if "Authorization" in self.headers else "anonymous"
        user = self.basic_user(info)
        body = self.token_body(user, info)
        # Docker's GET flow: offline_token=true asks for a refresh token too.
        if user and params.get("offline_token", [""])[0] == "true":
            info["offline"] = True
            body["refresh_token"] = self.issuer.new_refresh_token(user)
        return body

    def token_post(self, params, info):
        def one(name):
            return params.get(name, [None])[0]

        grant = one("grant_type")
        info["grant"] = grant or "-"
        info["client_id"] = one("client_id")
        info["scopes"] = scopes_from(params.get("scope", []))
        self.check_service(params, info, required=True)
        if not info["client_id"]:
            raise AuthError(400, "INVALID_REQUEST", "client_id is required")
        if grant == "password":
            user, password = one("username"), one("password")
            if not user or password is None or not self.issuer.check_password(user, password):
                info["user"] = user or "-"
                raise AuthError(401, "UNAUTHORIZED", "invalid username or password")
        elif grant == "refresh_token":
            token = one("refresh_token")
            user = self.issuer.user_for_refresh(token) if token else None
            if not user:
                raise AuthError(401, "UNAUTHORIZED", "invalid refresh token")
        else:
            raise AuthError(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be password or refresh_token")
        info["user"] = user
        body = self.token_body(user, info)
        if grant == "password" and one("access_type") == "offline":
            info["offline"] = True
            body["refresh_token"] = self.issuer.new_refresh_token(user)
        return body

    def token_body(self, user, info):
        access = self.issuer.grant(user, info["scopes"])
        info["granted"] = ["%s:%s:%s" % (a["type"], a["name"], ",".join(a["actions"])) for a in access]
        token, issued_at = self.issuer.issue(user, access)
        return {"token": token, "access_token": token,
                "expires_in": self.issuer.expires_in, "issued_at": issued_at}

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_request_line(self, method, path, status, info):
        def clean(s):
            # Keep each record on one line whatever a client sends.
            return re.sub(r"[^\x21-\x7e]", "?", s)

        fields = [
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            method,
            clean(path),
            "status=%d" % status,
            "user=%s" % clean(info["user"]),
            "grant=%s" % clean(info["grant"]),
            "service=%s" % clean(info["service"]),
        ]
        fields += ["scope=%s" % clean(s) for s in info["scopes"]]
        fields += ["granted=%s" % g for g in info["granted"]]
        if info["client_id"]:
            fields.append("client_id=%s" % clean(info["client_id"]))
        if info["offline"]:
            fields.append("offline=true")
        self.reqlog.write(" ".join(fields))


def main():
    ap = argparse.ArgumentParser(description="docker token server for tests")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--config", required=True, help="policy JSON")
    ap.add_argument("--key", required=True, help="PEM private key (EC P-256 or RSA)")
    ap.add_argument("--cert", required=True, help="PEM certificate of the key (goes in x5c)")
    ap.add_argument("--log", required=True, help="request log file")
    ap.add_argument("--issued", help="append every token handed out to this file")
    args = ap.parse_args()

    with open(args.config, "rb") as f:
        policy = json.load(f)
    with open(args.key, "rb") as f:
        key_pem = f.read()
    with open(args.cert, "rb") as f:
        cert_pem = f.read()

    Handler.issuer = TokenIssuer(policy, key_pem, cert_pem, IssuedLog(args.issued))
    Handler.realm_path = policy.get("path", "/token")
    Handler.reqlog = RequestLog(args.log)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
