#!/usr/bin/python3
"""GET a path over HTTP/1.1 slowly, through a small receive window, so the server is still
sending (and reading its source) long after the request: slow_reader.py HOST:PORT PATH OUT.
Writes the body to OUT; exits 1 unless the status is 200 and the body has Content-Length
bytes. Standard library only."""
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
conn = socket.socket()
conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
conn.settimeout(60)
conn.connect((host, int(port)))
conn.sendall(b"GET " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: " + sys.argv[1].encode()
             + b"\r\nConnection: close\r\n\r\n")
got = bytearray()
while True:
    chunk = conn.recv(4096)
    if not chunk:
        break
    got += chunk
    time.sleep(0.01)
head, _, body = bytes(got).partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
length = [int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")]
if not lines[0].startswith("HTTP/1.1 200") or length != [len(body)]:
    sys.exit(f"slow_reader: {lines[0]}, {len(body)} bytes of {length}")
with open(sys.argv[3], "wb") as out:
    out.write(body)
