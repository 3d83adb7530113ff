#!/usr/bin/env python3
"""The layering check: every #include points down the floor table of
docs/internals/architecture.md, no folder reads another folder's private header, a public
header bale/X.h declares only bale_X_* functions, and a bale_* function is declared in one.

Usage: layers.py [ROOT]   (ROOT: a checkout; default: this one)
Prints one line per violation and exits 1 when there is any."""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
TABLE = "docs/internals/architecture.md"
# What a system include needs linked, by the name the table's "links" column uses.
LIBRARIES = [(r"curl/", "libcurl"), (r"openssl/", "openssl"), (r"zstd\.h", "libzstd"), (r"xxhash\.h", "libxxhash"),
             (r"archive(_entry)?\.h", "libarchive"), (r"sqlite3\.h", "sqlite3"),
             (r"jansson\.h", "jansson"), (r"yaml\.h", "libyaml"), (r"microhttpd\.h", "libmicrohttpd")]


def read_floors():
    """{folder: (floor, [public headers], {libraries})} from the table's rows."""
    floors = {}
    row = re.compile(r"^\|\s*(\d+)\s*\|\s*`(\w+)/`\s*\|([^|]*)\|([^|]*)\|")
    with open(os.path.join(ROOT, TABLE)) as f:
        for line in f:
            m = row.match(line)
            if m:
                headers = re.findall(r"`([\w/]+\.h)`", m.group(3))
                links = set(re.findall(r"`([\w.-]+)`", m.group(4)))
                floors[m.group(2)] = (int(m.group(1)), headers, links)
    return floors


def sources(folder):
    for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
        for name in sorted(names):
            if name.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(dirpath, name), ROOT)


DECLARED = re.compile(r"\b(bale_\w+)\s*\(")
DEFINED = re.compile(r"^(?!static\b|typedef\b|extern\b|return\b)[a-z_][\w \t*]*?\b(bale_\w+)\s*\(")


def check_names(files):
    """bale/X.h (or bale/sys/X.h) declares bale_X and bale_X_*; every non-static bale_*
    function a floor defines is declared in include/bale/ (private ones use the folder's
    prefix instead)."""
    errors, public = [], set()
    for path in sources("include/bale"):
        module = os.path.splitext(os.path.basename(path))[0]
        with open(os.path.join(ROOT, path)) as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        for name in DECLARED.findall(text):
            if "(*" in name:
                continue
            public.add(name)
            if name != f"bale_{module}" and not name.startswith(f"bale_{module}_"):
                errors.append(f"{path}: declares {name}; bale/{module}.h exports bale_{module}_*")
    for path, folder in files:
        if not path.endswith(".c"):
            continue
        with open(os.path.join(ROOT, path)) as f:
            for n, line in enumerate(f, 1):
                m = DEFINED.match(line)
                if m and not line.rstrip().endswith(";") and m.group(1) not in public:
                    errors.append(f"{path}:{n}: {m.group(1)} is in no public header: a private "
                                  f"function takes its folder's prefix, not bale_")
    return sorted(set(errors))


def main():
    errors = []
    floors = read_floors()
    if not floors:
        print(f"{TABLE}: no floor table found")
        return 1
    owner = {}  # public header (under include/bale/) -> folder
    for folder, (_, headers, _) in floors.items():
        for h in headers:
            if h in owner:
                errors.append(f"{TABLE}: bale/{h} is listed under both {owner[h]}/ and {folder}/")
            owner[h] = folder
    for path in sources("include/bale"):
        h = os.path.relpath(path, "include/bale")
        if h not in owner:
            errors.append(f"{path}: in no floor of {TABLE}")
    for h, folder in owner.items():
        if not os.path.exists(os.path.join(ROOT, "include/bale", h)):
            errors.append(f"{TABLE}: lists bale/{h} under {folder}/, which does not exist")
    for entry in sorted(os.listdir(ROOT)):
        if entry not in floors and os.path.isdir(os.path.join(ROOT, entry)) and \
                any(p.endswith(".c") for p in os.listdir(os.path.join(ROOT, entry))):
            errors.append(f"{entry}/: a folder of C sources in no floor of {TABLE}")

    files = [(p, f) for f in floors for p in sources(f)]
    files += [(p, owner.get(os.path.relpath(p, "include/bale"))) for p in sources("include/bale")]
    include = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
    for path, folder in files:
        if folder is None:
            continue
        floor, _, links = floors[folder]
        with open(os.path.join(ROOT, path)) as f:
            for n, line in enumerate(f, 1):
                m = include.match(line)
                if not m:
                    continue
                kind, name = m.groups()
                where = f"{path}:{n}"
                if kind == "<":
                    for pattern, lib in LIBRARIES:
                        if re.match(pattern, name) and lib not in links:
                            errors.append(f"{where}: <{name}> is {lib}, which {folder}/ does not link")
                    continue
                if name.startswith("bale/"):
                    target = owner.get(name[len("bale/"):])
                    if target is None:
                        errors.append(f"{where}: {name} is in no floor of {TABLE}")
                    elif target != folder and floors[target][0] >= floor:
                        errors.append(f"{where}: includes {name} of {target}/ (floor "
                                      f"{floors[target][0]}) from {folder}/ (floor {floor}): "
                                      "includes point down")
                    continue
                target = name.split("/")[0]
                if target != folder:
                    errors.append(f"{where}: includes {name}, a private header of {target}/")
    errors += check_names(files)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
