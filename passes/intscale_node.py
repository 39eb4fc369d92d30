"""Build one IntScaleGemm node: the single place where the node is spelled.

Both the float-model rewrite and the importers of already-quantized models
end here, so the node's inputs, attributes and domain are written once.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from is_export import contract
from is_export.numerics import IntScaleWeights


def weight_constants(name: str, weights: IntScaleWeights) -> list[gs.Constant]:
    """The node's constant inputs Wq, S, C (in input order), named after ``name``."""
    return [
        gs.Constant(f"{name}.Wq", weights.packed()),
        gs.Constant(f"{name}.S", np.ascontiguousarray(weights.S, dtype=np.int32)),
        gs.Constant(f"{name}.C", np.ascontiguousarray(weights.C, dtype=np.float32)),
    ]


def make_intscale_node(
    name: str,
    x: gs.Variable,
    y: gs.Variable,
    weights: IntScaleWeights,
    bias: np.ndarray | None = None,
    shared: list[gs.Constant] | None = None,
) -> gs.Node:
    """Return an IntScaleGemm node computing ``y = IntScaleGemm(x, weights, bias)``.

    x: activations [..., K]; y: output variable [..., N] of x's dtype.
    weights: codes, integer scales and channel factors (numerics.IntScaleWeights).
    bias: float [N] in x's dtype, or None. Initializer names derive from ``name``.
    shared: constants from :func:`weight_constants` of a weight already used by
    another node (one weight, several consumers); made here when None.
    The node carries ``plugin_version``/``plugin_namespace`` for the TensorRT
    ONNX parser's plugin fallback.
    """
    inputs = [x, *(shared if shared is not None else weight_constants(name, weights))]
    if bias is not None:
        inputs.append(gs.Constant(f"{name}.B", np.ascontiguousarray(bias)))
    return gs.Node(
        op=contract.OP_TYPE,
        name=name,
        domain=contract.DOMAIN,
        attrs={
            "group_size": int(weights.group_size),
            "w_bits": contract.W_BITS,
            "a_bits": contract.A_BITS,
            "layout": contract.LAYOUT_NK_U4X8,
            "plugin_version": contract.PLUGIN_VERSION,
            "plugin_namespace": contract.PLUGIN_NAMESPACE,
        },
        inputs=inputs,
        outputs=[y],
    )
