#!/usr/bin/env bash
# Checks that scripts/setup.sh's package list covers what a build really used, so a bare Debian 12
# (which has only the Essential packages) can build and test the project. Usage:
#   bash tests/packaging/check_build_packages.sh BUILD_DIR   (a finished Ninja build; ctest -L packaging)
# What it collects:
#   - every header the compiler read (ninja's dependency log: `ninja -t deps`);
#   - every library the link commands name (absolute .a/.so paths, -lfoo resolved with the compiler's
#     search path) and the compiler's implicit start files and runtime libraries;
#   - every CMake file the configure step read (the inputs of build.ninja's RERUN_CMAKE edge: the
#     Find modules and the packages' *Config.cmake files);
#   - the programs the build commands start (compiler, ar, ranlib, cmake), the compiler's own (cc1plus,
#     as, ld), ninja, ctest, pkg-config, and the programs the tests and scripts start
#     (`setup.sh --programs`).
# Each file outside the source and build trees is mapped to the Debian package owning it (dpkg -S,
# both the path as used and its symlink target). The closure of `setup.sh --list` plus the
# Essential packages over Depends and Pre-Depends (never Recommends: setup.sh installs with
# --no-install-recommends) must hold every such package; the check fails naming each file that is
# not covered and the package to add. Alternatives (a | b) and virtual packages resolve to the
# installed choice when there is one, else to what apt would pick (the first alternative, the first
# provider). Reads the build directory only: ninja runs with -n, so its logs are never rewritten.
# PDL_PKGCHECK_KEEP=1 keeps the working files (file lists, owners, closure) and says where.
set -euo pipefail
[ $# -eq 1 ] && [ -f "$1/build.ninja" ] && [ -f "$1/CMakeCache.txt" ] \
  || { echo "usage: $0 BUILD_DIR (a configured and built Ninja build directory)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
setup="$here/../../scripts/setup.sh"
for tool in dpkg-query apt-cache; do
  command -v "$tool" >/dev/null || { echo "check_build_packages: $tool not found" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/pdl_pkgcheck.XXXXXX")
trap '[ -n "${PDL_PKGCHECK_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT

cache_var() {  # NAME -> its value in CMakeCache.txt (empty when unset)
  sed -n -E "s/^$1:[A-Z]+=(.*)$/\1/p" "$build/CMakeCache.txt" | head -n1
}
cxx=$(cache_var CMAKE_CXX_COMPILER)
[ -n "$cxx" ] || { echo "check_build_packages: no CMAKE_CXX_COMPILER in $build/CMakeCache.txt" >&2; exit 2; }
ninja=$(cache_var CMAKE_MAKE_PROGRAM)
[ -x "$ninja" ] || ninja=$(command -v ninja) || { echo "check_build_packages: ninja not found" >&2; exit 2; }
src=$(cache_var CMAKE_HOME_DIRECTORY)  # the build's source tree (not necessarily this script's)
[ -d "$src" ] || { echo "check_build_packages: no source directory in $build/CMakeCache.txt" >&2; exit 2; }

# ---- (a) the files the build used ----------------------------------------------------------------
: >"$work/used"
# Headers, one block per object: "target: #deps N ..." then the indented dependencies.
"$ninja" -n -C "$build" -t deps 2>/dev/null | awk '/^ / { print $1 }' >"$work/deps_raw"
[ -s "$work/deps_raw" ] || { echo "check_build_packages: ninja's dependency log in $build is empty: build first" >&2; exit 2; }
sort -u "$work/deps_raw" | (cd "$build" && xargs -r realpath -s -m --) >>"$work/used"

# Libraries from the link commands (and the archiver's, harmlessly: their inputs are build files).
"$ninja" -n -C "$build" -t commands 2>/dev/null | tr ' ' '\n' >"$work/tokens"
grep -E '^/.*\.(a|so)(\.[0-9]+)*$' "$work/tokens" | sort -u >>"$work/used" || true
lib_path() {  # library file name -> full path through the compiler's search path (empty if none)
  local p
  p=$("$cxx" -print-file-name="$1" 2>/dev/null) || return 0
  [ "$p" != "$1" ] && [ -e "$p" ] && echo "$p"
  return 0
}
for l in $(grep -E '^-l' "$work/tokens" | sort -u); do
  name=${l#-l}
  case $name in
    :*) found=$(lib_path "${name#:}") ;;
    *) found=$(lib_path "lib$name.so"); [ -n "$found" ] || found=$(lib_path "lib$name.a") ;;
  esac
  [ -n "$found" ] || { echo "check_build_packages: the link flag $l resolves to no file" >&2; echo "UNRESOLVED:$l" >>"$work/used"; continue; }
  echo "$found" >>"$work/used"
done
# What the compiler driver adds to every link by itself.
for f in crt1.o Scrt1.o crti.o crtn.o crtbegin.o crtbeginS.o crtend.o crtendS.o \
         libstdc++.so libm.so libc.so libgcc_s.so libgcc.a; do
  lib_path "$f" >>"$work/used"
done
# The sanitizer and libFuzzer runtimes the driver links for -fsanitize=...: clang's (the fuzz build,
# under -print-runtime-dir) or GCC's.
sanitizers=$(grep -oE -- '^-fsanitize=[a-z,-]+' "$work/tokens" | cut -d= -f2 | tr ',' '\n' | sort -u || true)
if rt=$("$cxx" -print-runtime-dir 2>/dev/null) && [ -d "$rt" ]; then
  for s in $sanitizers; do
    case $s in
      address) echo "$rt/libclang_rt.asan-x86_64.a" ;;
      undefined) echo "$rt/libclang_rt.ubsan_standalone-x86_64.a" ;;
      fuzzer) echo "$rt/libclang_rt.fuzzer-x86_64.a" ;;
    esac
  done >>"$work/used"
