"""Summary tables of the GEMM benchmark (scripts/bench_gemm.py): ratios of a
column over cuBLAS FP16, one row per weight shape and one column per M.

Pure Python (no GPU), so that the formatting is tested in CI.

    python scripts/bench_table.py OUT/bench.jsonl [--column int_scale_w4a8_us]

prints the tables of a run from the JSON lines bench_gemm writes as it goes
(all of a run cut off by its time limit that was measured).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

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


def read_jsonl(path: Path) -> tuple[dict, list[dict]]:
    """(header, rows) of a bench.jsonl: the first line is the run's header
    (device, copy_bw, timing), each further line one measured point. A last
    line cut off mid-write (the run was killed) is dropped."""
    lines = Path(path).read_text().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty")
    header = json.loads(lines[0])
    rows = []
    for line in lines[1:]:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # only the last line can be partial
    return header, rows


def choice_lines(rows: list[dict], tolerance: float = 0.03) -> list[str]:
    """Points where the library's choice (int_scale_w4a8) is more than `tolerance`
    slower than the faster of the two forced paths (mma.sync, wgmma)."""
    out = []
    for r in rows:
        forced = [r.get("int_scale_mma_path_us"), r.get("int_scale_wgmma_path_us")]
        forced = [v for v in forced if v is not None and not math.isnan(v)]
        ours = r.get("int_scale_w4a8_us")
        if forced and ours and ours > (1 + tolerance) * min(forced):
            out.append(f"N={r['N']} K={r['K']} M={r['M']}: library {ours:.1f} us, faster forced path {min(forced):.1f} us")
    return out


def variant_columns(rows: list[dict]) -> list[str]:
    """The `--variant` columns of a run (int_scale_<VAR=VAL,...>_us keys), in first-seen order."""
    fixed = {"int_scale_w4a8_us", "int_scale_mma_path_us", "int_scale_wgmma_path_us"}
    keys = dict.fromkeys(k for r in rows for k in r if k.startswith("int_scale_") and k.endswith("_us") and k not in fixed)
    return list(keys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jsonl", type=Path)
    ap.add_argument("--column", default="int_scale_w4a8_us")
    args = ap.parse_args()
    header, rows = read_jsonl(args.jsonl)
    print(f"device: {header.get('device')}  copy bandwidth {header.get('copy_bw', float('nan')) / 1e12:.2f} TB/s  "
          f"{len(rows)} points")
    print(ratio_table(rows, args.column))
    print("\n".join(target_lines(rows, args.column)))
    wrong = choice_lines(rows)
    print(f"path choice: {len(wrong)} point(s) more than 3% slower than the faster forced path")
    print("\n".join(wrong))
    for col in variant_columns(rows):
        # The same table with the variant in the numerator's place: > 1 where the knob makes the op faster.
        print(f"\n{col[len('int_scale_'):-len('_us')]} over the library's default (speed-up):")
        print(ratio_table(rows, col, base=args.column))


if __name__ == "__main__":
    main()
