"""Small ONNX models holding one IntScaleGemm node, for tests of every path."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from is_export import contract
from is_export.numerics import IntScaleWeights
from is_export.passes.intscale_node import make_intscale_node


def single_node_model(
    weights: IntScaleWeights,
    x_dtype=np.float32,
    bias: np.ndarray | None = None,
    lead_dims: tuple = ("batch",),
    opset: int = 18,
) -> onnx.ModelProto:
    """A model ``Y = IntScaleGemm(X, weights, bias)`` with X of shape lead_dims + [K].

    Leading dims may be symbolic (strings) or ints.
    """
    x = gs.Variable("X", dtype=x_dtype, shape=[*lead_dims, weights.k])
    y = gs.Variable("Y", dtype=x_dtype, shape=[*lead_dims, weights.n])
    node = make_intscale_node("lin", x, y, weights, bias)
    graph = gs.Graph(nodes=[node], inputs=[x], outputs=[y], opset=opset)
    model = gs.export_onnx(graph, do_type_check=False)
    model.opset_import.append(onnx.helper.make_opsetid(contract.DOMAIN, contract.DOMAIN_VERSION))
    return model
