#!/usr/bin/env bash
# A/B of builds of the kernel library on the GPU machine: the benchmark's
# quick mode (`bench_gemm.py --ab`: our int-scale op and cuBLAS FP16) with the
# library in build/plugins ("new") and the one in $OLD ("old", a folder
# holding another libis_kernels.so), or several named in $LIBS
# ("NAME=FOLDER ..."), as columns of one process (`--lib NAME=...`: the
# builds loaded side by side, their CUDA graphs replayed in a new random
# order each round, as the knob columns are), ROUNDS runs. Prints, per
# (shape, M), the median time of each and other / new (> 1: new is faster),
# and each build's ratio over cuBLAS FP16 of the same runs.
# (Until the eighth H200 session each build ran in its own process,
# alternately; figures drift with clocks and power over a lease, which the
# shared process now cancels.)
#
#   OLD=build/v15 OUT=$OUT bash scripts/ab_libraries.sh --ms 1,16,64 [--shape 4096x4096 ...]
#   LIBS="v1=build/var1 v8=build/var8" OUT=$OUT bash scripts/ab_libraries.sh --ms 1,8
#   ROUNDS=2 (default)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/prebuilt_env.sh  # libcudart for libraries built elsewhere
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LIBS="${LIBS:-${OLD:+old=$OLD}}"
[ -n "$LIBS" ] || { echo "ab_libraries.sh: set OLD=folder or LIBS=\"NAME=folder ...\"" >&2; exit 2; }
OUT="${OUT:-gpu_out}"
ROUNDS="${ROUNDS:-2}"
mkdir -p "$OUT/ab"
lib_args=()
for spec in $LIBS; do lib_args+=(--lib "${spec%%=*}=$(realpath "${spec#*=}")/libis_kernels.so"); done
for i in $(seq 1 "$ROUNDS"); do
  IS_EXPORT_PLUGIN_DIR="$PWD/build/plugins" PYTHONUNBUFFERED=1 python3 scripts/bench_gemm.py --ab --out "$OUT/ab/run$i" \
    "${lib_args[@]}" "$@" > "$OUT/ab/run$i.log" 2>&1 || { tail -20 "$OUT/ab/run$i.log"; exit 1; }
done
python3 - "$OUT/ab" "$ROUNDS" $LIBS <<'PY'
import json, statistics, sys
from pathlib import Path
root, rounds = Path(sys.argv[1]), int(sys.argv[2])
names = [spec.split("=", 1)[0] for spec in sys.argv[3:]]
points = {}  # (N, K, M) -> one (new, *others, cuBLAS) time tuple per round
for i in range(1, rounds + 1):
    for line in (root / f"run{i}" / "bench.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "M" in r:
            points.setdefault((r["N"], r["K"], r["M"]), []).append(
                (r["int_scale_w4a8_us"], *(r[f"int_scale_lib_{n}_us"] for n in names), r["cublas_fp16_us"]))
cols = ["new", *names]
print("| N x K | M | " + " | ".join(f"{c} us" for c in cols) + " | " + " | ".join(f"{n}/new" for n in names)
      + " | " + " | ".join(f"{c} x cuBLAS" for c in cols) + " |")
print("|---|---|" + "---|" * (3 * len(cols) - 1))
for key in sorted(points):
    p = points[key]
    us = [statistics.median(t[i] for t in p) for i in range(len(cols))]
    xs = [statistics.median(t[-1] / t[i] for t in p) for i in range(len(cols))]
    print(f"| {key[0]} x {key[1]} | {key[2]} | " + " | ".join(f"{u:.1f}" for u in us) + " | "
          + " | ".join(f"{u / us[0]:.3f}" for u in us[1:]) + " | " + " | ".join(f"{x:.2f}" for x in xs) + " |")
PY
