#!/usr/bin/env bash
# Check, then time, compile-time variants of the kernel library on the GPU
# machine in one call (the builds from scripts/build_variant.sh, carried
# over): for each NAME=FOLDER in LIBS the GPU tests that TESTS selects
# (pytest -k) run against that folder's libis_kernels.so; the variants that
# pass are then timed beside build/plugins in one process
# (scripts/ab_libraries.sh, ROUNDS rounds). A variant that fails or hangs
# is reported and left out of the timing.
#
#   LIBS="v1=build/var1 v8=build/var8" TESTS="mma" OUT=$OUT bash scripts/try_variants.sh \
#       --ms 1,2,4,8,16 --shape 4096x4096
#   TEST_TIMEOUT=240 (seconds a variant's tests may take, default)
# Keep TESTS small (a few dozen cases): each variant runs them all, and 160
# cases took ~80 s a variant on the H200 (PERF.md, tenth session).
# Output: $OUT/tests_NAME.log, $OUT/ab/ (ab_libraries.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
LIBS="${LIBS:?LIBS=\"NAME=folder ...\"}"
source scripts/gpu_tests_k.sh  # environment, $OUT, $TESTS; run_gpu_tests
passed=""
for spec in $LIBS; do
  name="${spec%%=*}"; dir="$(realpath "${spec#*=}")"
  if run_gpu_tests "$OUT/tests_$name.log" "$dir"; then
    echo "$name: tests $(tail -1 "$OUT/tests_$name.log")"
    passed="$passed $spec"
  else
    tail -15 "$OUT/tests_$name.log"
    echo "$name: tests FAILED or timed out; not timed"
  fi
done
[ -n "$passed" ] || { echo "no variant passed"; exit 1; }
[ $# -eq 0 ] && exit 0
LIBS="$passed" OUT="$OUT" bash scripts/ab_libraries.sh "$@"
