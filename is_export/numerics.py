"""The numerics of IntScaleGemm: one home for every number the op computes.

Everything here is plain NumPy and follows ``DESIGN.md`` ("The IntScaleGemm
operator, version 1"). The exporter uses it to quantize weights, the ONNX
Runtime expansion mirrors :func:`quantize_activations` and
:func:`int_scale_gemm_reference` op for op, and every test compares against it.

Shapes: weights are ``[N, K]`` (output channel first), activations ``[..., K]``,
group scales ``[N, G]`` with ``G = K / group_size``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .contract import INT32_MAX, Q_MAX, Q_MIN, XQ_MAX

# ----------------------------------------------------------------------------
# Group sizes
# ----------------------------------------------------------------------------


def check_group_size(group_size: int) -> None:
    """Raise ValueError unless ``group_size`` is a power of two >= 32."""
    if group_size < 32 or group_size & (group_size - 1):
        raise ValueError(f"group size must be a power of two >= 32, got {group_size}")


def check_k(k: int, group_size: int) -> None:
    """Raise ValueError unless K is a positive multiple of the group size."""
    if k <= 0 or k % group_size:
        raise ValueError(f"K={k} is not divisible by the group size {group_size}")


# ----------------------------------------------------------------------------
# 4-bit packing, layout nk_u4x8
# ----------------------------------------------------------------------------


def pack_nk_u4x8(q: np.ndarray) -> np.ndarray:
    """Pack 4-bit codes into the ``nk_u4x8`` layout.

    q: integer array [N, K] with values in [-8, 7], K a multiple of 8.
    Returns int32 [N, K/8]: word j of row n holds k = 8j + i in bits 4i..4i+3,
    as the nibble u = q + 8.
    """
    q = np.asarray(q)
    n, k = q.shape
    if k % 8:
        raise ValueError(f"K={k} must be a multiple of 8 to pack nk_u4x8")
    if q.size and (q.min() < Q_MIN or q.max() > Q_MAX):
        raise ValueError("4-bit codes must lie in [-8, 7]")
    u = (q.astype(np.int64) + 8).astype(np.uint32).reshape(n, k // 8, 8)
    shifts = (4 * np.arange(8, dtype=np.uint32))[None, None, :]
    words = np.bitwise_or.reduce(u << shifts, axis=2).astype(np.uint32)
    return words.view(np.int32)


def unpack_nk_u4x8(wq: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_nk_u4x8`: int32 [N, K/8] -> int8 [N, K] in [-8, 7]."""
    wq = np.ascontiguousarray(wq, dtype=np.int32)
    n, kw = wq.shape
    shifts = (4 * np.arange(8, dtype=np.uint32))[None, None, :]
    u = (wq.view(np.uint32)[:, :, None] >> shifts) & np.uint32(0xF)
    return (u.astype(np.int16) - 8).astype(np.int8).reshape(n, kw * 8)


# ----------------------------------------------------------------------------
# Weight quantization (float group scales)
# ----------------------------------------------------------------------------


@dataclass
class FloatGroupQuant:
    """Symmetric per-group 4-bit quantization with float scales.

    q: int8 [N, K] codes in [-8, 7]; s: float32 [N, G] scales, w ~ q * s.
    """

    q: np.ndarray
    s: np.ndarray
    group_size: int


