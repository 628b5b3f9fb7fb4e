#!/usr/bin/env bash
# Installs the Debian packages the project needs on a bare Debian 12: the build, the tests (ctest,
# scripts/test.sh's three phases) and the scripts they run. Idempotent: packages already present
# (installed, or provided by an installed package) are skipped. Installs with
# --no-install-recommends, so every package needed is named here or is a Depends of one named here.
#   --list      prints the package list, one a line, and installs nothing
#   --programs  prints the programs the tests and scripts start, one a line
# The `packaging` test (tests/packaging/check_build_packages.sh) checks both lists against what a
# build really used.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libboost-system-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libssl-dev libsimdjson-dev libcli11-dev
  libcurl4-openssl-dev  # libcurl: every outbound HTTP(S) request (shared/http)
  zlib1g-dev  # zlib.h and libz: crc32 for the server's update log (server/log_segment.cpp)
  libgtest-dev libgmock-dev libhiredis-dev
  redis-server  # tests/support and tests/deploy start redis-server and redis-cli (redis-tools)
  redis-sentinel  # tests/support/redis_sentinel starts redis-sentinel (Redis high availability)
  curl  # scripts/demo.sh
  openssl  # the command line: tests generate their TLS certificates with it (tests/support)
  tinyproxy nghttp2-server  # the HTTP client's tests through a proxy and over HTTP/2 (nghttpd)
  nodejs npm  # the deploy test (tests/deploy) runs on node; scripts/test.sh runs `npm ci` for it
  clang-14 libclang-rt-14-dev  # libFuzzer and the clang sanitizer runtimes (fuzz/)
  llvm-14  # only Recommended by clang-14: llvm-ar-14/llvm-ranlib-14, which CMake prefers for the fuzz
           # build (else GNU ar), and llvm-symbolizer-14, which clang's sanitizers symbolize with
           # (else addr2line): bare machines use the same tools as ours
  libbenchmark-dev  # Google Benchmark: bench/micro (bench/run.sh)
)
# Programs started by the tests and scripts besides the build tools and the Essential set
# (bash, coreutils, grep, sed): the packaging test checks each is owned by a package above.
programs=(redis-server redis-sentinel redis-cli openssl node npm curl clang++-14 llvm-symbolizer-14 tinyproxy nghttpd)
case "${1:-}" in
  --list) printf '%s\n' "${pkgs[@]}"; exit 0 ;;
  --programs) printf '%s\n' "${programs[@]}"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--list|--programs]" >&2; exit 2 ;;
esac
# Installed packages and the names their Provides fields cover (nodesource's nodejs provides npm).
present=" $(dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null \
  | awk -F'|' '$1 ~ /^ii/ { print $2; n = split($3, a, ",");
                            for (i = 1; i <= n; i++) { sub(/^ +/, "", a[i]); sub(/[ (].*/, "", a[i]); if (a[i] != "") print a[i] } }' \
  | tr '\n' ' ') "
missing=()
for p in "${pkgs[@]}"; do
  [[ $present == *" $p "* ]] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
