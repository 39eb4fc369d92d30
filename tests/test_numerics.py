"""Properties of the op's numerics module (the reference every path is held to)."""

from __future__ import annotations

import numpy as np
import pytest

from is_export.contract import INT32_MAX
from is_export.numerics import (
    Amplifier,
    check_group_size,
    check_k,
    dequantize_float,
    dequantize_int,
    float_scale_gemm_reference,
    group_partial_sums,
    int_scale_acc,
    int_scale_gemm_reference,
    integer_scales,
    pack_nk_u4x8,
    parse_amplifier,
    quantize_activations,
    quantize_groups_rtn,
    quantize_weight,
    s_max_safe,
    sqnr_db,
    unpack_nk_u4x8,
)


def test_pack_layout_matches_contract_text():
    """Word j holds k = 8j + i in bits 4i..4i+3 as u = q + 8."""
    q = np.array([[-8, -7, 0, 1, 2, 3, 6, 7, 5, -1, -2, -3, -4, -5, -6, 4]], np.int8)
    words = pack_nk_u4x8(q).view(np.uint32)
    assert words.shape == (1, 2)
    assert words[0, 0] == sum(int(q[0, i] + 8) << (4 * i) for i in range(8))
    assert words[0, 1] == sum(int(q[0, 8 + i] + 8) << (4 * i) for i in range(8))
    # Little-endian bytes: byte b holds k = 2b (low nibble) and 2b + 1 (high nibble).
    byte0 = words[0, 0].tobytes()[0]
    assert byte0 & 0xF == q[0, 0] + 8 and byte0 >> 4 == q[0, 1] + 8


def test_pack_roundtrip_and_range_check():
    rng = np.random.default_rng(0)
    q = rng.integers(-8, 8, size=(9, 256)).astype(np.int8)
    assert np.array_equal(unpack_nk_u4x8(pack_nk_u4x8(q)), q)
    with pytest.raises(ValueError):
        pack_nk_u4x8(np.full((1, 8), 8, np.int8))
    with pytest.raises(ValueError):
        pack_nk_u4x8(np.zeros((1, 12), np.int8))


def test_group_size_and_k_checks():
    for ok in (32, 64, 128, 1024):
        check_group_size(ok)
    for bad in (16, 48, 100, 0):
        with pytest.raises(ValueError):
            check_group_size(bad)
    with pytest.raises(ValueError, match="not divisible"):
        check_k(200, 128)


def test_rtn_codes_and_error():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((16, 512)).astype(np.float32)
    w[3, :128] = 0  # an all-zero group
    fq = quantize_groups_rtn(w, 128)
    assert fq.q.min() >= -8 and fq.q.max() <= 7 and fq.s[3, 0] == 0
    err = np.abs(dequantize_float(fq.q, fq.s, 128) - w).reshape(16, 4, 128)
    assert (err <= fq.s[:, :, None] / 2 + 1e-7).all()  # RTN: at most half a step


def test_safe_amplifier_never_overflows_and_tracks_float_scales():
    rng = np.random.default_rng(2)
    for k in (128, 4096, 11008 // 128 * 128, 14336):
        w = rng.standard_normal((32, k)).astype(np.float32) * rng.uniform(0.01, 3, (32, 1)).astype(np.float32)
        iw = quantize_weight(w, 128, Amplifier("safe"))
        assert iw.acc_bound() <= INT32_MAX and not iw.may_overflow()
        assert iw.S.max() == s_max_safe(k)  # each channel's largest group uses the full range
        rel = np.abs(iw.S * iw.C[:, None] - iw.ref.s) / iw.ref.s
        assert rel.max() <= 0.5 / iw.S.min() + 1e-6
        # integer scales cost (almost) nothing against float scales
        assert sqnr_db(w, dequantize_int(iw.q, iw.S, iw.C, 128)) > sqnr_db(w, dequantize_float(iw.ref.q, iw.ref.s, 128)) - 0.1


def test_pow2_amplifier_reports_overflow_risk():
    s = np.full((2, 128), 1.0, np.float32)  # K = 16384 with large scales
    S, C = integer_scales(s, 16384, Amplifier("pow2", 10))
    assert (S == 1024).all() and (C == 2.0**-10).all()
    iw = quantize_weight(np.ones((2, 16384), np.float32) * 7, 128, Amplifier("pow2", 10))
    assert iw.may_overflow() and iw.acc_bound() == 16384 * 127 * 8 * 1024


def test_parse_amplifier():
    assert parse_amplifier("safe") == Amplifier("safe")
    assert parse_amplifier("pow2:10") == Amplifier("pow2", 10)
    assert str(parse_amplifier("pow2:10")) == "pow2:10"
    for bad in ("pow2", "pow2:-1", "pow2:31", "fast"):
        with pytest.raises(ValueError):
            parse_amplifier(bad)


def test_activation_quantization_contract():
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [127.0, 63.5, -0.5]], np.float32)
    xq, sa = quantize_activations(x)
    assert (xq[0] == 0).all() and sa[0] == 0
    assert list(xq[1]) == [64, -127, 32]  # 1 * 63.5 = 63.5 -> 64 (half to even), 0.5*63.5=31.75 -> 32
    assert list(xq[2]) == [127, 64, 0]  # 63.5 -> 64, -0.5 -> -0 (half to even)
    assert sa[1] == np.float32(2.0) / np.float32(127)


def test_acc_equals_sum_of_scaled_partial_sums():
    rng = np.random.default_rng(3)
    xq = rng.integers(-127, 128, (5, 384)).astype(np.int32)
    q = rng.integers(-8, 8, (7, 384)).astype(np.int8)
    S = rng.integers(1, 600, (7, 3)).astype(np.int64)
    p = group_partial_sums(xq, q, 128)
    expect = np.einsum("mgn,ng->mn", p, S)
    assert np.array_equal(int_scale_acc(xq, q, S, 128), expect)


def test_int_and_float_scale_references_agree_closely():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((64, 1024)).astype(np.float32) * 0.02
    iw = quantize_weight(w, 128, Amplifier("safe"), refit=False)
    x = rng.standard_normal((8, 1024)).astype(np.float32)
    yi = int_scale_gemm_reference(x, iw.packed(), iw.S, iw.C, None, 128)
    yf = float_scale_gemm_reference(x, iw.ref.q, iw.ref.s, None, 128)
    y = x @ w.T
    assert np.linalg.norm(yi - yf) / np.linalg.norm(yf) < 2e-3
    assert np.linalg.norm(yi - y) / np.linalg.norm(y) < 0.15  # W4A8 error itself
