"""Benchmark of the activation-quantization kernel alone, per kernel shape (GPU).

Times `plugin.quantize_activations_cuda` (contract steps 1-2, natural order)
as bench_gemm.py times its columns (calls back to back in one CUDA graph per
column, the columns' replays interleaved in a new random order each round,
median of 15 rounds), for each block size given as `IS_QUANT=<threads>` (act_quant.cu) and the
library's own choice. X is one fixed tensor per point, as in bench_gemm.py's
op (the activations of the layer before are in L2 there too); --rotate
cycles over copies of X that together exceed L2.

    python scripts/bench_quant.py --out OUT_DIR [--ks 4096,11008,14336] [--ms 1,16,...] \
        [--shape 256 --shape 512 ...] [--rotate]

Prints microseconds per call and each block size's ratio over the library's
choice; writes OUT_DIR/quant.json.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from is_export import plugin

try:  # run as a script (scripts/ on sys.path) or imported from the repository root
    from bench_gemm import L2_BYTES, bench_columns
except ImportError:  # pragma: no cover
    from scripts.bench_gemm import L2_BYTES, bench_columns

KS = [4096, 11008, 14336]
MS = [1, 16, 64, 128, 256, 512, 1024, 4096]
SHAPES = ["256", "512", "1024"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench_out")
    ap.add_argument("--ks", default=",".join(map(str, KS)))
    ap.add_argument("--ms", default=",".join(map(str, MS)))
    ap.add_argument("--shape", action="append", default=[], metavar="THREADS", help="IS_QUANT block sizes (default: all built)")
    ap.add_argument("--rotate", action="store_true", help="cycle over copies of X larger than L2")
    args = ap.parse_args()
    shapes = args.shape or SHAPES
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"device: {torch.cuda.get_device_name()}  X {'rotated' if args.rotate else 'fixed (in L2)'}")
    print("K      M     | library   " + " ".join(f"{s:>8}" for s in shapes) + "   (us; ratio over the library's choice)")
    for k in (int(v) for v in args.ks.split(",")):
        for m in (int(v) for v in args.ms.split(",")):
            n_sets = max(2, math.ceil(3 * L2_BYTES / (m * k * 2))) if args.rotate else 1
            xs = [torch.randn(m, k, device="cuda", dtype=torch.float16) for _ in range(n_sets)]
            columns = {"library": (lambda i: plugin.quantize_activations_cuda(xs[i]), {})}
            for s in shapes:
                columns[s] = (lambda i: plugin.quantize_activations_cuda(xs[i]), {"IS_QUANT": s})
            t = bench_columns(columns, n_sets)
            rows.append(dict(K=k, M=m, **{f"{c}_us": v for c, v in t.items()}))
            base = t["library"]
            print(f"{k:<6} {m:<5} | {base:7.2f}   " + " ".join(f"{base / t[s]:7.2f}x" for s in shapes), flush=True)
            del xs
    (out_dir / "quant.json").write_text(json.dumps(dict(device=torch.cuda.get_device_name(), rotate=args.rotate, rows=rows), indent=1))


if __name__ == "__main__":
    main()
