"""Evaluation-only model variants (never exported): the paper's float-scale
W4A8 baseline, built from the same RTN codes the exporter uses, so that its
accuracy can be compared with integer scales through ONNX Runtime."""

from __future__ import annotations

import onnx
import onnx_graphsurgeon as gs

from . import contract
from .exporter import export_graph
from .numerics import quantize_groups_rtn
from .options import ExportOptions
from .passes.linear_patterns import match_linear
from .passes.onnxrt_expand import expand_node


def float_scale_model(original: onnx.ModelProto, group_size: int = 128) -> onnx.ModelProto:
    """``original`` with every eligible linear as W4A8 with *float* group scales.

    The exporter's rewrite runs with refit off (codes = RTN codes); each
    IntScaleGemm is then expanded with the float scales s of the same RTN
    quantization instead of S * C. Returns a standard-ONNX model for ONNX Runtime.
    """
    rewritten, report = export_graph(original, ExportOptions(group_size=group_size, refit=False, progress=False))
    names = {r.node for r in report.rewritten}
    src = gs.import_onnx(original)
    outputs = {t.name for t in src.outputs}
    scales = {n.name: quantize_groups_rtn(match_linear(n, outputs).weight.w_nk, group_size).s
              for n in src.nodes if n.name in names}
    graph = gs.import_onnx(rewritten)
    for node in [n for n in graph.nodes if n.op == contract.OP_TYPE]:
        expand_node(graph, node, int(graph.opset), float_scales=scales[node.name])
    graph.cleanup().toposort()
    out = gs.export_onnx(graph, do_type_check=False)
    out.ir_version = original.ir_version
    keep = [o for o in out.opset_import if o.domain != contract.DOMAIN]
    del out.opset_import[:]
    out.opset_import.extend(keep)
    return out
