# Sourced by try_knob.sh and try_variants.sh, from the repository root: the
# setup both share (libcudart for libraries built elsewhere, PYTHONPATH, $OUT
# created, $TESTS required), and run_gpu_tests LOG [PLUGIN_DIR], which runs
# the GPU tests that $TESTS selects (pytest -k) under $TEST_TIMEOUT seconds
# (240 by default; a kernel never run before may hang), output in LOG,
# against the kernel library in PLUGIN_DIR (IS_EXPORT_PLUGIN_DIR; the
# default search when not given). run_gpu_tests returns pytest's status (124
# on timeout).
source scripts/prebuilt_env.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-gpu_out}"
TESTS="${TESTS:?TESTS=a pytest -k expression selecting the GPU tests to run first}"
mkdir -p "$OUT"

run_gpu_tests() {
  local log="$1" dir="${2:-${IS_EXPORT_PLUGIN_DIR:-}}"
  IS_EXPORT_PLUGIN_DIR="$dir" timeout "${TEST_TIMEOUT:-240}" python3 -m pytest -q -x -m gpu \
    tests/test_gpu_kernel.py tests/test_gpu_plugin.py -p no:cacheprovider -k "$TESTS" > "$log" 2>&1
}
