"""is-export validate: passes on the repo's test models with the onnxrt
backend, fails with a readable reason on a corrupted rewrite."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from is_export.cli import main
from is_export.validate import Tolerances, validate
from tests import onnx_builders as ob

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))

SENTENCES = ["A man is playing a guitar on the stage.", "The new movie is awesome and I loved every minute.",
             "Integer scales make fine-grained quantization fast.", "It is cold and rainy in London today."]


@pytest.fixture(scope="module")
def llama_pair(tiny_llama_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("val") / "m.is.onnx"
    assert main([str(tiny_llama_onnx), "-o", str(out), "-q"]) == 0
    return tiny_llama_onnx, out


def test_llama_passes_and_reports(llama_pair, tmp_path, capsys):
    orig, rew = llama_pair
    rep = tmp_path / "v.json"
    code = main(["validate", str(orig), str(rew), "--shape", "input_ids:2x16", "--int-range", "0,511",
                 "--report", str(rep)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "validation PASSED" in out and "top-1 agreement" in out
    data = json.loads(rep.read_text())
    logits = data["outputs"][0]
    assert data["passed"] and logits["name"] == "logits" and logits["top1"] is not None
    for k in ("max_abs", "mean_abs", "max_rel", "mean_rel", "cosine_mean", "cosine_min"):
        assert np.isfinite(logits[k])
    assert 0.9 < logits["cosine_mean"] <= 1.0


def _corrupt(src: Path, dst: Path) -> None:
    """Swap the integer scales of every layer between channels: a plausible-looking but wrong model."""
    model = onnx.load(src)
    for init in model.graph.initializer:
        if init.name.endswith(".S"):
            arr = numpy_helper.to_array(init)[::-1].copy()
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
        if init.name.endswith(".Wq"):
            arr = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array(np.roll(arr, 1, axis=1), init.name))
    onnx.save(model, dst)


def test_corrupted_model_fails_with_reason(llama_pair, tmp_path, capsys):
    orig, rew = llama_pair
    bad = tmp_path / "bad.onnx"
    _corrupt(rew, bad)
    code = main(["validate", str(orig), str(bad), "--shape", "input_ids:2x16", "--int-range", "0,511"])
    out = capsys.readouterr().out
    assert code == 1
    assert "validation FAILED" in out and "cosine mean" in out and "FAIL" in out


def test_encoder_passes_on_real_sentences(minilm_onnx, tmp_path, capsys):
    from encoder import tokenize

    rew = tmp_path / "enc.is.onnx"
    assert main([str(minilm_onnx), "-o", str(rew), "-q"]) == 0
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, **tokenize(SENTENCES))
    code = main(["validate", str(minilm_onnx), str(rew), "--load-inputs", str(feeds)])
    out = capsys.readouterr().out
    assert code == 0, out
    # Polygraphy's JSON input format works too.
    from polygraphy.json import save_json

    js = tmp_path / "feeds.json"
    save_json([tokenize(SENTENCES[:2])], str(js))
    res = validate(minilm_onnx, rew, load_inputs=js)
    assert res.passed and res.iterations == 1 and res.outputs[0].top1 is None


def test_fp16_reference_on_simple_model(tmp_path):
    orig, rew = tmp_path / "mlp.onnx", tmp_path / "mlp.is.onnx"
    onnx.save(ob.two_layer_mlp(256, 128, 64), orig)
    assert main([str(orig), "-o", str(rew), "-q"]) == 0
    res = validate(orig, rew, reference="fp16", shapes={"X": (4, 256)}, float_range=(-1.0, 1.0),
                   tolerances=Tolerances(min_cosine=0.95))
    assert res.passed and res.reference == "fp16" and res.outputs[0].cosine_mean > 0.95


def test_refusals(llama_pair, capsys):
    orig, rew = llama_pair
    assert main(["validate", str(orig), str(rew)]) == 1  # dynamic dims without --shape
    assert "--shape input_ids" in capsys.readouterr().err
    assert main(["validate", str(orig), str(rew), "--shape", "input_ids:1x8", "--backend", "trt"]) == 1
    assert "TensorRT is not available" in capsys.readouterr().err
    assert main(["validate", str(orig), "/nonexistent.onnx"]) == 1
    assert "does not exist" in capsys.readouterr().err
