"""is-export: rewrite ONNX linear layers into W4A8 IntScaleGemm nodes.

Integer group scales (arXiv 2405.14597): per-group INT32 partial sums are
scaled and accumulated in INT32 and converted to float once per output.
See DESIGN.md for the operator contract.
"""

__version__ = "0.1.0"
