#!/usr/bin/env bash
# Profile the sm_90a GEMM kernel with Nsight Compute on the GPU machine: warp
# stall reasons, scheduler statistics and per-instruction (SASS) stall samples
# for a large-M and a decode shape. Text and gzipped per-instruction CSVs land
# in $OUT (the .ncu-rep reports stay in build/); scripts/ncu_sass_summary.py
# (printed here too) splits the samples by kernel region and instruction.
#
#   OUT=/some/dir bash scripts/profile_ncu.sh ["M N K" ...]     # default: "4096 4096 4096" "1 28672 4096"
#   IS_GEMM_PATH=wgmma forces the wgmma path (w4a8_gemm.cu: use_wgmma_path).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
TRT_INC="${TENSORRT_INCLUDE_DIR:-$PWD/.trt_headers}"
cmake -S plugins -B build/plugins -DIS_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" -DTENSORRT_INCLUDE_DIR="$TRT_INC" > "$OUT/build.log" 2>&1 \
  && cmake --build build/plugins -j 16 >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
export PYTHONPATH=$PWD
SHAPES=("$@")
[ ${#SHAPES[@]} -eq 0 ] && SHAPES=("4096 4096 4096" "1 28672 4096")
for shape in "${SHAPES[@]}"; do
  set -- $shape
  tag="$1_$2_$3"
  timeout 200 ncu -k regex:w4a8_wgmma --launch-skip 1 --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section SourceCounters --section MemoryWorkloadAnalysis --import-source no -o "build/rep_$tag" -f \
    python3 scripts/profile_op.py --m "$1" --n "$2" --k "$3" > /dev/null 2>&1
  ncu -i "build/rep_$tag.ncu-rep" --page details --print-details all > "$OUT/details_$tag.txt" 2>&1
  ncu -i "build/rep_$tag.ncu-rep" --page source --csv --print-source sass | gzip > "$OUT/sass_$tag.csv.gz"
  echo "== M=$1 N=$2 K=$3"
  grep -E "Duration|Stall|Warp Cycles|Eligible Warps|Active Warps Per|Shared|Mem Pipes|Throughput|Pipe|Tensor|Issue Slots|Executed Ipc|Bank" "$OUT/details_$tag.txt" | head -60
  python3 scripts/ncu_sass_summary.py "$OUT/sass_$tag.csv.gz" --top 15
done
