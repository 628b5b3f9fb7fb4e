#!/usr/bin/env bash
# The benchmarks, in one command: builds the Release binaries into build-bench (only the targets
# the benchmarks need), runs every scenario PDL_BENCH_RUNS times (default 5) and writes
# docs/benchmarks.md (figures, targets, met / MISSED, the agent's memory by mapping, the
# hand-written bench/notes.md, method, OPAL's quoted figures).
#   bash bench/run.sh
# Environment:
#   PDL_BENCH_RUNS=5           runs per scenario (the table shows the median and min-max)
#   PDL_BENCH_ONLY=a,b         only these scenarios: startup, latency1, latency10, fanout, forwarding,
#                              fetch_once. fetch_once (one 10 MB update to 100 real agents, fetched
#                              once by the server vs by every agent) has its own section in the
#                              report: PDL_BENCH_ONLY=fetch_once replaces only that section (and
#                              runs no micro-benchmarks), every other figure stays as it was
#   PDL_BENCH_SUBSCRIBERS=10000, PDL_BENCH_UPDATES=200   sizes of the fan-out and latency scenarios
#   PDL_BENCH_FETCH_ONCE_AGENTS=100                      agents of the fetch_once scenario
#   PDL_BENCH_OUT=docs/benchmarks.md, PDL_BENCH_JOBS=2 (build parallelism), PDL_BENCH_MICRO=1
#   PDL_BENCH_COMMIT=...       what the report names as the commit (default: git rev-parse, +dirty)
#   PDL_BENCH_AGENT_ENV="MALLOC_ARENA_MAX=1 ..."   extra environment of every agent (the report
#                              names it): to measure a setting before it goes into the code
#   PDL_KEEP_TEST_DIRS=1       keep the temp dir (process logs, write logs, generated documents)
#   PDL_BENCH_RENDER=1         measure nothing: render the report again from the last run's
#                              build-bench/bench-results.json (after editing bench/why.txt or
#                              bench/notes.md)
# Needs ~3 GB of free memory (the OPA stand-in holds the 100 MB document as a tree) and ~300 MB
# of temp space; fetch_once starts ~200 processes at once (100 agents, 100 stand-ins) and needs
# ~1.5 GB of temp space (every agent spools the document). Results are noisy on a busy machine: the report records the load average.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build-bench"
out="${PDL_BENCH_OUT:-$root/docs/benchmarks.md}"
runs="${PDL_BENCH_RUNS:-5}"

if [ "${PDL_BENCH_RENDER:-0}" = 1 ]; then
  # The micro-benchmarks' section is appended below after a measuring run: keep the last one.
  micro_section="$(sed -n '/^## Micro-benchmarks/,$p' "$out" 2>/dev/null || true)"
  "$build/pdl_bench" --render "$build/bench-results.json" --out "$out" --why "$root/bench/why.txt" \
    --notes "$root/bench/notes.md"
  # (A render that only replaced the fetch_once section kept it.)
  if [ -n "$micro_section" ] && ! grep -q '^## Micro-benchmarks' "$out"; then
    printf '\n%s\n' "$micro_section" >> "$out"
  fi
  exit 0
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPDL_BENCH=ON >/dev/null
targets=(pdl_bench)
micro="${PDL_BENCH_MICRO:-1}"
# fetch_once alone rewrites only its own section: the micro-benchmarks already there stay.
[ "${PDL_BENCH_ONLY:-}" = fetch_once ] && micro=0
# The micro-benchmarks exist only when CMake found Google Benchmark (libbenchmark-dev).
if [ "$micro" = 1 ] && grep -q '^build pdl_micro_bench:' "$build/build.ninja"; then
  targets+=(pdl_micro_bench)
else
  micro=0
fi
cmake --build "$build" --target "${targets[@]}" -j "${PDL_BENCH_JOBS:-2}"

commit="${PDL_BENCH_COMMIT:-}"   # override when the tree is not a git checkout (an export)
if [ -z "$commit" ]; then
  commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
    commit="$commit+dirty"
  fi
fi
read -r l1 _ < /proc/loadavg
if awk -v l="$l1" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  echo "bench: load average $l1 on $(nproc) cores: figures will be noisy (the report records it)" >&2
fi

args=(--runs "$runs" --out "$out" --commit "$commit" --why "$root/bench/why.txt"
      --notes "$root/bench/notes.md" --save "$build/bench-results.json"
      --subscribers "${PDL_BENCH_SUBSCRIBERS:-10000}" --updates "${PDL_BENCH_UPDATES:-200}"
      --fetch-once-agents "${PDL_BENCH_FETCH_ONCE_AGENTS:-100}")
[ -n "${PDL_BENCH_ONLY:-}" ] && args+=(--only "$PDL_BENCH_ONLY")
[ -n "${PDL_BENCH_AGENT_ENV:-}" ] && args+=(--agent-env "$PDL_BENCH_AGENT_ENV")
status=0
"$build/pdl_bench" "${args[@]}" || status=$?

if [ "$micro" = 1 ]; then
  {
    echo
    echo "## Micro-benchmarks (Google Benchmark, \`build-bench/pdl_micro_bench\`)"
    echo
    echo '```'
    "$build/pdl_micro_bench" --benchmark_min_time=0.5 2>&1 | grep -v '^\*\*\*'
    echo '```'
  } >> "$out"
fi
echo "bench: wrote $out"
exit "$status"
