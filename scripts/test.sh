#!/usr/bin/env bash
# The test command (.ci/run calls it). Phases, in order:
#   1. tests:  install packages, build ./build, run every test (ctest);
#   2. fuzz:   build the libFuzzer targets with clang (build-fuzz) and run each on a copy of its
#              committed corpus for PDL_FUZZ_SECONDS (default 20); any crash, leak, timeout or
#              out-of-memory fails the phase (skipped, and said so, when clang++-14 is missing);
#   3. asan:   build everything with GCC under -fsanitize=address,undefined (build-asan, -O0 -g1:
#              GCC takes 3x longer at -O1 -g with both sanitizers, 95 s vs 31 s for the heaviest
#              file) and run ctest there, halting on the first sanitizer report. UBSan instruments
#              the libraries and fakes, not the test files themselves (see cmake/pdl_helpers.cmake).
# A failed build stops the script; failed tests or fuzz crashes do not stop the later phases, so
# one run reports everything. The last lines summarise each phase; the exit status is non-zero
# when any phase failed.
# Knobs: JOBS, BUILD_DIR, PDL_FUZZ_SECONDS, PDL_SKIP_FUZZ=1, PDL_SKIP_ASAN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-$(nproc)}
build_dir=${BUILD_DIR:-build}
fuzz_seconds=${PDL_FUZZ_SECONDS:-20}
logs=$(mktemp -d "${TMPDIR:-/tmp}/pdl_test.XXXXXX")
trap 'rm -rf "$logs"' EXIT

summary=()
failed=0
phase_begin() { phase_t0=$(date +%s); echo "=== phase $1: $(date -u +%H:%M:%S) ==="; }
phase_end() {  # name status detail
  local secs=$(( $(date +%s) - phase_t0 ))
  summary+=("$(printf '%-6s %-4s %4ds  %s' "$1" "$2" "$secs" "$3")")
  [ "$2" = "ok" ] || [ "$2" = "skip" ] || failed=1
}
print_summary() {
  echo "=== summary ==="
  local line
  for line in "${summary[@]}"; do echo "$line"; done
}
ctest_counts() {  # ctest log -> "N passed, M failed"
  local line total failed_n
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1 || true)
  if [ -z "$line" ]; then echo "no ctest summary"; return; fi
  failed_n=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  echo "$((total - failed_n)) passed, $failed_n failed"
}
build_failed() {  # phase name
  phase_end "$1" FAIL "build failed"
  print_summary
  exit 1
}

# ---- 1. the test suite -----------------------------------------------------------------------
phase_begin tests
bash scripts/setup.sh
BUILD_DIR=$build_dir bash scripts/build.sh || build_failed tests
npm ci --prefix tests/deploy --no-audit --no-fund >/dev/null \
  || echo "test.sh: npm ci --prefix tests/deploy failed; the deploy test will say so"
status=ok
(cd "$build_dir" && ctest --output-on-failure -j "$jobs" --timeout 600) 2>&1 | tee "$logs/ctest.log" \
  || status=FAIL
phase_end tests "$status" "$(ctest_counts "$logs/ctest.log")"

# ---- 2. fuzz targets -------------------------------------------------------------------------
run_fuzzer() {  # target -> exit status of libFuzzer; log in $logs/fuzz_<target>.log
  local t=$1 work="$logs/fuzz_$1" dict=""
  mkdir -p "$work/corpus"
  cp -R "fuzz/corpus/$t/." "$work/corpus/"  # the fuzzer adds to its corpus: never the repo's
  case $t in
    data_update|rpc_frame|json_validator) dict=fuzz/dict/json.dict ;;
    config) dict=fuzz/dict/yaml.dict ;;
    jwt) dict=fuzz/dict/jwt.dict ;;
  esac
  TMPDIR="$work" UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    "build-fuzz/fuzz/fuzz_$t" ${dict:+-dict=$dict} -max_total_time="$fuzz_seconds" \
    -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 -artifact_prefix="$work/" \
    "$work/corpus" >"$logs/fuzz_$t.log" 2>&1
}
if [ "${PDL_SKIP_FUZZ:-0}" = 1 ]; then
  summary+=("fuzz   skip         PDL_SKIP_FUZZ=1")
