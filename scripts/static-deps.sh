#!/usr/bin/env bash
# The libraries a static bale links that Debian ships no usable static archive of, built
# from Debian's own source packages: scripts/static-deps.sh PREFIX.
#
# Debian's libcurl.a needs Kerberos, LDAP, libssh2, librtmp, nghttp2 and more, several of
# which have no static archive; its libarchive.a needs libxml2 (and ICU), ACL, LZ4; its
# libmicrohttpd.a needs GnuTLS and p11-kit. bale uses curl for HTTP(S) with OpenSSL only,
# libarchive for tar only (zstd is bale's own), and libmicrohttpd for plain HTTP: each is
# built with just that, static, into PREFIX. Done once: a PREFIX that has them is left as
# it is. The rest (OpenSSL, zstd, xxHash, SQLite, jansson, libyaml, zlib) are Debian's own
# static archives.
#
# scripts/static-deps.sh PREFIX aarch64-linux-gnu: the same for arm64, with Debian's cross
# compiler and its arm64 libraries (scripts/install-deps.sh --static-arm64).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:?usage: scripts/static-deps.sh PREFIX [aarch64-linux-gnu]}
triple=${2:-}
src="$prefix.src"
stamp="$prefix/.bale-static-deps"
[[ -f $stamp ]] && exit 0

BALE_STATIC_SOURCES="$src/debian" "$top/scripts/install-deps.sh" --static${triple:+-arm64} >&2
jobs=$(nproc)
cross=() cmake_cross=()
if [[ -n $triple ]]; then # the target's compiler, and its libraries' pkg-config files
  cross=(--host="$triple" CC="$triple-gcc")
  cmake_cross=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="${triple%%-*}"
    -DCMAKE_C_COMPILER="$triple-gcc")
  export PKG_CONFIG_LIBDIR=/usr/lib/$triple/pkgconfig:/usr/share/pkgconfig
fi

# unpack PKG: Debian's source package PKG, its patches applied (security fixes among them),
# in $src/PKG.
unpack() {
  local dsc dir=$src/$1
  dsc=$(compgen -G "$src/debian/${1}_*.dsc" | head -n 1)
  [[ -n $dsc ]] || { echo "static-deps: no source package of $1 in $src/debian" >&2; exit 1; }
  rm -rf "$dir"
  dpkg-source --no-check -x "$dsc" "$dir" >"$src/$1.unpack.log" 2>&1 \
    || { cat "$src/$1.unpack.log" >&2; exit 1; }
  echo "$dir"
}

build() { # PKG CONFIGURE-OPTIONS…
  local pkg=$1 dir
  shift
  [[ -f $prefix/.built-$pkg ]] && return 0
  dir=$(unpack "$pkg")
  echo "static-deps: building $pkg" >&2
  (cd "$dir" && ./configure --prefix="$prefix" --disable-shared --enable-static \
    CFLAGS="-O2 -fPIC" "${cross[@]}" "$@" && make -j"$jobs" && make install) >"$src/$pkg.log" 2>&1 \
    || { tail -n 30 "$src/$pkg.log" >&2; echo "static-deps: $pkg failed: $src/$pkg.log" >&2; exit 1; }
  touch "$prefix/.built-$pkg"
}

mkdir -p "$prefix" "$src"
build curl --with-openssl --with-zlib --without-libpsl --without-libidn2 --without-nghttp2 \
  --without-brotli --without-zstd --without-librtmp --without-libssh2 --without-libgsasl \
  --without-gssapi --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
  --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smtp \
  --disable-gopher --disable-mqtt --disable-smb --disable-ftp --disable-file \
  --disable-manual --disable-docs --enable-threaded-resolver
# libarchive with CMake: Debian's patches touch its autotools inputs, CMake needs no rerun
[[ -f $prefix/.built-libarchive ]] || {
dir=$(unpack libarchive)
echo "static-deps: building libarchive" >&2
{
  cmake -S "$dir" -B "$dir/static" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release \
    "${cmake_cross[@]}" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DENABLE_OPENSSL=OFF -DENABLE_MBEDTLS=OFF \
    -DENABLE_NETTLE=OFF -DENABLE_LIBB2=OFF -DENABLE_LZ4=OFF -DENABLE_LZO=OFF \
    -DENABLE_LZMA=OFF -DENABLE_ZSTD=OFF -DENABLE_ZLIB=OFF -DENABLE_BZip2=OFF \
    -DENABLE_LIBXML2=OFF -DENABLE_EXPAT=OFF -DENABLE_PCREPOSIX=OFF -DENABLE_LibGCC=OFF \
    -DENABLE_CNG=OFF -DENABLE_TAR=OFF -DENABLE_CPIO=OFF -DENABLE_CAT=OFF -DENABLE_ACL=OFF \
    -DENABLE_XATTR=OFF -DENABLE_ICONV=OFF -DENABLE_TEST=OFF &&
    cmake --build "$dir/static" -j"$jobs" &&
    cmake --install "$dir/static"
} >"$src/libarchive.log" 2>&1 || {
  tail -n 30 "$src/libarchive.log" >&2
  echo "static-deps: libarchive failed: $src/libarchive.log" >&2
  exit 1
}
touch "$prefix/.built-libarchive"
}
build libmicrohttpd --disable-https --disable-doc --disable-examples --disable-curl \
  --disable-tools
touch "$stamp"
