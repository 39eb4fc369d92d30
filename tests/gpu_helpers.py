"""Helpers of the GPU tests: inputs from the NumPy reference, ulp distances."""

from __future__ import annotations

import functools

import numpy as np

from is_export.numerics import (
    Amplifier,
    exact_acc_inputs,
    from_codes,
    int_scale_acc,
    int_scale_gemm_reference,
    quantize_weight,
)

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


def _draw(m: int, n: int, k: int, group_size: int, bias: bool, rng):
    """Random weight (quantized), X and bias, the last two in float32: (x32, w, b32)."""
    w = quantize_weight((rng.standard_normal((n, k)) * 0.05).astype(np.float32), group_size, Amplifier("safe"))
    x32 = (rng.standard_normal((m, k)) * 2).astype(np.float32)
    b32 = (rng.standard_normal(n) * 0.5).astype(np.float32) if bias else None
    return x32, w, b32


def random_case(m: int, n: int, k: int, group_size: int, dtype: np.dtype, bias: bool, rng):
    x32, w, b32 = _draw(m, n, k, group_size, bias, rng)
    return x32.astype(dtype), w, None if b32 is None else b32.astype(dtype)


@functools.lru_cache(maxsize=32)
def exact_case_cached(m: int, n: int, k: int, group_size: int, seed: int):
    """exact_case(..., np.random.default_rng(seed)) and its integer acc (int64
    [M, N]), cached across GEMM paths: (x, w, packed, acc), arrays read-only."""
    x, w = exact_case(m, n, k, group_size, np.random.default_rng(seed))
    acc = int_scale_acc(x.astype(np.int32), w.q, w.S.astype(np.int64), group_size)
    packed = w.packed()
    for a in (x, packed, acc):
        a.setflags(write=False)
    return x, w, packed, acc


@functools.lru_cache(maxsize=64)
def _random_draw(m: int, n: int, k: int, group_size: int, bias: bool, seed: int):
    """random_case's draws in float32 (before the cast to the test's dtype),
    its quantized weight and the weight packed as the kernels take it; cached
    because a sweep reuses one draw for every dtype and GEMM path (most of the
    GPU suite's time was this NumPy work). Arrays are read-only: tests share them."""
    x32, w, b32 = _draw(m, n, k, group_size, bias, np.random.default_rng(seed))
    packed = w.packed()
    for a in (x32, b32, packed):
        if a is not None:
            a.setflags(write=False)
    return x32, w, b32, packed


def random_case_cached(m: int, n: int, k: int, group_size: int, dtype: np.dtype, bias: bool, seed: int):
    """random_case(..., np.random.default_rng(seed)) with the same values,
    plus the packed weight: (x, w, b, packed)."""
    x32, w, b32, packed = _random_draw(m, n, k, group_size, bias, seed)
    return x32.astype(dtype), w, None if b32 is None else b32.astype(dtype), packed


@functools.lru_cache(maxsize=128)
def random_reference(m: int, n: int, k: int, group_size: int, dtype_name: str, bias: bool, seed: int) -> np.ndarray:
    """The contract's Y for random_case_cached's inputs (cached across GEMM paths; read-only)."""
    x, w, b, packed = random_case_cached(m, n, k, group_size, DTYPES[dtype_name], bias, seed)
    y = int_scale_gemm_reference(x, packed, w.S, w.C, b, group_size)
    y.setflags(write=False)
    return y


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
