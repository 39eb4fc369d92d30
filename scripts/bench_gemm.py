"""Benchmark of IntScaleGemm against its peers on the GPU (issue: kernel performance).

Columns, all in one process on the same random (non-zero) data, timed with
CUDA events over many calls back to back in one CUDA graph per column, the
columns' graph replays interleaved, in a new random order each round (warm-up, median of 15 rounds;
--timing replay: one graph per call with an L2 flush, the method up to v8b),
with weights rotated among enough copies to exceed L2:
  int-scale W4A8 (this project, the full op incl. activation quantization),
  float-scale W4A8 (this project's baseline kernel), int-scale on the mma.sync
  path (the sm_80/sm_89 kernel, IS_GEMM_PATH=mma) and on the wgmma path, cuBLAS FP16 (torch.matmul),
  INT8 (torch._int_mm), W4A16 (aten._weight_int4pack_mm), FP8 (torch._scaled_mm).
Prints ratios over cuBLAS FP16 and, for M <= 16, the weight-byte bandwidth as
a share of a device-to-device copy measured in the same run, and the share
that a device-to-device copy of the packed weights alone reaches at that size
(`weight_copy`: what a call of a few MB can get, launch and ramp-up
included). Writes JSON/CSV.

    python scripts/bench_gemm.py --out OUT_DIR [--quick]
    python scripts/bench_gemm.py --ab --lib old=/path/to/old/libis_kernels.so   # two builds, one process
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from triton.testing import do_bench

from is_export import plugin
from is_export.numerics import Amplifier, quantize_weight

try:  # run as a script (scripts/ on sys.path) or imported from the repository root
    from bench_table import ratio_table, target_lines
except ImportError:  # pragma: no cover
    from scripts.bench_table import ratio_table, target_lines

SHAPES = [(4096, 4096), (12288, 4096), (22016, 4096), (4096, 11008), (28672, 4096), (4096, 14336)]  # (N, K)
MS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
L2_BYTES = 64 << 20


def bench_replay(fn, n_sets: int) -> float:
    """Median microseconds of one fn(i) per CUDA-graph replay, cycling i over n_sets input sets.

    The method up to v8b: each call is its own graph; triton's do_bench flushes
    L2 (a 256 MB memset) before every replay, so each call also pays the launch
    of its graph and the write-back of the flushed lines. Kept to compare runs.
    """
    for i in range(n_sets):  # warm-up outside capture: handles, lazy init, autotuning
        fn(i)
    torch.cuda.synchronize()
    graphs = []
    for i in range(n_sets):
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn(i)
        graphs.append(g)
    state = {"i": 0}

    def replay():
        graphs[state["i"] % n_sets].replay()
        state["i"] += 1

    return 1000.0 * do_bench(replay, warmup=25, rep=100, return_mode="median")


def stream_graph(fn, n_sets: int, target_us: float = 3000.0):
    """(graph, calls): `calls` calls of fn(i) back to back in one CUDA graph,
    cycling i over the n_sets input sets (their weights together exceed L2, so
    every call reads its weights from DRAM); calls is chosen so that a replay
    lasts about target_us, which makes the graph's own launch negligible."""
    for i in range(n_sets):  # warm-up outside capture: handles, lazy init, autotuning
        fn(i)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for i in range(n_sets):
        fn(i)
    end.record()
    torch.cuda.synchronize()
    rough = max(start.elapsed_time(end) * 1000.0 / n_sets, 1.0)
    calls = n_sets * max(1, min(400 // n_sets, math.ceil(target_us / rough / n_sets)))
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for j in range(calls):
            fn(j % n_sets)
    return g, calls


@contextlib.contextmanager
def env_vars(env: dict):
    """Set environment variables (the library reads IS_GEMM_PATH when a call is captured), then restore them."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def bench_columns(columns: dict, n_sets: int, timing: str = "stream", repeats: int = 15) -> dict:
    """Microseconds per call of each column: name -> (fn(i) or None, env).

    stream (default): each column's calls run back to back in one CUDA graph
    (stream_graph), as the layers of a model run; the columns' replays are
    interleaved, `repeats` rounds in a new random order each round, so that
    clock or power drift and the column that ran just before weigh on all
    columns alike; the median replay over its calls. No L2 flush: the rotation keeps the weights out of L2, and a flush
    would add the write-back of 50 MB of dirty lines to the timed work.
    replay (the method up to v8b): bench_replay per column. A column whose fn
    is None or cannot be captured or run gives NaN.
    """
    out = {name: float("nan") for name in columns}
    if timing == "replay":
        for name, (fn, env) in columns.items():
            with env_vars(env):
                try:
                    out[name] = bench_replay(fn, n_sets) if fn is not None else float("nan")
                except RuntimeError:
                    pass
        return out
    graphs = {}
    for name, (fn, env) in columns.items():
        if fn is None:
            continue
        with env_vars(env):
            try:
                graphs[name] = stream_graph(fn, n_sets)
            except RuntimeError:  # a peer that cannot be captured or run at this shape
                pass
    for g, _ in graphs.values():
        g.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = {name: [] for name in graphs}
    names = list(graphs)
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        # A new column order every round: at large M a column ran 10-14%
        # slower right after cuBLAS FP16 than after a lighter column (same
        # process, same machine; PERF.md, v11), so no column keeps one predecessor.
        for idx in rng.permutation(len(names)):
            name = names[idx]
            g, calls = graphs[name]
            start.record()
            g.replay()
            end.record()
            end.synchronize()
            times[name].append(start.elapsed_time(end) * 1000.0 / calls)
    for name, ts in times.items():
        out[name] = float(np.median(ts))
    del graphs
    return out


def copy_bandwidth() -> float:
    """Device-to-device copy, bytes read + written per second."""
    a = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    us = 1000.0 * do_bench(lambda: b.copy_(a), warmup=25, rep=100, return_mode="median")  # 2 GB moved: flush negligible
    return 2 * a.numel() / (us * 1e-6)


def make_sets(n, k, n_sets):
    rng = np.random.default_rng(0)
    # float32 draws directly: half the host time of float64-then-cast at 28672 x 4096 (the
    # device's time budget is short; the kernels' speed does not depend on which normal draws these are).
    w = rng.standard_normal((n, k), dtype=np.float32) * np.float32(0.02)
    iw = quantize_weight(w, 128, Amplifier("safe"))
    wq = torch.from_numpy(iw.packed()).cuda()
    S = torch.from_numpy(iw.S).cuda()
    C = torch.from_numpy(iw.C).cuda()
    s = torch.from_numpy(iw.ref.s).cuda()
    w16 = torch.from_numpy(w).cuda().half()
    return [dict(wq=wq.clone(), S=S, C=C, s=s, w16=w16.clone()) for _ in range(n_sets)], w16


def peers(m, n, k, w16, n_sets):
    """name -> callable(i) for the torch peers; a peer that does not run gives None."""
    x16 = torch.randn(m, k, device="cuda", dtype=torch.float16)
    out = {}
    w16s = [w16.clone() for _ in range(n_sets)]
    out["cublas_fp16"] = lambda i: torch.matmul(x16, w16s[i].t())
    try:
        x8 = torch.randint(-127, 127, (max(m, 17), k), dtype=torch.int8, device="cuda")
        w8 = [torch.randint(-127, 127, (n, k), dtype=torch.int8, device="cuda").t() for _ in range(n_sets)]
        torch._int_mm(x8, w8[0])
        out["int8_int_mm"] = lambda i: torch._int_mm(x8, w8[i])
    except Exception:
        out["int8_int_mm"] = None
    try:
        # Random packed bytes: two 4-bit codes per byte, [N, K/2] as the op takes them.
        raw = torch.randint(0, 256, (n, k // 2), dtype=torch.uint8, device="cuda")
        packed = torch.ops.aten._convert_weight_to_int4pack(raw, 8)
        sz = torch.randn(k // 128, n, 2, device="cuda", dtype=torch.bfloat16)
        xb = x16.to(torch.bfloat16)
        torch.ops.aten._weight_int4pack_mm(xb, packed, 128, sz)
        out["w4a16_int4pack"] = lambda i: torch.ops.aten._weight_int4pack_mm(xb, packed, 128, sz)
    except Exception:
        out["w4a16_int4pack"] = None
    try:
        mp = max(16, (m + 15) // 16 * 16)
        xf8 = torch.randn(mp, k, device="cuda").to(torch.float8_e4m3fn)
        wf8 = [torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn) for _ in range(n_sets)]
        one = torch.ones((), device="cuda")
        torch._scaled_mm(xf8, wf8[0].t(), scale_a=one, scale_b=one, out_dtype=torch.float16)
        out["fp8_scaled_mm"] = lambda i: torch._scaled_mm(xf8, wf8[i].t(), scale_a=one, scale_b=one, out_dtype=torch.float16)
    except Exception:
        out["fp8_scaled_mm"] = None
    return out, x16


def parse_libs(specs: list[str]) -> dict:
    """--lib NAME=PATH arguments -> {NAME: plugin.kernels_library(PATH)}; a
    one-line ValueError for a malformed or repeated NAME, FileNotFoundError
    for a missing file."""
    libs: dict = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"--lib {spec!r}: expected NAME=PATH with NAME of letters, digits, '_' or '-'")
        if name in libs:
            raise ValueError(f"--lib {name}: given twice")
        libs[name] = plugin.kernels_library(path)
    return libs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench_out")
    ap.add_argument("--quick", action="store_true", help="fewer shapes and batch sizes")
    ap.add_argument("--timing", choices=["stream", "replay"], default="stream",
                    help="stream: calls back to back in one graph (default); replay: one graph per call with an L2 flush (up to v8b)")
    ap.add_argument("--persistent", action="store_true",
                    help="shorthand for --variant IS_PERSISTENT=1 --variant IS_PERSISTENT=0 (the persistent wgmma kernel forced on and off)")
    ap.add_argument("--variant", action="append", default=[], metavar="VAR=VALUE",
                    help="add a column for our op with these environment knobs set (e.g. IS_BT=128 or "
                         "IS_SLIM=1,IS_GEMM_PATH=wgmma); repeatable")
    ap.add_argument("--lib", action="append", default=[], metavar="NAME=PATH",
                    help="add a column int_scale_lib_NAME: our op from another build of libis_kernels.so, loaded "
                         "beside the default one in this process (A/B of a kernel change without a knob); repeatable")
    ap.add_argument("--ab", action="store_true", help="time only our int-scale op and cuBLAS FP16 (quick A/B of a change)")
    ap.add_argument("--ms", default="", help="comma-separated batch sizes instead of the default list")
    ap.add_argument("--shape", action="append", default=[], metavar="NxK", help="only these weight shapes")
    args = ap.parse_args()
    if args.persistent:
        args.variant += ["IS_PERSISTENT=1", "IS_PERSISTENT=0"]
    libs = parse_libs(args.lib)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    shapes = SHAPES[:2] if args.quick else SHAPES
    if args.shape:
        shapes = [tuple(int(v) for v in sh.split("x")) for sh in args.shape]
    ms = [1, 16, 64, 128, 1024, 4096] if args.quick else MS
    if args.ms:
        ms = [int(v) for v in args.ms.split(",")]
    bw = copy_bandwidth()
    rows = []
    print(f"device: {torch.cuda.get_device_name()}  copy bandwidth {bw / 1e12:.2f} TB/s  timing: {args.timing}")
    # One JSON line per measured point, written as it is measured: a run cut off by its time
    # limit still leaves every point it finished (bench.json/.csv are written at the end).
    jsonl = open(out_dir / "bench.jsonl", "w")

    def record(line: dict) -> None:
        jsonl.write(json.dumps(line) + "\n")
        jsonl.flush()

    record(dict(device=torch.cuda.get_device_name(), copy_bw=bw, timing=args.timing))
    for n, k in shapes:
        wbytes = n * k // 2 + n * (k // 128) * 4 + n * 4
        n_sets = max(2, math.ceil(3 * L2_BYTES / (n * k * 2)))
        sets, w16 = make_sets(n, k, n_sets)
        copies: list = []  # destinations of the weight_copy column (M <= 16)
        for m in ms:
            peer, x16 = peers(m, n, k, w16, n_sets)
            # One workspace, sized for the build that needs the most (--lib builds may differ).
            ws = plugin.workspace_for(m, n, k, "cuda", max([plugin.kernels_library(), *libs.values()],
                                                           key=lambda lib: lib.is_gemm_workspace_size(m, n, k)))
            y = torch.empty(m, n, dtype=torch.float16, device="cuda")
            def int_op(i, lib=None):
                return plugin.int_scale_gemm(x16, sets[i]["wq"], sets[i]["S"], sets[i]["C"], None, 128, ws, y, lib=lib)

            def float_op(i):
                return plugin.float_scale_gemm(x16, sets[i]["wq"], sets[i]["s"], None, 128, ws, y)

            columns = {"int_scale_w4a8": (int_op, {}), "cublas_fp16": (peer["cublas_fp16"], {})}
            for v in args.variant:  # our op under knobs of the library (IS_BT=64, IS_SLIM=1,IS_GEMM_PATH=wgmma, ...)
                columns[f"int_scale_{v}"] = (int_op, dict(kv.split("=", 1) for kv in v.split(",")))
            for name, lib in libs.items():  # our op from another build (--lib)
                columns[f"int_scale_lib_{name}"] = (lambda i, lib=lib: int_op(i, lib), {})
            if not args.ab:  # A/B runs of a change: our op and the baseline only
                columns.update({
                    "float_scale_w4a8": (float_op, {}),
                    # The same op forced onto each path (mma.sync: sm_80/sm_89's kernel), for the record of
                    # what each path gives and whether the library's choice (wgmma_preferred) picks the faster.
                    "int_scale_mma_path": (int_op, {"IS_GEMM_PATH": "mma"}),
                    "int_scale_wgmma_path": (int_op, {"IS_GEMM_PATH": "wgmma"}),
                    # The activation-quantization kernel alone (part of both our columns).
                    "act_quant_only": (lambda i: plugin.quantize_activations_cuda(x16), {}),
                    **{name: (fn, {}) for name, fn in peer.items() if name != "cublas_fp16"},
                })
                if m <= 16:
                    # A copy of the packed weights alone at this size: the decode reference the 1 GB
                    # copy is not, since a call of a few MB pays its launch and ramp-up as our op
                    # does. (v11 timed torch's sum over them instead: an int32 reduction ran at
                    # ~0.5 TB/s, slower than cuBLAS FP16, so it measured the reduction, not the read.)
                    if not copies:
                        copies.extend(torch.empty_like(st["wq"]) for st in sets)
                    columns["weight_copy"] = (lambda i: copies[i].copy_(sets[i]["wq"]), {})
            t = bench_columns(columns, n_sets, args.timing)
            row = dict(N=n, K=k, M=m, **{f"{c}_us": v for c, v in t.items()})
            if args.ab:  # the point goes to bench.jsonl too (bench_table.py prints its speed-up tables)
                record(row)
                extra = "".join(f"  {v} {t[f'int_scale_{v}']:8.1f} us" for v in args.variant)
                extra += "".join(f"  lib {name} {t[f'int_scale_lib_{name}']:8.1f} us" for name in libs)
                print(f"N={n:6d} K={k:6d} M={m:5d} | int {t['cublas_fp16'] / t['int_scale_w4a8']:5.2f}x "
                      f"({t['int_scale_w4a8']:8.1f} us)  cublas {t['cublas_fp16']:8.1f} us{extra}", flush=True)
                continue
            row["weight_bw_share"] = (wbytes / (t["int_scale_w4a8"] * 1e-6)) / bw if m <= 16 else None
            if "weight_copy" in t:  # read + write of the packed weights, as the 1 GB copy's bw counts both
                wq_bytes = sets[0]["wq"].numel() * sets[0]["wq"].element_size()
                row["weight_copy_bw_share"] = (2 * wq_bytes / (t["weight_copy"] * 1e-6)) / bw
            rows.append(row)
            record(row)
            base = t["cublas_fp16"]
            print(f"N={n:6d} K={k:6d} M={m:5d} | int {base / t['int_scale_w4a8']:5.2f}x ({t['int_scale_w4a8']:8.1f} us) "
                  f"float {base / t['float_scale_w4a8']:5.2f}x  int/float {t['float_scale_w4a8'] / t['int_scale_w4a8']:4.2f} | "
                  + f"mma-path {base / t['int_scale_mma_path']:5.2f}x wgmma-path {base / t['int_scale_wgmma_path']:5.2f}x quant {t['act_quant_only']:6.1f} us | "
                  + " ".join(f"{c} {base / v:5.2f}x" for c, v in t.items() if c.startswith(("int8", "w4a16", "fp8")))
                  + (f" | bw {row['weight_bw_share'] * 100:4.0f}%" if row["weight_bw_share"] else "")
                  + (f" (copy of the weights alone: {row['weight_copy_bw_share'] * 100:4.0f}%)"
                     if "weight_copy_bw_share" in row else ""), flush=True)
        torch.cuda.empty_cache()
    jsonl.close()
    if args.ab:
        return
    print("\nint-scale W4A8 (this project, full op) over cuBLAS FP16:")
    print(ratio_table(rows))
    print("\n".join(target_lines(rows)))
    (out_dir / "bench.json").write_text(json.dumps(dict(device=torch.cuda.get_device_name(), copy_bw=bw, timing=args.timing, rows=rows), indent=1))
    with open(out_dir / "bench.csv", "w", newline="") as f:
        fields = list(dict.fromkeys(key for row in rows for key in row))  # union: some columns only at small M
        wr = csv.DictWriter(f, fieldnames=fields)
        wr.writeheader()
        wr.writerows(rows)


if __name__ == "__main__":
    main()
