"""What every importer of an already-quantized 4-bit model shares: turning a
source's codes, zero points and float scales into IntScaleGemm weights.

Symmetric groups (zero point at the code midpoint) keep the method's own codes
(GPTQ, AWQ, RTN, ...): only their float scales become integer scales. A group
with another zero point cannot be expressed by the contract (q in [-8, 7] times
a scale, no offset); it is re-quantized symmetrically (round to nearest) from
its dequantized weights, and counted in the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from is_export import numerics
from is_export.options import ExportOptions
from is_export.report import LayerRecord

from .intscale_node import make_intscale_node


@dataclass
class ImportedWeight:
    """IntScaleGemm weights made from a source quantization, and how close they stay."""

    weights: numerics.IntScaleWeights
    w_source: np.ndarray  # float32 [N, K]: the source model's dequantized weight
    requantized_groups: int
    total_groups: int

    def relative_error(self) -> float:
        """||dequant(IntScaleGemm) - dequant(source)|| / ||dequant(source)||."""
        iw = self.weights
        deq = numerics.dequantize_int(iw.q, iw.S, iw.C, iw.group_size)
        den = float(np.linalg.norm(self.w_source))
        return float(np.linalg.norm(deq - self.w_source)) / den if den > 0 else 0.0


def block_size_problem(block: int) -> str | None:
    """Why a source block size cannot be an IntScaleGemm group size, or None if it can."""
    try:
        numerics.check_group_size(block)
    except ValueError:
        return f"block size {block} is not supported by IntScaleGemm (a power of two >= 32)"
    return None


def import_codes(codes: np.ndarray, zero_points: np.ndarray, scales: np.ndarray, midpoint: int, group_size: int,
                 opts: ExportOptions) -> ImportedWeight:
    """codes int [N, K]; zero_points int [N, G]; scales float [N, G]; midpoint 0 (INT4) or 8 (UINT4).

    Dequantized source weight: (codes - zp) * scale per group.
    """
    n, k = codes.shape
    g = k // group_size
    c = codes.astype(np.int32).reshape(n, g, group_size)
    zp = zero_points.astype(np.int32)
    s = scales.astype(np.float32)
    w_src = ((c - zp[:, :, None]).astype(np.float32) * s[:, :, None]).reshape(n, k)
    symmetric = zp == midpoint
    q = (c - midpoint).reshape(n, k)
    if not symmetric.all():
        rtn = numerics.quantize_groups_rtn(w_src, group_size)
        mask = np.repeat(symmetric, group_size, axis=1)
        q = np.where(mask, q, rtn.q)
        s = np.where(symmetric, s, rtn.s)
    if q.min() < numerics.Q_MIN or q.max() > numerics.Q_MAX:
        raise ValueError("codes outside [-8, 7] after removing the zero point")
    iw = numerics.from_codes(q.astype(np.int8), s, group_size, opts.amplifier)
    return ImportedWeight(iw, w_src, int((~symmetric).sum()), int(symmetric.size))


def replace_with_intscale(graph: gs.Graph, name: str, op: str, importer: str, x: gs.Variable, y: gs.Variable,
                          imported: ImportedWeight, bias: np.ndarray | None, source_block: int) -> LayerRecord:
    """Append the IntScaleGemm node producing ``y`` and return its report row.

    The caller detaches the source nodes; cleanup() removes them afterwards.
    """
    iw = imported.weights
    if y.dtype is None:
        y.dtype = x.dtype
    graph.nodes.append(make_intscale_node(name, x, y, iw, None if bias is None else bias.astype(x.dtype or np.float32)))
    rel = imported.relative_error()
    deq_float = numerics.dequantize_float(iw.ref.q, iw.ref.s, iw.group_size)
    return LayerRecord(
        node=name, op=op, status="rewritten", importer=importer, k=iw.k, n=iw.n, group_size=iw.group_size,
        amplifier=str(iw.amplifier), s_min=int(iw.S.min()), s_max=int(iw.S.max()), acc_bound=iw.acc_bound(),
        sqnr_int_db=round(numerics.sqnr_db(imported.w_source, numerics.dequantize_int(iw.q, iw.S, iw.C, iw.group_size)), 3),
        sqnr_float_db=round(numerics.sqnr_db(imported.w_source, deq_float), 3),
        extra={"source_block_size": source_block, "requantized_asymmetric_groups": imported.requantized_groups,
               "groups": imported.total_groups, "weight_rel_error_vs_source": rel},
    )
