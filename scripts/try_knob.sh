#!/usr/bin/env bash
# Check, then time, a kernel change behind a measurement knob on the GPU
# machine, in one call: the GPU tests that TESTS selects (pytest -k) first,
# and only when they pass, `bench_gemm.py --ab` with the arguments given
# (the knob's --variant columns beside the library's default, in one process).
# Uses the libraries already in build/plugins (built on a CPU machine with the
# same nvcc and carried over; see scripts/prebuilt_env.sh). A kernel never run
# before may hang or fault: the tests run under a time limit and the benchmark
# does not start after a failure, so one call cannot burn a lease on it.
#
#   TESTS="cluster_quantization" OUT=$OUT bash scripts/try_knob.sh \
#       --ms 1,2,4,8,16 --shape 4096x4096 --variant IS_CLUSTER_QUANT=8
#   TEST_TIMEOUT=240 (seconds, default)
# Output: $OUT/try_knob_tests.log, $OUT/ab/bench.{jsonl,json,csv}, $OUT/ab.log.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu_tests_k.sh  # environment, $OUT, $TESTS; run_gpu_tests
echo "== GPU tests: -k \"$TESTS\""
if ! run_gpu_tests "$OUT/try_knob_tests.log"; then
  tail -40 "$OUT/try_knob_tests.log"
  echo "tests: FAILED or timed out ($(tail -1 "$OUT/try_knob_tests.log")); no benchmark"
  exit 1
fi
echo "tests: $(tail -1 "$OUT/try_knob_tests.log")"
[ $# -eq 0 ] && exit 0
echo "== bench_gemm.py --ab $*"
PYTHONUNBUFFERED=1 python3 scripts/bench_gemm.py --ab --out "$OUT/ab" "$@" 2>&1 | tee "$OUT/ab.log"
exit "${PIPESTATUS[0]}"
