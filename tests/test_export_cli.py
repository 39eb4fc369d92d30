"""The is-export command: success, the report, and every refusal of bad input.

A refusal prints one line naming the problem, exits non-zero, leaves the input
byte-identical and leaves no output (or temporary file) behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from is_export.cli import main
from tests import onnx_builders as ob


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def mlp(tmp_path) -> Path:
    path = tmp_path / "mlp.onnx"
    onnx.save(ob.two_layer_mlp(256, 128, 64), path)
    return path


def _refuse(capsys, argv, expect: str, inputs: list[Path]) -> None:
    before = {p: _digest(p) for p in inputs}
    folder_before = set(inputs[0].parent.iterdir())
    code = main([*argv, "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("is-export: error:") and "\n" not in err and expect in err, err
    assert {p: _digest(p) for p in inputs} == before
    assert set(inputs[0].parent.iterdir()) == folder_before  # nothing written, no temp left


def test_export_writes_model_and_report(mlp, tmp_path, capsys):
    out, rep = tmp_path / "out.onnx", tmp_path / "report.json"
    assert main([str(mlp), "-o", str(out), "--report", str(rep), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "2 layers rewritten, 0 skipped" in text and "fc1" in text
    data = json.loads(rep.read_text())
    assert data["summary"] == {"rewritten": 2, "skipped": 0}
    row = data["layers"][0]
    for field in ("node", "k", "n", "group_size", "amplifier", "s_min", "s_max", "acc_bound",
                  "acc_bound_vs_int32", "sqnr_int_db", "sqnr_float_db", "status", "reason", "importer"):
        assert field in row
    assert row["acc_bound_vs_int32"] <= 1.0 and row["sqnr_int_db"] > 15
    assert [n.op_type for n in onnx.load(out).graph.node] == ["IntScaleGemm", "Relu", "IntScaleGemm"]


def test_default_output_names(mlp):
    assert main([str(mlp), "-q"]) == 0 and mlp.with_name("mlp.is.onnx").exists()
    assert main([str(mlp), "-q", "--target", "onnxrt"]) == 0 and mlp.with_name("mlp.ort.onnx").exists()


def test_report_lists_skipped_nodes_with_reasons(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(ob.two_layer_mlp(200, 256, 64), path)
    rep = tmp_path / "r.json"
    assert main([str(path), "-o", str(tmp_path / "o.onnx"), "--report", str(rep), "-q"]) == 0
    skipped = [r for r in json.loads(rep.read_text())["layers"] if r["status"] == "skipped"]
    assert skipped[0]["node"] == "fc1" and "not divisible" in skipped[0]["reason"]


def test_refuses_non_onnx_file(tmp_path, capsys):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model\n" * 10)
    _refuse(capsys, [str(bad), "-o", str(tmp_path / "o.onnx")], "is not an ONNX model", [bad])


def test_refuses_missing_input(tmp_path, capsys):
    code = main([str(tmp_path / "nope.onnx")])
    assert code == 1 and "does not exist" in capsys.readouterr().err


def test_refuses_output_equal_to_input(mlp, capsys):
    _refuse(capsys, [str(mlp), "-o", str(mlp)], "is the input file", [mlp])


def _with_external_data(tmp_path) -> tuple[Path, Path]:
    model = ob.two_layer_mlp(256, 128, 64)
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, path, save_as_external_data=True, location="ext.onnx.data", size_threshold=0)
    return path, tmp_path / "ext.onnx.data"


def test_refuses_truncated_external_data(tmp_path, capsys):
    path, data = _with_external_data(tmp_path)
    data.write_bytes(data.read_bytes()[:1000])
    _refuse(capsys, [str(path), "-o", str(tmp_path / "o.onnx")], "is truncated", [path, data])


def test_refuses_missing_external_data(tmp_path, capsys):
    path, data = _with_external_data(tmp_path)
    data.unlink()
    _refuse(capsys, [str(path), "-o", str(tmp_path / "o.onnx")], "ext.onnx.data", [path])


def test_reads_and_writes_external_data(tmp_path, capsys):
    path, data = _with_external_data(tmp_path)
    out = tmp_path / "out" / "q.onnx"
    assert main([str(path), "-o", str(out), "--external-data", "-q"]) == 0
    assert (out.parent / "q.onnx.data").stat().st_size > 0
    loaded = onnx.load(out, load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in loaded.graph.initializer)


def test_refuses_missing_weight(tmp_path, capsys):
    model = ob.two_layer_mlp(256, 128, 64)
    del model.graph.initializer[1]  # W2, read by the head MatMul
    path = tmp_path / "nowts.onnx"
    onnx.save(model, path)
    _refuse(capsys, [str(path), "-o", str(tmp_path / "o.onnx")], "'W2', which no initializer", [path])


def test_refuses_model_with_nothing_to_rewrite(tmp_path, capsys):
    path = tmp_path / "relu.onnx"
    onnx.save(ob.no_linear(), path)
    _refuse(capsys, [str(path), "-o", str(tmp_path / "o.onnx")], "nothing to rewrite", [path])


def test_refuses_unsupported_dtype(tmp_path, capsys):
    path = tmp_path / "f64.onnx"
    onnx.save(ob.matmul(np.ones((128, 8)), np.float64), path)
    _refuse(capsys, [str(path), "-o", str(tmp_path / "o.onnx")], "unsupported activation dtype float64", [path])


def test_refuses_bad_options(mlp, capsys):
    _refuse(capsys, [str(mlp), "-o", str(mlp.with_name("o.onnx")), "--amplifier", "pow2:99"], "unknown amplifier", [mlp])
    _refuse(capsys, [str(mlp), "-o", str(mlp.with_name("o.onnx")), "--group-size", "100"], "power of two", [mlp])


def test_console_script_runs(mlp, tmp_path):
    exe = shutil.which("is-export")
    cmd = [exe] if exe else [sys.executable, "-m", "is_export.cli"]
    res = subprocess.run([*cmd, str(mlp), "-o", str(tmp_path / "c.onnx"), "-q"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    bad = subprocess.run([*cmd, str(tmp_path / "missing.onnx")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
