"""Summary tables of the GEMM benchmark (scripts/bench_gemm.py): ratios of a
column over cuBLAS FP16, one row per weight shape and one column per M.

Pure Python (no GPU), so that the formatting is tested in CI.
"""

from __future__ import annotations

import math

# The targets (ratio over cuBLAS FP16 on an H100), by batch size.
TARGETS = [((1, 16), 3.2, "M <= 16"), ((64, 64), 2.2, "M = 64"), ((128, 128), 1.6, "M = 128"),
           ((1024, 1 << 30), 1.5, "M >= 1024")]


def ratio_table(rows: list[dict], column: str = "int_scale_w4a8_us", base: str = "cublas_fp16_us") -> str:
    """Markdown table of base / column for every (N, K) row and M column of `rows`
    (dicts with N, K, M and the two timing keys, as bench_gemm writes them)."""
    shapes = list(dict.fromkeys((r["N"], r["K"]) for r in rows))
    ms = sorted({r["M"] for r in rows})
    cell = {(r["N"], r["K"], r["M"]): r for r in rows}
    lines = ["| N x K | " + " | ".join(f"M={m}" for m in ms) + " |", "|---|" + "---|" * len(ms)]
    for n, k in shapes:
        vals = []
        for m in ms:
            r = cell.get((n, k, m))
            v = r[base] / r[column] if r and r.get(column) and not math.isnan(r[column]) else float("nan")
            vals.append("-" if math.isnan(v) else f"{v:.2f}")
        lines.append(f"| {n} x {k} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def target_lines(rows: list[dict], column: str = "int_scale_w4a8_us", base: str = "cublas_fp16_us") -> list[str]:
    """One line per target: the range of base / column over the rows it covers and whether all meet it."""
    out = []
    for (lo, hi), goal, name in TARGETS:
        vals = [r[base] / r[column] for r in rows if lo <= r["M"] <= hi and r.get(column)]
        if not vals:
            continue
        met = all(v >= goal for v in vals)
        out.append(f"{name}: target >= {goal}x, measured {min(vals):.2f}x - {max(vals):.2f}x ({'met' if met else 'not met'})")
    return out
