"""Run IntScaleGemm a few times at one shape, for a profiler (ncu) to time each kernel.

    ncu --print-summary per-kernel python3 scripts/profile_op.py --m 1 --n 4096 --k 4096
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from is_export import plugin
from is_export.numerics import Amplifier, quantize_weight


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, default=1)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=4096)
    ap.add_argument("--iters", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    iw = quantize_weight((rng.standard_normal((a.n, a.k)) * 0.02).astype(np.float32), 128, Amplifier("safe"))
    wq, S, C = (torch.from_numpy(v).cuda() for v in (iw.packed(), iw.S, iw.C))
    x = torch.randn(a.m, a.k, device="cuda", dtype=torch.float16)
    ws = plugin.workspace_for(a.m, a.n, a.k, "cuda")
    y = torch.empty(a.m, a.n, device="cuda", dtype=torch.float16)
    for _ in range(a.iters):
        plugin.int_scale_gemm(x, wq, S, C, None, 128, ws, y)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
