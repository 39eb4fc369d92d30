"""The per-block timeline's analysis (scripts/block_timeline.py), on made-up events."""

from __future__ import annotations

import numpy as np

from scripts.block_timeline import (EVENT, END, MARK, START, WAIT, blocks_of, chart, event_times, mark_lines, summarize,
                                    timer_tick)

CLOCK_GHZ = 1.98


def _events(times_ns: list[tuple[int, int, int, int, int, float]], tick: int) -> np.ndarray:
    """(smid, kernel, what, block, tag, true time ns) -> events whose global
    timer reads the true time floored to `tick` and whose clock64 counts at
    CLOCK_GHZ from an origin of its own per SM."""
    ev = np.zeros(len(times_ns), dtype=EVENT)
    for i, (sm, kernel, what, block, tag, t) in enumerate(times_ns):
        ev[i] = (int(t // tick * tick), int((t + 1e6 * (sm + 1)) * CLOCK_GHZ), sm, kernel, what, 0, block, tag)
    return ev


def test_timer_tick_is_the_smallest_step():
    assert timer_tick(np.array([0, 1000, 3000, 3000, 5000], dtype=np.uint64)) == 1000
    assert timer_tick(np.array([7, 7], dtype=np.uint64)) == 0


def test_coarse_timer_is_refined_by_each_sms_clock():
    rng = np.random.default_rng(1)
    true = []
    for sm in range(4):
        for j in range(40):
            true.append((sm, 30064, START, sm * 40 + j, 5, float(rng.uniform(0, 50_000))))
    ev = _events(true, tick=1000)
    t, spread = event_times(ev)
    assert spread > 500
    err = t - np.array([x[-1] for x in true])
    # Floored to 1 us, the readings are up to 1000 ns early; each SM's clock puts them within 1/10 of a tick.
    assert np.abs(err).max() < 100, np.abs(err).max()


def test_fine_timer_is_used_as_read():
    true = [(0, 30064, START, 0, 5, 100.0), (1, 30064, END, 0, 5, 132.0), (0, 30064, WAIT, 0, 5, 164.0)]
    t, spread = event_times(_events(true, tick=32))
    assert spread <= 32
    assert list(t) == [96.0, 128.0, 160.0]


def _two_calls_events() -> tuple[np.ndarray, dict]:
    """GEMM 0 (2 blocks on SMs 0-1) ends at 10 us; quantization 1 (1 block)
    starts on SM 0 at 9 us, beside GEMM 0's block; GEMM 1 (2 blocks) starts at
    11 us, waits until 12 us and ends at 20 us; then call 2 likewise 10 us later."""
    rows = []
    for call in range(3):
        base = 5_000.0 + call * 10_000.0
        for b in range(2):
            rows += [(b, 30064, START, b, 100 + call, base + 1_000 + 1_000 * b),
                     (b, 30064, WAIT, b, 100 + call, base + 2_000 + 1_000 * b),
                     (b, 30064, END, b, 100 + call, base + 10_000)]
        rows += [(0, 20512, START, 0, 200 + call, base - 1_000), (0, 20512, WAIT, 0, 200 + call, base),
                 (0, 20512, END, 0, 200 + call, base + 500)]
    tags = {str(100 + c): ["gemm", c] for c in range(3)} | {str(200 + c): ["quant", c] for c in range(3)}
    meta = {"m": 1, "n": 2, "k": 3, "calls": 3, "variant": "", "tags": tags, "sms": 2, "gpu": "made up", "kernel_base": 10000,
            "period_plain_us": 10.0, "period_timeline_us": 10.0}
    return _events(rows, tick=1), meta


def test_blocks_are_grouped_by_call_and_kernel():
    ev, meta = _two_calls_events()
    t, _ = event_times(ev)
    bl = blocks_of(ev, t, meta)
    g1 = bl[("gemm", 1)]
    assert g1["kernel"] == "wgmma/64"
    assert list(g1["smid"]) == [0, 1]
    assert np.allclose(g1["end"], [25_000, 25_000])
    assert bl[("quant", 1)]["kernel"] == "quant_vec/512"


def test_first_recordings_name_kernels_by_thousands():
    ev, meta = _two_calls_events()
    ev["kernel"] = np.where(ev["kernel"] == 30064, 3064, 2512)
    del meta["kernel_base"]
    t, _ = event_times(ev)
    assert blocks_of(ev, t, meta)[("gemm", 1)]["kernel"] == "wgmma/64"


def test_summary_places_each_kernel_after_the_previous_gemm():
    ev, meta = _two_calls_events()
    lines = summarize(ev, meta)
    text = "\n".join(lines)
    assert "period (last GEMM end to last GEMM end) 10.00 us" in text
    quant = next(ln for ln in lines if ln.strip().startswith("quant"))
    gemm = next(ln for ln in lines if ln.strip().startswith("gemm"))
    # Call 1's quantization starts 1 us before call 0's GEMM ends, beside one of its blocks.
    assert "-1.00/  -1.00/  -1.00" in quant and "1 of the kernel before" in quant
    # Call 1's GEMM blocks start 1 and 2 us after it, wait until 2 and 3 us, and neither shares an SM with the quantization.
    assert "+1.00/  +1.50/  +2.00" in gemm and "+2.00/  +2.50/  +3.00" in gemm
    assert "0 of the kernel before" in gemm


def test_chart_marks_each_kernel_on_its_sm():
    ev, meta = _two_calls_events()
    lines = chart(ev, meta, 1, step_us=1.0, width=30)
    assert len(lines) == 1 + meta["sms"]
    # SM 0: call 0's GEMM block until 10 us after the chart's start, call 1's
    # quantization beside it for its last microsecond and alone for the next,
    # then call 1's GEMM block, waiting one column and computing after.
    assert lines[1] == "SM  0 | --------*qgGGGGGGGG          |"
    assert lines[2] == "SM  1 |  --------  gGGGGGGG          |"


def test_marks_are_timed_after_each_blocks_wait():
    """Phase marks (what >= MARK) of the GEMM blocks: their time after the
    block's own wait, named for the kernel family; the summary ignores them."""
    ev, meta = _two_calls_events()
    ev["kernel"] = np.where(ev["kernel"] == 30064, 40408, ev["kernel"])  # the GEMM as the mma.sync K-split kernel
    rows = []
    for call in range(3):
        base = 5_000.0 + call * 10_000.0
        for b in range(2):  # 4 and 6 us after each block's wait (which is 1 us apart between the blocks)
            rows += [(b, 40408, MARK, b, 100 + call, base + 2_000 + 1_000 * b + 4_000),
                     (b, 40408, MARK + 1, b, 100 + call, base + 2_000 + 1_000 * b + 6_000)]
    marks = _events(rows, tick=1)
    both = np.concatenate([ev, marks])
    lines = mark_lines(both, meta)
    assert len(lines) == 3  # the two marks and the end
    loop = next(ln for ln in lines if "K loop done (warp 0)" in ln)
    assert "median   4.00" in loop
    assert "median   6.00" in next(ln for ln in lines if "partial sums in place" in ln)
    assert summarize(both, meta)[1:] == summarize(ev, meta)[1:]  # (the first line counts the events)
    assert mark_lines(ev, meta) == []
