#!/usr/bin/env bash
# One device call for a kernel change built on a CPU machine: the GPU tests
# (every kernel bit-exact against the NumPy reference, the plugin's calls),
# compute-sanitizer memcheck + racecheck, then a same-process A/B of the new
# library (build/plugins) against a base library (build/base), and, when
# PROFILE is set, the per-kernel GPU times and the back-to-back timeline of
# profile_op.py (--kernels, --timeline) for each
# "ENV=VALUE" in PROFILE_ENVS. The A/B does not start after a test failure,
# so a broken kernel costs one test run, not a lease.
#
#   tar czf build/varlibs.tgz build/plugins/libis_kernels.so build/plugins/plugin_host build/base/libis_kernels.so
#   # device call, carry ["build/varlibs.tgz"]:
#   AB_ARGS="--ms 512,4096 --shape 28672x4096" PROFILE="--m 128 --n 28672 --k 4096" \
#     PROFILE_ENVS="IS_SCALE_ROWS=1 IS_SCALE_ROWS=0" OUT=$OUT bash scripts/check_candidate.sh
#
# BENCH="ARGS" (e.g. "" for all shapes and batch sizes: set but empty) then
# runs the benchmark table (bench_gemm.py) on the new library under
# BENCH_TIMEOUT seconds (default 150; each point is kept as it is measured).
# Everything written goes into $OUT/results.tgz (the device tool returns at
# most 8 files): tests.log, sanitizer.txt, ab.log + ab/, profile.txt, bench/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_out}"
[ -f build/varlibs.tgz ] && tar xzf build/varlibs.tgz
# The shared GPU-test runner (environment, $OUT, run_gpu_tests): -k "gpu"
# selects every test of both GPU test files; the whole set needs more than
# its default 240 s (185-205 s on the H100).
TESTS="${TESTS:-gpu}" TEST_TIMEOUT="${TEST_TIMEOUT:-330}"
source scripts/gpu_tests_k.sh
export IS_EXPORT_PLUGIN_DIR="$PWD/build/plugins"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"

echo "== GPU tests: -k \"$TESTS\""
run_gpu_tests "$OUT/tests.log"
rc=$?
tail -3 "$OUT/tests.log"
pack() { tar czf /tmp/results.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/results.tgz "$OUT/"; }
if [ $rc -ne 0 ]; then
  grep -E "^(FAILED|ERROR)" "$OUT/tests.log" | head -20; echo "tests failed (rc=$rc): no A/B"; pack; exit $rc
fi

echo "== sanitizer"
OUT="$OUT" bash scripts/gpu_suite.sh --sanitizer > "$OUT/sanitizer.txt" 2>&1
tail -4 "$OUT/sanitizer.txt"

if [ -n "${AB_ARGS:-}" ]; then
  echo "== A/B against build/base"
  # shellcheck disable=SC2086
  LIBS="base=build/base" ROUNDS="${ROUNDS:-2}" OUT="$OUT" bash scripts/ab_libraries.sh $AB_ARGS > "$OUT/ab.log" 2>&1
  tail -40 "$OUT/ab.log"
fi

if [ -n "${PROFILE:-}" ]; then
  echo "== per-kernel times"
  for e in ${PROFILE_ENVS:-NONE=1}; do
    echo "-- $e"
    # shellcheck disable=SC2086
    env "$e" python3 scripts/profile_op.py --kernels $PROFILE 2>&1 | tail -8
    # shellcheck disable=SC2086
    env "$e" python3 scripts/profile_op.py --timeline $PROFILE 2>&1 | tail -8
  done | tee "$OUT/profile.txt"
fi

if [ -n "${BENCH+set}" ]; then
  echo "== benchmark: bench_gemm.py ${BENCH}"
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 timeout "${BENCH_TIMEOUT:-150}" python3 scripts/bench_gemm.py --out "$OUT/bench" $BENCH \
      > "$OUT/bench.log" 2>&1
  echo "bench rc=$?"; python3 scripts/bench_table.py "$OUT/bench/bench.jsonl" 2>&1 | tail -60
fi
pack
