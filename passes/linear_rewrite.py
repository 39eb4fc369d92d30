"""The float-model rewrite: every eligible MatMul/Gemm becomes one IntScaleGemm.

Pass interface (shared by every rewrite pass):
``rewrite(graph: gs.Graph, opts: ExportOptions) -> list[LayerRecord]``.
The graph is changed in place; the caller cleans up and sorts it.
"""

from __future__ import annotations

import re

import numpy as np
import onnx_graphsurgeon as gs
from tqdm import tqdm

from is_export import numerics
from is_export.options import ExportOptions
from is_export.report import LayerRecord

from .intscale_node import make_intscale_node, weight_constants
from .linear_patterns import Linear, Unsupported, find_heads, match_linear

LINEAR_OPS = ("MatMul", "Gemm")


def layer_record(name: str, op: str, w_nk: np.ndarray, iw: numerics.IntScaleWeights, importer: str) -> LayerRecord:
    """The report row of a rewritten layer, with weight SQNRs of both scale kinds."""
    gsz = iw.group_size
    return LayerRecord(
        node=name, op=op, status="rewritten", importer=importer,
        k=iw.k, n=iw.n, group_size=gsz, amplifier=str(iw.amplifier),
        s_min=int(iw.S.min()), s_max=int(iw.S.max()), acc_bound=iw.acc_bound(),
        sqnr_int_db=round(numerics.sqnr_db(w_nk, numerics.dequantize_int(iw.q, iw.S, iw.C, gsz)), 3),
        sqnr_float_db=round(numerics.sqnr_db(w_nk, numerics.dequantize_float(iw.ref.q, iw.ref.s, gsz)), 3),
    )


def _skip(node: gs.Node, reason: str, **kw) -> LayerRecord:
    return LayerRecord(node=node.name, op=node.op, status="skipped", reason=reason, **kw)


def _replace(graph: gs.Graph, lin: Linear, consts: list[gs.Constant], iw: numerics.IntScaleWeights) -> None:
    """Swap the matched node (and its fused Add) for an IntScaleGemm producing lin.y."""
    x_dtype = np.dtype(lin.x.dtype) if lin.x.dtype is not None else np.dtype(np.float32)
    bias = None if lin.bias is None else lin.bias.astype(x_dtype)
    for old in (lin.node, lin.fused_add):
        if old is not None:
            old.outputs.clear()
            old.inputs.clear()
    if lin.y.dtype is None:
        lin.y.dtype = x_dtype
    graph.nodes.append(make_intscale_node(lin.node.name, lin.x, lin.y, iw, bias, shared=consts))


def rewrite(graph: gs.Graph, opts: ExportOptions) -> list[LayerRecord]:
    """Rewrite the float linears of ``graph``; one LayerRecord per MatMul/Gemm seen.

    A weight shared by several nodes is quantized once and its constants are
    shared. The head (see linear_patterns.find_heads) is marked in the report
    and skipped with ``opts.keep_head``.
    """
    numerics.check_group_size(opts.group_size)
    excludes = [re.compile(p) for p in opts.exclude]
    heads = find_heads(graph)
    outputs = {t.name for t in graph.outputs}
    candidates = [n for n in graph.nodes if n.op in LINEAR_OPS]
    cache: dict[tuple, tuple[numerics.IntScaleWeights, list[gs.Constant], LayerRecord]] = {}
    records: list[LayerRecord] = []
    for node in tqdm(candidates, desc="is-export", unit="layer", disable=not opts.progress or not candidates):
        is_head = node.name in heads
        if any(p.search(node.name) for p in excludes):
            records.append(_skip(node, "excluded by --exclude", is_head=is_head))
            continue
        if is_head and opts.keep_head:
            records.append(_skip(node, "output head kept in float (--keep-head)", is_head=True))
            continue
        try:
            lin = match_linear(node, outputs)
            n, k = lin.weight.w_nk.shape
            if k % opts.group_size:
                raise Unsupported(f"K={k} is not divisible by the group size {opts.group_size}")
        except Unsupported as why:
            records.append(_skip(node, str(why), is_head=is_head))
            continue
        key = lin.weight.key + (opts.group_size,)
        if key not in cache:
            iw = numerics.quantize_weight(lin.weight.w_nk, opts.group_size, opts.amplifier, refit=opts.refit)
            rec = layer_record(node.name, node.op, lin.weight.w_nk, iw, "float")
            cache[key] = (iw, weight_constants(node.name, iw), rec)
            shared_with = None
        else:
            shared_with = cache[key][2].node
        iw, consts, first = cache[key]
        _replace(graph, lin, consts, iw)
        rec = LayerRecord(**{**first.__dict__, "node": node.name, "op": node.op, "is_head": is_head, "extra": {}})
        if lin.fused_add is not None:
            rec.extra["fused_bias_add"] = lin.fused_add.name
        if shared_with is not None:
            rec.extra["shares_weight_with"] = shared_with
        records.append(rec)
    return records
