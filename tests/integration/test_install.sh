#!/usr/bin/env bash
# What a platform team installs: cmake --install gives the binary, one man page per verb
# that man finds (man bale-export), bash and zsh completion made from the option tables,
# and the documents; cpack -G DEB makes a package of the same, with Depends worked out
# from the libraries bale links.
source "$(dirname "$0")/lib.sh"

build=$(dirname "$BALE")
[[ -f $build/cmake_install.cmake && -f $build/CPackConfig.cmake ]] ||
  fail "$build is not the build tree of $BALE"
cmake --install "$build" --prefix "$T/inst" >"$T/install.log" 2>&1 || fail "cmake --install: $(tail -n 5 "$T/install.log")"
[[ -x $T/inst/bin/bale ]] || fail "no bin/bale installed"
for verb in export import verify pull serve plan; do
  MANPAGER=cat man -M "$T/inst/share/man" "bale-$verb" >"$T/man.txt" 2>"$T/man.err" ||
    fail "man bale-$verb: $(cat "$T/man.err")"
  assert_contains "$T/man.txt" "bale-$verb"
done
MANPAGER=cat man -M "$T/inst/share/man" bale-export >"$T/man.txt" 2>/dev/null
assert_contains "$T/man.txt" "--with-bale"
# bash completion: verbs, and a verb's options
comp=$T/inst/share/bash-completion/completions/bale
[[ -f $comp ]] || fail "no bash completion installed"
complete_words() { bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _bale; echo "${COMPREPLY[*]}"' _ "$comp" "$@"; }
assert_eq "export" "$(complete_words bale exp)" "completion of a verb"
assert_eq "--with-bale" "$(complete_words bale export --with-b)" "completion of an option"
assert_eq "--tls-cert --tls-key" "$(complete_words bale serve --tls)" "completion of serve's options"
grep -q bashcompinit "$T/inst/share/zsh/vendor-completions/_bale" || fail "the zsh completion does not load bashcompinit"
[[ -f $T/inst/share/doc/bale/bundle-format.md ]] || fail "no documents installed"

# the Debian package
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$T/pkg" >"$T/cpack.log" 2>&1 || fail "cpack: $(tail -n 10 "$T/cpack.log")"
deb=$(compgen -G "$T/pkg/bale_*.deb" | head -n 1)
[[ -n $deb ]] || fail "cpack made no .deb: $(ls "$T/pkg")"
dpkg-deb -c "$deb" >"$T/deb.txt"
for f in ./usr/bin/bale ./usr/share/man/man1/bale-import.1 ./usr/share/bash-completion/completions/bale; do
  assert_contains "$T/deb.txt" "$f"
done
depends=$(dpkg-deb -f "$deb" Depends)
[[ $depends == *libcurl* && $depends == *libsqlite3* ]] || fail "Depends does not name bale's libraries: $depends"
echo "test_install: ok"
