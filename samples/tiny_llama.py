"""Export a small random-weight LLaMA-architecture model to ONNX.

``python samples/tiny_llama.py OUT_DIR`` writes ``OUT_DIR/model.onnx`` (with
external data ``model.onnx.data``) exported by ``torch.onnx.export(...,
dynamo=True)`` from ``transformers.LlamaForCausalLM``. Input ``input_ids``
[batch, seq] int64, output ``logits`` [batch, seq, vocab]. Every projection
has K a multiple of 128. The weights are random (seeded): this is the demo
and test model, not a trained one.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path


def export_tiny_llama(
    out_dir: str | Path,
    *,
    hidden: int = 256,
    intermediate: int = 512,
    layers: int = 2,
    heads: int = 4,
    vocab: int = 512,
    seed: int = 0,
) -> Path:
    """Export the model into ``out_dir``; returns the path of ``model.onnx``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, vocab_size=vocab,
        max_position_embeddings=256, tie_word_embeddings=False, use_cache=False,
    )
    model = LlamaForCausalLM(config).eval()

    class LogitsOnly(torch.nn.Module):
        """input_ids -> logits, no cache: a plain graph for export."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids=input_ids, use_cache=False).logits

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.onnx"
    ids = torch.randint(0, vocab, (2, 16))  # batch 2: torch.export specializes a dim of size 1
    batch, seq = torch.export.Dim("batch", max=64), torch.export.Dim("seq", max=256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LogitsOnly(model), (ids,), str(path), dynamo=True, external_data=True,
            input_names=["input_ids"], output_names=["logits"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}}, verbose=False,
        )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    args = ap.parse_args()
    print(export_tiny_llama(args.out_dir))


if __name__ == "__main__":
    main()
