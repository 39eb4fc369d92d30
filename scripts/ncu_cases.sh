#!/usr/bin/env bash
# Nsight Compute on chosen IntScaleGemm calls (the wgmma kernels), on the GPU
# machine, with libraries already in build/plugins (built here or carried):
#
#   OUT=prof bash scripts/ncu_cases.sh 28672x4096x1 28672x4096x1:IS_SLIM=1 ...
#
# Cases as scripts/profile_gemm.py takes them. Writes $OUT/ncu.txt: per kernel
# the speed-of-light, occupancy, scheduler and warp-state sections, the memory
# workload, how evenly the blocks landed on the SMs (CTAs and active cycles
# per SM: min / avg / max), and the warps' stall reasons (cycles per issued
# instruction). At the GPU's own clocks (--clock-control none): locked to
# base clocks (ncu's default, 1.38 GHz on the H200) the decode kernels ran
# 1.6x longer, so their times would not compare with the benchmark's.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-prof}"
mkdir -p "$OUT"
CUDART_DIR="$(python3 -c "import glob, os, site; c = [f for p in site.getsitepackages() for f in glob.glob(p + '/nvidia/*/lib/libcudart.so.*')]; print(os.path.dirname(c[0]) if c else '')" 2>/dev/null)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${CUDART_DIR:+:$CUDART_DIR}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
NCU="$(command -v ncu || echo /usr/local/cuda/bin/ncu)"
"$NCU" --kernel-name regex:w4a8_wgmma \
  --section SpeedOfLight --section Occupancy --section LaunchStats --section SchedulerStats \
  --section WarpStateStats --section MemoryWorkloadAnalysis \
  --clock-control none \
  --metrics regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,sm__ctas_launched.min,sm__ctas_launched.max,sm__ctas_launched.sum,sm__cycles_active.min,sm__cycles_active.avg,sm__cycles_active.max,smsp__inst_executed.sum \
  python3 scripts/profile_gemm.py --calls "${CALLS:-2}" "$@" > "$OUT/ncu.txt" 2>&1
rc=$?
grep -E "^  [a-z_]+.*w4a8|case |Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Issue Slots Busy|No Eligible|sm__ctas_launched|sm__cycles_active|Warp Cycles Per Issued|Registers Per|Block Limit|smsp__inst_executed|issue_stalled" "$OUT/ncu.txt" | cut -c1-150
exit $rc