else
  for s in $sanitizers; do
    case $s in
      address) lib_path libasan.so ;;
      undefined) lib_path libubsan.so ;;
    esac
  done >>"$work/used"
fi

# The CMake modules and package configuration files the configure step read.
grep -m1 -E '^build build\.ninja( |:)' "$build/build.ninja" | sed 's/.*| //' | tr ' ' '\n' \
  | grep -E '^/' >>"$work/used" || true

# Tools: the ones CMake found, the compiler's own programs, and the programs tests and scripts run.
programs=()
for v in CMAKE_CXX_COMPILER CMAKE_MAKE_PROGRAM CMAKE_COMMAND CMAKE_CTEST_COMMAND PKG_CONFIG_EXECUTABLE; do
  p=$(cache_var "$v")
  [ -n "$p" ] && [ "${p#/}" != "$p" ] && programs+=("$p")
done
# Every program the build commands start (compiler, archiver, ranlib, cmake -E): the first word of
# each "a && b" part, after the compiler launcher (ccache: the user's choice, not a requirement).
launcher=$(cache_var CMAKE_CXX_COMPILER_LAUNCHER)
"$ninja" -n -C "$build" -t commands 2>/dev/null | sed 's/ && /\n/g' \
  | awk -v l="$launcher" '{ w = $1; if (l != "" && (w == l || w ~ ("/" l "$"))) w = $2; if (w ~ /^\//) print w }' \
  | sort -u >"$work/build_tools"
while read -r p; do programs+=("$p"); done <"$work/build_tools"
for prog in cc1plus collect2 as ld; do
  p=$("$cxx" -print-prog-name="$prog" 2>/dev/null || true)
  [ "${p#/}" != "$p" ] || p=$(command -v "$p" 2>/dev/null || true)
  [ -n "$p" ] && programs+=("$p")
done
while read -r prog; do
  [ -n "$prog" ] || continue
  p=$(command -v "$prog" 2>/dev/null || true)
  if [ -z "$p" ]; then
    echo "UNRESOLVED:program $prog (setup.sh --programs) is not on PATH" >>"$work/used"
  else
    programs+=("$p")
  fi
done < <(bash "$setup" --programs)
printf '%s\n' "${programs[@]}" >>"$work/used"

# Only what lies outside the source and build trees (and outside /tmp, where tests put scratch).
awk -v s="$src" -v b="$build" '$0 != s && $0 != b && index($0, s "/") != 1 && index($0, b "/") != 1 &&
                                  $0 !~ /^\/(tmp|proc|dev)\//' "$work/used" | sort -u >"$work/files"
