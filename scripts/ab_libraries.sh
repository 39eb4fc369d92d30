#!/usr/bin/env bash
# A/B of two builds of the kernel library on the GPU machine: the benchmark's
# quick mode (`bench_gemm.py --ab`: our int-scale op and cuBLAS FP16) with the
# library in build/plugins ("new") and the one in $OLD ("old", a folder
# holding another libis_kernels.so) as two columns of one process
# (`--lib old=...`: both builds loaded side by side, their CUDA graphs
# replayed in a new random order each round, as the knob columns are), ROUNDS
# runs. Prints, per (shape, M), the median time of each and old / new (> 1:
# new is faster), and each build's ratio over cuBLAS FP16 of the same runs.
# (Until the eighth H200 session each build ran in its own process,
# alternately; figures drift with clocks and power over a lease, which the
# shared process now cancels.)
#
#   OLD=build/v15 OUT=$OUT bash scripts/ab_libraries.sh --ms 1,16,64 [--shape 4096x4096 ...]
#   ROUNDS=2 (default)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/prebuilt_env.sh  # libcudart for libraries built elsewhere
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OLD="${OLD:?OLD=folder with the other libis_kernels.so}"
OUT="${OUT:-gpu_out}"
ROUNDS="${ROUNDS:-2}"
mkdir -p "$OUT/ab"
old_lib="$(realpath "$OLD")/libis_kernels.so"
for i in $(seq 1 "$ROUNDS"); do
  IS_EXPORT_PLUGIN_DIR="$PWD/build/plugins" PYTHONUNBUFFERED=1 python3 scripts/bench_gemm.py --ab --out "$OUT/ab/run$i" \
    --lib old="$old_lib" "$@" > "$OUT/ab/run$i.log" 2>&1 || { tail -20 "$OUT/ab/run$i.log"; exit 1; }
done
python3 - "$OUT/ab" "$ROUNDS" <<'PY'
import json, statistics, sys
from pathlib import Path
root, rounds = Path(sys.argv[1]), int(sys.argv[2])
points = {}
for i in range(1, rounds + 1):
    for line in (root / f"run{i}" / "bench.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "M" in r:
            points.setdefault((r["N"], r["K"], r["M"]), []).append(
                (r["int_scale_w4a8_us"], r["int_scale_lib_old_us"], r["cublas_fp16_us"]))
print("| N x K | M | new us | old us | old/new | new x cuBLAS | old x cuBLAS |")
print("|---|---|---|---|---|---|---|")
for key in sorted(points):
    p = points[key]
    n_us = statistics.median(a for a, _, _ in p); o_us = statistics.median(b for _, b, _ in p)
    n_x = statistics.median(c / a for a, _, c in p); o_x = statistics.median(c / b for _, b, c in p)
    print(f"| {key[0]} x {key[1]} | {key[2]} | {n_us:.1f} | {o_us:.1f} | {o_us / n_us:.3f} | {n_x:.2f} | {o_x:.2f} |")
PY
