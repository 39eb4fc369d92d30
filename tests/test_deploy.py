"""The deployment API: the ONNX Runtime path end to end; the TensorRT path as
far as it runs without TensorRT (profiles, trtexec line, a clear error)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from is_export import deploy
from is_export.errors import ExportError


def test_profile_shapes():
    prof = deploy.trt_profile_shapes({"input_ids": ((1, 1), (1, 64), (8, 256)), "mask": (2, 16)})
    assert prof["input_ids"] == ((1, 1), (1, 64), (8, 256))
    assert prof["mask"] == ((2, 16),) * 3
    with pytest.raises(ExportError, match="min <= opt <= max"):
        deploy.trt_profile_shapes({"x": ((4, 4), (2, 4), (8, 4))})
    with pytest.raises(ExportError, match="positive"):
        deploy.trt_profile_shapes({"x": (0, 4)})


def test_trtexec_command():
    cmd = deploy.trtexec_command("m.is.onnx", "m.plan", {"input_ids": ((1, 1), (1, 64), (8, 256))}, "libis_plugins_dynamic.so")
    assert cmd.startswith("trtexec --onnx=m.is.onnx --saveEngine=m.plan --fp16 --dynamicPlugins=libis_plugins_dynamic.so")
    assert "--minShapes=input_ids:1x1" in cmd and "--optShapes=input_ids:1x64" in cmd and "--maxShapes=input_ids:8x256" in cmd


def test_tensorrt_paths_say_what_to_install(tmp_path):
    try:
        import tensorrt  # noqa: F401

        has_trt = hasattr(tensorrt, "Builder")
    except Exception:
        has_trt = False
    if has_trt:
        pytest.skip("TensorRT is installed here: the error path does not apply")
    with pytest.raises(deploy.TensorRTUnavailable, match="pip install tensorrt"):
        deploy.build_trt_engine(tmp_path / "m.onnx", tmp_path / "m.plan", {"x": (1, 128)})
    with pytest.raises(deploy.TensorRTUnavailable):
        deploy.TrtSession(tmp_path / "m.plan")


def test_quantize_and_ort_session(tiny_llama_onnx, tmp_path):
    trt_model = tmp_path / "m.is.onnx"
    report = deploy.quantize(tiny_llama_onnx, trt_model, progress=False)
    assert len(report.rewritten) == 15
    sess = deploy.OrtSession(trt_model)  # expands IntScaleGemm in memory
    ids = np.random.default_rng(1).integers(0, 512, (2, 12)).astype(np.int64)
    got = sess.run({"input_ids": ids})["logits"]
    ort_model = tmp_path / "m.ort.onnx"
    deploy.quantize(tiny_llama_onnx, ort_model, target="onnxrt", progress=False)
    expect = ort.InferenceSession(str(ort_model), providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids})[0]
    np.testing.assert_array_equal(got, expect)
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(sess.run({"input_ids": torch.from_numpy(ids)})["logits"], expect)
