"""Tiny float ONNX models with one linear pattern each, built with onnx.helper."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 18


def _model(nodes, inputs, outputs, inits) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    return model


def _vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)


def matmul(w_kn: np.ndarray, dtype=np.float32, x_shape=("m", None), via: str = "", bias: np.ndarray | None = None,
           name: str = "mm") -> onnx.ModelProto:
    """Y = X @ W (+ bias via Add). via: '' | 'cast' | 'transpose' | 'identity' on the weight path."""
    k, n = w_kn.shape
    x_shape = [d if d is not None else k for d in x_shape]
    nodes, inits = [], {}
    if via == "transpose":
        inits["W"] = np.ascontiguousarray(w_kn.T.astype(dtype))
        nodes.append(helper.make_node("Transpose", ["W"], ["Wt"], perm=[1, 0]))
        w_in = "Wt"
    elif via == "cast":
        inits["W"] = w_kn.astype(np.float32)
        nodes.append(helper.make_node("Cast", ["W"], ["Wc"], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype))))
        w_in = "Wc"
    elif via == "identity":
        inits["W"] = w_kn.astype(dtype)
        nodes.append(helper.make_node("Identity", ["W"], ["Wi"]))
        w_in = "Wi"
    else:
        inits["W"] = w_kn.astype(dtype)
        w_in = "W"
    out = "Y" if bias is None else "XW"
    nodes.append(helper.make_node("MatMul", ["X", w_in], [out], name=name))
    if bias is not None:
        inits["Bias"] = bias.astype(dtype)
        nodes.append(helper.make_node("Add", ["XW", "Bias"], ["Y"], name=name + "_bias"))
    y_shape = x_shape[:-1] + [n]
    return _model(nodes, [_vi("X", dtype, x_shape)], [_vi("Y", dtype, y_shape)], inits)


def gemm(w: np.ndarray, trans_b: int, alpha: float = 1.0, beta: float = 1.0, c: np.ndarray | None = None,
         dtype=np.float32) -> onnx.ModelProto:
    """Y = alpha * X @ op(W) + beta * C for a 2-D X [m, K]."""
    k = w.shape[1] if trans_b else w.shape[0]
    n = w.shape[0] if trans_b else w.shape[1]
    inits = {"W": w.astype(dtype)}
    ins = ["X", "W"]
    if c is not None:
        inits["C"] = c.astype(dtype)
        ins.append("C")
    node = helper.make_node("Gemm", ins, ["Y"], name="gemm", transB=trans_b, alpha=alpha, beta=beta)
    return _model([node], [_vi("X", dtype, ["m", k])], [_vi("Y", dtype, ["m", n])], inits)


def shared_weight(w_kn: np.ndarray) -> onnx.ModelProto:
    """Two MatMuls reading the same weight: Y = X1 @ W + X2 @ W."""
    k, n = w_kn.shape
    nodes = [
        helper.make_node("MatMul", ["X1", "W"], ["A"], name="mm_a"),
        helper.make_node("MatMul", ["X2", "W"], ["B"], name="mm_b"),
        helper.make_node("Add", ["A", "B"], ["Y"], name="sum"),
    ]
    return _model(nodes, [_vi("X1", np.float32, ["m", k]), _vi("X2", np.float32, ["m", k])],
                  [_vi("Y", np.float32, ["m", n])], {"W": w_kn.astype(np.float32)})


def two_layer_mlp(k: int, hidden: int, n: int, seed: int = 0) -> onnx.ModelProto:
    """X -> MatMul(W1) -> Relu -> MatMul(W2) -> Y; the second MatMul is the head."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((k, hidden)).astype(np.float32) * 0.05
    w2 = rng.standard_normal((hidden, n)).astype(np.float32) * 0.05
    nodes = [
        helper.make_node("MatMul", ["X", "W1"], ["H"], name="fc1"),
        helper.make_node("Relu", ["H"], ["R"], name="relu"),
        helper.make_node("MatMul", ["R", "W2"], ["Y"], name="head"),
    ]
    return _model(nodes, [_vi("X", np.float32, ["m", k])], [_vi("Y", np.float32, ["m", n])], {"W1": w1, "W2": w2})


def no_linear() -> onnx.ModelProto:
    return _model([helper.make_node("Relu", ["X"], ["Y"])], [_vi("X", np.float32, [2, 4])],
                  [_vi("Y", np.float32, [2, 4])], {})


def run_ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)
