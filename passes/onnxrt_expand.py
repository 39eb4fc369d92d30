"""Expand IntScaleGemm nodes into standard ONNX ops (the ``onnxrt`` target).

ONNX Runtime cannot run a node it does not know, so this pass replaces every
IntScaleGemm with a subgraph of standard ops that computes exactly the
contract (DESIGN.md, steps 1-5), op for op the same arithmetic as
``is_export.numerics.int_scale_gemm_reference``:

    xf   = Cast(X, float32) reshaped to [M, K]
    amax = ReduceMax(|xf|, axis 1)                      step 1
    inv  = 127 / amax   (amax == 0 -> 127 / 1; xq is 0 there anyway)
    xq   = Cast(Clip(Round(xf * inv), -127, 127), int8) step 2 (Round: half to even)
    sa   = amax / 127
    q    = unpack(Wq)  int8 [G, gs, N]                  nk_u4x8 -> codes, in-graph
    P    = MatMulInteger(xq as [G, M, gs], q)           step 3, int32 [G, M, N]
    acc  = ReduceSum(P * S^T[G, 1, N], axis 0)          step 4, int32 [M, N]
    Y    = Cast((Cast(acc, float32) * sa) * C (+ B), X's type)   step 5

The 4-bit weights stay packed in the model: they are unpacked by the graph
(BitShift and Sub only, which exist from opset 11 on), so the expansion reads
the very bytes the TensorRT plugin reads. ONNX Runtime constant-folds that
unpacking once at session creation.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from is_export import contract

_MIN_OPSET = 13


class _Builder:
    """Adds nodes for one expanded IntScaleGemm, with names under one prefix."""

    def __init__(self, graph: gs.Graph, prefix: str, opset: int):
        self.graph = graph
        self.prefix = prefix
        self.opset = opset
        self.count = 0

    def _name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}/{hint}_{self.count}"

    def const(self, hint: str, value: np.ndarray) -> gs.Constant:
        return gs.Constant(self._name(hint), np.asarray(value))

    def op(self, op: str, inputs: list, attrs: dict | None = None, dtype=None) -> gs.Variable:
        out = gs.Variable(self._name(op.lower()), dtype=dtype)
        self.graph.nodes.append(
            gs.Node(op=op, name=self._name(op), inputs=inputs, outputs=[out], attrs=attrs or {})
        )
        return out

    def reduce(self, op: str, x: gs.Tensor, axis: int, keepdims: int, dtype) -> gs.Variable:
        """ReduceMax/ReduceSum over one axis, in the form the model's opset takes."""
        takes_axes_input = (op == "ReduceSum" and self.opset >= 13) or self.opset >= 18
        if takes_axes_input:
            axes = self.const("axes", np.array([axis], dtype=np.int64))
            return self.op(op, [x, axes], {"keepdims": keepdims}, dtype)
        return self.op(op, [x], {"axes": [axis], "keepdims": keepdims}, dtype)


def _static_dim(t: gs.Tensor, axis: int) -> int:
    shape = t.shape if t.shape is not None else None
    if shape is None or not isinstance(shape[axis], int):
        raise ValueError(f"IntScaleGemm input {t.name!r} needs a static shape to be expanded")
    return int(shape[axis])


