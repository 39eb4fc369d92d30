"""Names and fixed values of the IntScaleGemm operator, version 1.

The normative text is ``DESIGN.md`` ("The IntScaleGemm operator, version 1").
This module holds only the identifiers that every path (exporter, ONNX Runtime
expansion, TensorRT plugin loader, tests) must agree on, so that each is
spelled once.
"""

from __future__ import annotations

OP_TYPE = "IntScaleGemm"
# Custom ONNX domain of the node. The TensorRT ONNX parser looks plugins up by
# op_type (and the node attributes ``plugin_version``/``plugin_namespace``),
# not by domain (onnx-tensorrt ModelImporter.cpp, parseNode: a node carrying a
# ``plugin_namespace`` attribute is imported as a plugin when the registry has
# its op_type), so any non-standard domain works there; ONNX Runtime only needs
# the opset import of this domain to be present.
DOMAIN = "is_export"
DOMAIN_VERSION = 1
PLUGIN_VERSION = "1"
PLUGIN_NAMESPACE = ""

LAYOUT_NK_U4X8 = "nk_u4x8"
SUPPORTED_LAYOUTS = (LAYOUT_NK_U4X8,)

DEFAULT_GROUP_SIZE = 128
W_BITS = 4
A_BITS = 8

# Integer ranges of the contract.
Q_MIN, Q_MAX = -8, 7  # 4-bit weight codes (nibble u encodes q = u - 8)
XQ_MAX = 127  # per-token activation codes are in [-127, 127]
INT32_MAX = 2**31 - 1

# Input positions of the node.
IN_X, IN_WQ, IN_S, IN_C, IN_B = range(5)

# Metadata key under which the exporter writes its settings (JSON).
METADATA_KEY = "is_export.quantization"
