# shellcheck shell=bash
# Peer helpers: what other tools (skopeo) see, as sorted digest sets that a
# test can compare with what bale wrote. Source after lib.sh.
#
# Each function prints "sha256:<hex>" lines, sorted and unique, and fails the
# test when a file's content does not hash to its name. Call them as
#   got=$(store_digests "$dir")
# (not in <(...) process substitution, where a failure would go unnoticed).

# _hash_files FILE…: print "<hex> <path>" for each file, in one sha256sum run.
_hash_files() {
  (($# > 0)) || return 0
  sha256sum -- "$@" | sed 's/^\([0-9a-f]\{64\}\) [ *]/\1 /'
}

# peer_digests_dir DIR: digests in a `skopeo copy [--all] docker://… dir:DIR`:
# manifest.json (the top manifest or index, by its content), <hex>.manifest.json
# (per-platform manifests) and <hex> files (configs and layers).
peer_digests_dir() {
  local dir=$1 hex path base name
  local -a files=() out=()
  [[ -f $dir/manifest.json ]] || fail "peer_digests_dir: $dir/manifest.json missing"
  for path in "$dir"/*; do
    base=${path##*/}
    [[ $base == version ]] || files+=("$path")
  done
  while read -r hex path; do
    base=${path##*/}
    case $base in
      manifest.json) name=$hex ;;
      *.manifest.json) name=${base%.manifest.json} ;;
      *) name=$base ;;
    esac
    [[ $name =~ ^[0-9a-f]{64}$ ]] || fail "peer_digests_dir: unexpected file $path"
    [[ $hex == "$name" ]] || fail "peer_digests_dir: $path hashes to sha256:$hex"
    out+=("sha256:$name")
  done < <(_hash_files "${files[@]}")
  ((${#out[@]} == ${#files[@]})) || fail "peer_digests_dir: could not hash every file in $dir"
  printf '%s\n' "${out[@]}" | sort -u
}

# store_digests DIR: digests of an OCI image layout's blobs/sha256, each
# checked against its file name.
store_digests() {
  local dir=$1/blobs/sha256 hex path
  local -a files=() out=()
  [[ -d $dir ]] || fail "store_digests: $dir is not a directory"
  for path in "$dir"/*; do
    [[ -e $path ]] && files+=("$path")
  done
  while read -r hex path; do
    [[ ${path##*/} =~ ^[0-9a-f]{64}$ ]] || fail "store_digests: unexpected file $path"
    [[ $hex == "${path##*/}" ]] || fail "store_digests: $path hashes to sha256:$hex"
    out+=("sha256:$hex")
  done < <(_hash_files "${files[@]}")
  ((${#out[@]} == ${#files[@]})) || fail "store_digests: could not hash every blob in $dir"
  ((${#out[@]} == 0)) || printf '%s\n' "${out[@]}" | sort -u
}

# peer_copy_dir NAME REPO:TAG DIR [skopeo copy options…]: skopeo copy --all
# from registry NAME into dir:DIR (removed first), byte for byte.
peer_copy_dir() {
  local name=$1 ref=$2 dir=$3 host=${1}_HOST
  shift 3
  local -a args
  mapfile -t args < <(skopeo_args "$name" src)
  rm -rf "$dir"
  run_skopeo copy --quiet --all "${args[@]}" "$@" "docker://${!host}/$ref" "dir:$dir" \
    || fail "skopeo copy docker://${!host}/$ref dir:$dir failed"
}

# store_complete DIR: every blob any image named in the OCI layout DIR refers to is
# there and hashes to its name (an independent check of what bale wrote).
store_complete() {
  local dir=$1 d
  [[ -f $dir/index.json ]] || return 0 # no names at all
  store_digests "$dir" >/dev/null
  for d in $(jq -r '.manifests[].digest' "$dir/index.json"); do
    blob_tree "$dir" "$d"
  done
}
blob_tree() {
  local dir=$1 d=$2 f="$1/blobs/sha256/${2#sha256:}" c
  [[ -f $f ]] || fail "$dir names content it lacks: $d"
  [[ $(head -c 1 "$f") == "{" ]] || return 0 # a layer
  for c in $(jq -r 'select(.schemaVersion == 2) | (.manifests // [])[].digest, (.config // empty).digest, (.layers // [])[].digest' "$f" 2>/dev/null); do
    blob_tree "$dir" "$c"
  done
}
