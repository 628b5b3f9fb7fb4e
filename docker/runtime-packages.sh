#!/usr/bin/env bash
# Prints, one per line, the Debian packages that own the shared libraries a binary loads (ldd),
# without the ones every debian:12-slim already has. The Dockerfiles' build stage runs it so the
# runtime stage installs only those: `bash docker/runtime-packages.sh build/opal-server`.
set -euo pipefail
[ $# -eq 1 ] && [ -x "$1" ] || { echo "usage: $0 BINARY" >&2; exit 2; }
if ldd "$1" | grep -q 'not found'; then
  echo "runtime-packages: unresolved libraries:" >&2
  ldd "$1" | grep 'not found' >&2
  exit 1
fi
owner() {  # library path -> owning package (Debian 12 is usr-merged: try both spellings)
  local p=$1 rest=${1#/usr}
  dpkg -S "$p" 2>/dev/null || dpkg -S "/usr$rest" 2>/dev/null || dpkg -S "$rest" 2>/dev/null \
    || dpkg -S "$(readlink -f "$p")" 2>/dev/null \
    || { echo "runtime-packages: no package owns $p" >&2; exit 1; }
}
ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
  owner "$lib" | head -n1 | cut -d: -f1
done | sort -u | grep -v -x -E 'libc6|libgcc-s1|libstdc\+\+6' || true
