#!/usr/bin/env bash
# Docs gate: README.md and docs/ point only at files in this repository. Every relative
# Markdown link resolves to a file that exists, no link leaves the checkout, and every
# `docs/…`, `tests/…`, `scripts/…` or `bench/…` path named in backquotes exists.
set -euo pipefail
top=${BALE_SOURCE_DIR:?}
cd "$top"
status=0
mapfile -t files < <(printf '%s\n' README.md; find docs -name '*.md' | sort)
for file in "${files[@]}"; do
  dir=$(dirname "$file")
  # [text](target): skip URLs, anchors and mail
  while IFS= read -r target; do
    target=${target%%#*}
    [[ -z $target || $target =~ ^[a-z]+: ]] && continue
    resolved=$(realpath -m "$dir/$target")
    if [[ $resolved != "$top"/* ]]; then
      echo "$file: link leaves the repository: $target"
      status=1
    elif [[ ! -e $resolved ]]; then
      echo "$file: link to a missing file: $target"
      status=1
    fi
  done < <(grep -oE '\]\([^)]+\)' "$file" | sed -E 's/^\]\(//; s/\)$//')
  # `path/in/the/repo`: placeholders (<verb>, NAME, *, …) are not paths
  while IFS= read -r path; do
    [[ $path =~ [\<\>\*…]|[A-Z]{3,} ]] && continue
    if [[ ! -e $path ]]; then
      echo "$file: names a missing file: $path"
      status=1
    fi
  done < <(grep -oE '`(docs|tests|scripts|bench|include|cli|core|registry|export|bundle|import|verify)/[^` ]*`' "$file" | tr -d '`' | sort -u)
  if grep -nE '\.\./shared|DESIGN\.md' "$file"; then
    echo "$file: cites a file outside the repository"
    status=1
  fi
done
((status == 0)) && echo "docs: ${#files[@]} files, every path in the repository"
exit $status
