"""The onnxrt expansion computes IntScaleGemm exactly as the NumPy reference.

Integer steps 1-4 are bit-exact by contract, and so is step 5 here: both sides
do the same float32 operations in the same order, so Y must match bit for bit.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from is_export import contract
from is_export.numerics import (
    Amplifier,
    exact_acc_inputs,
    from_codes,
    int_scale_acc,
    int_scale_gemm_reference,
    quantize_weight,
)
from is_export.passes.onnxrt_expand import expand_model
from tests.intscale_models import single_node_model


def _run(model, x: np.ndarray) -> np.ndarray:
    expanded = expand_model(model)
    assert not any(n.op_type == contract.OP_TYPE for n in expanded.graph.node)
    sess = ort.InferenceSession(expanded.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})[0]


def _random_weights(n: int, k: int, rng, group_size: int = 128, amplifier: str = "safe"):
    w = rng.standard_normal((n, k)).astype(np.float32) * 0.05
    return quantize_weight(w, group_size, Amplifier(amplifier) if amplifier == "safe" else Amplifier("pow2", 10))


@pytest.mark.parametrize("m", [1, 3, 17, 64])
@pytest.mark.parametrize("k", [128, 384, 1024, 4096])
@pytest.mark.parametrize("n", [7, 64, 129])
def test_acc_bit_exact_on_exact_inputs(m, k, n):
    """Contract's exact-acc inputs: sa = 1, C = 1, float32 out, so Y == acc."""
    rng = np.random.default_rng(m * 100003 + k * 31 + n)
    q = rng.integers(-8, 8, size=(n, k)).astype(np.int8)
    # Small integer scales keep |acc| < 2**24, where float32 holds acc exactly.
    S = rng.integers(1, 4, size=(n, k // 128)).astype(np.int32)
    w = from_codes(q, S.astype(np.float32), 128, Amplifier("pow2", 0))
    assert (w.S == S).all() and (w.C == 1).all()
    x = exact_acc_inputs(m, k, rng)
    y = _run(single_node_model(w), x)
    acc = int_scale_acc(x.astype(np.int32), q, S.astype(np.int64), 128)
    assert np.abs(acc).max() < 2**24
    np.testing.assert_array_equal(y.astype(np.int64), acc)
    assert y.shape == (m, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("m,k,n", [(1, 128, 64), (3, 512, 33), (17, 1024, 96), (64, 4096, 130)])
def test_output_bit_exact_random(m, k, n, dtype, bias):
    rng = np.random.default_rng(k + n + m)
    w = _random_weights(n, k, rng)
    b = (rng.standard_normal(n) * 0.1).astype(dtype) if bias else None
    x = (rng.standard_normal((m, k)) * 3).astype(dtype)
    y = _run(single_node_model(w, dtype, b), x)
    ref = int_scale_gemm_reference(x, w.packed(), w.S, w.C, b, 128)
    assert y.dtype == dtype and y.shape == (m, n)
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("group_size", [32, 64, 256])
def test_other_group_sizes(group_size):
    rng = np.random.default_rng(group_size)
    w = quantize_weight(rng.standard_normal((40, 512)).astype(np.float32), group_size, Amplifier("safe"))
    x = rng.standard_normal((5, 512)).astype(np.float32)
    y = _run(single_node_model(w), x)
    np.testing.assert_array_equal(y, int_scale_gemm_reference(x, w.packed(), w.S, w.C, None, group_size))


def test_leading_dims_and_zero_rows():
    """X of rank 4 keeps its leading dims; an all-zero token gives exact zeros."""
    rng = np.random.default_rng(7)
    w = _random_weights(24, 256, rng)
    x = rng.standard_normal((2, 3, 4, 256)).astype(np.float16)
    x[1, 2, 0] = 0
    y = _run(single_node_model(w, np.float16, lead_dims=("a", "b", "c")), x)
    assert y.shape == (2, 3, 4, 24)
    assert (y[1, 2, 0] == 0).all()
    np.testing.assert_array_equal(y, int_scale_gemm_reference(x, w.packed(), w.S, w.C, None, 128))


def test_pow2_amplifier_matches_reference():
    rng = np.random.default_rng(11)
    w = _random_weights(32, 1024, rng, amplifier="pow2")
    x = rng.standard_normal((9, 1024)).astype(np.float32)
    y = _run(single_node_model(w), x)
    np.testing.assert_array_equal(y, int_scale_gemm_reference(x, w.packed(), w.S, w.C, None, 128))


def test_opset_13_model_expands_and_runs():
    rng = np.random.default_rng(13)
    w = _random_weights(16, 256, rng)
    x = rng.standard_normal((4, 256)).astype(np.float32)
    y = _run(single_node_model(w, opset=13), x)
    np.testing.assert_array_equal(y, int_scale_gemm_reference(x, w.packed(), w.S, w.C, None, 128))


def test_expansion_reads_the_packed_bytes():
    """Flipping one nibble of Wq changes the output: the weights are not cached elsewhere."""
    rng = np.random.default_rng(5)
    w = _random_weights(8, 128, rng)
    x = np.ones((1, 128), np.float32)
    model = single_node_model(w)
    y0 = _run(model, x)
    init = next(t for t in model.graph.initializer if t.name.endswith(".Wq"))
    import onnx.numpy_helper as nh

    arr = nh.to_array(init).copy()
    arr[3, 0] ^= 0x4  # change code k=0 of channel 3 by 4
    init.CopyFrom(nh.from_array(arr, init.name))
    y1 = _run(model, x)
    assert (y0[0, 3] != y1[0, 3]) and np.array_equal(np.delete(y0, 3, 1), np.delete(y1, 3, 1))
