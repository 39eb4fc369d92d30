"""Summarize the per-instruction warp-stall samples that scripts/profile_ncu.sh
saves ($OUT/sass_<M>_<N>_<K>.csv.gz, ncu's source page as CSV).

    python3 scripts/ncu_sass_summary.py OUT/sass_4096_4096_4096.csv.gz [--top 25]

Prints the share of samples in the kernel's regions (before the first wgmma,
the K loop from the first to the last wgmma, after it: output, producer,
split-K reduction) with their main stall reasons, then the instructions with
the most samples and their reasons. Runs anywhere (no GPU needed).
"""

from __future__ import annotations

import argparse
import csv
import gzip

SAMPLES = "Warp Stall Sampling (All Samples)"


def load(path: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the instruction table (the file's first line names the kernel)."""
    with gzip.open(path, "rt") as f:
        rows = list(csv.reader(f))
    return rows[1], rows[2:]


def reasons(header: list[str], rows: list[list[str]]) -> dict[str, int]:
    """Samples per stall reason over rows."""
    cols = [(h[len("stall_"):], i) for i, h in enumerate(header) if h.startswith("stall_") and "Not Issued" not in h]
    return {name: sum(int(r[i] or 0) for r in rows) for name, i in cols}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv_gz")
    ap.add_argument("--top", type=int, default=25, help="instructions to list")
    args = ap.parse_args()
    header, rows = load(args.csv_gz)
    si = header.index(SAMPLES)
    total = sum(int(r[si] or 0) for r in rows) or 1
    mma = [i for i, r in enumerate(rows) if "GMMA" in r[1] or "HMMA" in r[1] or "IMMA" in r[1]]
    first, last = (mma[0], mma[-1] + 1) if mma else (0, len(rows))
    print(f"{total} samples, {len(rows)} instructions")
    for label, a, b in (("before the K loop", 0, first), ("K loop", first, last), ("after the K loop", last, len(rows))):
        part = rows[a:b]
        share = sum(int(r[si] or 0) for r in part) / total
        top = sorted(reasons(header, part).items(), key=lambda kv: -kv[1])[:5]
        print(f"  {label:18s} {100 * share:5.1f}%  " + " ".join(f"{k}={100 * v / total:.1f}%" for k, v in top))
    print(f"top {args.top} instructions (index, SASS, share, reasons):")
    for i in sorted(sorted(range(len(rows)), key=lambda i: -int(rows[i][si] or 0))[: args.top]):
        r = rows[i]
        top = sorted(reasons(header, [r]).items(), key=lambda kv: -kv[1])[:3]
        why = " ".join(f"{k}={v}" for k, v in top if v)
        print(f"  {i:5d} {r[1].strip()[:60]:60s} {100 * int(r[si] or 0) / total:5.1f}%  {why}")


if __name__ == "__main__":
    main()
