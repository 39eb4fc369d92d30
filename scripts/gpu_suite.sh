#!/usr/bin/env bash
# The project's one command for the GPU machine: build the CUDA code, run the
# GPU tests (kernels bit-exact vs the NumPy reference, the plugin's calls),
# compute-sanitizer memcheck + racecheck, and the benchmark.
#
#   bash scripts/gpu_suite.sh [--quick-bench|--no-bench]
#   BENCH_ARGS="--shape 4096x4096 --shape 28672x4096" bash scripts/gpu_suite.sh   # chosen shapes
#   bash scripts/gpu_suite.sh --short    # a lease of a few minutes: see below
#   bash scripts/gpu_suite.sh --sanitizer   # only compute-sanitizer, on the prebuilt libraries
#   bash scripts/gpu_suite.sh --timeline    # per-block timelines of back-to-back calls (below)
#
# --short, for a device lease too short for the whole suite: the libraries
# already in build/plugins are used when they are there (built on a CPU
# machine with the same nvcc and carried over; otherwise they are built); the
# decode k-tile microbenchmark (seconds) and the benchmark run first (all six
# shapes at M = 1, 16, 64, 128, 1024, 4096 unless BENCH_ARGS says otherwise;
# each point is in $OUT/bench.jsonl as soon as it is measured), then the GPU
# tests of the library's own path choice, of the wgmma path forced, of stream-K forced, of split-K forced (IS_SPLITS), of the slim blocks (IS_SLIM=1), of the prefetch and quantization knobs and
# of the plugin's calls; no sanitizer. A run cut off by its time limit keeps
# what it finished: `python3 scripts/bench_table.py $OUT/bench.jsonl` prints
# its tables. BENCH2_ARGS="..." runs a second benchmark into $OUT/bench2.
#
# Needs nvcc, cmake, python3 with torch+triton+numpy+pytest, and the TensorRT
# headers: TENSORRT_INCLUDE_DIR, or ./.trt_headers (a copy of kernel-lens's
# include/tensorrt), or an installed kernel-lens. Logs go to $OUT (default ./gpu_out).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
BENCH="${1:-}"
status=0
summary=()

TRT_INC="${TENSORRT_INCLUDE_DIR:-}"
[ -z "$TRT_INC" ] && [ -f .trt_headers/NvInferRuntime.h ] && TRT_INC="$PWD/.trt_headers"
GENCODE="${IS_CUDA_GENCODE:--gencode=arch=compute_90a,code=sm_90a}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

# Configure and build plugins/ into build/plugins (log appended to build.log).
# The CUDA compiler is named explicitly: a build folder configured on another
# machine (a different nvcc path in its cache) is then reconfigured, not refused.
configure_plugins() {
  local nvcc="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
  cmake -S plugins -B build/plugins -DCMAKE_CUDA_COMPILER="$nvcc" -DIS_CUDA_GENCODE="$GENCODE" \
      ${TRT_INC:+-DTENSORRT_INCLUDE_DIR=$TRT_INC} >> "$OUT/build.log" 2>&1
}
build_plugins() {
  configure_plugins && cmake --build build/plugins -j 16 >> "$OUT/build.log" 2>&1
}

# The decode k-tile microbenchmark (plugins/tests/decode_chain.cu, a target of
# the CMake build; seconds).
run_decode_chain() {
  echo "== decode k-tile chain (cycles)"
  if [ ! -x build/plugins/decode_chain ]; then summary+=("decode_chain: not built"); return; fi
  if timeout 60 build/plugins/decode_chain 2>&1 | tee "$OUT/decode_chain.txt"; then
    summary+=("decode_chain: $(wc -l < "$OUT/decode_chain.txt") lines in decode_chain.txt")
  else
    summary+=("decode_chain: FAILED"); status=1
  fi
}

