#!/usr/bin/python3
"""Rewrites a bale bundle with one deliberate change, in the same seekable zstd format
(one frame per member, frame check and seek table at the end), so that bale's checks behind the framing
(signature, digests, member list, paths, types) can be tested one by one.

  rebundle.py IN OUT --flip PATH [OFFSET]      flip one bit of a member's data
  rebundle.py IN OUT --replace PATH FILE       a member's data from FILE
  rebundle.py IN OUT --add PATH FILE           an extra regular member at the end
  rebundle.py IN OUT --add-symlink PATH TARGET an extra symlink member
  rebundle.py IN OUT --rename OLD NEW          a member under another name
  rebundle.py IN OUT --drop PATH               without that member
  rebundle.py IN OUT --hide PATH FILE          a member after the end-of-archive marker
  rebundle.py IN OUT                           unchanged content, re-framed

  --sign KEY after any of these signs bale/manifest.json again with KEY (a bale keygen
  .key, PEM), so that a change behind the signature is what bale meets first.
"""
import base64
import io
import struct
import subprocess
import sys
import tarfile

import xxhash


def members(path):
    raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    tf = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    out = []
    for m in tf.getmembers():
        data = tf.extractfile(m).read() if m.isfile() else b""
        out.append((m, data))
    return out


def frame(data):
    return subprocess.run(["zstd", "-q", "-3", "-c", "--check"], input=data, check=True,
                          capture_output=True).stdout


def member_bytes(info, data):
    """One member as tar bytes: its header(s), data and padding, no end-of-archive."""
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w:", format=tarfile.PAX_FORMAT)
    tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    end = tf.offset
    tf.close()
    return buf.getvalue()[:end]


def write(path, items, hidden=()):
    chunks = [member_bytes(info, data) for info, data in items] + [b"\0" * 1024]
    chunks += [member_bytes(info, data) for info, data in hidden]  # only `tar -i` sees these
    table = []
    with open(path, "wb") as f:
        for chunk in chunks:  # one frame per member, as bale writes them
            z = frame(chunk)
            f.write(z)
            table.append((len(z), len(chunk), xxhash.xxh3_64(z).intdigest()))
        # bale's frame check: the XXH3-64 of each frame's compressed bytes
        f.write(struct.pack("<II", 0x184D2A5C, 8 * len(table))
                + b"".join(struct.pack("<Q", x) for _, _, x in table))
        body = b"".join(struct.pack("<II", c, d) for c, d, _ in table)
        body += struct.pack("<IBI", len(table), 0, 0x8F92EAB1)
        f.write(struct.pack("<II", 0x184D2A5E, len(body)) + body)


def sign(manifest, key):
    """bale/manifest.json.sig for manifest: base64 of the DER ECDSA signature, one line."""
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=manifest,
                         check=True, capture_output=True).stdout
    return base64.b64encode(sig) + b"\n"


def resign(items, key):
    names = [m.name for m, _ in items]
    manifest = items[names.index("bale/manifest.json")][1]
    i = names.index("bale/manifest.json.sig")
    info, data = items[i][0], sign(manifest, key)
    info.size = len(data)
    items[i] = (info, data)


def main():
    src, dst, *op = sys.argv[1:]
    key = None
    if len(op) >= 2 and op[-2] == "--sign":
        key = op[-1]
        op = op[:-2]
    items = members(src)
    names = [m.name for m, _ in items]

    def find(name):
        if name not in names:
            sys.exit("rebundle: no member %s" % name)
        return names.index(name)

    if op and op[0] == "--flip":
        i = find(op[1])
        data = bytearray(items[i][1])
        at = int(op[2]) if len(op) > 2 else len(data) // 2
        data[at] ^= 0x01
        items[i] = (items[i][0], bytes(data))
    elif op and op[0] == "--replace":
        i = find(op[1])
        data = open(op[2], "rb").read()
        info = items[i][0]
        info.size = len(data)
        items[i] = (info, data)
    elif op and op[0] == "--add":
        data = open(op[2], "rb").read()
        info = tarfile.TarInfo(op[1])
        info.size = len(data)
        items.append((info, data))
    elif op and op[0] == "--add-symlink":
        info = tarfile.TarInfo(op[1])
        info.type = tarfile.SYMTYPE
        info.linkname = op[2]
        items.append((info, b""))
    elif op and op[0] == "--rename":
        i = find(op[1])
        items[i][0].name = op[2]
    elif op and op[0] == "--drop":
        del items[find(op[1])]
    elif op and op[0] == "--hide":
        data = open(op[2], "rb").read()
        info = tarfile.TarInfo(op[1])
        info.size = len(data)
        if key:
            resign(items, key)
        write(dst, items, [(info, data)])
        return
    elif op:
        sys.exit(__doc__)
    if key:
        resign(items, key)
    write(dst, items)


if __name__ == "__main__":
    main()
