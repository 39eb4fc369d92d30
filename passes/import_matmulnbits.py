"""Importer of ONNX Runtime's ``com.microsoft::MatMulNBits`` (bits = 4).

Layout read (onnxruntime contrib op MatMulNBits and its quantizer):
B uint8 [N, n_blocks, block_size/2], two codes per byte, the low nibble first
(k = 2b in the low nibble); scales [N, n_blocks] or flat [N * n_blocks];
zero_points uint8 [N, ceil(n_blocks/2)] packed the same way (default 8 when
absent), or of the scales' type (unpacked); optional bias (input 5).
Dequantized weight: (u - zero_point) * scale, K = the node's attribute.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from is_export.options import ExportOptions
from is_export.report import LayerRecord

from .import_common import block_size_problem, import_codes, replace_with_intscale

OP = "MatMulNBits"


def _unpack_u4(a: np.ndarray, count: int) -> np.ndarray:
    """uint8 [..., B] -> uint8 [..., 2B] (low nibble first), trimmed to ``count``."""
    lo, hi = a & 0x0F, a >> 4
    return np.stack([lo, hi], axis=-1).reshape(*a.shape[:-1], -1)[..., :count]


def _const(t) -> np.ndarray | None:
    return np.asarray(t.values) if isinstance(t, gs.Constant) else None


def rewrite(graph: gs.Graph, opts: ExportOptions) -> list[LayerRecord]:
    """Turn every 4-bit MatMulNBits into an IntScaleGemm; one record per MatMulNBits."""
    records = []
    for node in [n for n in graph.nodes if n.op == OP]:
        attrs = node.attrs
        k, n, bits, block = int(attrs["K"]), int(attrs["N"]), int(attrs.get("bits", 4)), int(attrs["block_size"])
        skip = None
        b, scales = _const(node.inputs[1]), _const(node.inputs[2])
        zp_in = node.inputs[3] if len(node.inputs) > 3 else None
        zp = _const(zp_in) if zp_in is not None and zp_in.name else None
        if bits != 4:
            skip = f"MatMulNBits with bits={bits} (only 4-bit is supported)"
        elif b is None or scales is None or (zp_in is not None and zp_in.name and zp is None):
            skip = "non-constant quantized weight"
        elif len(node.inputs) > 4 and node.inputs[4] is not None and node.inputs[4].name:
            skip = "MatMulNBits with g_idx (act-order) is not supported"
        elif k % block:
            skip = f"K={k} is not a multiple of the block size {block}"
        else:
            skip = block_size_problem(block)
        if skip:
            records.append(LayerRecord(node=node.name, op=OP, status="skipped", importer="matmulnbits", reason=skip))
            continue
        g = k // block
        codes = _unpack_u4(b.reshape(n, -1), k)
        s = scales.astype(np.float32).reshape(n, g)
        if zp is None:
            zero = np.full((n, g), 8, np.int32)
        elif zp.dtype == np.uint8 and zp.size == n * ((g + 1) // 2):
            zero = _unpack_u4(zp.reshape(n, -1), g).astype(np.int32)
        else:  # zero points of the scales' type, one per block
            zero = np.rint(zp.astype(np.float32).reshape(n, g)).astype(np.int32)
        imported = import_codes(codes, zero, s, 8, block, opts)
        bias_t = node.inputs[5] if len(node.inputs) > 5 else None
        bias = _const(bias_t) if bias_t is not None and bias_t.name else None
        x, y = node.inputs[0], node.outputs[0]
        node.inputs.clear()
        node.outputs.clear()
        records.append(replace_with_intscale(graph, node.name, OP, "matmulnbits", x, y, imported, bias, block))
    return records