elif ! command -v clang++-14 >/dev/null; then
  summary+=("fuzz   skip         clang++-14 not installed")
else
  phase_begin fuzz
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DPDL_FUZZ=ON -DPDL_SANITIZE=address,undefined \
    -DPDL_BUILD_TESTS=OFF >/dev/null || build_failed fuzz
  cmake --build build-fuzz --target fuzzers -j "$jobs" || build_failed fuzz
  targets=$(ls fuzz/corpus)
  # Up to $jobs fuzzers at once: each is single-threaded.
  declare -A pids=()
  for t in $targets; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_fuzzer "$t" & pids[$t]=$!
  done
  crashed=()
  for t in $targets; do
    rc=0
    wait "${pids[$t]}" || rc=$?
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$logs/fuzz_$t.log" | grep -Eo '[0-9]+$' || echo "?")
    if [ "$rc" -eq 0 ]; then
      echo "fuzz_$t: $runs runs in ${fuzz_seconds}s, no crash"
    else
      crashed+=("$t")
      echo "fuzz_$t: FAILED (exit $rc) after $runs runs; the report:"
      # From the first line that says what went wrong (the check, the exception, the
      # sanitizer), then the tail, which names the input.
      grep -m1 -A40 -E 'fuzz check failed|terminate called|ERROR: |runtime error|^Running: ' \
        "$logs/fuzz_$t.log" | cut -c1-300 || true
      echo "..."
      tail -n 4 "$logs/fuzz_$t.log" | cut -c1-300
      mkdir -p build-fuzz/artifacts
      for a in "$logs/fuzz_$t"/crash-* "$logs/fuzz_$t"/leak-* "$logs/fuzz_$t"/timeout-* \
               "$logs/fuzz_$t"/oom-*; do
        [ -e "$a" ] || continue
        cp "$a" "build-fuzz/artifacts/${t}-$(basename "$a")"
        echo "input kept as build-fuzz/artifacts/${t}-$(basename "$a");" \
             "replay: build-fuzz/fuzz/fuzz_$t build-fuzz/artifacts/${t}-$(basename "$a")"
      done
    fi
  done
  n=$(wc -w <<<"$targets")
  if [ ${#crashed[@]} -eq 0 ]; then
    phase_end fuzz ok "$n passed, 0 failed (${fuzz_seconds}s each)"
  else
    phase_end fuzz FAIL "$((n - ${#crashed[@]})) passed, ${#crashed[@]} failed: ${crashed[*]}"
  fi
fi

# ---- 3. the test suite under AddressSanitizer + UndefinedBehaviorSanitizer -------------------
if [ "${PDL_SKIP_ASAN:-0}" = 1 ]; then
  summary+=("asan   skip         PDL_SKIP_ASAN=1")
else
  phase_begin asan
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O0" \
    -DPDL_SANITIZE=address,undefined >/dev/null || build_failed asan
  # Test discovery runs the test binaries, so the sanitizer options apply from the build on.
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
  cmake --build build-asan -j "$jobs" || build_failed asan
  status=ok
  # ASan frames are 2-3x larger: deep-but-bounded recursion that fits 8 MB normally (go_json's
  # 10000 levels, std::regex over 8 KB) overflows, so the sanitized tests get a 64 MB stack.
  (cd build-asan && { ulimit -s 65536 2>/dev/null || true; } &&
   ctest --output-on-failure -j "$jobs" --timeout 900) 2>&1 \
    | tee "$logs/ctest_asan.log" || status=FAIL
  phase_end asan "$status" "$(ctest_counts "$logs/ctest_asan.log")"
fi

print_summary
exit "$failed"
