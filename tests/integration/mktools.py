#!/usr/bin/python3
"""The test tools image of bale plan --daemonset: mktools.py OUTDIR writes an OCI layout
tagged tools/busybox:1, one linux layer holding this machine's static /bin/busybox (Debian's
busybox-static), for this machine's architecture, as Docker's busybox image has it.
Standard library only."""
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimages import Layout, make_image, make_layer  # noqa: E402

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "s390x": "s390x",
        "ppc64le": "ppc64le", "riscv64": "riscv64"}[platform.machine()]

layout = Layout(sys.argv[1])
with open("/bin/busybox", "rb") as f:
    busybox = f.read()
desc = make_image(layout, {"os": "linux", "architecture": ARCH},
                  [make_layer([("bin/busybox", busybox, 0o755)])], "tools", [])
layout.tag(desc, "tools/busybox:1")
layout.close()
print(ARCH)
