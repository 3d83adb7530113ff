#!/usr/bin/env bash
# The layering check (layers.py) on this checkout, then on a copy with five planted
# violations it must report: an include that climbs a floor, another folder's private
# header, a system header of a library the folder does not link, a public header that
# declares another module's function, and a bale_ function that no public header declares.
set -euo pipefail
top=${BALE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
check=$top/tests/style/layers.py

python3 "$check" "$top"

T=$(mktemp -d "${TMPDIR:-/tmp}/bale-layers.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/docs"
cp -r "$top/docs/internals" "$T/docs/"
(cd "$top" && cp -r include core registry trust store pull bundle verify k8s export import cli "$T/")
printf '#include "bale/import.h"\n' >>"$T/core/buf.c"
printf '#include "store/ctr.h"\n' >>"$T/pull/pull.c"
printf '#include <curl/curl.h>\n' >>"$T/core/text.c"
sed -i 's|^#endif|int bale_hasher_planted(void);\n#endif|' "$T/include/bale/digest.h"
printf 'int bale_planted(void)\n{\n\treturn 0;\n}\n' >>"$T/pull/pull.c"
if out=$(python3 "$check" "$T"); then
  echo "FAIL: the layering check passed a tree with planted violations" >&2
  exit 1
fi
status=0
for want in "core/buf.c:.*bale/import.h of import/ (floor 5) from core/ (floor 0)" \
            "pull/pull.c:.*store/ctr.h, a private header of store/" \
            "core/text.c:.*<curl/curl.h> is libcurl, which core/ does not link" \
            "include/bale/digest.h: declares bale_hasher_planted; bale/digest.h exports" \
            "pull/pull.c:.*bale_planted is in no public header"; do
  if ! grep -q -- "$want" <<<"$out"; then
    echo "FAIL: the layering check did not report: $want" >&2
    status=1
  fi
done
if [[ $(wc -l <<<"$out") -ne 5 ]]; then
  echo "FAIL: expected exactly the five planted violations, got:" >&2
  echo "$out" >&2
  status=1
fi
((status == 0)) && echo "layers: every include points down; the planted violations were caught"
exit $status
