"""The export pipeline as a Python API: load, rewrite, clean up, target, save.

``export_model(in, out, opts)`` is what ``is-export`` runs;
``export_graph(model, opts)`` does the same on an in-memory model.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnx_graphsurgeon as gs

from . import contract
from .errors import ExportError
from .model_io import check_output_path, load_model, save_model
from .options import ExportOptions
from .passes import import_matmulnbits, import_qdq, linear_rewrite
from .passes.onnxrt_expand import expand_model
from .report import ExportReport

# Rewrite passes, in order. Each takes (graph, opts) and returns LayerRecords;
# importers of already-quantized models go before the float rewrite so that it
# never sees their layers.
REWRITE_PASSES = (import_qdq.rewrite, import_matmulnbits.rewrite, linear_rewrite.rewrite)

TARGETS = ("trt", "onnxrt")


def _set_opset_import(model: onnx.ModelProto) -> None:
    if not any(o.domain == contract.DOMAIN for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(contract.DOMAIN, contract.DOMAIN_VERSION))


def _drop_unused_domains(model: onnx.ModelProto) -> None:
    """Remove opset imports of custom domains no node uses any more (com.microsoft after MatMulNBits)."""
    used = {n.domain for n in model.graph.node} | {f.domain for f in model.functions}
    keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx") or o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def _set_metadata(model: onnx.ModelProto, opts: ExportOptions, report: ExportReport) -> None:
    importers = sorted({r.importer for r in report.rewritten})
    meta = {**opts.to_metadata(), "rewritten": len(report.rewritten), "skipped": len(report.skipped),
            "importers": importers,
            "op": f"{contract.DOMAIN}::{contract.OP_TYPE} v{contract.PLUGIN_VERSION}"}
    keep = [p for p in model.metadata_props if p.key != contract.METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    model.metadata_props.append(onnx.StringStringEntryProto(key=contract.METADATA_KEY, value=json.dumps(meta)))


def export_graph(model: onnx.ModelProto, opts: ExportOptions) -> tuple[onnx.ModelProto, ExportReport]:
    """Rewrite an in-memory model; returns (new model, report).

    Raises ExportError if the target is unknown or nothing could be rewritten.
    """
    if opts.target not in TARGETS:
        raise ExportError(f"unknown target {opts.target!r}: use one of {', '.join(TARGETS)}")
    if any(n.op_type == contract.OP_TYPE for n in model.graph.node) and opts.target == "onnxrt":
        # Already rewritten: the onnxrt target is just the expansion.
        report = ExportReport(settings=opts.to_metadata())
        return expand_model(model), report
    graph = gs.import_onnx(model)
    report = ExportReport(settings=opts.to_metadata())
    for rewrite in REWRITE_PASSES:
        report.layers.extend(rewrite(graph, opts))
        graph.cleanup()  # drop the nodes a pass detached, so later passes never see them
    if not report.rewritten:
        reasons = sorted({r.reason for r in report.skipped})
        detail = f" (skipped: {'; '.join(reasons)})" if reasons else " (no MatMul/Gemm found)"
        raise ExportError("nothing to rewrite: no eligible linear layer" + detail)
    graph.cleanup().toposort()
    out = gs.export_onnx(graph, do_type_check=False)
    out.ir_version = model.ir_version
    out.producer_name = "is-export"
    del out.metadata_props[:]
    out.metadata_props.extend(model.metadata_props)
    _set_opset_import(out)
    _drop_unused_domains(out)
    _set_metadata(out, opts, report)
    if opts.target == "onnxrt":
        out = expand_model(out)
    return out, report


def export_model(
    input_path: str | Path,
    output_path: str | Path,
    opts: ExportOptions | None = None,
    report_path: str | Path | None = None,
    external_data: bool | None = None,
) -> ExportReport:
    """Export ``input_path`` to ``output_path``; returns the per-layer report.

    The input is never modified; the output (and its ``.data`` file when the
    model is large or ``external_data`` is True) appears only once complete.
    Raises ExportError with a one-line message on bad input.
    """
    opts = opts or ExportOptions()
    model = load_model(input_path)
    check_output_path(input_path, output_path, model)
    out, report = export_graph(model, opts)
    save_model(out, output_path, external_data=external_data)
    if report_path is not None:
        report.write_json(report_path)
    return report
