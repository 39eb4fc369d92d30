"""The bar of the exporter on a LLaMA-architecture model exported by
torch.onnx.export(dynamo=True): every projection is rewritten, and the onnxrt
target runs in ONNX Runtime with logits close to the FP32 model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from is_export.cli import main

LAYERS = 2
PROJECTIONS_PER_LAYER = 7  # q, k, v, o, gate, up, down


def _logits(path, ids):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input_ids": ids})[0]
    return out.reshape(-1, out.shape[-1]).astype(np.float64)


@pytest.fixture(scope="module")
def exported(tiny_llama_onnx, tmp_path_factory):
    d = tmp_path_factory.mktemp("tl_out")
    trt, ortm, rep = d / "m.is.onnx", d / "m.ort.onnx", d / "r.json"
    assert main([str(tiny_llama_onnx), "-o", str(trt), "--report", str(rep), "-q"]) == 0
    assert main([str(tiny_llama_onnx), "-o", str(ortm), "--target", "onnxrt", "-q"]) == 0
    return trt, ortm, json.loads(rep.read_text())


def test_every_projection_rewritten(exported):
    trt, _, rep = exported
    rewritten = [r for r in rep["layers"] if r["status"] == "rewritten"]
    assert len(rewritten) == LAYERS * PROJECTIONS_PER_LAYER + 1  # + lm_head
    heads = [r["node"] for r in rewritten if r["is_head"]]
    assert len(heads) == 1
    # What is skipped are the attention MatMuls of two activations, never a weight.
    assert all("non-constant weight" in r["reason"] for r in rep["layers"] if r["status"] == "skipped")
    ops = [n.op_type for n in onnx.load(trt).graph.node]
    assert ops.count("IntScaleGemm") == len(rewritten)
    assert ops.count("MatMul") == 2 * LAYERS


def test_onnxrt_target_logits_close_to_fp32(tiny_llama_onnx, exported):
    _, ortm, _ = exported
    ids = np.random.default_rng(0).integers(0, 512, (3, 24)).astype(np.int64)
    ref, got = _logits(tiny_llama_onnx, ids), _logits(ortm, ids)
    cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
    max_abs = np.abs(ref - got).max()
    print(f"tiny LLaMA W4A8 vs FP32: cosine min {cos.min():.4f} mean {cos.mean():.4f}, max abs {max_abs:.4f}")
    # Random-weight model, 15 W4A8 layers at ~18.6 dB weight SQNR each: measured
    # cosine 0.94 min / 0.955 mean, max abs 0.42 on logits of magnitude ~1.2.
    assert cos.min() > 0.9 and cos.mean() > 0.93
    assert max_abs < 0.8


def test_keep_head(tiny_llama_onnx, tmp_path):
    rep = tmp_path / "r.json"
    assert main([str(tiny_llama_onnx), "-o", str(tmp_path / "k.onnx"), "--keep-head", "--report", str(rep), "-q"]) == 0
    layers = json.loads(rep.read_text())["layers"]
    head = [r for r in layers if r["is_head"]]
    assert len(head) == 1 and head[0]["status"] == "skipped"
    assert sum(r["status"] == "rewritten" for r in layers) == LAYERS * PROJECTIONS_PER_LAYER
