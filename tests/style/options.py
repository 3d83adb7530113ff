#!/usr/bin/env python3
"""Every verb's options, as `bale VERB --help` lists them, are the options its man page
docs/bale-VERB.1.md documents, and the other way round.

Usage: options.py BALE [ROOT]   (BALE: the built binary; ROOT: a checkout, default this one)

--help is made from the same table as getopt_long's (cli/options.c), so it lists what a
verb accepts. In a man page, an option is documented where a section whose title holds
OPTIONS names it in bold outside the text of a definition: in a definition's term
(`**-q**, **--quiet**` above `:   text`), or in a paragraph of its own such as one that
lists the options of another page which apply here. -h/--help is on every verb and documented once, in bale(1).
Prints one line per disagreement, naming the verb and the option, and exits 1 if any."""
import os
import re
import subprocess
import sys

BOLD_OPTION = re.compile(r"\*\*(--?[A-Za-z0-9][A-Za-z0-9-]*)\*\*")
HELP_LONG = re.compile(r"^  -([A-Za-z0-9]), --([a-z0-9][a-z0-9-]*)\b|^      --([a-z0-9][a-z0-9-]*)\b")
ALWAYS = {"-h", "--help"}


def run(bale, *args):
    out = subprocess.run([bale, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"options: {bale} {' '.join(args)} exited {out.returncode}: {out.stderr}")
    return out.stdout


def verbs(bale):
    """The verbs `bale --help` lists."""
    names, listing = [], False
    for line in run(bale, "--help").splitlines():
        if line.startswith("Verbs:"):
            listing = True
        elif listing and re.match(r"^  [a-z]", line):
            names.append(line.split()[0])
        elif listing and names and not line.strip():
            break
    return names


def help_options(bale, verb):
    found = set()
    for line in run(bale, verb, "--help").splitlines():
        m = HELP_LONG.match(line)
        if m:
            if m.group(1):
                found.update({"-" + m.group(1), "--" + m.group(2)})
            else:
                found.add("--" + m.group(3))
    return found - ALWAYS


def man_options(path):
    found = set()
    in_options = False
    with open(path) as f:
        paragraphs = re.split(r"\n\s*\n", f.read())
    for para in paragraphs:
        lines = para.strip("\n").splitlines()
        if not lines:
            continue
        if lines[0].startswith("# "):
            in_options = "OPTIONS" in lines[0]
            lines = lines[1:]
        if not in_options or not lines or lines[0][:1] in (" ", ":", "\t"):
            continue
        head = []  # a definition's term ends where its text (":   ") starts
        for line in lines:
            if line.startswith(":"):
                break
            head.append(line)
        found.update(BOLD_OPTION.findall(" ".join(head)))
    return found - ALWAYS


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bale = sys.argv[1]
    root = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    problems = []
    names = verbs(bale)
    if not names:
        problems.append("bale --help lists no verbs")
    for verb in names:
        page = os.path.join(root, "docs", f"bale-{verb}.1.md")
        if not os.path.exists(page):
            problems.append(f"bale {verb}: no man page docs/bale-{verb}.1.md")
            continue
        accepted, documented = help_options(bale, verb), man_options(page)
        for opt in sorted(accepted - documented):
            problems.append(f"bale {verb}: {opt} is in --help but not in docs/bale-{verb}.1.md")
        for opt in sorted(documented - accepted):
            problems.append(f"bale {verb}: {opt} is in docs/bale-{verb}.1.md but not in --help")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"options: {len(names)} verbs, --help and man pages agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
