#!/usr/bin/env bash
# A/B of two builds of the kernel library on the GPU machine: the benchmark's
# quick mode (`bench_gemm.py --ab`: our int-scale op and cuBLAS FP16) run
# alternately against the library in build/plugins ("new") and one in $OLD
# ("old", a folder holding another libis_kernels.so), ROUNDS times each, each
# run its own process (IS_EXPORT_PLUGIN_DIR picks the library). Prints, per
# (shape, M), the median time of each and old / new (> 1: new is faster), and
# each build's ratio over cuBLAS FP16 of the same runs. Runs alternate
# because figures drift with clocks and power over a lease: compare within
# one call only.
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
for i in $(seq 1 "$ROUNDS"); do
  for side in new old; do
    dir="$PWD/build/plugins"; [ "$side" = old ] && dir="$(realpath "$OLD")"
    IS_EXPORT_PLUGIN_DIR="$dir" PYTHONUNBUFFERED=1 python3 scripts/bench_gemm.py --ab --out "$OUT/ab/${side}$i" "$@" \
      > "$OUT/ab/${side}$i.log" 2>&1 || { tail -20 "$OUT/ab/${side}$i.log"; exit 1; }
  done
done
python3 - "$OUT/ab" "$ROUNDS" <<'PY'
import json, statistics, sys
from pathlib import Path
root, rounds = Path(sys.argv[1]), int(sys.argv[2])
runs = {side: [] for side in ("new", "old")}
for side in runs:
    for i in range(1, rounds + 1):
        for line in (root / f"{side}{i}" / "bench.jsonl").read_text().splitlines():
            r = json.loads(line)
            if "M" in r:
                runs[side].append(r)
def table(side):
    t = {}
    for r in runs[side]:
        t.setdefault((r["N"], r["K"], r["M"]), []).append((r["int_scale_w4a8_us"], r["cublas_fp16_us"]))
    return t
new, old = table("new"), table("old")
print("| N x K | M | new us | old us | old/new | new x cuBLAS | old x cuBLAS |")
print("|---|---|---|---|---|---|---|")
for key in sorted(new):
    if key not in old:
        continue
    n_us = statistics.median(a for a, _ in new[key]); o_us = statistics.median(a for a, _ in old[key])
    n_x = statistics.median(c / a for a, c in new[key]); o_x = statistics.median(c / a for a, c in old[key])
    print(f"| {key[0]} x {key[1]} | {key[2]} | {n_us:.1f} | {o_us:.1f} | {o_us / n_us:.3f} | {n_x:.2f} | {o_x:.2f} |")
PY
