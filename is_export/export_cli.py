"""``is-export MODEL.onnx``: the command-line front of is_export.exporter."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ExportError
from .exporter import TARGETS, export_model
from .numerics import parse_amplifier
from .options import ExportOptions
from .report import print_report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="is-export",
        description="Rewrite the linear layers of an ONNX model into W4A8 IntScaleGemm nodes "
        "(integer group scales). Subcommand: 'is-export validate ORIGINAL REWRITTEN'.",
    )
    p.add_argument("model", help="input ONNX model (float, or already 4-bit quantized)")
    p.add_argument("-o", "--output", help="output path (default: MODEL.is.onnx, or MODEL.ort.onnx for --target onnxrt)")
    p.add_argument("--target", choices=TARGETS, default="trt",
                   help="trt: IntScaleGemm nodes for the TensorRT plugin; onnxrt: expanded to standard ONNX ops")
    p.add_argument("--group-size", type=int, default=128, help="weight group size (power of two >= 32)")
    p.add_argument("--amplifier", default="safe",
                   help="float->integer scale policy: 'safe' (per-channel, overflow-free) or 'pow2:E' (paper, 2**E)")
    p.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                   help="skip nodes whose name matches REGEX (repeatable)")
    p.add_argument("--keep-head", action="store_true", help="keep the output head (e.g. lm_head) in float")
    p.add_argument("--no-refit", action="store_true", help="keep RTN codes instead of re-rounding to the integer scale")
    p.add_argument("--report", metavar="JSON", help="write the per-layer report as JSON")
    p.add_argument("--external-data", action="store_true", help="write weights to OUTPUT.data (automatic above 1 GiB)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    return p


def default_output(model: Path, target: str) -> Path:
    suffix = ".is.onnx" if target == "trt" else ".ort.onnx"
    return model.with_name(model.name.removesuffix(".onnx") + suffix)


def main(argv: list[str]) -> int:
    """Run the export; 0 on success, 1 on bad input (one line on stderr), 2 on bad usage."""
    args = build_parser().parse_args(argv)
    try:
        amplifier = parse_amplifier(args.amplifier)
        opts = ExportOptions(
            group_size=args.group_size, amplifier=amplifier, target=args.target,
            exclude=args.exclude, keep_head=args.keep_head, refit=not args.no_refit,
            progress=not (args.no_progress or args.quiet),
        )
        model = Path(args.model)
        out = Path(args.output) if args.output else default_output(model, args.target)
        report = export_model(model, out, opts, args.report, external_data=True if args.external_data else None)
    except (ExportError, ValueError) as exc:
        print(f"is-export: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print_report(report)
    over = [r.node for r in report.rewritten if r.may_overflow]
    print(f"wrote {out}: {len(report.rewritten)} layers rewritten, {len(report.skipped)} skipped"
          + (f"; WARNING: worst case may overflow int32 in {len(over)} layers: {', '.join(over)}" if over else ""))
    return 0
