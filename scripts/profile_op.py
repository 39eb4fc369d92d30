"""Run IntScaleGemm a few times at one shape, for a profiler to time each kernel.

    ncu --print-summary per-kernel python3 scripts/profile_op.py --m 1 --n 4096 --k 4096
    python3 scripts/profile_op.py --kernels --m 1 16 --n 4096 --k 4096   # torch profiler: mean GPU time per kernel
    python3 scripts/profile_op.py --timeline --m 1 --n 12288 --k 4096    # where the time of back-to-back calls goes
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from is_export import plugin
from is_export.numerics import Amplifier, quantize_weight


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, nargs="+", default=[1])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=4096)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--kernels", action="store_true", help="print each kernel's mean GPU time (torch profiler)")
    ap.add_argument("--timeline", action="store_true",
                    help="calls back to back in a CUDA graph (weights rotated past L2): mean kernel start/end per call")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    iw = quantize_weight((rng.standard_normal((a.n, a.k)) * 0.02).astype(np.float32), 128, Amplifier("safe"))
    wq, S, C = (torch.from_numpy(v).cuda() for v in (iw.packed(), iw.S, iw.C))
    for m in a.m:
        x = torch.randn(m, a.k, device="cuda", dtype=torch.float16)
        ws = plugin.workspace_for(m, a.n, a.k, "cuda")
        y = torch.empty(m, a.n, device="cuda", dtype=torch.float16)
        for _ in range(a.iters):
            plugin.int_scale_gemm(x, wq, S, C, None, 128, ws, y)
        torch.cuda.synchronize()
        if a.kernels:
            print_kernel_times(lambda: plugin.int_scale_gemm(x, wq, S, C, None, 128, ws, y), f"M={m} N={a.n} K={a.k}")
        if a.timeline:
            wqs = [wq.clone() for _ in range(max(2, -(-3 * (64 << 20) // (a.n * a.k // 2))))]
            print_timeline(lambda i: plugin.int_scale_gemm(x, wqs[i % len(wqs)], S, C, None, 128, ws, y),
                           f"M={m} N={a.n} K={a.k}")


def print_kernel_times(op, label: str, calls: int = 50) -> None:
    """Mean GPU microseconds of each kernel `op` launches, over `calls` eager calls (torch profiler, CUPTI)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            op()
        torch.cuda.synchronize()
    for ev in prof.key_averages():
        if ev.device_type.name == "CUDA" and ev.count >= calls:
            print(f"{label}: {ev.key[:90]:90s} {ev.device_time / 1.0:8.2f} us x{ev.count // calls}")


def print_timeline(op, label: str, calls: int = 40) -> None:
    """Replay `calls` back-to-back op(i) captured in one CUDA graph under the
    torch profiler and print, averaged over the middle calls, each kernel's
    start and end relative to the end of the previous call's last kernel
    (negative: it started while the previous call still ran) and the period."""
    from torch.profiler import ProfilerActivity, profile

    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(calls):
            op(i)
    g.replay()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        g.replay()
        torch.cuda.synchronize()
    ks = sorted((e for e in prof.events() if e.device_type.name == "CUDA"), key=lambda e: e.time_range.start)
    per = len(ks) // calls
    if per == 0 or len(ks) % calls:
        print(f"{label}: {len(ks)} kernels for {calls} calls, no timeline")
        return
    rows = [ks[j * per:(j + 1) * per] for j in range(calls)]
    mid = range(calls // 4, calls - calls // 4)
    for q in range(per):
        st = np.mean([rows[j][q].time_range.start - rows[j - 1][-1].time_range.end for j in mid])
        en = np.mean([rows[j][q].time_range.end - rows[j - 1][-1].time_range.end for j in mid])
        print(f"{label}: {rows[calls // 2][q].name[:60]:60s} start {st:+7.2f} us  end {en:+7.2f} us")
    period = np.mean([rows[j][-1].time_range.end - rows[j - 1][-1].time_range.end for j in mid])
    print(f"{label}: period {period:.2f} us")


if __name__ == "__main__":
    main()
