"""The benchmark's summary tables (scripts/bench_table.py), on made-up timings."""

from __future__ import annotations

import json
import math

from scripts.bench_table import choice_lines, ratio_table, read_jsonl, target_lines, variant_columns


def _rows():
    rows = []
    for n, k in [(4096, 4096), (28672, 4096)]:
        for m, ours, cublas in [(1, 10.0, 35.0), (64, 20.0, 30.0), (4096, 100.0, 160.0)]:
            rows.append(dict(N=n, K=k, M=m, int_scale_w4a8_us=ours * (2 if n > 4096 else 1), cublas_fp16_us=cublas))
    return rows


def test_ratio_table_has_one_cell_per_shape_and_m():
    lines = ratio_table(_rows()).splitlines()
    assert lines[0] == "| N x K | M=1 | M=64 | M=4096 |"
    assert lines[2] == "| 4096 x 4096 | 3.50 | 1.50 | 1.60 |"
    assert lines[3] == "| 28672 x 4096 | 1.75 | 0.75 | 0.80 |"


def test_missing_or_nan_cells_print_a_dash():
    rows = _rows()
    rows[0]["int_scale_w4a8_us"] = math.nan
    del rows[1]["int_scale_w4a8_us"]
    assert ratio_table(rows).splitlines()[2] == "| 4096 x 4096 | - | - | 1.60 |"


def test_target_lines_say_met_only_when_every_shape_meets_it():
    lines = target_lines(_rows())
    assert lines[0] == "M <= 16: target >= 3.2x, measured 1.75x - 3.50x (not met)"
    assert lines[1] == "M = 64: target >= 2.2x, measured 0.75x - 1.50x (not met)"
    assert lines[2] == "M >= 1024: target >= 1.5x, measured 0.80x - 1.60x (not met)"
    fast = [dict(r, int_scale_w4a8_us=1.0) for r in _rows()]
    assert all(line.endswith("(met)") for line in target_lines(fast))


def test_read_jsonl_keeps_finished_points_of_a_cut_off_run(tmp_path):
    path = tmp_path / "bench.jsonl"
    rows = _rows()
    text = json.dumps(dict(device="GPU", copy_bw=3e12, timing="stream")) + "\n"
    text += "".join(json.dumps(r) + "\n" for r in rows[:4]) + json.dumps(rows[4])[:17]  # killed mid-line
    path.write_text(text)
    header, got = read_jsonl(path)
    assert header["device"] == "GPU"
    assert got == rows[:4]


def test_choice_lines_flag_only_points_slower_than_the_faster_forced_path():
    rows = [dict(N=4096, K=4096, M=1, int_scale_w4a8_us=10.0, int_scale_mma_path_us=10.1, int_scale_wgmma_path_us=12.0),
            dict(N=4096, K=4096, M=64, int_scale_w4a8_us=12.0, int_scale_mma_path_us=20.0, int_scale_wgmma_path_us=10.0),
            dict(N=4096, K=4096, M=128, int_scale_w4a8_us=10.0, int_scale_mma_path_us=math.nan)]
    lines = choice_lines(rows)
    assert lines == ["N=4096 K=4096 M=64: library 12.0 us, faster forced path 10.0 us"]


def test_variant_columns_and_their_speedup_table():
    rows = [dict(N=4096, K=4096, M=1, int_scale_w4a8_us=10.0, int_scale_mma_path_us=10.0,
                 **{"int_scale_IS_SLIM=1_us": 8.0, "int_scale_IS_SLIM=1,IS_GEMM_PATH=wgmma_us": 12.5})]
    cols = variant_columns(rows)
    assert cols == ["int_scale_IS_SLIM=1_us", "int_scale_IS_SLIM=1,IS_GEMM_PATH=wgmma_us"]
    assert ratio_table(rows, cols[0], base="int_scale_w4a8_us").splitlines()[2] == "| 4096 x 4096 | 1.25 |"
    assert ratio_table(rows, cols[1], base="int_scale_w4a8_us").splitlines()[2] == "| 4096 x 4096 | 0.80 |"
