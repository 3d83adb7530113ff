#!/usr/bin/env bash
# Style gate: every C file as .clang-format lays it out, and none of the banned calls
# (unbounded or unchecked: sprintf, vsprintf, strcpy, strcat, gets, atoi, atol).
set -euo pipefail
top=${BALE_SOURCE_DIR:?}
cd "$top"
mapfile -t files < <(find core registry trust store pull bundle verify k8s export import prune doctor cli include tests -name '*.[ch]' | sort)
status=0
if ! clang-format --dry-run --Werror "${files[@]}" 2>"${TMPDIR:-/tmp}/bale-style.$$"; then
  grep -E '^[^ ].*: (error|warning):' "${TMPDIR:-/tmp}/bale-style.$$" | sed -E 's/:[0-9]+:[0-9]+: (error|warning):.*//' | sort -u |
    sed 's/^/not formatted (run clang-format -i): /'
  status=1
fi
rm -f "${TMPDIR:-/tmp}/bale-style.$$"
if grep -nE '(^|[^a-z_])(v?sprintf|strcpy|strcat|gets|atoi|atol)[[:space:]]*\(' "${files[@]}"; then
  echo "banned calls above: use snprintf, bale_buf, strtol" >&2
  status=1
fi
((status == 0)) && echo "style: ${#files[@]} files ok"
exit $status