grep '^UNRESOLVED:' "$work/files" >"$work/unresolved" || true
grep -v '^UNRESOLVED:' "$work/files" >"$work/paths" || true

# ---- (b) owning packages --------------------------------------------------------------------------
# Debian 12 is usr-merged but dpkg records the path each package ships: /lib/... or /usr/lib/...
# For every file look up its path as used and its symlink target, each in both spellings.
alt='s#^/usr/(bin|sbin|lib|lib32|lib64|libx32)/#/\1/#; t; s#^/(bin|sbin|lib|lib32|lib64|libx32)/#/usr/\1/#'
xargs -r -d '\n' realpath -m -- <"$work/paths" >"$work/targets"
paste "$work/paths" "$work/paths" <(sed -E "$alt" "$work/paths") "$work/targets" <(sed -E "$alt" "$work/targets") \
  >"$work/candidates"
cut -f2- "$work/candidates" | tr '\t' '\n' | sort -u >"$work/lookup"
# One dpkg -S for all of them (exact paths: a hash look-up each). Lines: "pkg1:arch, pkg2: /path".
xargs -r -d '\n' dpkg-query -S -- <"$work/lookup" 2>/dev/null | grep -v '^diversion ' \
  | awk '{ i = index($0, ": /"); pk = substr($0, 1, i - 1); path = substr($0, i + 2);
           n = split(pk, a, ", "); for (k = 1; k <= n; k++) { sub(/:.*/, "", a[k]); print path "\t" a[k] } }' \
  | sort -u >"$work/owners" || true

