"""Plug-and-play: 4-bit ONNX models made by other tools become IntScaleGemm.

Sources: ONNX Runtime's MatMulNBitsQuantizer (MatMulNBits and QDQ formats,
symmetric and asymmetric) on the tiny LLaMA export, and a QDQ INT4 model laid
out as NVIDIA ModelOpt's INT4 export writes it (built with onnx.helper).
For symmetric sources the method's own codes are kept: the only weight change
is float -> integer scale, measured per layer (relative error of the
dequantized weights <= 1%), and the outputs match the source within that plus
the per-token INT8 activations.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from is_export import contract
from is_export.exporter import export_graph
from is_export.model_io import load_model
from is_export.numerics import Amplifier
from is_export.options import ExportOptions

mq = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")
from onnxruntime.quantization import QuantFormat  # noqa: E402

LINEARS = 15  # 2 layers x 7 projections + lm_head of the tiny LLaMA


def _run(model, ids):
    out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids})[0]
    return out.reshape(-1, out.shape[-1]).astype(np.float64)


def _cos(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def llama_model(tiny_llama_onnx):
    return load_model(tiny_llama_onnx)


def _ort_quantized(model, fmt, symmetric, block=128):
    logging.disable(logging.WARNING)
    try:
        q = mq.MatMulNBitsQuantizer(copy.deepcopy(model), algo_config=mq.DefaultWeightOnlyQuantConfig(
            block_size=block, is_symmetric=symmetric, quant_format=fmt))
        q.process()
        return q.model.model
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("fmt,importer", [(QuantFormat.QOperator, "matmulnbits"), (QuantFormat.QDQ, "qdq")])
def test_symmetric_sources_keep_codes(llama_model, fmt, importer):
    src = _ort_quantized(llama_model, fmt, symmetric=True)
    trt, rep = export_graph(src, ExportOptions(progress=False))
    assert [r.importer for r in rep.rewritten] == [importer] * LINEARS
    ops = [n.op_type for n in trt.graph.node]
    assert ops.count(contract.OP_TYPE) == LINEARS and "MatMulNBits" not in ops and "DequantizeLinear" not in ops
    assert all(o.domain != "com.microsoft" for o in trt.opset_import)
    for r in rep.rewritten:
        assert r.extra["requantized_asymmetric_groups"] == 0 and r.extra["source_block_size"] == 128
        assert r.extra["weight_rel_error_vs_source"] <= 0.01  # the float -> integer scale conversion alone
    ids = np.random.default_rng(0).integers(0, 512, (2, 16)).astype(np.int64)
    ort_model, _ = export_graph(src, ExportOptions(progress=False, target="onnxrt"))
    a, b = _run(src, ids), _run(ort_model, ids)
    # Measured: cosine >= 0.9997 (the remaining difference is the INT8 activations).
    assert _cos(a, b).min() > 0.999


@pytest.mark.parametrize("fmt", [QuantFormat.QOperator, QuantFormat.QDQ])
def test_asymmetric_sources_are_requantized_and_counted(llama_model, fmt):
    src = _ort_quantized(llama_model, fmt, symmetric=False)
    ort_model, rep = export_graph(src, ExportOptions(progress=False, target="onnxrt"))
    assert len(rep.rewritten) == LINEARS
    total = sum(r.extra["requantized_asymmetric_groups"] for r in rep.rewritten)
    assert total > 0 and all(r.extra["groups"] >= r.extra["requantized_asymmetric_groups"] for r in rep.rewritten)
    # Re-quantized groups cost a fresh symmetric RTN: measured <= 9.5% relative weight error.
    assert max(r.extra["weight_rel_error_vs_source"] for r in rep.rewritten) < 0.15
    ids = np.random.default_rng(1).integers(0, 512, (2, 16)).astype(np.int64)
    assert _cos(_run(src, ids), _run(ort_model, ids)).mean() > 0.95


def test_unsupported_block_size_is_skipped_with_reason(llama_model):
    from is_export.errors import ExportError

    src = _ort_quantized(llama_model, QuantFormat.QOperator, symmetric=True, block=16)
    # Every linear is a MatMulNBits with block 16: nothing is left to rewrite, and the error says why.
    with pytest.raises(ExportError, match="block size 16 is not supported by IntScaleGemm"):
        export_graph(src, ExportOptions(progress=False))


def modelopt_int4_model(k=256, n=96, block=128, seed=0, zero_point=False):
    """X @ DequantizeLinear(W_i4, W_scale[, W_zp]) laid out as ModelOpt's INT4 export writes it."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, n)).astype(np.float32) * 0.05
    wb = w.reshape(k // block, block, n)
    scale = (np.abs(wb).max(axis=1) / 7).astype(np.float32)  # [K/block, N]
    codes = np.clip(np.rint(wb / scale[:, None, :]), -8, 7).astype(np.int8).reshape(k, n)
    if zero_point:
        tw = helper.make_tensor("W_i4", TensorProto.UINT4, [k, n], (codes + 8).astype(np.uint8).flatten().tolist())
        zp = helper.make_tensor("W_zp", TensorProto.UINT4, [k // block, n], [8] * (k // block * n))
        dq_in = ["W_i4", "W_scale", "W_zp"]
        inits = [tw, numpy_helper.from_array(scale, "W_scale"), zp]
    else:
        tw = helper.make_tensor("W_i4", TensorProto.INT4, [k, n], codes.flatten().tolist())
        dq_in = ["W_i4", "W_scale"]
        inits = [tw, numpy_helper.from_array(scale, "W_scale")]
    nodes = [helper.make_node("DequantizeLinear", dq_in, ["W_DequantizeLinear_Output"], name="W_DequantizeLinear",
                              axis=0, block_size=block),
             helper.make_node("MatMul", ["X", "W_DequantizeLinear_Output"], ["Y"], name="proj")]
    graph = helper.make_graph(nodes, "modelopt_int4", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["m", n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model, codes, scale


@pytest.mark.parametrize("zero_point", [False, True])
def test_modelopt_layout(zero_point):
    model, codes, scale = modelopt_int4_model(zero_point=zero_point)
    trt, rep = export_graph(model, ExportOptions(progress=False))
    (r,) = rep.rewritten
    assert r.importer == "qdq" and r.extra["weight_rel_error_vs_source"] <= 0.01
    # The codes are the source's own, only the scales changed.
    from is_export.numerics import unpack_nk_u4x8

    wq = next(numpy_helper.to_array(t) for t in trt.graph.initializer if t.name.endswith(".Wq"))
    np.testing.assert_array_equal(unpack_nk_u4x8(wq), codes.T)
    x = np.random.default_rng(3).standard_normal((4, 256)).astype(np.float32)
    ort_model, _ = export_graph(model, ExportOptions(progress=False, target="onnxrt"))
    src_y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    y = ort.InferenceSession(ort_model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    assert np.linalg.norm(y - src_y) / np.linalg.norm(src_y) < 0.02


def test_negative_scales_become_negative_integer_scales():
    """ONNX Runtime's symmetric quantizer writes negative scales; S keeps the sign."""
    from is_export.numerics import integer_scales

    S, C = integer_scales(np.array([[-0.5, 0.25, -1e-9]], np.float32), 256, Amplifier("safe"))
    assert S[0, 0] < 0 < S[0, 1] and S[0, 2] == -1 and (C > 0).all()
