# Sourced by try_knob.sh and try_variants.sh: run_gpu_tests LOG [PLUGIN_DIR]
# runs the GPU tests that $TESTS selects (pytest -k) under $TEST_TIMEOUT
# seconds (240 by default; a kernel never run before may hang), output in
# LOG, against the kernel library in PLUGIN_DIR (IS_EXPORT_PLUGIN_DIR; the
# default search when not given). Returns pytest's status (124 on timeout).
run_gpu_tests() {
  local log="$1" dir="${2:-${IS_EXPORT_PLUGIN_DIR:-}}"
  IS_EXPORT_PLUGIN_DIR="$dir" timeout "${TEST_TIMEOUT:-240}" python3 -m pytest -q -x -m gpu \
    tests/test_gpu_kernel.py tests/test_gpu_plugin.py -p no:cacheprovider -k "$TESTS" > "$log" 2>&1
}