# ---- (c) the closure of setup.sh's list over Depends/Pre-Depends ----------------------------------
# name -> installed? and name -> installed providers (Provides of installed packages).
dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Essential}\t${Provides}\n' 2>/dev/null \
  | awk -F'\t' '$1 ~ /^ii/ { print "I\t" $2 "\t" $2; if ($3 == "yes") print "E\t" $2;
                             n = split($4, a, ","); for (i = 1; i <= n; i++) { p = a[i]; sub(/^ +/, "", p); sub(/[ (].*/, "", p);
                               if (p != "") print "P\t" p "\t" $2 } }' >"$work/installed"
bash "$setup" --list >"$work/setup_list"
[ -s "$work/setup_list" ] || { echo "check_build_packages: $setup --list printed nothing" >&2; exit 2; }
# The roots: setup.sh's packages and the Essential set a bare Debian always has.
{ cat "$work/setup_list"; awk -F'\t' '$1 == "E" { print $2 }' "$work/installed"; } | sort -u >"$work/roots"

# choose: reads apt-cache depends output on stdin, prints the package each dependency group
# resolves to. Groups: " |Depends: a" continues to the next alternative; indented (4 spaces) lines
# after a target are the packages providing it; "<name>" marks a purely virtual name.
choose() {
  awk -F'\t' -v inst="$work/installed" '
    BEGIN { while ((getline l < inst) > 0) { split(l, f, "\t");
              if (f[1] == "I") installed[f[2]] = 1; else if (f[1] == "P" && !(f[2] in prov)) prov[f[2]] = f[3] } }
    function pick_alt(name, virt, providers,   n, a, i) {  # -> installed choice or ""
      if (!virt && (name in installed)) return name
      if (name in prov) return prov[name]
      n = split(providers, a, " "); for (i = 1; i <= n; i++) if (a[i] in installed) return a[i]
      return ""
    }
    function flush(   i, c) {
      if (ng == 0) return
      for (i = 1; i <= ng; i++) { c = pick_alt(gname[i], gvirt[i], gprov[i]); if (c != "") { print c; ng = 0; return } }
      # Nothing installed: apt takes the first alternative, a virtual one through its first provider.
      for (i = 1; i <= ng; i++) {
        if (!gvirt[i]) { print gname[i]; ng = 0; return }
        split(gprov[i], c1, " "); if (c1[1] != "") { print c1[1]; ng = 0; return }
      }
      print "UNSATISFIABLE:" gname[1]; ng = 0
    }
    /^[^ ]/ { flush(); cont = 0; next }
    /^ [ |](Depends|PreDepends): / {
      if (!cont) flush()
      cont = ($0 ~ /^ \|/)
      t = $0; sub(/^ [ |][A-Za-z]+: /, "", t); virt = (t ~ /^</); gsub(/[<>]/, "", t); sub(/:any$/, "", t)
      ng++; gname[ng] = t; gvirt[ng] = virt; gprov[ng] = ""; inprov = 1; next
    }
    /^    [^ ]/ { if (inprov) { t = $0; sub(/^ +/, "", t); sub(/:any$/, "", t); gprov[ng] = gprov[ng] " " t } ; next }
    { if (!cont) flush(); inprov = 0 }
    END { flush() }'
}
# Roots named in setup.sh but provided by an installed package (nodesource's nodejs provides npm).
awk -F'\t' -v inst="$work/installed" '
  BEGIN { while ((getline l < inst) > 0) { split(l, f, "\t"); if (f[1] == "I") i[f[2]] = 1; else if (f[1] == "P" && !(f[2] in p)) p[f[2]] = f[3] } }
  { if (!($1 in i) && ($1 in p)) print p[$1]; else print $1 }' "$work/roots" | sort -u >"$work/closure"
cp "$work/closure" "$work/frontier"
while [ -s "$work/frontier" ]; do
  xargs -r apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances <"$work/frontier" 2>/dev/null | choose | sort -u >"$work/next"
  comm -23 "$work/next" "$work/closure" >"$work/frontier"
  sort -u "$work/closure" "$work/frontier" -o "$work/closure"
done
grep '^UNSATISFIABLE:' "$work/closure" | sed 's/^UNSATISFIABLE:/check_build_packages: warning: no package satisfies /' >&2 || true

# ---- (d) the verdict ------------------------------------------------------------------------------
# Per file: the owners of its path as used (either spelling), and of its target when that differs.
awk -F'\t' -v owners="$work/owners" -v closure="$work/closure" '
  BEGIN { while ((getline l < owners) > 0) { split(l, f, "\t"); own[f[1]] = own[f[1]] " " f[2] }
          while ((getline l < closure) > 0) inclosure[l] = 1 }
  { used = own[$2] own[$3]; target = own[$4] own[$5]
    if (used == "" && target == "") { print "UNOWNED\t" $1; next }
    n = split(used " " target, a, " ")
    for (i = 1; i <= n; i++) if (a[i] != "" && !(a[i] in inclosure) && !seen[$1 SUBSEP a[i]]++) print "MISSING\t" a[i] "\t" $1 }' \
  "$work/candidates" >"$work/verdict"

n_files=$(wc -l <"$work/paths")
n_pkgs=$(cut -f2 "$work/owners" | sort -u | wc -l)
echo "check_build_packages: $n_files files outside the tree from $n_pkgs packages; closure of setup.sh's" \
     "$(wc -l <"$work/setup_list") packages + Essential: $(wc -l <"$work/closure") packages"
status=0
if grep -q '^MISSING' "$work/verdict"; then
  status=1
  echo "FAIL: files the build used whose package scripts/setup.sh neither installs nor pulls in:"
  for p in $(grep '^MISSING' "$work/verdict" | cut -f2 | sort -u); do
    files=$(awk -F'\t' -v p="$p" '$1 == "MISSING" && $2 == p { print $3 }' "$work/verdict")
    echo "  add $p to scripts/setup.sh: it owns $(wc -l <<<"$files") used file(s):"
    head -n 5 <<<"$files" | sed 's/^/      /'
    [ "$(wc -l <<<"$files")" -le 5 ] || echo "      ..."
  done
fi
if grep -q '^UNOWNED' "$work/verdict"; then
  status=1
  echo "FAIL: files the build used that no Debian package owns (installed by hand? setup.sh cannot provide them):"
  grep '^UNOWNED' "$work/verdict" | cut -f2 | sed 's/^/  /'
fi
if [ -s "$work/unresolved" ]; then
  status=1
  echo "FAIL: not found at all:"
  sed 's/^UNRESOLVED:/  /' "$work/unresolved"
fi
[ "$status" -eq 0 ] && echo "OK: every file is owned by a package in setup.sh's closure"
exit "$status"
