"""The float-scale baseline model equals the reference baseline of numerics."""

from __future__ import annotations

import numpy as np

from is_export import contract
from is_export.eval_variants import float_scale_model
from is_export.numerics import float_scale_gemm_reference, quantize_groups_rtn
from tests import onnx_builders as ob


def test_float_scale_model_matches_reference():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((512, 48)) * 0.1).astype(np.float32)
    b = rng.standard_normal(48).astype(np.float32)
    model = float_scale_model(ob.matmul(w, bias=b))
    assert not any(n.op_type == contract.OP_TYPE for n in model.graph.node)
    x = rng.standard_normal((5, 512)).astype(np.float32)
    y = ob.run_ort(model, {"X": x})[0]
    fq = quantize_groups_rtn(w.T, 128)
    ref = float_scale_gemm_reference(x, fq.q, fq.s, b, 128)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
