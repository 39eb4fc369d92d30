"""Importer of QDQ weight-only blocks:
``DequantizeLinear(INT4/UINT4 W, scale, zero_point?, axis, block_size) -> (Transpose?) -> MatMul``.

That is what ONNX Runtime's MatMulNBitsQuantizer writes with
quant_format=QDQ (W [K, N], axis 0) and what NVIDIA ModelOpt's INT4 ONNX
export writes (modelopt/onnx/quantization/qdq_utils.py: weight ``<w>_i4``
INT4 [K, N] without zero point, or UINT4 with one, scale ``<w>_scale``
[K/block, N], DequantizeLinear attributes axis=0 and block_size, feeding the
MatMul; TRT_INT4DequantizeLinear when TensorRT's custom QDQ names are used).
A [N, K] weight blocked along axis 1 and followed by Transpose is accepted too.
The block axis must be K of the MatMul.
Codes: INT4 is symmetric with zero point 0 (or none), UINT4 with zero point 8.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from is_export.options import ExportOptions
from is_export.report import LayerRecord

from .import_common import block_size_problem, import_codes, replace_with_intscale

FOUR_BIT = ("int4", "uint4")
# ModelOpt names its DQ node TRT_INT4DequantizeLinear when asked for TensorRT's custom QDQ ops.
DQ_OPS = ("DequantizeLinear", "TRT_INT4DequantizeLinear")


def _is_4bit_const(t) -> bool:
    return isinstance(t, gs.Constant) and str(t.values.dtype) in FOUR_BIT


def _single_consumer(t: gs.Tensor) -> gs.Node | None:
    return t.outputs[0] if len(t.outputs) == 1 else None


def rewrite(graph: gs.Graph, opts: ExportOptions) -> list[LayerRecord]:
    """Turn DQ(4-bit)->(Transpose)->MatMul weight paths into IntScaleGemm; one record per such MatMul."""
    records = []
    for dq in [n for n in graph.nodes if n.op in DQ_OPS and _is_4bit_const(n.inputs[0])]:
        w_t = dq.outputs[0]
        nxt = _single_consumer(w_t)
        transposed = False
        if nxt is not None and nxt.op == "Transpose":
            perm = list(nxt.attrs.get("perm", [1, 0]))
            if perm != [1, 0]:
                continue
            transposed, w_t, nxt = True, nxt.outputs[0], _single_consumer(nxt.outputs[0])
        if nxt is None or nxt.op != "MatMul" or nxt.inputs[1] is not w_t:
            continue
        mm = nxt
        raw = dq.inputs[0].values
        midpoint = 0 if str(raw.dtype) == "int4" else 8
        codes = raw.astype(np.int32)
        if codes.ndim != 2:
            records.append(LayerRecord(node=mm.name, op="MatMul", status="skipped", importer="qdq",
                                       reason=f"{codes.ndim}-D quantized weight"))
            continue
        block = int(dq.attrs.get("block_size", 0))
        axis = int(dq.attrs.get("axis", 1)) % 2
        k_axis = 1 if transposed else 0  # the axis of the DQ output that is K of the MatMul
        skip = None
        if block == 0 or axis != k_axis:
            skip = "DequantizeLinear is not blocked along K"
        elif not isinstance(dq.inputs[1], gs.Constant):
            skip = "non-constant scale"
        else:
            skip = block_size_problem(block)
        if skip:
            records.append(LayerRecord(node=mm.name, op="MatMul", status="skipped", importer="qdq", reason=skip))
            continue
        scale = np.asarray(dq.inputs[1].values, dtype=np.float32)
        zp_t = dq.inputs[2] if len(dq.inputs) > 2 else None
        zp = (np.asarray(zp_t.values).astype(np.int32) if isinstance(zp_t, gs.Constant)
              else np.full(scale.shape, 0, np.int32))
        # Orient everything as [N, K] codes and [N, G] scales.
        if k_axis == 0:  # DQ output is [K, N], blocks along axis 0
            codes_nk, s_ng, zp_ng = codes.T, scale.T, zp.T
        else:  # DQ output is [N, K], blocks along axis 1
            codes_nk, s_ng, zp_ng = codes, scale, zp
        imported = import_codes(np.ascontiguousarray(codes_nk), zp_ng, s_ng, midpoint, block, opts)
        x, y = mm.inputs[0], mm.outputs[0]
        mm.inputs.clear()
        mm.outputs.clear()
        records.append(replace_with_intscale(graph, mm.name, "MatMul", "qdq", x, y, imported, None, block))
    return records
