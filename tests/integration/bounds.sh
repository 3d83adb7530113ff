# shellcheck shell=bash
# Helpers for the tests of bounded work and hostile content (test_bounded_*.sh,
# test_hostile_text.sh). Source after lib.sh.

# start_bounds_registry NAME [bounds_registry.py flags…]: the registry that serves what a
# real one refuses to store (fat indexes, ambiguous manifests, absurd sizes, escape
# sequences) on a free loopback port; exports NAME_PORT, NAME_HOST and NAME_LOG (one line
# a request: method and path).
start_bounds_registry() {
  local name=$1
  shift
  _BR_NAME=$name
  _BR_ARGS=("$@")
  mkdir -p "$T/$name"
  _launch "$T/$name/server.err" _serve_bounds_registry
  _set "${name}_PORT" "$_LAUNCH_PORT"
  _set "${name}_HOST" "127.0.0.1:$_LAUNCH_PORT"
  _set "${name}_LOG" "$T/$_BR_NAME/requests.log"
}

_serve_bounds_registry() {
  : >"$T/$_BR_NAME/requests.log"
  "$PY" "$LIB_DIR/bounds_registry.py" --port "$1" --log "$T/$_BR_NAME/requests.log" \
    --lifetime 300 "${_BR_ARGS[@]}" >"$T/$_BR_NAME/server.err" 2>&1 &
  _LAUNCH_PID=$!
}

# signed_bundle_of REPO: a bounds registry "reg" serving REPO/image:1, a key pair $T/k, and
# that image exported into a signed bundle; sets H (the registry), REF and B (the bundle).
signed_bundle_of() {
  start_bounds_registry reg --children 1
  H=$reg_HOST
  REF=$H/$1/image:1
  "$BALE" keygen -q -o "$T/k" >/dev/null
  B=$T/$1.tar.zst
  expect_exit 0 "$BALE" export -q --insecure-registry "$H" --cache "$T/cache" --key "$T/k.key" \
    -o "$B" "$REF"
}

# resign IN OUT KEY SQL [JQ]: IN with SQL run on its bale/index.db (sqlite3) and JQ applied
# to its bale/manifest.json (which then records the new index.db), signed again with KEY:
# a hostile bundle whose signature holds, as a signer gone bad would make it.
resign() {
  local in=$1 out=$2 key=$3 sql=$4 filter=${5:-.} d=$T/resign digest size
  rm -rf "$d" && mkdir -p "$d"
  tar --zstd -xf "$in" -C "$d" bale/manifest.json bale/index.db
  [[ -z $sql ]] || sqlite3 "$d/bale/index.db" "$sql"
  digest=sha256:$(sha256sum "$d/bale/index.db" | cut -d' ' -f1)
  size=$(stat -c %s "$d/bale/index.db")
  jq --arg d "$digest" --argjson s "$size" \
    "(.files[] | select(.path == \"bale/index.db\")) |= (.digest = \$d | .size = \$s) | $filter" \
    "$d/bale/manifest.json" >"$d/manifest.json"
  openssl dgst -sha256 -sign "$key" "$d/manifest.json" | base64 -w0 >"$d/sig"
  echo >>"$d/sig"
  "$PY" "$LIB_DIR/rebundle.py" "$in" "$d/1.tar.zst" --replace bale/manifest.json "$d/manifest.json"
  "$PY" "$LIB_DIR/rebundle.py" "$d/1.tar.zst" "$d/2.tar.zst" --replace bale/manifest.json.sig "$d/sig"
  "$PY" "$LIB_DIR/rebundle.py" "$d/2.tar.zst" "$out" --replace bale/index.db "$d/bale/index.db"
}

# no_control_bytes FILE: FILE is UTF-8 with no character a terminal acts on (C0 but
# newline, DEL, C1) and no line separator or bidirectional control.
no_control_bytes() {
  "$PY" - "$1" <<'PYEOF' || fail "$1 holds characters a terminal acts on: $(od -c "$1" | head -c 1500)"
import sys
text = open(sys.argv[1], "rb").read().decode("utf-8")  # fails on bytes that are not UTF-8
bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f
       or ord(c) in (0x61c, 0x200e, 0x200f) or 0x2028 <= ord(c) <= 0x202e
       or 0x2066 <= ord(c) <= 0x2069]
sys.exit(1 if bad else 0)
PYEOF
}
