"""Each graph pattern of the float rewrite, end to end: the rewritten model, run
by ONNX Runtime through the onnxrt expansion, equals the NumPy reference of the
contract applied to the same weight, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from is_export import contract
from is_export.errors import ExportError
from is_export.exporter import export_graph
from is_export.numerics import Amplifier, int_scale_gemm_reference, quantize_weight
from is_export.options import ExportOptions
from tests import onnx_builders as ob

OPTS = dict(progress=False)


def _expected(x, w_nk, bias=None, group_size=128, amplifier=Amplifier("safe")):
    iw = quantize_weight(w_nk, group_size, amplifier)
    b = None if bias is None else bias.astype(x.dtype)
    return int_scale_gemm_reference(x, iw.packed(), iw.S, iw.C, b, group_size)


def _export(model, **kw):
    return export_graph(model, ExportOptions(**{**OPTS, **kw}))


def _ops(model):
    return [n.op_type for n in model.graph.node]


@pytest.mark.parametrize("x_shape", [("m", None), ("b", "s", None), (2, 3, 5, None)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_matmul_any_rank(x_shape, dtype):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((256, 40)) * 0.1).astype(dtype)
    model = ob.matmul(w, dtype, x_shape)
    trt, rep = _export(model)
    assert _ops(trt) == [contract.OP_TYPE] and len(rep.rewritten) == 1
    node = trt.graph.node[0]
    assert node.domain == contract.DOMAIN
    assert {a.name for a in node.attribute} >= {"group_size", "w_bits", "a_bits", "layout", "plugin_version"}
    ort_model, _ = _export(model, target="onnxrt")
    shape = [d if isinstance(d, int) else 3 for d in x_shape[:-1]] + [256]
    x = rng.standard_normal(shape).astype(dtype)
    y = ob.run_ort(ort_model, {"X": x})[0]
    np.testing.assert_array_equal(y, _expected(x, w.astype(np.float32).T))


@pytest.mark.parametrize("via", ["cast", "transpose", "identity"])
def test_weight_through_cast_transpose_identity(via):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((128, 24)) * 0.1).astype(np.float32)
    model = ob.matmul(w, np.float32, via=via)
    out, rep = _export(model, target="onnxrt")
    assert len(rep.rewritten) == 1 and not any(n.op_type in ("MatMul", via.title()) for n in out.graph.node
                                               if n.name in ("mm",))
    x = rng.standard_normal((4, 128)).astype(np.float32)
    np.testing.assert_array_equal(ob.run_ort(out, {"X": x})[0], _expected(x, w.T))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_matmul_add_bias_fused(dtype):
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((256, 33)) * 0.1).astype(dtype)
    b = rng.standard_normal(33).astype(dtype)
    model = ob.matmul(w, dtype, bias=b)
    trt, rep = _export(model)
    assert _ops(trt) == [contract.OP_TYPE] and len(trt.graph.node[0].input) == 5
    assert rep.rewritten[0].extra["fused_bias_add"] == "mm_bias"
    out, _ = _export(model, target="onnxrt")
    x = rng.standard_normal((5, 256)).astype(dtype)
    np.testing.assert_array_equal(ob.run_ort(out, {"X": x})[0], _expected(x, w.astype(np.float32).T, b))


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("alpha,beta,with_c", [(1.0, 1.0, False), (0.5, 2.0, True), (1.0, 1.0, True)])
def test_gemm(trans_b, alpha, beta, with_c):
    rng = np.random.default_rng(3)
    w_nk = (rng.standard_normal((48, 256)) * 0.1).astype(np.float32)
    w = w_nk if trans_b else np.ascontiguousarray(w_nk.T)
    c = rng.standard_normal(48).astype(np.float32) if with_c else None
    model = ob.gemm(w, trans_b, alpha, beta, c)
    out, rep = _export(model, target="onnxrt")
    assert len(rep.rewritten) == 1
    x = rng.standard_normal((6, 256)).astype(np.float32)
    bias = None if c is None else c * np.float32(beta)
    np.testing.assert_array_equal(ob.run_ort(out, {"X": x})[0], _expected(x, w_nk * np.float32(alpha), bias))


def test_shared_weight_quantized_once():
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((128, 16)) * 0.1).astype(np.float32)
    trt, rep = _export(ob.shared_weight(w))
    assert [n.op_type for n in trt.graph.node].count(contract.OP_TYPE) == 2
    assert sum(t.name.endswith(".Wq") for t in trt.graph.initializer) == 1
    assert rep.rewritten[1].extra["shares_weight_with"] == rep.rewritten[0].node
    out, _ = _export(ob.shared_weight(w), target="onnxrt")
    x1, x2 = rng.standard_normal((2, 3, 128)).astype(np.float32)
    expect = _expected(x1, w.T) + _expected(x2, w.T)
    np.testing.assert_array_equal(ob.run_ort(out, {"X1": x1, "X2": x2})[0], expect)


def test_skip_k_not_divisible_by_group():
    rng = np.random.default_rng(5)
    model = ob.two_layer_mlp(200, 256, 64)
    _, rep = _export(model)
    fc1 = next(r for r in rep.layers if r.node == "fc1")
    assert fc1.status == "skipped" and "K=200 is not divisible by the group size 128" in fc1.reason
    assert next(r for r in rep.layers if r.node == "head").status == "rewritten"
    del rng


def test_skip_non_constant_weight_and_unsupported_dtype():
    from onnx import helper

    from tests.onnx_builders import _model, _vi

    w64 = np.ones((128, 8), np.float64)
    nodes = [helper.make_node("MatMul", ["X", "Wv"], ["A"], name="dyn"),
             helper.make_node("MatMul", ["X64", "W64"], ["B"], name="f64"),
             helper.make_node("MatMul", ["X", "W"], ["C"], name="ok")]
    model = _model(nodes, [_vi("X", np.float32, [2, 128]), _vi("Wv", np.float32, [128, 8]), _vi("X64", np.float64, [2, 128])],
                   [_vi("A", np.float32, [2, 8]), _vi("B", np.float64, [2, 8]), _vi("C", np.float32, [2, 8])],
                   {"W64": w64, "W": np.ones((128, 8), np.float32)})
    _, rep = _export(model)
    reasons = {r.node: r.reason for r in rep.skipped}
    assert "non-constant weight" in reasons["dyn"]
    assert "unsupported activation dtype float64" in reasons["f64"]
    assert [r.node for r in rep.rewritten] == ["ok"]


def test_exclude_regex_and_head():
    model = ob.two_layer_mlp(256, 128, 64)
    _, rep = _export(model, exclude=["^fc"])
    assert {r.node: r.status for r in rep.layers} == {"fc1": "skipped", "head": "rewritten"}
    assert next(r for r in rep.layers if r.node == "head").is_head
    _, rep = _export(model, keep_head=True)
    head = next(r for r in rep.layers if r.node == "head")
    assert head.status == "skipped" and head.is_head and "--keep-head" in head.reason


def test_nothing_to_rewrite_raises():
    with pytest.raises(ExportError, match="nothing to rewrite"):
        _export(ob.no_linear())
    with pytest.raises(ExportError, match="nothing to rewrite.*excluded"):
        _export(ob.two_layer_mlp(256, 128, 64), exclude=[".*"])


def test_metadata_opset_and_shape_inference():
    import json

    import onnx

    trt, rep = _export(ob.two_layer_mlp(256, 128, 64), amplifier=Amplifier("pow2", 10))
    meta = {p.key: p.value for p in trt.metadata_props}
    settings = json.loads(meta[contract.METADATA_KEY])
    assert settings["amplifier"] == "pow2:10" and settings["group_size"] == 128 and settings["rewritten"] == 2
    assert (contract.DOMAIN, contract.DOMAIN_VERSION) in [(o.domain, o.version) for o in trt.opset_import]
    onnx.checker.check_model(trt)
    inferred = onnx.shape_inference.infer_shapes(trt, check_type=True, strict_mode=True)
    assert inferred.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    ort_model, _ = _export(ob.two_layer_mlp(256, 128, 64), target="onnxrt")
    assert all(o.domain != contract.DOMAIN for o in ort_model.opset_import)
    onnx.shape_inference.infer_shapes(ort_model, check_type=True, strict_mode=True)


def test_pow2_amplifier_report_flags_overflow_risk():
    model = ob.matmul((np.ones((4096, 8)) * 4).astype(np.float32))
    _, rep = _export(model, amplifier=Amplifier("pow2", 10))
    r = rep.rewritten[0]
    assert r.amplifier == "pow2:10" and r.may_overflow and r.acc_bound > 2**31 - 1
    _, rep = _export(model)
    assert not rep.rewritten[0].may_overflow
