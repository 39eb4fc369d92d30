"""Per-block timeline of back-to-back IntScaleGemm calls: which kernel's blocks hold the SMs when.

    cmake --build build/plugins --target is_kernels_timeline     # the measurement build (block_timeline.cuh)
    python3 scripts/block_timeline.py --m 64 --n 4096 --k 14336 --variant IS_QUANT=256 --variant IS_QUANT=512 --out OUT
    python3 scripts/block_timeline.py --analyze OUT/tl_m64_n4096_k14336_IS_QUANT512.npz --chart 8

Runs `--calls` calls captured in one CUDA graph (distinct X and Y per call,
weights rotated past L2, as a model's consecutive layers would be) with the
timeline library, whose kernels record each block's start, the return of its
griddepcontrol.wait and its end, with the SM it ran on. Writes the raw events
(.npz, with the call and kernel of each tag) and prints, averaged over the
middle calls, where each kernel's blocks start, wait and end relative to the
end of the previous call's GEMM, and how many blocks of consecutive kernels
shared the SMs. `--variant VAR=VALUE` runs again with a knob of the library
set (IS_QUANT, IS_PREFETCH, ...; read on every call, so at capture).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

EVENT = np.dtype([("ns", "<u8"), ("clk", "<u8"), ("smid", "<u4"), ("kernel", "<u2"), ("what", "u1"),
                  ("pad", "u1"), ("block", "<u4"), ("tag", "<u4")])
START, WAIT, END = 0, 1, 2
MARK = 3  # and up: phase marks inside a block (IS_TL_MARK in the kernels; see MARK_NAMES)
# What the marks of each kernel family mean (w4a8_gemm.cu's K-split blocks record MARK to MARK + 2).
MARK_NAMES = {"mma": {MARK: "K loop done (warp 0)", MARK + 1: "partial sums in place",
                      MARK + 2: "first chunk's mma issued"}}
FAMILY = {1: "quant_rows", 2: "quant_vec", 3: "wgmma", 4: "mma"}
HEADER_BYTES = 16


KERNEL_BASE = 10000  # TimelineEvent::kernel = family * KERNEL_BASE + variant (1000 in the first recordings)


def kernel_name(code: int, base: int = KERNEL_BASE) -> str:
    """TimelineEvent::kernel (family * base + variant) as text, e.g. quant_vec/512, wgmma/64."""
    return f"{FAMILY.get(code // base, '?')}/{code % base}"


# ---------------------------------------------------------------- measuring


def load_timeline_library():
    """The kernels library built with IS_TIMELINE, loaded in place of libis_kernels.so."""
    from is_export import plugin

    plugin.LIBRARIES["kernels"] = "libis_kernels_timeline.so"
    try:
        lib = plugin._kernels()
    except FileNotFoundError as e:
        raise SystemExit(f"{e} (timeline build: cmake --build build/plugins --target is_kernels_timeline)")
    import ctypes

    lib.is_timeline_attach.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    return plugin, lib


def record(m: int, n: int, k: int, calls: int, variant: str, cap: int = 1 << 20) -> tuple[np.ndarray, dict]:
    """Events of one graph replay of `calls` calls at M x N x K under `variant`
    ("" or VAR=VALUE) and the meta data naming each tag."""
    import torch

    from is_export.numerics import Amplifier, quantize_weight

    plugin, lib = load_timeline_library()
    var, val = variant.split("=", 1) if variant else (None, None)
    before = os.environ.get(var) if var else None
    if var:
        os.environ[var] = val
    rng = np.random.default_rng(0)
    iw = quantize_weight((rng.standard_normal((n, k)) * 0.02).astype(np.float32), 128, Amplifier("safe"))
    wq, S, C = (torch.from_numpy(v).cuda() for v in (iw.packed(), iw.S, iw.C))
    wqs = [wq] + [wq.clone() for _ in range(max(1, -(-3 * (64 << 20) // (n * k // 2))) - 1)]
    xs = [torch.randn(m, k, device="cuda", dtype=torch.float16) for _ in range(calls)]
    ys = [torch.empty(m, n, device="cuda", dtype=torch.float16) for _ in range(calls)]
    ws = plugin.workspace_for(m, n, k, "cuda")

    def op(i: int) -> None:
        plugin.int_scale_gemm(xs[i], wqs[i % len(wqs)], S, C, None, 128, ws, ys[i])

    for i in range(3):
        op(i)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(calls):
            op(i)
    buf = torch.zeros(HEADER_BYTES + EVENT.itemsize * cap, dtype=torch.uint8, device="cuda")
    # The period without events (attach(nullptr): the kernels' recording is one
    # load and branch), then one replay with them (the graph is warm by then:
    # no warm-up replay, whose events would land in the buffer too).
    _check(lib.is_timeline_attach(None, 0))
    period_plain = _replay_us(g, torch) / calls
    _check(lib.is_timeline_attach(buf.data_ptr(), cap))
    buf.zero_()
    period_tl = _replay_us(g, torch, replays=1, warmup=False) / calls
    _check(lib.is_timeline_attach(None, 0))
    raw = buf.cpu().numpy()
    count = int(raw[:4].view("<u4")[0])
    if count > cap:
        raise SystemExit(f"{count} events for a buffer of {cap}: raise cap")
    ev = raw[HEADER_BYTES:HEADER_BYTES + count * EVENT.itemsize].view(EVENT).copy()
    if var and before is None:
        del os.environ[var]
    elif var:
        os.environ[var] = before
    tags = {}
    for i in range(calls):
        tags[str(xs[i].data_ptr() & 0xFFFFFFFF)] = ["quant", i]
        tags[str(ys[i].data_ptr() & 0xFFFFFFFF)] = ["gemm", i]
    meta = {"m": m, "n": n, "k": k, "calls": calls, "variant": variant, "tags": tags, "kernel_base": KERNEL_BASE,
            "sms": torch.cuda.get_device_properties(0).multi_processor_count,
            "gpu": torch.cuda.get_device_name(0), "period_plain_us": period_plain, "period_timeline_us": period_tl}
    return ev, meta


def _check(code: int) -> None:
    if code != 0:
        raise RuntimeError(f"is_timeline_attach failed: CUDA error {code}")


def _replay_us(g, torch, replays: int = 20, warmup: bool = True) -> float:
    """Median microseconds of one replay of graph g (CUDA events; one warm-up replay first unless warmup=False)."""
    if warmup:
        g.replay()
    times = []
    for _ in range(replays):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e3)
    return float(np.median(times))


# ---------------------------------------------------------------- analysis


def timer_tick(ns: np.ndarray) -> float:
    """The global timer's update interval: the smallest positive step between
    its distinct values (ns)."""
    u = np.unique(ns)
    d = np.diff(u)
    return float(d[d > 0].min()) if len(d) and (d > 0).any() else 0.0


def event_times(ev: np.ndarray) -> tuple[np.ndarray, float]:
    """Each event's time in ns on the common axis, and the error of the
    global timer's readings (ns).

    Each SM's clock64 is fitted to the global timer's readings on that SM by a
    line. Where the timer's readings step by <= 100 ns, or stay within 100 ns
    of that line, the timer is fine and its readings are the times (on the
    H200 here: 32-ns steps; the SM clock's rate varies by ~10% within a run,
    so the clocks must not replace it there). Otherwise it is coarse (it ticks every
    microsecond on some GPUs: a reading r means a true time in [r, r + tick))
    and the SMs' clocks give the times: one rate for all SMs (one clock
    domain), the middle of the rates every SM's readings allow, and per SM the
    middle of the offsets its readings allow at that rate (max of
    r - rate * clk, min of r + tick - rate * clk)."""
    t = ev["ns"].astype(np.float64)
    tick = timer_tick(ev["ns"])
    spread, slopes, per_sm = 0.0, [], []
    for sm in np.unique(ev["smid"]):
        sel = np.flatnonzero(ev["smid"] == sm)
        clk = ev["clk"][sel].astype(np.float64)
        clk -= clk.min()
        if len(sel) >= 3 and np.ptp(clk) > 0:
            slope, icpt = np.polyfit(clk, t[sel], 1)
            spread = max(spread, float(np.ptp(t[sel] - (icpt + slope * clk))))
            slopes.append(slope)
        per_sm.append((sel, clk))
    if spread <= 100 or tick <= 100 or not slopes:
        return t, spread
    rates = np.median(slopes) * (1 + np.linspace(-5e-3, 5e-3, 2001))
    room = np.full(len(rates), np.inf)  # per rate: the least room any SM's readings leave for its offset
    for sel, clk in per_sm:
        r = t[sel][None, :] - rates[:, None] * clk[None, :]
        room = np.minimum(room, (r + tick).min(axis=1) - r.max(axis=1))
    ok = np.flatnonzero(room >= 0)
    rate = rates[ok].mean() if len(ok) else rates[np.argmax(room)]
    out = t + tick / 2
    for sel, clk in per_sm:
        r = t[sel] - rate * clk
        out[sel] = (r.max() + (r + tick).min()) / 2 + rate * clk
    return out, spread


def blocks_of(ev: np.ndarray, t: np.ndarray, meta: dict) -> dict:
    """(role, call) -> dict of per-block arrays: start, wait, end (ns; NaN where
    absent), smid, kernel name. Where a block's event repeats, the last one in
    the buffer counts (this session's first recordings hold two replays: the
    later is the one summarized)."""
    out: dict = {}
    for tag, (role, call) in meta["tags"].items():
        sel = ev["tag"] == int(tag)
        if not sel.any():
            continue
        e, tt = ev[sel], t[sel]
        nb = int(e["block"].max()) + 1
        d = {w: np.full(nb, np.nan) for w in ("start", "wait", "end")}
        sm = np.full(nb, -1)
        for what, name in ((START, "start"), (WAIT, "wait"), (END, "end")):
            s = e["what"] == what
            d[name][e["block"][s]] = tt[s]
            if what == START:
                sm[e["block"][s]] = e["smid"][s]
        d["smid"] = sm
        base = meta.get("kernel_base", 1000)
        d["kernel"] = ", ".join(sorted({kernel_name(int(c), base) for c in np.unique(e["kernel"])}))
        out[(role, call)] = d
    return out


def overlapping(a: dict, b: dict, at: np.ndarray) -> np.ndarray:
    """For each moment at[i] (a block of kernel b starting on SM b.smid[i]):
    whether a block of kernel a ran on that SM at that moment."""
    res = np.zeros(len(at), dtype=bool)
    for i, (tt, sm) in enumerate(zip(at, b["smid"])):
        on = a["smid"] == sm
        res[i] = bool(np.any((a["start"][on] <= tt) & (a["end"][on] > tt)))
    return res


def middle_calls(calls: int) -> range:
    """The calls a summary averages over: the first and last quarter left out
    (the graph's start and end are not the steady state of back-to-back layers)."""
    return range(max(1, calls // 4), calls - calls // 4)


def summarize(ev: np.ndarray, meta: dict) -> list[str]:
    """Lines of text: per kernel of a call, averaged over the middle calls, the
    first / median / last block start, wait return and end (us after the end
    of the previous call's GEMM), and the blocks that started on an SM still
    running a block of the kernel before."""
    t, spread = event_times(ev)
    bl = blocks_of(ev, t, meta)
    calls = meta["calls"]
    mid = [j for j in middle_calls(calls) if ("gemm", j - 1) in bl and ("gemm", j) in bl]
    tick = timer_tick(ev["ns"])
    lines = [f"M={meta['m']} N={meta['n']} K={meta['k']} {meta['variant'] or 'default'} on {meta['gpu']}: "
             f"{len(ev)} events, global timer step {tick:.0f} ns"
             f"{' (coarse: SM clocks mapped onto it)' if spread > 100 and tick > 100 else ''}; "
             f"period {meta['period_plain_us']:.2f} us without events, {meta['period_timeline_us']:.2f} with"]
    rows: dict = {}
    for j in mid:
        t0 = np.nanmax(bl[("gemm", j - 1)]["end"])
        prev_gemm = bl[("gemm", j - 1)]
        for role in ("quant", "gemm"):
            d = bl.get((role, j))
            if d is None:
                continue
            r = rows.setdefault(role, {"kernel": d["kernel"], "blocks": len(d["start"])})
            for w in ("start", "wait", "end"):
                v = d[w][~np.isnan(d[w])] - t0
                if len(v):
                    for q, f in (("min", np.min), ("med", np.median), ("max", np.max)):
                        r.setdefault(f"{w}_{q}", []).append(f(v) / 1e3)
            # Blocks that began beside a block of the kernel before them on the SM.
            before = prev_gemm if role == "quant" else bl.get(("quant", j))
            if before is not None:
                r.setdefault("beside_prev", []).append(overlapping(before, d, d["start"]).sum())
            if role == "gemm":
                r.setdefault("beside_prev_gemm", []).append(overlapping(prev_gemm, d, d["start"]).sum())
                r.setdefault("sms", []).append(len(np.unique(d["smid"])))
                # How the blocks spread over the SMs, and when the blocks of
                # SMs holding c of them ended (the busiest SMs end last).
                per_sm = np.bincount(d["smid"][d["smid"] >= 0], minlength=meta["sms"])
                for c in range(per_sm.max() + 1):
                    r.setdefault(f"sms_with_{c}", []).append(int((per_sm == c).sum()))
                    on = per_sm[d["smid"]] == c
                    if on.any():
                        r.setdefault(f"end_with_{c}", []).append((np.nanmax(d["end"][on]) - t0) / 1e3)
    period = [(np.nanmax(bl[("gemm", j)]["end"]) - np.nanmax(bl[("gemm", j - 1)]["end"])) / 1e3 for j in mid]
    lines.append(f"  times in us after the previous call's last GEMM block ended; mean over calls {mid[0]}-{mid[-1]}; "
                 f"period (last GEMM end to last GEMM end) {np.mean(period):.2f} us")
    lines.append(f"  {'kernel':18s} {'blocks':>6s} | {'start first/med/last':>22s} | {'wait first/med/last':>22s} | "
                 f"{'end first/med/last':>22s} | beside")
    for role, r in rows.items():
        def trio(w: str) -> str:
            if f"{w}_min" not in r:
                return f"{'-':>22s}"
            return "/".join(f"{np.mean(r[f'{w}_{q}']):+7.2f}" for q in ("min", "med", "max"))
        beside = f"{np.mean(r['beside_prev']):.0f} of the kernel before" if "beside_prev" in r else ""
        if role == "gemm":
            beside += f", {np.mean(r['beside_prev_gemm']):.0f} of the previous GEMM; {np.mean(r['sms']):.0f} SMs"
        lines.append(f"  {role + ' ' + r['kernel']:18s} {r['blocks']:6d} | {trio('start')} | {trio('wait')} | "
                     f"{trio('end')} | {beside}")
        counts = sorted(int(key[len("sms_with_"):]) for key in r if key.startswith("sms_with_"))
        per_sm_text = [f"{np.mean(r[f'sms_with_{c}']):.1f} SMs hold {c}"
                       + (f" (last end {np.mean(r[f'end_with_{c}']):+.2f})" if f"end_with_{c}" in r else "")
                       for c in counts]
        if per_sm_text:
            lines.append(f"  {'':18s} blocks per SM: " + ", ".join(per_sm_text))
    return lines


def mark_lines(ev: np.ndarray, meta: dict) -> list[str]:
    """Lines of text: for each phase mark (what >= MARK) of the GEMM blocks of
    the middle calls, p10 / median / p90 over the blocks of the mark's time
    after that block's wait returned (us); no lines where nothing was marked."""
    t, _ = event_times(ev)
    bl = blocks_of(ev, t, meta)
    mid = middle_calls(meta["calls"])
    after: dict = {}
    for tag, (role, call) in meta["tags"].items():
        if role != "gemm" or call not in mid or (role, call) not in bl:
            continue
        e, tt = ev[ev["tag"] == int(tag)], t[ev["tag"] == int(tag)]
        if not (e["what"] >= MARK).any():
            continue
        d = bl[(role, call)]
        for what in np.unique(e["what"][e["what"] >= MARK]):
            m = e["what"] == what
            family = kernel_name(int(e["kernel"][m][0]), meta.get("kernel_base", 1000)).split("/")[0]
            name = MARK_NAMES.get(family, {}).get(int(what), f"mark {int(what) - MARK}")
            after.setdefault(name, []).extend(((tt[m] - d["wait"][e["block"][m]]) / 1e3).tolist())
        after.setdefault("end", []).extend(((d["end"] - d["wait"]) / 1e3).tolist())
    lines = []
    for name, v in after.items():
        v = np.asarray(v)
        v = v[~np.isnan(v)]
        if len(v):
            lines.append(f"  gemm phase after its wait: {name:24s} p10 {np.percentile(v, 10):6.2f}  "
                         f"median {np.median(v):6.2f}  p90 {np.percentile(v, 90):6.2f} us")
    return lines


def chart(ev: np.ndarray, meta: dict, call: int, step_us: float = 0.5, width: int = 100) -> list[str]:
    """One line per SM, `width` columns of `step_us` from 10 us before the
    previous call's GEMM ended: '-' that GEMM, 'q' this call's quantization,
    'g' this call's GEMM (upper case: past its wait), '*' two of them at once,
    ' ' none."""
    t, _ = event_times(ev)
    bl = blocks_of(ev, t, meta)
    prev, q, g = bl.get(("gemm", call - 1)), bl.get(("quant", call)), bl.get(("gemm", call))
    if prev is None or q is None or g is None:
        return [f"call {call}: not recorded"]
    t0 = np.nanmax(prev["end"]) - 10e3
    lines = [f"call {call}: from 10 us before the previous GEMM's end, {step_us} us a column"]
    for sm in range(meta["sms"]):
        cells = []
        for c in range(width):
            a, b = t0 + c * step_us * 1e3, t0 + (c + 1) * step_us * 1e3
            marks = []
            for d, ch in ((prev, "-"), (q, "q"), (g, "g")):
                on = (d["smid"] == sm) & (d["start"] < b) & (d["end"] > a)
                if on.any():
                    waited = ch == "g" and np.any(np.nan_to_num(d["wait"][on], nan=np.inf) < b)
                    marks.append("G" if waited else ch)
            cells.append(" " if not marks else marks[0] if len(marks) == 1 else "*")
        lines.append(f"SM{sm:3d} |{''.join(cells)}|")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=14336)
    ap.add_argument("--calls", type=int, default=16)
    ap.add_argument("--variant", action="append", default=[], metavar="VAR=VALUE",
                    help="also run with this knob set ('' is the library's own choice, always run first)")
    ap.add_argument("--out", type=Path, default=Path("gpu_out/timeline"))
    ap.add_argument("--analyze", type=Path, nargs="*", help="summarize recorded .npz files instead of measuring")
    ap.add_argument("--chart", type=int, metavar="CALL", help="also print the per-SM chart of this call")
    a = ap.parse_args()
    if a.analyze:
        for p in a.analyze:
            z = np.load(p)
            ev, meta = z["events"], json.loads(str(z["meta"]))
            print("\n".join(summarize(ev, meta) + mark_lines(ev, meta)))
            if a.chart is not None:
                print("\n".join(chart(ev, meta, a.chart)))
        return
    a.out.mkdir(parents=True, exist_ok=True)
    for variant in [""] + a.variant:
        ev, meta = record(a.m, a.n, a.k, a.calls, variant)
        name = f"tl_m{a.m}_n{a.n}_k{a.k}_{variant.replace('=', '') or 'default'}.npz"
        np.savez_compressed(a.out / name, events=ev, meta=json.dumps(meta))
        print("\n".join(summarize(ev, meta) + mark_lines(ev, meta)), flush=True)
        if a.chart is not None:
            print("\n".join(chart(ev, meta, a.chart)))


if __name__ == "__main__":
    main()
