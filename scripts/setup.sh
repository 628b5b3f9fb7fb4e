#!/usr/bin/env bash
# Installs the Debian packages the project needs. Idempotent: packages already present are skipped.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libboost-system-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libssl-dev libsimdjson-dev libcli11-dev
  libgtest-dev libgmock-dev libhiredis-dev redis-server curl
  openssl  # the command line: tests generate their TLS certificates with it (tests/support)
  clang-14 libclang-rt-14-dev  # libFuzzer and the clang sanitizer runtimes (fuzz/)
  libbenchmark-dev  # Google Benchmark: bench/micro (bench/run.sh)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
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
