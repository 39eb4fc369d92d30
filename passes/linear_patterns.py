"""Matching the linear layers of a float model (no rewriting here).

A *linear* is a MatMul or Gemm whose weight is a constant. This module finds
them, resolves their weight to a float array [N, K] through Cast, Transpose
and Identity of constants, picks up a bias (Gemm's C, or a following Add of a
constant [N]), and says why a node cannot be used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32))
try:  # bfloat16 as onnx-graphsurgeon reports it, where ml_dtypes is present
    import ml_dtypes

    FLOAT_DTYPES = FLOAT_DTYPES + (np.dtype(ml_dtypes.bfloat16),)
except ImportError:  # pragma: no cover - ml_dtypes ships with onnx
    pass

# Ops a weight may pass through on its way from a constant to the MatMul.
WEIGHT_PATH_OPS = ("Cast", "Transpose", "Identity")


class Unsupported(Exception):
    """A linear that cannot be rewritten; the message is the report's reason."""


@dataclass
class WeightSource:
    """The constant behind a weight input and how it reaches the node.

    key identifies the float weight [N, K] (constant name plus the path's
    transforms), so that a weight shared by several nodes is quantized once.
    """

    w_nk: np.ndarray
    key: tuple


@dataclass
class Linear:
    """One matched linear layer: ``y = x @ W^T + b`` with W as [N, K]."""

    node: gs.Node
    x: gs.Variable
    y: gs.Variable  # the tensor the IntScaleGemm will produce (after a fused Add)
    weight: WeightSource
    bias: np.ndarray | None
    fused_add: gs.Node | None


def _producer(t: gs.Tensor) -> gs.Node | None:
    return t.inputs[0] if isinstance(t, gs.Variable) and len(t.inputs) == 1 else None


def resolve_constant(t: gs.Tensor) -> tuple[np.ndarray, tuple]:
    """Follow Cast/Transpose/Identity back to a constant.

    Returns (value as float32 in the orientation seen by the consumer, key of
    the constant plus the transforms). Raises Unsupported if the tensor is not
    a constant or reaches one through other ops.
    """
    steps: list = []
    while True:
        if isinstance(t, gs.Constant):
            break
        node = _producer(t)
        if node is None or node.op not in WEIGHT_PATH_OPS:
            what = "graph input" if node is None else f"{node.op} output"
            raise Unsupported(f"non-constant weight ({t.name} is a {what})")
        steps.append(node)
        t = node.inputs[0]
    if t.values.dtype not in FLOAT_DTYPES:
        raise Unsupported(f"unsupported weight dtype {t.values.dtype}")
    value = np.asarray(t.values).astype(np.float32)
    key: list = [t.name]
    for node in reversed(steps):  # apply from the constant outwards
        if node.op == "Transpose":
            perm = node.attrs.get("perm", list(range(value.ndim))[::-1])
            value = np.transpose(value, perm)
            key.append(("T", tuple(perm)))
        elif node.op == "Cast":
            # The value is used as float32 either way; a cast only affects the key.
            key.append(("Cast", node.attrs.get("to")))
        # Identity changes nothing.
    return value, tuple(key)


def _fusable_bias_add(y: gs.Variable, n: int, graph_outputs: set) -> tuple[gs.Node, np.ndarray] | None:
    """The Add of a constant [N] that alone consumes ``y``, with the bias values."""
    if y.name in graph_outputs or len(y.outputs) != 1:
        return None
    add = y.outputs[0]
    if add.op != "Add" or len(add.inputs) != 2:
        return None
    other = add.inputs[1] if add.inputs[0] is y else add.inputs[0]
    if not isinstance(other, gs.Constant):
        return None
    b = np.asarray(other.values)
    if b.dtype not in FLOAT_DTYPES or b.size != n or b.shape[-1] != n:
        return None
    return add, b.reshape(n)


def match_linear(node: gs.Node, graph_outputs: set) -> Linear:
    """Match a MatMul or Gemm with a constant weight; raise Unsupported with the reason."""
    x = node.inputs[0]
    if isinstance(x, gs.Constant):
        raise Unsupported("activation input is a constant")
    if x.dtype is not None and np.dtype(x.dtype) not in FLOAT_DTYPES:
        raise Unsupported(f"unsupported activation dtype {np.dtype(x.dtype)}")
    if node.op == "MatMul":
        w_kn, key = resolve_constant(node.inputs[1])
        if w_kn.ndim != 2:
            raise Unsupported(f"weight is {w_kn.ndim}-D, not 2-D [K, N]")
        w_nk, bias = w_kn.T, None
    elif node.op == "Gemm":
        if int(node.attrs.get("transA", 0)):
            raise Unsupported("Gemm with transA=1")
        w, key = resolve_constant(node.inputs[1])
        trans_b = int(node.attrs.get("transB", 0))
        w_nk = w if trans_b else w.T
        alpha = float(node.attrs.get("alpha", 1.0))
        beta = float(node.attrs.get("beta", 1.0))
        if alpha != 1.0:
            w_nk = w_nk * np.float32(alpha)
        key = key + (("transB", trans_b), ("alpha", alpha))
        bias = None
        if len(node.inputs) > 2 and node.inputs[2] is not None and node.inputs[2].name:
            c = node.inputs[2]
            if not isinstance(c, gs.Constant):
                raise Unsupported("Gemm bias C is not a constant")
            cv = np.asarray(c.values)
            n = w_nk.shape[0]
            if cv.size == 1:
                cv = np.full(n, cv.reshape(()), dtype=cv.dtype)
            elif cv.size != n or cv.shape[-1] != n:
                raise Unsupported(f"Gemm bias C of shape {list(cv.shape)} is not broadcast over rows")
            bias = (cv.reshape(n).astype(np.float32) * np.float32(beta)) if beta != 0 else None
    else:
        raise Unsupported(f"{node.op} is not a linear op")
    y = node.outputs[0]
    fused = None
    if bias is None:
        found = _fusable_bias_add(y, w_nk.shape[0], graph_outputs)
        if found is not None:
            fused, bias = found
            y = fused.outputs[0]
    return Linear(node=node, x=x, y=y, weight=WeightSource(np.ascontiguousarray(w_nk), key), bias=bias, fused_add=fused)


# Ops that may stand between the head linear and a graph output.
HEAD_PASS_OPS = ("Cast", "Reshape", "Identity", "Flatten", "Squeeze", "Unsqueeze", "Add")


def find_heads(graph: gs.Graph, linear_ops=("MatMul", "Gemm")) -> set[str]:
    """Names of the linear nodes treated as the output head.

    The rule: a MatMul/Gemm whose output reaches a graph output through only
    Cast/Reshape/Identity/Flatten/Squeeze/Unsqueeze and a bias Add (for a
    LLaMA-style model that is lm_head producing the logits). A model whose
    outputs come out of other ops (a LayerNorm, a pooling) has no head.
    """
    heads: set[str] = set()
    for out in graph.outputs:
        t = out
        while True:
            node = _producer(t)
            if node is None:
                break
            if node.op in linear_ops:
                heads.add(node.name)
                break
            if node.op not in HEAD_PASS_OPS:
                break
            # follow the non-constant input (for Add: the one that is not the bias)
            var_inputs = [i for i in node.inputs if isinstance(i, gs.Variable)]
            if len(var_inputs) != 1:
                break
            t = var_inputs[0]
    return heads