def _unpack_codes(b: _Builder, wq: gs.Tensor, n: int, k: int, gsz: int) -> gs.Variable:
    """In-graph nk_u4x8 unpack: int32 [N, K/8] -> int8 [G, gs, N] (k-major per group).

    nibble_i = (w >> 4i) - ((w >> 4i) >> 4 << 4) on uint32; shifts stay below
    32 (a shift by 32 is undefined in C and in some runtimes).
    """
    u = b.op("Cast", [wq], {"to": onnx.TensorProto.UINT32}, np.uint32)
    u = b.op("Reshape", [u, b.const("shape", np.array([n, k // 8, 1], np.int64))], dtype=np.uint32)
    shifts = b.const("shifts", (4 * np.arange(8, dtype=np.uint32)))
    four = b.const("four", np.array(4, np.uint32))
    hi = b.op("BitShift", [u, shifts], {"direction": "RIGHT"}, np.uint32)  # [N, K/8, 8]
    top = b.op("BitShift", [hi, four], {"direction": "RIGHT"}, np.uint32)
    top = b.op("BitShift", [top, four], {"direction": "LEFT"}, np.uint32)
    nib = b.op("Sub", [hi, top], dtype=np.uint32)
    q = b.op("Cast", [nib], {"to": onnx.TensorProto.INT32}, np.int32)
    q = b.op("Sub", [q, b.const("eight", np.array(8, np.int32))], dtype=np.int32)
    q = b.op("Cast", [q], {"to": onnx.TensorProto.INT8}, np.int8)
    q = b.op("Reshape", [q, b.const("shape", np.array([n, k // gsz, gsz], np.int64))], dtype=np.int8)
    return b.op("Transpose", [q], {"perm": [1, 2, 0]}, np.int8)


def expand_node(graph: gs.Graph, node: gs.Node, opset: int, float_scales: np.ndarray | None = None) -> None:
    """Replace one IntScaleGemm node of ``graph`` by its standard-op subgraph.

    float_scales: float32 [N, G]; when given, the subgraph computes the paper's
    float-scale *baseline* instead (``Y = sa * sum_g float(P) * s``, S and C
    unused). That form is for accuracy comparisons only (is_export.eval_variants).
    """
    gsz = int(node.attrs.get("group_size", contract.DEFAULT_GROUP_SIZE))
    layout = node.attrs.get("layout", contract.LAYOUT_NK_U4X8)
    if layout != contract.LAYOUT_NK_U4X8:
        raise ValueError(f"{node.name}: layout {layout!r} has no ONNX expansion")
    x, wq, s, c = node.inputs[: contract.IN_B]
    bias = node.inputs[contract.IN_B] if len(node.inputs) > contract.IN_B else None
    y = node.outputs[0]
    n, k = _static_dim(wq, 0), _static_dim(wq, 1) * 8
    g = k // gsz
    b = _Builder(graph, f"{node.name}/ort", opset)
    f32 = onnx.TensorProto.FLOAT

    # Steps 1-2: per-token int8 activations, float32 arithmetic throughout.
    xf = b.op("Cast", [x], {"to": f32}, np.float32)
    x2 = b.op("Reshape", [xf, b.const("shape", np.array([-1, k], np.int64))], dtype=np.float32)
    amax = b.reduce("ReduceMax", b.op("Abs", [x2], dtype=np.float32), 1, 1, np.float32)
    zero = b.op("Equal", [amax, b.const("zero", np.array(0, np.float32))], dtype=bool)
    den = b.op("Where", [zero, b.const("one", np.array(1, np.float32)), amax], dtype=np.float32)
    c127 = b.const("c127", np.array(contract.XQ_MAX, np.float32))
    inv = b.op("Div", [c127, den], dtype=np.float32)
    r = b.op("Round", [b.op("Mul", [x2, inv], dtype=np.float32)], dtype=np.float32)
    lo, hi = b.const("lo", np.array(-contract.XQ_MAX, np.float32)), b.const("hi", np.array(contract.XQ_MAX, np.float32))
    xq = b.op("Cast", [b.op("Clip", [r, lo, hi], dtype=np.float32)], {"to": onnx.TensorProto.INT8}, np.int8)
    sa = b.op("Div", [amax, c127], dtype=np.float32)

    # Step 3: per-group int32 partial sums, groups as the batch dim of MatMulInteger.
    xg = b.op("Reshape", [xq, b.const("shape", np.array([-1, g, gsz], np.int64))], dtype=np.int8)
    xg = b.op("Transpose", [xg], {"perm": [1, 0, 2]}, np.int8)
    p = b.op("MatMulInteger", [xg, _unpack_codes(b, wq, n, k, gsz)], dtype=np.int32)

    if float_scales is None:
        # Step 4: integer scales, summed over groups in int32.
        st = b.op("Transpose", [s], {"perm": [1, 0]}, np.int32)
        st = b.op("Reshape", [st, b.const("shape", np.array([g, 1, n], np.int64))], dtype=np.int32)
        acc = b.reduce("ReduceSum", b.op("Mul", [p, st], dtype=np.int32), 0, 0, np.int32)
        # Step 5: one conversion to float per output, then (acc * sa) * C (+ B).
        yf = b.op("Mul", [b.op("Cast", [acc], {"to": f32}, np.float32), sa], dtype=np.float32)
        yf = b.op("Mul", [yf, c], dtype=np.float32)
    else:
        # Baseline: every group's partial sum converted to float and scaled by a float scale.
        sf = b.const("s_float", np.ascontiguousarray(np.asarray(float_scales, np.float32).T.reshape(g, 1, n)))
        pf = b.op("Mul", [b.op("Cast", [p], {"to": f32}, np.float32), sf], dtype=np.float32)
        yf = b.op("Mul", [b.reduce("ReduceSum", pf, 0, 0, np.float32), sa], dtype=np.float32)
    if bias is not None:
        yf = b.op("Add", [yf, b.op("Cast", [bias], {"to": f32}, np.float32)], dtype=np.float32)
    y_dtype = x.dtype if x.dtype is not None else y.dtype
    out_type = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(y_dtype))
    yt = b.op("Cast", [yf], {"to": out_type}, y_dtype)

    # Restore X's leading dims: Y shape = X.shape[:-1] + [N].
    lead = b.op(
        "Slice",
        [b.op("Shape", [x], dtype=np.int64), b.const("start", np.array([0], np.int64)),
         b.const("end", np.array([-1], np.int64)), b.const("axis", np.array([0], np.int64))],
        dtype=np.int64,
    )
    shape = b.op("Concat", [lead, b.const("n", np.array([n], np.int64))], {"axis": 0}, np.int64)
    graph.nodes.append(gs.Node(op="Reshape", name=f"{node.name}/ort/out", inputs=[yt, shape], outputs=[y]))
    node.outputs.clear()
    node.inputs.clear()


def expand_intscale_nodes(graph: gs.Graph) -> int:
    """Expand every IntScaleGemm node of ``graph`` in place; returns how many.

    The graph is cleaned up and topologically sorted afterwards. Raises
    ValueError if the model's default-domain opset is below 13.
    """
    nodes = [nd for nd in graph.nodes if nd.op == contract.OP_TYPE]
    if not nodes:
        return 0
    opset = int(graph.opset or 0)
    if opset < _MIN_OPSET:
        raise ValueError(f"the onnxrt expansion needs opset >= {_MIN_OPSET}, the model has {opset}")
    for node in nodes:
        expand_node(graph, node, opset)
    graph.cleanup().toposort()
    return len(nodes)


def expand_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of ``model`` with every IntScaleGemm expanded to standard ops.

    Metadata is kept; the custom domain's opset import is dropped once no node
    of that domain is left.
    """
    graph = gs.import_onnx(model)
    expand_intscale_nodes(graph)
    out = gs.export_onnx(graph, do_type_check=False)
    out.ir_version = model.ir_version
    del out.metadata_props[:]
    out.metadata_props.extend(model.metadata_props)
    if not any(n.domain == contract.DOMAIN for n in out.graph.node):
        keep = [o for o in out.opset_import if o.domain != contract.DOMAIN]
        del out.opset_import[:]
        out.opset_import.extend(keep)
    return out