# compute-sanitizer memcheck + racecheck on the plugin host over 13 cases.
run_sanitizer() {
  echo "== compute-sanitizer (memcheck, racecheck) on the plugin host"
  python3 - <<'PY' > "$OUT/sanitizer_cases.txt" 2>&1
import sys; sys.path.insert(0, ".")
from pathlib import Path
from tests.test_gpu_plugin import write_case
# (case, IS_PERSISTENT, IS_STREAMK, IS_SLIM): the fourth case has K / 128 = 16 k-tiles, more than
# the pipeline's stages, so stages are refilled; the last has 65 x 3 = 195
# tiles of 128 x 128 and K / 128 = 2, so on the persistent kernel (132 blocks
# on an H100) some blocks walk two tiles and every tile restarts the stages.
# The next two run the stream-K kernel (IS_STREAMK=1): tiles split over
# several blocks, with 128 tokens per block (100 x 3 = 300 tiles: one whole
# wave, then 168 tiles split) and with 64. The next three run the slim blocks
# (IS_SLIM=1: one producer warp, 3 or 2 blocks per SM; IS_SLIM=2: the same
# with 10 or 8 stages, 2 per SM) at 16, 24 and 5 tokens (the last with 256-groups),
# split over a cluster (they are not split without IS_SLIM at 24 tokens). The
# next two are decode calls on the library's own choice (the wgmma path's
# 8-token tiles, split 2 ways): 16 k-tiles a block (the 8 stages are
# refilled), and 256-groups with fp32 X. The last quantizes rows of
# K = 11008 with 512-thread blocks (act_quant.cu, choose_quant_threads). Every grid-walk case whose G is a
# multiple of 4 reads its scales from the block's TMA table (all but the
# first, the third, the persistent and the two stream-K ones); the split ones (the slim cases
# and the fp32 decode case) start their boxes below their first group.
cases = [((1, 136, 256, 64, "fp16", True), 0, 0, 0), ((7, 72, 512, 128, "bf16", False), 0, 0, 0),
         ((300, 40, 384, 128, "fp32", True), 0, 0, 0), ((260, 256, 2048, 128, "fp16", True), 0, 0, 0),
         ((260, 8320, 256, 128, "fp16", True), 1, 0, 0), ((300, 12800, 256, 128, "fp16", True), 0, 1, 0),
         ((64, 12288, 512, 128, "bf16", True), 0, 1, 0), ((16, 12288, 512, 128, "fp16", True), 0, 0, 1),
         ((24, 12288, 512, 128, "fp32", True), 0, 0, 2), ((5, 12288, 1024, 256, "bf16", True), 0, 0, 2),
         ((3, 12288, 4096, 128, "fp16", True), 0, 0, 0), ((8, 12288, 1024, 256, "fp32", False), 0, 0, 0),
         ((6, 256, 11008, 128, "bf16", True), 0, 0, 0)]
for i, (c, persistent, streamk, slim) in enumerate(cases):
    write_case(Path(f"build/san{i}"), *c, seed=i)
    print(f"build/san{i} {persistent} {streamk} {slim}")
PY
  san_ok=1
  n_cases=0
  while read -r d persistent streamk slim; do
    n_cases=$((n_cases + 1))
    for tool in memcheck racecheck; do
      if ! IS_PERSISTENT=$persistent IS_STREAMK=$streamk IS_SLIM=$slim timeout 300 compute-sanitizer --tool $tool --error-exitcode 9 build/plugins/plugin_host "$d" >> "$OUT/sanitizer.log" 2>&1; then
        san_ok=0; echo "sanitizer $tool failed on $d (IS_PERSISTENT=$persistent IS_STREAMK=$streamk IS_SLIM=$slim)"
      fi
    done
  done < "$OUT/sanitizer_cases.txt"
  if [ $san_ok = 1 ]; then summary+=("sanitizer: memcheck+racecheck clean on $n_cases cases (one persistent, two stream-K, three slim, two decode, one long row)"); else summary+=("sanitizer: FAILED (see sanitizer.log)"); status=1; fi
}

if [ "$BENCH" = "--sanitizer" ]; then  # only the sanitizer, on the prebuilt libraries (as --short)
  source scripts/prebuilt_env.sh
  [ -x build/plugins/plugin_host ] || { echo "no prebuilt build/plugins/plugin_host"; exit 1; }
  run_sanitizer
  echo "== summary"
  printf '%s\n' "${summary[@]}"
  exit $status
fi

# --timeline: the per-block timeline (scripts/block_timeline.py) of
# back-to-back calls at 4096x14336 M = 64 under IS_QUANT=256|512 and at
# 22016x4096 M = 1 under IS_PREFETCH=2|4|16, on the timeline build
# (libis_kernels_timeline.so: carried, else built here). TIMELINE_ARGS="..."
# replaces the two runs by one of its own.
if [ "$BENCH" = "--timeline" ]; then
  source scripts/prebuilt_env.sh
  if [ ! -f build/plugins/libis_kernels_timeline.so ]; then
    echo "== build (timeline library)"
    configure_plugins && cmake --build build/plugins -j 16 --target is_kernels_timeline >> "$OUT/build.log" 2>&1 \
      || { tail -30 "$OUT/build.log"; echo "build: FAILED"; exit 1; }
  fi
  mkdir -p "$OUT/timeline"
  if [ -n "${TIMELINE_ARGS:-}" ]; then
    # shellcheck disable=SC2086  # TIMELINE_ARGS is a list of flags
    python3 scripts/block_timeline.py --out "$OUT/timeline" $TIMELINE_ARGS || status=1
  else
    python3 scripts/block_timeline.py --out "$OUT/timeline" --m 64 --n 4096 --k 14336 \
      --variant IS_QUANT=256 --variant IS_QUANT=512 || status=1
    python3 scripts/block_timeline.py --out "$OUT/timeline" --m 1 --n 22016 --k 4096 \
      --variant IS_PREFETCH=2 --variant IS_PREFETCH=4 --variant IS_PREFETCH=16 || status=1
  fi
  exit $status
