"""Run chosen IntScaleGemm calls a few times each, for a profiler (Nsight Compute) to catch.

    python3 scripts/profile_gemm.py 28672x4096x1 28672x4096x1:IS_SLIM=1 12288x4096x8
    ncu --kernel-name regex:w4a8 --section SpeedOfLight ... python3 scripts/profile_gemm.py ...

Each argument is NxKxM, optionally followed by `:VAR=VALUE,...` environment
knobs set for its calls (the library reads them on every call). The weights
are random INT4 words and random integer scales (the kernels' speed does not
depend on the values); each case runs `--calls` times (default 3) on two
weight sets, so that a profiled call does not find its weights in L2. Prints
one line per case with its launch order, so a profile's kernels can be matched
to the cases.
"""

from __future__ import annotations

import argparse
import os

import torch

from is_export import plugin


def parse_case(text: str) -> tuple[int, int, int, dict]:
    """'NxKxM[:A=1,B=2]' -> (N, K, M, {A: '1', B: '2'})."""
    shape, _, knobs = text.partition(":")
    n, k, m = (int(v) for v in shape.lower().split("x"))
    env = dict(kv.split("=", 1) for kv in knobs.split(",")) if knobs else {}
    return n, k, m, env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--calls", type=int, default=3)
    args = ap.parse_args()
    launch = 0
    for text in args.cases:
        n, k, m, env = parse_case(text)
        gen = torch.Generator(device="cuda").manual_seed(0)
        sets = [dict(wq=torch.randint(-2**31, 2**31 - 1, (n, k // 8), dtype=torch.int32, device="cuda", generator=gen),
                     S=torch.randint(1, 256, (n, k // 128), dtype=torch.int32, device="cuda", generator=gen),
                     C=torch.full((n,), 1e-4, dtype=torch.float32, device="cuda")) for _ in range(2)]
        x = torch.randn(m, k, dtype=torch.float16, device="cuda", generator=gen)
        ws = plugin.workspace_for(m, n, k, "cuda")
        y = torch.empty(m, n, dtype=torch.float16, device="cuda")
        saved = {v: os.environ.get(v) for v in env}
        os.environ.update(env)
        try:
            for i in range(args.calls):
                st = sets[i % 2]
                plugin.int_scale_gemm(x, st["wq"], st["S"], st["C"], None, 128, ws, y)
            torch.cuda.synchronize()
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        print(f"case {text}: GEMM launches {launch}..{launch + args.calls - 1}", flush=True)
        launch += args.calls


if __name__ == "__main__":
    main()
