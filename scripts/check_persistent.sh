#!/usr/bin/env bash
# Diagnostics for the persistent wgmma kernel (IS_PERSISTENT=1 forces it),
# after `bash scripts/gpu_suite.sh` has built build/plugins:
#  1. racecheck with per-hazard reports (thread and block indices) on cases
#     where persistent blocks walk one tile, two tiles, and two tiles with a
#     K loop that refills the stages;
#  2. a bit-exactness stress: the persistent kernel against the default
#     kernel, many repeats, on shapes where blocks walk up to 8 tiles.
# Output goes to $OUT (default ./gpu_out).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
python3 - <<'PY'
import sys; sys.path.insert(0, ".")
from pathlib import Path
from tests.test_gpu_plugin import write_case
for name, c in {"one_tile": (260, 256, 256), "two_tiles": (260, 8320, 256), "two_tiles_k2048": (260, 8320, 2048)}.items():
    write_case(Path(f"build/pers_{name}"), *c, 128, "fp16", True, seed=1)
PY
for name in one_tile two_tiles two_tiles_k2048; do
  for p in 0 1; do
    echo "== racecheck $name IS_PERSISTENT=$p"
    IS_PERSISTENT=$p timeout 100 compute-sanitizer --tool racecheck --racecheck-report hazard --print-limit 40 \
      build/plugins/plugin_host "build/pers_$name" > "$OUT/race_${name}_$p.log" 2>&1
    grep -h 'plugin_host:\|SUMMARY' "$OUT/race_${name}_$p.log"
  done
done
python3 - <<'PY'
import os, torch
from is_export import plugin
torch.manual_seed(0)
for (m, n, k) in [(4096, 4096, 256), (1000, 8192, 1024), (4096, 4096, 4096)]:
    x = torch.randn(m, k, device="cuda", dtype=torch.float16)
    wq = torch.randint(-2**31, 2**31 - 1, (n, k // 8), device="cuda", dtype=torch.int32)
    s = torch.randint(1, 64, (n, k // 128), device="cuda", dtype=torch.int32)
    c = torch.rand(n, device="cuda", dtype=torch.float32) * 1e-3
    os.environ["IS_GEMM_PATH"] = "wgmma"
    os.environ["IS_PERSISTENT"] = "0"
    ref = plugin.int_scale_gemm(x, wq, s, c, None, 128)
    os.environ["IS_PERSISTENT"] = "1"
    bad = 0
    for _ in range(100):
        y = plugin.int_scale_gemm(x, wq, s, c, None, 128)
        bad += int(not torch.equal(y, ref))
    print(f"stress M={m} N={n} K={k}: {bad}/100 persistent runs differ from the default kernel", flush=True)
PY
