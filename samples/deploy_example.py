"""Quantize a model and deploy it: TensorRT when present, ONNX Runtime anywhere.

    python samples/deploy_example.py WORK_DIR

Exports the tiny LLaMA sample, rewrites it (--target trt), runs it with
ONNX Runtime through the portable expansion, prints the trtexec command that
builds the same engine, and builds/runs the TensorRT engine when TensorRT and
the plugin library are installed (otherwise prints why not).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from is_export import deploy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_llama import export_tiny_llama  # noqa: E402

SHAPES = {"input_ids": ((1, 1), (1, 64), (8, 256))}  # (min, opt, max) of the optimization profile


def main(work: Path) -> None:
    src = export_tiny_llama(work)
    rewritten = work / "model.is.onnx"
    report = deploy.quantize(src, rewritten)
    print(f"rewritten {len(report.rewritten)} linear layers into IntScaleGemm")

    ids = np.random.default_rng(0).integers(0, 512, (1, 16)).astype(np.int64)
    logits = deploy.OrtSession(rewritten).run({"input_ids": ids})["logits"]
    print(f"ONNX Runtime (portable expansion): logits {logits.shape}, next token {int(logits[0, -1].argmax())}")

    plan = work / "model.plan"
    print("trtexec equivalent:\n  " + deploy.trtexec_command(rewritten, plan, SHAPES, "build/plugins/libis_plugins_dynamic.so"))
    try:
        deploy.build_trt_engine(rewritten, plan, SHAPES)
        out = deploy.TrtSession(plan).run({"input_ids": ids})["logits"].float().cpu().numpy()
        print(f"TensorRT: next token {int(out[0, -1].argmax())}, max |TRT - ORT| = {np.abs(out - logits).max():.4f}")
    except (deploy.TensorRTUnavailable, FileNotFoundError) as exc:
        print(f"TensorRT path skipped: {exc}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy_demo"))
