#!/usr/bin/python3
"""Builds hostile variants of a bale bundle at the level rebundle.py does not reach: the
zstd frames, the seek table, the frame check and tar headers that lie, decompression
bombs, and a replaced bale/manifest.json re-signed with the test key (so that the
signature passes and the hostile part is what bale meets next).

  hostile.py IN OUT CASE [ARGS]

  tail-bomb GIB                 GIB GiB of zeros after the tar end-of-archive marker
  frame-bomb PATH MIB           PATH's frame decodes to MIB MiB more than the table says
  header-bomb PATH MIB          PATH's tar header (and frames) say MIB MiB of zeros; the
                                signed manifest keeps its real size
  manifest-zeros MIB            bale/manifest.json is MIB MiB of zeros (no signature fits)
  manifest FILE KEY             bale/manifest.json from FILE, signed with KEY (.key, PEM)
  table PATH bigger|smaller|zero  PATH's seek table entry lies about its decompressed size
  table-shift PATH              PATH's frame ends 3 bytes later than the table says
  table-short                   the table's frames add up to less than the data
  digest missing|wrong|first|in-table|v1
                                bale's frame check: absent, wrong, at the start of the
                                file, listed in the seek table as a data frame, or format
                                1's digest frame in its place

Every frame carries zstd's content checksum; frames of zeros are compressed once and
repeated, so a bomb of many GiB costs a few MB and a second to build.
"""
import hashlib
import os
import struct
import subprocess
import sys
import tarfile

import xxhash

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rebundle import frame, member_bytes, members, sign  # noqa: E402

DIGEST_MAGIC = 0x184D2A5B  # format 1
CHECK_MAGIC = 0x184D2A5C
TABLE_MAGIC = 0x184D2A5E
SEEKABLE_MAGIC = 0x8F92EAB1
ZERO_FRAME = 256 << 20  # decompressed bytes of one frame of zeros


def zero_frame(n, before=b""):
    """One zstd frame (with checksum) of `before` and n zero bytes, streamed to the zstd CLI."""
    script = 'cat; head -c %d /dev/zero' % n
    with subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE) as gen:
        z = subprocess.Popen(["zstd", "-q", "-1", "-c", "--check"], stdin=gen.stdout,
                             stdout=subprocess.PIPE)
        gen.stdout.close()
        gen.stdin.write(before)
        gen.stdin.close()
        out = z.stdout.read()
        if z.wait() or gen.wait():
            sys.exit("hostile: zstd failed")
    return out


def zero_frames(total):
    """Frames (compressed, decompressed size) of `total` zero bytes."""
    out, full = [], None
    while total:
        n = min(total, ZERO_FRAME)
        if n == ZERO_FRAME:
            full = full or zero_frame(n)
            out.append((full, n))
        else:
            out.append((zero_frame(n), n))
        total -= n
    return out


class Bundle:
    """Frames, in file order, each (compressed bytes, decompressed size in the table)."""

    def __init__(self):
        self.frames = []

    def add(self, data):
        self.frames.append((frame(data), len(data)))

    def write(self, path, digest="ok", table=None):
        """digest: the frame check "ok", "wrong" (one bit of the last frame's check flipped),
        "first" (at the start of the file), "in-table" (listed as a frame), "missing", or
        "v1" (format 1's digest frame, the SHA-256 of every byte before it)."""
        table = list(table if table is not None else [(len(z), d) for z, d in self.frames])
        data = b"".join(z for z, _ in self.frames)
        checks = [xxhash.xxh3_64(z).intdigest() for z, _ in self.frames]
        if digest == "wrong":
            checks[-1] ^= 1
        trailer = struct.pack("<II", CHECK_MAGIC, 8 * len(checks)) + b"".join(
            struct.pack("<Q", x) for x in checks)
        if digest == "v1":
            trailer = struct.pack("<II", DIGEST_MAGIC, 32) + hashlib.sha256(data).digest()
        with open(path, "wb") as f:
            if digest == "first":
                f.write(trailer)
            f.write(data)
            if digest == "in-table":
                table.append((len(trailer), len(trailer)))
            if digest in ("ok", "wrong", "in-table", "v1"):
                f.write(trailer)
            body = b"".join(struct.pack("<II", c, d) for c, d in table)
            body += struct.pack("<IBI", len(table), 0, SEEKABLE_MAGIC)
            f.write(struct.pack("<II", TABLE_MAGIC, len(body)) + body)


def standard(items):
    """The bundle as bale frames it: one frame per member, then the end-of-archive."""
    b = Bundle()
    for info, data in items:
        b.add(member_bytes(info, data))
    b.add(b"\0" * 1024)
    return b


def index_of(items, path):
    for i, (info, _) in enumerate(items):
        if info.name == path:
            return i
    sys.exit("hostile: no member %s" % path)


def replace(items, path, data):
    i = index_of(items, path)
    info = items[i][0]
    info.size = len(data)
    items[i] = (info, data)


def main():
    src, dst, case, *args = sys.argv[1:]
    items = members(src)
    if case == "tail-bomb":
        b = standard(items)
        b.frames += zero_frames(int(float(args[0]) * (1 << 30)))
        b.write(dst)
    elif case == "frame-bomb":
        b = standard(items)
        i = index_of(items, args[0])
        honest = member_bytes(*items[i])
        # the member's bytes and then zeros, in one frame; the table keeps the honest size
        b.frames[i] = (zero_frame(int(args[1]) << 20, honest), len(honest))
        b.write(dst)
    elif case == "header-bomb":
        i = index_of(items, args[0])
        size = int(args[1]) << 20
        b = Bundle()
        for k, (info, data) in enumerate(items):
            if k != i:
                b.add(member_bytes(info, data))
                continue
            info.size = size  # a multiple of 512: no padding after the zeros
            b.add(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            b.frames += zero_frames(size)
        b.add(b"\0" * 1024)
        b.write(dst)
    elif case == "manifest-zeros":
        replace(items, "bale/manifest.json", b"\0" * (int(args[0]) << 20))
        standard(items).write(dst)
    elif case == "manifest":
        manifest = open(args[0], "rb").read()
        replace(items, "bale/manifest.json", manifest)
        replace(items, "bale/manifest.json.sig", sign(manifest, args[1]))
        standard(items).write(dst)
    elif case == "table":
        b = standard(items)
        i = index_of(items, args[0])
        table = [(len(z), d) for z, d in b.frames]
        c, d = table[i]
        table[i] = (c, {"bigger": d + 4096, "smaller": d - 512, "zero": 0}[args[1]])
        b.write(dst, table=table)
    elif case == "table-shift":
        b = standard(items)
        i = index_of(items, args[0])
        table = [(len(z), d) for z, d in b.frames]
        table[i] = (table[i][0] + 3, table[i][1])
        table[i + 1] = (table[i + 1][0] - 3, table[i + 1][1])
        b.write(dst, table=table)
    elif case == "table-short":
        b = standard(items)
        table = [(len(z), d) for z, d in b.frames]
        table[-1] = (table[-1][0] - 1, table[-1][1])
        b.write(dst, table=table)
    elif case == "digest":
        standard(items).write(dst, digest=args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
