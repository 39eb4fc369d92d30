#!/usr/bin/env bash
# Profile the sm_90a GEMM kernel with Nsight Compute on the GPU machine: warp
# stall reasons, scheduler statistics and per-instruction (SASS) stall samples
# for a large-M and a decode shape. Text and gzipped per-instruction CSVs land
# in $OUT (the .ncu-rep reports stay in build/); scripts/ncu_sass_summary.py
# (printed here too) splits the samples by kernel region and instruction.
#
#   OUT=/some/dir bash scripts/profile_ncu.sh ["M N K [VAR=VALUE,...]" ...]   # default: "4096 4096 4096" "1 28672 4096"
#   IS_GEMM_PATH=wgmma forces the wgmma path (w4a8_gemm.cu: use_wgmma_path);
#   a shape's own VAR=VALUE list (e.g. "1 28672 4096 IS_SLIM=1") is set for its run only.
#   PREBUILT=1: use the libraries already in build/plugins (built on a CPU
#   machine with the same nvcc and carried over) instead of building.
#
# The kernels run at the GPU's own clocks (--clock-control none): locked to
# base clocks (ncu's default, 1.38 GHz on the H200) the decode kernels ran
# 1.6x longer (2026-12-01), so their times would not compare with the
# benchmark's. Also printed: how evenly the blocks landed on the SMs (CTAs
# and active cycles per SM, min / avg / max).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
TRT_INC="${TENSORRT_INCLUDE_DIR:-$PWD/.trt_headers}"
if [ "${PREBUILT:-0}" = 1 ]; then
  source scripts/prebuilt_env.sh  # libcudart for libraries built elsewhere
else
  cmake -S plugins -B build/plugins -DIS_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" -DTENSORRT_INCLUDE_DIR="$TRT_INC" > "$OUT/build.log" 2>&1 \
    && cmake --build build/plugins -j 16 >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
fi
export PYTHONPATH=$PWD
export PATH="$PATH:/usr/local/cuda/bin"  # ncu
SHAPES=("$@")
[ ${#SHAPES[@]} -eq 0 ] && SHAPES=("4096 4096 4096" "1 28672 4096")
for shape in "${SHAPES[@]}"; do
  set -- $shape
  knobs="${4:-}"
  tag="$1_$2_$3${knobs:+_${knobs//[=,]/_}}"
  # shellcheck disable=SC2046  # the knobs are VAR=VALUE words for env
  timeout 200 env $(tr ',' ' ' <<< "$knobs") ncu -k regex:w4a8_wgmma --launch-skip 1 --launch-count 1 --clock-control none \
    --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section SourceCounters --section MemoryWorkloadAnalysis --section Occupancy \
    --metrics sm__ctas_launched.min,sm__ctas_launched.max,sm__cycles_active.min,sm__cycles_active.avg,sm__cycles_active.max \
    --import-source no -o "build/rep_$tag" -f \
    python3 scripts/profile_op.py --m "$1" --n "$2" --k "$3" > /dev/null 2>&1
  ncu -i "build/rep_$tag.ncu-rep" --page details --print-details all > "$OUT/details_$tag.txt" 2>&1
  ncu -i "build/rep_$tag.ncu-rep" --page source --csv --print-source sass | gzip > "$OUT/sass_$tag.csv.gz"
  echo "== M=$1 N=$2 K=$3 $knobs"
  grep -E "sm__ctas_launched|sm__cycles_active|Duration|Stall|Warp Cycles|Eligible Warps|Active Warps Per|Shared|Mem Pipes|Throughput|Pipe|Tensor|Issue Slots|Executed Ipc|Bank" "$OUT/details_$tag.txt" | head -60
  python3 scripts/ncu_sass_summary.py "$OUT/sass_$tag.csv.gz" --top 15
done
