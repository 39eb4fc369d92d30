"""``is-export validate ORIGINAL.onnx REWRITTEN.onnx``: the CLI of is_export.validate."""

from __future__ import annotations

import argparse
import sys

from .errors import ExportError
from .validate import BACKENDS, REFERENCES, Tolerances, validate


def _shape(spec: str) -> tuple[str, tuple[int, ...]]:
    name, _, dims = spec.rpartition(":")
    try:
        return name, tuple(int(d) for d in dims.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad shape {spec!r}: use NAME:AxBxC") from None


def _range(spec: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in spec.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad range {spec!r}: use LOW,HIGH") from None
    return lo, hi


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="is-export validate",
                                description="Compare a rewritten model with its original (Polygraphy).")
    p.add_argument("original")
    p.add_argument("rewritten")
    p.add_argument("--reference", choices=REFERENCES, default="fp32", help="precision of the ONNX Runtime reference")
    p.add_argument("--backend", choices=BACKENDS, default="onnxrt",
                   help="onnxrt: ONNX Runtime on the standard-ONNX expansion (any CPU); trt: TensorRT + plugin")
    p.add_argument("--shape", action="append", type=_shape, default=[], metavar="NAME:AxB",
                   help="shape of an input with dynamic dims (repeatable)")
    p.add_argument("--int-range", type=_range, metavar="LOW,HIGH", help="range of generated integer inputs (token ids)")
    p.add_argument("--float-range", type=_range, metavar="LOW,HIGH", help="range of generated float inputs")
    p.add_argument("--load-inputs", metavar="FILE", help="inputs from Polygraphy JSON or .npz instead of generated ones")
    p.add_argument("--iterations", type=int, default=2, help="generated input sets")
    p.add_argument("--min-cosine", type=float, default=Tolerances.min_cosine, help="pass: mean cosine per row >= this")
    p.add_argument("--min-top1", type=float, default=Tolerances.min_top1, help="pass: top-1 agreement of logits >= this")
    p.add_argument("--max-abs", type=float, help="pass: max absolute error <= this")
    p.add_argument("--logits", action="append", metavar="OUTPUT",
                   help="outputs to treat as logits (default: names containing 'logit')")
    p.add_argument("--plugin", help="plugin library for --backend trt (default: the built libis_plugins.so)")
    p.add_argument("--report", metavar="JSON", help="write the metrics as JSON")
    return p


def main(argv: list[str]) -> int:
    """0 when the rewritten model passes, 1 when it fails or cannot be run, 2 on bad usage."""
    args = build_parser().parse_args(argv)
    int_range = tuple(int(v) for v in args.int_range) if args.int_range else None
    try:
        result = validate(
            args.original, args.rewritten, reference=args.reference, backend=args.backend,
            shapes=dict(args.shape) or None, int_range=int_range, float_range=args.float_range,
            load_inputs=args.load_inputs, iterations=args.iterations,
            tolerances=Tolerances(args.min_cosine, args.min_top1, args.max_abs),
            logits_names=args.logits, report_path=args.report, plugin_library=args.plugin,
        )
    except ExportError as exc:
        print(f"is-export validate: error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0 if result.passed else 1