def quantize_groups_rtn(w_nk: np.ndarray, group_size: int) -> FloatGroupQuant:
    """Round-to-nearest symmetric INT4 group quantization of a float weight.

    w_nk: float [N, K]. Each group of ``group_size`` consecutive k of a row gets
    ``s = max|w| / 7`` and ``q = clamp(rint(w / s), -8, 7)``; an all-zero group
    gets s = 0 and q = 0.
    """
    check_group_size(group_size)
    w = np.asarray(w_nk, dtype=np.float32)
    n, k = w.shape
    check_k(k, group_size)
    wg = w.reshape(n, k // group_size, group_size)
    s = (np.abs(wg).max(axis=2) / np.float32(Q_MAX)).astype(np.float32)
    safe = np.where(s > 0, s, np.float32(1))
    q = np.clip(np.rint(wg / safe[:, :, None]), Q_MIN, Q_MAX).astype(np.int8)
    return FloatGroupQuant(q=q.reshape(n, k), s=s, group_size=group_size)


def dequantize_float(q: np.ndarray, s: np.ndarray, group_size: int) -> np.ndarray:
    """float32 [N, K] weight q * s of a float-scale quantization."""
    n, k = q.shape
    qg = q.reshape(n, k // group_size, group_size).astype(np.float32)
    return (qg * s[:, :, None]).reshape(n, k)


def dequantize_int(q: np.ndarray, S: np.ndarray, C: np.ndarray, group_size: int) -> np.ndarray:
    """float32 [N, K] weight q * S * C of an integer-scale quantization."""
    eff = S.astype(np.float32) * C.astype(np.float32)[:, None]
    return dequantize_float(q, eff, group_size)


# ----------------------------------------------------------------------------
# Integer scales: amplifier policies
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Amplifier:
    """How float group scales become integer scales.

    kind "safe": per-channel factor ``C[n] = max_g s[n,g] / S_MAX(K)`` so that
    every channel uses the whole overflow-safe integer range (default).
    kind "pow2": the paper's one power-of-two amplifier per layer,
    ``S = round(s * 2**exponent)``, ``C = 2**-exponent``; may overflow in the
    worst case, which the exporter reports.
    """

    kind: str
    exponent: int = 0

    def __str__(self) -> str:
        return "safe" if self.kind == "safe" else f"pow2:{self.exponent}"


def parse_amplifier(spec: str) -> Amplifier:
    """Parse ``"safe"`` or ``"pow2:E"`` (0 <= E <= 30) into an :class:`Amplifier`."""
    if spec == "safe":
        return Amplifier("safe")
    m = re.fullmatch(r"pow2:(\d+)", spec)
    if m and int(m.group(1)) <= 30:
        return Amplifier("pow2", int(m.group(1)))
    raise ValueError(f"unknown amplifier {spec!r}: use 'safe' or 'pow2:E' with 0 <= E <= 30")


def s_max_safe(k: int) -> int:
    """Largest integer scale for which ``K * 127 * 8 * S <= 2**31 - 1``."""
    return max(1, INT32_MAX // (k * XQ_MAX * 8))


def worst_case_acc_bound(k: int, S: np.ndarray) -> int:
    """The contract's bound on |acc|: ``K * 127 * 8 * max|S|`` (a Python int)."""
    return int(k) * XQ_MAX * 8 * int(np.abs(S).max(initial=0))


def integer_scales(s: np.ndarray, k: int, amplifier: Amplifier) -> tuple[np.ndarray, np.ndarray]:
    """Turn float group scales into integer scales and a per-channel factor.

    s: float32 [N, G], of either sign (ONNX Runtime's symmetric quantizer
    writes negative scales; an integer scale may be negative too). Returns
    (S int32 [N, G], C float32 [N] > 0) with ``S * C ~ s``. |S| is at least 1,
    so that no group whose float scale rounds to zero loses its weights
    entirely (its effective scale is then +-C, the channel's smallest step).
    """
    s = np.asarray(s, dtype=np.float32)
    if amplifier.kind == "safe":
        smax = np.abs(s).max(axis=1)
        c = np.where(smax > 0, smax / np.float32(s_max_safe(k)), np.float32(1)).astype(np.float32)
        S = np.rint(s / c[:, None])
    else:
        alpha = np.float32(2.0**amplifier.exponent)
        c = np.full(s.shape[0], np.float32(1) / alpha, dtype=np.float32)
        S = np.rint(s * alpha)
    S = np.where(S == 0, np.where(s < 0, -1, 1), S)
    S = np.clip(S, -INT32_MAX, INT32_MAX).astype(np.int32)
    return S, c


@dataclass
class IntScaleWeights:
    """Everything an IntScaleGemm node needs for one weight.

    q: int8 [N, K] codes; S: int32 [N, G]; C: float32 [N]; the float-scale
    quantization ``ref`` it was derived from is kept for reporting.
    """

    q: np.ndarray
    S: np.ndarray
    C: np.ndarray
    group_size: int
    amplifier: Amplifier
    ref: FloatGroupQuant

    @property
    def k(self) -> int:
        return int(self.q.shape[1])

    @property
    def n(self) -> int:
        return int(self.q.shape[0])

    def acc_bound(self) -> int:
        """Worst-case |acc| of the contract for this weight."""
        return worst_case_acc_bound(self.k, self.S)

    def may_overflow(self) -> bool:
        return self.acc_bound() > INT32_MAX

    def packed(self) -> np.ndarray:
        """The weight in layout nk_u4x8 (int32 [N, K/8])."""
        return pack_nk_u4x8(self.q)


def refit_codes(w_nk: np.ndarray, S: np.ndarray, C: np.ndarray, group_size: int) -> np.ndarray:
    """Re-round float weights against the effective integer scale ``S * C``.

    Rounding the integer scale moves each group's step a little; re-rounding
    the codes to the step actually used removes the part of the error that the
    old codes would add. Returns int8 [N, K] in [-8, 7].
    """
    n, k = w_nk.shape
    eff = (S.astype(np.float32) * C[:, None]).astype(np.float32)
    wg = np.asarray(w_nk, dtype=np.float32).reshape(n, k // group_size, group_size)
    q = np.clip(np.rint(wg / eff[:, :, None]), Q_MIN, Q_MAX)
    return q.astype(np.int8).reshape(n, k)


def quantize_weight(
    w_nk: np.ndarray, group_size: int, amplifier: Amplifier, refit: bool = True
) -> IntScaleWeights:
    """Quantize a float weight [N, K] to 4-bit codes with integer group scales.

    Steps: RTN float-scale group quantization, float scales -> integer scales
    by the amplifier policy, then (``refit``) codes re-rounded to the
    effective integer scale.
    """
    ref = quantize_groups_rtn(w_nk, group_size)
    S, C = integer_scales(ref.s, ref.q.shape[1], amplifier)
    q = refit_codes(w_nk, S, C, group_size) if refit else ref.q
    return IntScaleWeights(q=q, S=S, C=C, group_size=group_size, amplifier=amplifier, ref=ref)


def from_codes(q: np.ndarray, s: np.ndarray, group_size: int, amplifier: Amplifier) -> IntScaleWeights:
    """Integer scales for codes made by another tool (GPTQ, AWQ, ...).

    The method's own codes q (int [N, K] in [-8, 7]) are kept; only its float
    scales s [N, G] become integer scales.
    """
    q = np.asarray(q, dtype=np.int8)
    s = np.asarray(s, dtype=np.float32)
    S, C = integer_scales(s, q.shape[1], amplifier)
    return IntScaleWeights(
        q=q, S=S, C=C, group_size=group_size, amplifier=amplifier,
        ref=FloatGroupQuant(q=q, s=s, group_size=group_size),
    )


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (inf when equal)."""
    ref = np.asarray(reference, dtype=np.float64)
    err = ref - np.asarray(approx, dtype=np.float64)
    noise = float(np.sum(err * err))
    signal = float(np.sum(ref * ref))
    if noise == 0.0:
        return float("inf")
    return 10.0 * np.log10(signal / noise) if signal > 0 else float("-inf")


# ----------------------------------------------------------------------------
# The op: activation quantization and the reference GEMMs
# ----------------------------------------------------------------------------


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contract steps 1-2: per-token symmetric INT8 quantization.

    x: float array [..., K] (fp16, bf16 or fp32). Returns xq int32 [M, K] with
    values in [-127, 127] and sa float32 [M], M = product of leading dims.
    All arithmetic is float32: ``inv = 127 / amax`` (one division), one
    multiply, round half to even.
    """
    xf = np.asarray(x).astype(np.float32)
    xf = xf.reshape(-1, xf.shape[-1])
    amax = np.abs(xf).max(axis=1)
    nz = amax > 0
    inv = np.zeros_like(amax)
    inv[nz] = np.float32(XQ_MAX) / amax[nz]
    xq = np.clip(np.rint(xf * inv[:, None]), -XQ_MAX, XQ_MAX).astype(np.int32)
    sa = (amax / np.float32(XQ_MAX)).astype(np.float32)
    return xq, sa


def group_partial_sums(xq: np.ndarray, q: np.ndarray, group_size: int) -> np.ndarray:
    """Contract step 3: P[m, g, n] = sum_{k in g} xq[m,k] * q[n,k] (int64 [M, G, N]).

    Computed in float64, which is exact here: every product and partial sum is
    an integer far below 2**53.
    """
    m, k = xq.shape
    n = q.shape[0]
    g = k // group_size
    xg = xq.reshape(m, g, group_size).astype(np.float64)
    qg = q.reshape(n, g, group_size).astype(np.float64)
    return np.einsum("mgk,ngk->mgn", xg, qg).astype(np.int64)


def int_scale_acc(xq: np.ndarray, q: np.ndarray, S: np.ndarray, group_size: int) -> np.ndarray:
    """Contract step 4: acc[m, n] = sum_g P[m,g,n] * S[n,g] as int64 [M, N].

    Integer arithmetic is associative, so this equals one product of xq with
    the scaled codes ``q[n,k] * S[n, k // group_size]``; done in float64, exact
    while |acc| and every partial sum stay below 2**53 (the overflow guarantee
    keeps them below 2**31).
    """
    n, k = q.shape
    scaled = q.reshape(n, k // group_size, group_size).astype(np.float64) * S[:, :, None]
    return (xq.astype(np.float64) @ scaled.reshape(n, k).T).astype(np.int64)


def _finish(y32: np.ndarray, bias: np.ndarray | None, lead_shape: tuple, out_dtype) -> np.ndarray:
    """Add the bias in float32, round to the output type, restore leading dims."""
    if bias is not None:
        y32 = y32 + np.asarray(bias).astype(np.float32)[None, :]
    return y32.astype(out_dtype).reshape(*lead_shape, y32.shape[1])


def int_scale_gemm_reference(
    x: np.ndarray,
    wq: np.ndarray,
    S: np.ndarray,
    C: np.ndarray,
    bias: np.ndarray | None = None,
    group_size: int = 128,
) -> np.ndarray:
    """IntScaleGemm exactly as the contract defines it.

    x: [..., K] fp16/bf16/fp32; wq: int32 [N, K/8] (nk_u4x8); S: int32 [N, G];
    C: float32 [N]; bias: [N] or None. Returns [..., N] in x's dtype, computed
    as ``(float32(acc) * sa[m]) * C[n] (+ B[n])``.
    """
    x = np.asarray(x)
    q = unpack_nk_u4x8(wq)
    check_k(x.shape[-1], group_size)
    if q.shape[1] != x.shape[-1]:
        raise ValueError(f"X has K={x.shape[-1]} but the weight has K={q.shape[1]}")
    xq, sa = quantize_activations(x)
    acc = int_scale_acc(xq, q, np.asarray(S, dtype=np.int64), group_size)
    y32 = (acc.astype(np.float32) * sa[:, None]) * np.asarray(C, dtype=np.float32)[None, :]
    return _finish(y32, bias, x.shape[:-1], x.dtype)


def float_scale_gemm_reference(
    x: np.ndarray,
    q: np.ndarray,
    s: np.ndarray,
    bias: np.ndarray | None = None,
    group_size: int = 128,
) -> np.ndarray:
    """The float-scale baseline: ``Y = sa[m] * sum_g float(P[m,g,n]) * s[n,g]``.

    q: int [N, K] codes; s: float32 [N, G] float scales. The group sum is taken
    in float32. Returns [..., N] in x's dtype.
    """
    x = np.asarray(x)
    xq, sa = quantize_activations(x)
    p = group_partial_sums(xq, np.asarray(q), group_size).astype(np.float32)
    y32 = np.einsum("mgn,ng->mn", p, np.asarray(s, dtype=np.float32)).astype(np.float32)
    y32 = y32 * sa[:, None]
    return _finish(y32, bias, x.shape[:-1], x.dtype)


def exact_acc_inputs(
    m: int, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Activations for which IntScaleGemm's output *is* acc (contract, Tests).

    Returns float32 [m, k] with integer values in [-127, 127], each row holding
    +127 or -127 so that sa = 1 and xq = X. With C = 1 and float32 output,
    Y == acc exactly while |acc| < 2**24.
    """
    x = rng.integers(-127, 128, size=(m, k)).astype(np.float32)
    cols = rng.integers(0, k, size=m)
    x[np.arange(m), cols] = np.where(rng.random(m) < 0.5, -127.0, 127.0)
    return x
