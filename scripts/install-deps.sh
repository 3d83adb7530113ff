#!/usr/bin/env bash
# Install the Debian packages bale's build and tests need.
#
# Idempotent: packages already installed are left alone, and `apt-get update`
# runs only when something is missing, so a second run is a quick no-op.
# Works as root; otherwise uses sudo when it exists.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config go-md2man clang-format
  libcurl4-openssl-dev libssl-dev libzstd-dev libxxhash-dev libarchive-dev
  libsqlite3-dev libjansson-dev libyaml-dev libcmocka-dev libmicrohttpd-dev
  # integration tests: registries, peers, tools
  docker-registry skopeo containerd apache2-utils
  zstd sqlite3 jq openssl ca-certificates curl time bc strace
  # cmake --install's man pages, read back with man; cpack's Depends with dpkg-shlibdeps
  man-db dpkg-dev
  # the test token server runs on Debian's /usr/bin/python3
  python3 python3-jwt python3-cryptography python3-xxhash python3-yaml
  # a static busybox: the tools image of bale plan --daemonset's test
  busybox-static
)
# scripts/install-deps.sh --fuzz: also clang, for the libFuzzer targets (scripts/fuzz.sh).
# scripts/install-deps.sh --static: also what scripts/build.sh Static needs: Debian's source
# packages of curl, libarchive and libmicrohttpd (built again without the libraries Debian
# ships no static archive of) and the static archives of the rest.
STATIC_SOURCES=(curl libarchive libmicrohttpd)
# scripts/install-deps.sh --static-arm64: and for the arm64 static bale, Debian's cross
# compiler, qemu to run it, and the arm64 libraries.
ARM64=(libssl-dev:arm64 libzstd-dev:arm64 libxxhash-dev:arm64 libsqlite3-dev:arm64
  libjansson-dev:arm64 libyaml-dev:arm64 zlib1g-dev:arm64)
case ${1:-} in
--fuzz) PACKAGES+=(clang) ;;
--static) PACKAGES+=(dpkg-dev zlib1g-dev) ;;
--static-arm64) PACKAGES+=(dpkg-dev zlib1g-dev gcc-aarch64-linux-gnu qemu-user-static "${ARM64[@]}") ;;
esac

die() {
  echo "install-deps: $*" >&2
  exit 1
}

# Print the packages that dpkg does not report as installed.
missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    # with arm64 added, an unqualified name may stand for an instance of each architecture:
    # one installed is what we asked for
    status=$(dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null || true)
    if ! grep -qx installed <<<"$status"; then
      printf '%s\n' "$pkg"
    fi
  done
}

# Run as root: directly, or through sudo when we are not root.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run '$*' (not root and no sudo)"
  fi
}

# The deb-src twin of the machine's Debian sources, so apt-get source works: from the
# deb822 file of Debian 12 images, else from the one-line sources.list of older installs.
DEB_SRC=/etc/apt/sources.list.d/bale-deb-src
enable_sources() {
  [[ -f $DEB_SRC.sources || -f $DEB_SRC.list ]] && return 1
  local from=/etc/apt/sources.list.d/debian.sources
  if [[ -f $from ]]; then
    sed 's/^Types: deb$/Types: deb-src/' "$from" | as_root tee "$DEB_SRC.sources" >/dev/null
  elif grep -qE '^deb ' /etc/apt/sources.list 2>/dev/null; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | as_root tee "$DEB_SRC.list" >/dev/null
  else
    die "no Debian sources to take deb-src entries from: add deb-src lines for bookworm"
  fi
}

# Download (once) the source packages of STATIC_SOURCES into $BALE_STATIC_SOURCES.
fetch_sources() {
  local dir=${BALE_STATIC_SOURCES:?} pkg
  mkdir -p "$dir"
  for pkg in "${STATIC_SOURCES[@]}"; do
    compgen -G "$dir/${pkg}_*.dsc" >/dev/null && continue
    (cd "$dir" && apt-get source --download-only -q "$pkg") || die "apt-get source $pkg failed"
  done
}

main() {
  command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script is for Debian/Ubuntu"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script is for Debian/Ubuntu"
  if [[ ${1:-} == --static || ${1:-} == --static-arm64 ]]; then
    local update=0
    enable_sources && update=1
    if [[ $1 == --static-arm64 ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
      as_root dpkg --add-architecture arm64 || die "dpkg --add-architecture arm64 failed"
      update=1
    fi
    if ((update)); then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed"
    fi
    install_missing
    [[ -n ${BALE_STATIC_SOURCES:-} ]] && fetch_sources
    return 0
  fi
  install_missing
}

install_missing() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    return 0
  fi

  echo "install-deps: installing: ${missing[*]}"
  # sudo drops most of the environment, so pass DEBIAN_FRONTEND through env.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
    || die "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"

  # Check again: apt may "succeed" without installing what we asked for.
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -ne 0 ]]; then
    die "still missing after apt-get install: ${missing[*]}"
  fi
  echo "install-deps: done"
}

main "$@"
