"""Helpers of the GPU tests: inputs from the NumPy reference, ulp distances."""

from __future__ import annotations

import numpy as np

from is_export.numerics import Amplifier, exact_acc_inputs, from_codes, quantize_weight

try:
    import ml_dtypes

    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    BF16 = None

DTYPES = {"fp32": np.dtype(np.float32), "fp16": np.dtype(np.float16), "bf16": BF16}


def exact_case(m: int, n: int, k: int, group_size: int, rng):
    """Exact-acc inputs of the contract: X integer with +-127 per row, C = 1,
    small integer scales; then float32 Y equals acc exactly."""
    q = rng.integers(-8, 8, size=(n, k)).astype(np.int8)
    S = rng.integers(1, 4, size=(n, k // group_size)).astype(np.float32)
    w = from_codes(q, S, group_size, Amplifier("pow2", 0))
    return exact_acc_inputs(m, k, rng), w


def random_case(m: int, n: int, k: int, group_size: int, dtype: np.dtype, bias: bool, rng):
    w = quantize_weight((rng.standard_normal((n, k)) * 0.05).astype(np.float32), group_size, Amplifier("safe"))
    x = (rng.standard_normal((m, k)) * 2).astype(np.float32).astype(dtype)
    b = (rng.standard_normal(n) * 0.5).astype(np.float32).astype(dtype) if bias else None
    return x, w, b


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between same-dtype float arrays (as int64)."""
    bits = {2: np.int16, 4: np.int32}[a.dtype.itemsize]
    ia = a.view(bits).astype(np.int64)
    ib = b.view(bits).astype(np.int64)
    # Map sign-magnitude to a monotonic integer line.
    top = 1 << (8 * a.dtype.itemsize - 1)
    ia = np.where(ia < 0, -(ia + top), ia)
    ib = np.where(ib < 0, -(ib + top), ib)
    return np.abs(ia - ib)