fi

if [ "$BENCH" = "--short" ]; then
  source scripts/prebuilt_env.sh  # libcudart for libraries built elsewhere
  if [ -f build/plugins/libis_kernels.so ] && [ -x build/plugins/plugin_host ] \
     && python3 -c "import ctypes; ctypes.CDLL('build/plugins/libis_kernels.so')" > "$OUT/build.log" 2>&1; then
    summary+=("build: prebuilt libraries in build/plugins (not rebuilt)")
  else
    echo "== build (no usable prebuilt libraries)"
    if build_plugins; then
      summary+=("build: ok")
    else
      tail -30 "$OUT/build.log"; echo "build: FAILED"; exit 1
    fi
  fi
  run_decode_chain
  echo "== benchmark (first: it is what a short lease is for)"
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
  if PYTHONUNBUFFERED=1 python3 scripts/bench_gemm.py --out "$OUT" ${BENCH_ARGS:---ms 1,16,64,128,1024,4096} 2>&1 | tee "$OUT/bench.log"; then
    summary+=("benchmark: ok ($OUT/bench.json, .csv, .jsonl)")
  else
    summary+=("benchmark: FAILED (see bench.log)"); status=1
  fi
  if [ -n "${BENCH2_ARGS:-}" ]; then  # a second benchmark (other batch sizes or variants) into $OUT/bench2
    echo "== benchmark 2"
    mkdir -p "$OUT/bench2"
    # shellcheck disable=SC2086
    PYTHONUNBUFFERED=1 python3 scripts/bench_gemm.py --out "$OUT/bench2" $BENCH2_ARGS 2>&1 | tee "$OUT/bench2/bench.log" \
      && summary+=("benchmark 2: ok ($OUT/bench2)") || { summary+=("benchmark 2: FAILED"); status=1; }
  fi
  echo "== GPU tests (the library's path choice, the plugin's calls)"
  if timeout 300 python3 -m pytest -q -x -m gpu tests/test_gpu_kernel.py tests/test_gpu_plugin.py -p no:cacheprovider \
       -k "auto or wgmma or slim or streamk or splits or scale_table or prefetch or activation or quantization or plugin or bad_arguments" > "$OUT/pytest_gpu.log" 2>&1; then  # slim: also slim2
    summary+=("gpu tests (--short subset): $(tail -1 "$OUT/pytest_gpu.log")")
  else
    tail -40 "$OUT/pytest_gpu.log"; summary+=("gpu tests (--short subset): FAILED: $(tail -1 "$OUT/pytest_gpu.log")"); status=1
  fi
  echo "== summary"
  printf '%s\n' "${summary[@]}"
  exit $status
fi

echo "== build"
: > "$OUT/build.log"
if build_plugins; then
  summary+=("build: ok")
else
  tail -30 "$OUT/build.log"; summary+=("build: FAILED"); status=1
fi

run_decode_chain

echo "== GPU tests"
if timeout 600 python3 -m pytest -q -x -m gpu tests/test_gpu_kernel.py tests/test_gpu_plugin.py -p no:cacheprovider --durations=15 > "$OUT/pytest_gpu.log" 2>&1; then
  summary+=("gpu tests: $(tail -1 "$OUT/pytest_gpu.log")")
else
  tail -40 "$OUT/pytest_gpu.log"; summary+=("gpu tests: FAILED: $(tail -1 "$OUT/pytest_gpu.log")"); status=1
fi

run_sanitizer

if [ "$BENCH" != "--no-bench" ]; then
  echo "== benchmark"
  [ "$BENCH" = "--quick-bench" ] && BENCH_ARGS="${BENCH_ARGS:-} --quick"
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
  python3 scripts/bench_gemm.py --out "$OUT" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
fi

echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
