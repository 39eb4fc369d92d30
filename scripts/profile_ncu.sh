#!/usr/bin/env bash
# Profile the sm_90a GEMM kernel with Nsight Compute on the GPU machine: warp
# stall reasons, scheduler statistics and per-instruction (SASS) stall samples
# for a large-M and a decode shape. Reports and text land in $OUT.
#
#   OUT=/some/dir bash scripts/profile_ncu.sh
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
TRT_INC="${TENSORRT_INCLUDE_DIR:-$PWD/.trt_headers}"
cmake -S plugins -B build/plugins -DIS_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" -DTENSORRT_INCLUDE_DIR="$TRT_INC" > "$OUT/build.log" 2>&1 \
  && cmake --build build/plugins -j 16 >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
export PYTHONPATH=$PWD
for shape in "4096 4096 4096" "1 28672 4096"; do
  set -- $shape
  timeout 200 ncu -k regex:w4a8_wgmma --launch-skip 1 --launch-count 1 --section WarpStateStats --section SchedulerStats \
    --section SourceCounters --import-source no -o "$OUT/rep_$1" -f python3 scripts/profile_op.py --m "$1" --n "$2" --k "$3" > /dev/null 2>&1
  ncu -i "$OUT/rep_$1.ncu-rep" --page details --print-details all > "$OUT/details_$1.txt" 2>&1
  ncu -i "$OUT/rep_$1.ncu-rep" --page source --csv --print-source sass > "$OUT/sass_$1.csv" 2>&1
  echo "== M=$1 N=$2 K=$3"
  grep -E "Stall|Warp Cycles|Eligible Warps|Active Warps Per" "$OUT/details_$1.txt" | head -24
done
