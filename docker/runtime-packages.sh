#!/usr/bin/env bash
# Prints, one per line, the Debian packages that own the shared libraries a binary loads (ldd),
# without the ones every debian:12-slim already has. The Dockerfiles' build stage runs it so the
# runtime stage installs only those: `bash docker/runtime-packages.sh build/opal-server`.
# Fails (non-zero, naming the file) when ldd fails, a library is unresolved, or no package owns a
# library: an empty or partial list would give an image without its libraries.
set -euo pipefail
[ $# -eq 1 ] && [ -x "$1" ] || { echo "usage: $0 BINARY" >&2; exit 2; }
ldd_out=$(ldd "$1" 2>&1) || { echo "runtime-packages: ldd $1 failed: $ldd_out" >&2; exit 1; }
if grep -q 'not found' <<<"$ldd_out"; then
  echo "runtime-packages: unresolved libraries of $1:" >&2
  grep 'not found' <<<"$ldd_out" >&2
  exit 1
fi
owner() {  # library path -> owning package (Debian 12 is usr-merged: try both spellings)
  local p=$1 rest=${1#/usr} out
  for q in "$p" "/usr$rest" "$rest" "$(readlink -f "$p")"; do
    if out=$(dpkg-query -S "$q" 2>/dev/null) && [ -n "$out" ]; then
      grep -v '^diversion ' <<<"$out" | head -n1 | cut -d: -f1
      return 0
    fi
  done
  return 1
}
pkgs=()
for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$ldd_out"); do
  pkg=$(owner "$lib") || {
    echo "runtime-packages: no Debian package owns $lib (loaded by $1): cannot list the image's packages" >&2
    exit 1
  }
  pkgs+=("$pkg")
done
# The ones debian:12-slim has; the remaining list may be empty (a binary needing only those).
printf '%s\n' "${pkgs[@]}" | sort -u | grep -v -x -E 'libc6|libgcc-s1|libstdc\+\+6|^$' || [ $? -eq 1 ]
