"""The CUDA kernels against the NumPy reference of the contract (GPU only).

acc is bit-exact on the contract's exact-acc inputs; on random inputs Y is
within 1 ulp of the reference in its own type (it is in fact expected to be
bit-exact: the kernel performs the same float32 operations, each rounded);
outputs are poisoned with NaN before every run.
"""

from __future__ import annotations

import numpy as np
import pytest

from is_export.numerics import (
    float_scale_gemm_reference,
    int_scale_gemm_reference,
    pack_nk_u4x8,
    quantize_activations,
)
from tests.gpu_helpers import DTYPES, exact_case_cached, random_case, random_case_cached, random_reference, ulp_distance

pytestmark = pytest.mark.gpu

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():  # pragma: no cover
    pytest.skip("no CUDA device", allow_module_level=True)

from is_export import plugin  # noqa: E402

TORCH = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _to_torch(a: np.ndarray, name: str | None = None):
    if name == "bf16":
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16).cuda()
    a = np.ascontiguousarray(a)
    # The cached inputs (gpu_helpers) are read-only, which torch.from_numpy warns about.
    return torch.from_numpy(a if a.flags.writeable else a.copy()).cuda()


def _to_numpy(t, name: str):
    if name == "bf16":
        return t.float().cpu().numpy().astype(DTYPES["bf16"])
    return t.cpu().numpy()


def _run_int(x_np, w, bias_np, name, group_size, packed=None):
    x = _to_torch(x_np, name)
    out = torch.full((x.shape[0], w.n), float("nan"), dtype=TORCH[name], device="cuda")  # poison
    packed = w.packed() if packed is None else packed
    y = plugin.int_scale_gemm(x, _to_torch(packed), _to_torch(w.S), _to_torch(w.C),
                              None if bias_np is None else _to_torch(bias_np, name), group_size, out=out)
    torch.cuda.synchronize()
    return _to_numpy(y, name)


EXACT_SHAPES = [  # (M, N, K): every M of the sweep, N and K from 128 to 16384 incl. LLaMA sizes
    (1, 4096, 4096), (2, 11008, 4096), (7, 4096, 11008), (16, 14336, 4096), (33, 4096, 14336),
    (128, 128, 16384), (1000, 16384, 128), (4096, 256, 4096), (3, 136, 256), (300, 200, 512),
    (520, 4224, 512),  # 33 x 5 = 165 tiles of 128 x 128: persistent blocks walk one or two tiles
    (384, 12800, 512),  # 100 x 3 = 300 tiles: stream-K walks one whole wave, then splits 168 tiles
    (24, 12288, 4096),  # 32-token tiles (M = 17..32): split 2 ways with slim blocks (2 per SM), not without
    (40, 4096, 4096),  # M = 33..64 on 32-token tiles split 2 ways (choose_tiling: 16 k-tiles a block)
    (320, 4096, 11008),  # 96 tiles of 128 tokens, below one wave, long K: stream-K (use_stream_k (c))
    (384, 14464, 512),  # 339 tiles of 128 tokens, 3 waves at efficiency 0.856: stream-K (use_stream_k (a'))
]


def _set_path(monkeypatch, path: str) -> str:
    monkeypatch.delenv("IS_SCALE_ROWS", raising=False)
    monkeypatch.delenv("IS_PERSISTENT", raising=False)
    monkeypatch.delenv("IS_STREAMK", raising=False)
    monkeypatch.delenv("IS_SLIM", raising=False)
    if path == "auto":
        monkeypatch.delenv("IS_GEMM_PATH", raising=False)
    elif path == "persistent":  # the persistent wgmma kernel wherever it applies (128-token tiles, no split-K)
        monkeypatch.setenv("IS_GEMM_PATH", "wgmma")
        monkeypatch.setenv("IS_PERSISTENT", "1")
        monkeypatch.setenv("IS_STREAMK", "0")
    elif path == "streamk":  # the stream-K wgmma kernel for the 64- and 128-token tiles (M > 32)
        monkeypatch.setenv("IS_GEMM_PATH", "wgmma")
        monkeypatch.setenv("IS_STREAMK", "1")
    elif path in ("slim", "slim2"):  # slim blocks for tiles of <= 32 tokens (IS_SLIM=1 or 2)
        monkeypatch.setenv("IS_GEMM_PATH", "wgmma")
        monkeypatch.setenv("IS_SLIM", "1" if path == "slim" else "2")
    elif path == "wgmma":  # the wgmma kernel with one block per tile (never persistent)
        monkeypatch.setenv("IS_GEMM_PATH", "wgmma")
        monkeypatch.setenv("IS_PERSISTENT", "0")
        monkeypatch.setenv("IS_STREAMK", "0")
    else:
        monkeypatch.setenv("IS_GEMM_PATH", path)
    return path


@pytest.fixture(params=["auto", "mma", "wgmma", "persistent", "streamk", "slim", "slim2"])
def gemm_path(request, monkeypatch):
    """Every GEMM path of the library: "auto" (the library's choice), the
    mma.sync path forced through IS_GEMM_PATH (what sm_80/sm_89 GPUs always
    take) and the sm_90a wgmma path forced wherever it can run (group sizes
    that are multiples of 128; elsewhere, and off Hopper, it falls back),
    once with one block per tile, once on the persistent kernel for the
    128-token tiles (the library's choice takes it for K <= 8192) and once on
    the stream-K kernel (64- and 128-token tiles, IS_STREAMK=1; the library
    takes it where the last wave of tiles is short, use_stream_k) and once
    with the slim blocks of the tiles of at most 32 tokens (IS_SLIM=1, and
    IS_SLIM=2, the deep slim blocks: 10 or 8 stages, 2 per SM; larger tiles
    take the usual kernels)."""
    return _set_path(monkeypatch, request.param)


@pytest.fixture(params=["auto", "mma", "wgmma", "streamk", "slim", "slim2"])
def gemm_path_2(request, monkeypatch):
    """The library's choice (persistent at 128-token tiles with K <= 8192,
    stream-K where use_stream_k says), the mma.sync path, the wgmma path with
    one block per tile, the stream-K kernel and the slim blocks forced (for
    the larger sweeps)."""
    return _set_path(monkeypatch, request.param)


def _float_baseline_case(m: int, n: int, k: int, seed: int):
    """A random fp32 case of the float-scale baseline (group size 128): a
    function that runs the GPU op and returns Y as NumPy, and the reference Y."""
    x, w, _ = random_case(m, n, k, 128, np.dtype(np.float32), False, np.random.default_rng(seed))
    ref = float_scale_gemm_reference(x, w.ref.q, w.ref.s, None, 128)
    args = (_to_torch(x), _to_torch(pack_nk_u4x8(w.ref.q)), _to_torch(w.ref.s), None, 128)
    return (lambda: plugin.float_scale_gemm(*args).cpu().numpy()), ref


def _check_acc_bit_exact(m: int, n: int, k: int, group_size: int, seed: int) -> None:
    """fp32 Y on the contract's exact-acc inputs equals the integer acc exactly."""
    x, w, packed, acc = exact_case_cached(m, n, k, group_size, seed)
    assert np.abs(acc).max() < 2**24
    y = _run_int(x, w, None, "fp32", group_size, packed)
    np.testing.assert_array_equal(y.astype(np.int64), acc)


@pytest.mark.parametrize("group_size", [128, 64])
@pytest.mark.parametrize("m,n,k", EXACT_SHAPES)
def test_acc_bit_exact(m, n, k, group_size, gemm_path):
    _check_acc_bit_exact(m, n, k, group_size, seed=m * 7 + n * 3 + k + group_size)


# Group sizes spanning several 128-k tiles (the wgmma path sums P over tiles
# before scaling); shapes that split K over clusters (small M, N = 4096) and
# that do not (N = 28672); token tiles of 8 to 128.
WIDE_GROUP_SHAPES = [(1, 4096, 4096), (9, 384, 1024), (64, 4096, 2048), (200, 28672, 512), (513, 136, 768)]


@pytest.mark.parametrize("group_size", [256, 512])
@pytest.mark.parametrize("m,n,k", WIDE_GROUP_SHAPES)
def test_acc_bit_exact_wide_groups(m, n, k, group_size, gemm_path):
    if k % group_size:
        pytest.skip(f"K={k} is not a multiple of {group_size}")
    _check_acc_bit_exact(m, n, k, group_size, seed=m + n + k + group_size)


# Split-K forced on the wgmma path (IS_SPLITS): the cluster's leader adds the
# other blocks' partial sums through distributed shared memory and writes Y,
# whatever the library would choose: 8- to 128-token tiles, splits that do
# not divide the groups (3) and the largest cluster (8), tails in M and N.
SPLIT_SHAPES = [(5, 200, 2048), (24, 264, 2048), (50, 4096, 1536), (100, 136, 2048), (128, 4096, 1024)]


@pytest.mark.parametrize("splits", [2, 3, 4, 8])
@pytest.mark.parametrize("m,n,k", SPLIT_SHAPES)
def test_forced_splits_bit_exact(m, n, k, splits, monkeypatch):
    _set_path(monkeypatch, "wgmma")
    monkeypatch.setenv("IS_SPLITS", str(splits))
    _check_acc_bit_exact(m, n, k, 128, seed=splits)


# The weights a block copies before it waits for the quantization kernel
# (IS_PREFETCH, prefetch_stages in w4a8_wgmma.cu; the library takes 4): 1 (an
# odd count: stage 1's weights ride on stage 0's copy, its activations are
# copied after the wait), 3, and more than any kernel has stages (all of them,
# the behaviour before v20), on a decode split, slim blocks, 64-token tiles,
# the persistent and the stream-K kernels.
@pytest.mark.parametrize("prefetch", ["1", "3", "16"])
@pytest.mark.parametrize("m,n,k,path", [(1, 4096, 4096, "wgmma"), (16, 12288, 2048, "slim"), (64, 4096, 14336, "wgmma"),
                                        (520, 4224, 512, "persistent"), (384, 12800, 512, "streamk")])
def test_prefetch_stages_bit_exact(m, n, k, path, prefetch, monkeypatch):
    _set_path(monkeypatch, path)
    monkeypatch.setenv("IS_PREFETCH", prefetch)
    _check_acc_bit_exact(m, n, k, 128, seed=m + int(prefetch))


# The mma.sync GEMM quantizes X itself at M = 1 with K <= 8192 on a one-wave
# grid (use_fused_quant: 4096x4096, 4096x8192); elsewhere, and with
# IS_FUSED_QUANT=0, the quantization kernel runs first. Both give the same
# bits, equal to the reference (fp16, bias: the whole epilogue).
@pytest.mark.parametrize("m,n,k", [(1, 4096, 4096), (1, 4096, 8192), (2, 4096, 4096), (1, 11008, 4096), (1, 4096, 11008)])
def test_fused_quantization_same_bits(m, n, k, monkeypatch):
    _set_path(monkeypatch, "mma")
    x, w, b, packed = random_case_cached(m, n, k, 128, DTYPES["fp16"], True, seed=k + n)
    ref = random_reference(m, n, k, 128, "fp16", True, k + n)
    y = _run_int(x, w, b, "fp16", 128, packed)
    monkeypatch.setenv("IS_FUSED_QUANT", "0")
    y_separate = _run_int(x, w, b, "fp16", 128, packed)
    np.testing.assert_array_equal(y, y_separate)
    assert ulp_distance(y, ref).max() <= 1


# The wgmma grid walk's group scales: a block-wide table copied by one TMA box
# where G % 4 == 0 (the table's rows padded to an odd multiple of 4 groups,
# past G filled with zeros) and the per-stage cp.async gathers otherwise or
# with IS_SCALE_TABLE=0; both bit-exact, at decode tiles split over clusters
# (M = 1: a 4-way split, 8 groups a block, 12 in the table), slim blocks
# (M = 16), 64- and 128-token tiles, a K whose G is not a multiple of 4
# (11008: always the gathers), wide groups and the float baseline.
SCALE_TABLE_SHAPES = [(1, 4096, 4096, 128), (16, 12288, 2048, 128), (64, 4096, 14336, 128), (200, 1000, 2048, 128),
                      (3, 4096, 11008, 128), (9, 384, 4096, 256)]


@pytest.mark.parametrize("table", ["1", "0"])
@pytest.mark.parametrize("m,n,k,group_size", SCALE_TABLE_SHAPES)
def test_scale_table_bit_exact(m, n, k, group_size, table, monkeypatch):
    _set_path(monkeypatch, "wgmma")
    monkeypatch.setenv("IS_SCALE_TABLE", table)
    _check_acc_bit_exact(m, n, k, group_size, seed=m + k)


@pytest.mark.parametrize("table", ["1", "0"])
def test_scale_table_float_baseline(table, monkeypatch):
    _set_path(monkeypatch, "wgmma")
    monkeypatch.setenv("IS_SCALE_TABLE", table)
    run, ref = _float_baseline_case(5, 4096, 2048, seed=11)
    np.testing.assert_allclose(run(), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("splits", [3, 8])
@pytest.mark.parametrize("m,n,k", [(5, 200, 2048), (100, 136, 2048)])
def test_forced_splits_float_baseline(m, n, k, splits, monkeypatch):
    """The float baseline's cluster sum (block order 0..splits-1) is
    deterministic and close to the reference."""
    _set_path(monkeypatch, "wgmma")
    monkeypatch.setenv("IS_SPLITS", str(splits))
    run, ref = _float_baseline_case(m, n, k, seed=m + splits)
    y1, y2 = run(), run()
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(y1, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


RANDOM_SHAPES = [(1, 4096, 4096), (7, 11008, 4096), (16, 4096, 14336), (33, 1000, 1024), (128, 4096, 4096),
                 (1000, 512, 2048), (4096, 1024, 1024), (2, 129, 256), (20, 12288, 1024)]


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp32"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("group_size", [128, 64])
@pytest.mark.parametrize("m,n,k", RANDOM_SHAPES)
def test_random_within_one_ulp(m, n, k, group_size, bias, name, gemm_path_2):
    seed = m + n + k + group_size + bias
    x, w, b, packed = random_case_cached(m, n, k, group_size, DTYPES[name], bias, seed)
    ref = random_reference(m, n, k, group_size, name, bias, seed)
    y = _run_int(x, w, b, name, group_size, packed)
    assert not np.isnan(y.astype(np.float32)).any(), "an output was not written"
    d = ulp_distance(y, ref)
    assert d.max() <= 1, f"max ulp {d.max()}"


def _check_graph_replay(m: int, n: int, k: int, calls: list, refs: list, what: str) -> None:
    """Capture the fp16 calls (x, wq, S, C) of group size 128, all on one
    workspace, in one CUDA graph, replay it 3 times into NaN-filled outputs,
    and assert every call's Y within 1 ulp of its reference (refs[i])."""
    ws = plugin.workspace_for(m, n, k, "cuda")
    ys = [torch.full((m, n), float("nan"), dtype=torch.float16, device="cuda") for _ in calls]
    plugin.int_scale_gemm(*calls[0], None, 128, ws, ys[0])  # load the kernels before the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for args, y in zip(calls, ys):
            plugin.int_scale_gemm(*args, None, 128, ws, y)
    for _ in range(3):
        for y in ys:
            y.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        for i, y in enumerate(ys):
            assert ulp_distance(y.cpu().numpy(), refs[i]).max() <= 1, f"{what} {i} of {len(calls)}"


# Calls replayed back to back in one CUDA graph, as TensorRT and the benchmark
# run them: each call's kernels start before the previous kernel ends
# (programmatic dependent launch) and all calls share one workspace, so a
# GEMM that read xq before its griddepcontrol.wait would see another call's
# rows. v21/v22 did (ptxas moved the mma.sync GEMM's __ldg of xq above the
# wait; scripts/check_produced_loads.py now guards the PTX); the eager tests
# above could not see it: the host's launch gap let the quantization kernel
# finish first. Cases: the 8-row, 16-row and N-split (64 x 4224: 264 blocks)
# mma.sync kernels, the wgmma 8-token split leader and 32-token tiles.
@pytest.mark.parametrize("m,n,k,path", [(4, 4096, 4096, "auto"), (8, 4096, 11008, "auto"), (16, 4096, 4096, "mma"),
                                        (2, 12288, 4096, "auto"), (40, 4096, 4096, "auto"), (64, 4224, 1024, "mma")])
def test_back_to_back_graph_replay_bit_exact(m, n, k, path, monkeypatch):
    _set_path(monkeypatch, path)
    _, w, _, packed = random_case_cached(m, n, k, 128, DTYPES["fp16"], False, seed=m + n)
    rng = np.random.default_rng(k)
    calls = 6
    xs = [(rng.standard_normal((m, k)) * (1 + i)).astype(np.float16) for i in range(calls)]
    refs = [int_scale_gemm_reference(x, packed, w.S, w.C, None, 128) for x in xs]
    wq, S, C = _to_torch(packed), _to_torch(w.S), _to_torch(w.C)
    x_dev = [_to_torch(x) for x in xs]
    _check_graph_replay(m, n, k, [(x_dev[i], wq, S, C) for i in range(calls)], refs, "call")


# The persistent kernel at M >= 512 (and wherever IS_SCALE_ROWS=1 forces it)
# reads its group scales from the copy of S transposed to [G][pitch] that the
# quantization kernel writes into the workspace at every call
# (ScaleTranspose; w4a8_wgmma.cu, "Group scales", use_scale_rows): N not a
# multiple of 4 (the copy's rows padded to 4 words), G not a multiple of 4
# (K = 768: one word per item instead of 16-byte loads) and G a multiple of 4,
# tiles walked once or twice; with the copy forced on, off, and the library's
# choice; the float baseline the same way.
TRANSPOSED_SCALE_SHAPES = [(520, 138, 1024), (300, 138, 768), (600, 4100, 1024), (129, 256, 2048), (4096, 256, 512)]


@pytest.mark.parametrize("rows", ["1", "0", "auto"])
@pytest.mark.parametrize("m,n,k", TRANSPOSED_SCALE_SHAPES)
def test_transposed_scales_bit_exact(m, n, k, rows, monkeypatch):
    _set_path(monkeypatch, "persistent")
    if rows != "auto":
        monkeypatch.setenv("IS_SCALE_ROWS", rows)
    _check_acc_bit_exact(m, n, k, 128, seed=m + n + k)


@pytest.mark.parametrize("rows", ["1", "0"])
def test_transposed_scales_float_baseline(rows, monkeypatch):
    _set_path(monkeypatch, "persistent")
    monkeypatch.setenv("IS_SCALE_ROWS", rows)
    run, ref = _float_baseline_case(520, 138, 1024, seed=3)
    np.testing.assert_allclose(run(), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_transposed_scales_from_unaligned_s_bit_exact(monkeypatch):
    """S at an address that is not 16-byte aligned (a view one word into its
    buffer): the copy falls back to one word per item, same bits."""
    _set_path(monkeypatch, "persistent")
    monkeypatch.setenv("IS_SCALE_ROWS", "1")
    m, n, k = 256, 384, 1024
    x, w, packed, acc = exact_case_cached(m, n, k, 128, seed=5)
    flat = torch.empty(w.S.size + 1, dtype=torch.int32, device="cuda")
    S = flat[1:].view(w.S.shape)
    S.copy_(_to_torch(w.S))
    assert S.data_ptr() % 16 != 0
    y = plugin.int_scale_gemm(_to_torch(x), _to_torch(packed), S, _to_torch(w.C), None, 128)
    np.testing.assert_array_equal(y.cpu().numpy().astype(np.int64), acc)


# Layers of one shape but different weights and scales, called in turn in one
# CUDA graph with one workspace, as TensorRT runs a model: each call's
# quantization kernel rewrites the workspace's transposed scales while the
# previous GEMM may still be running (programmatic dependent launch), so a
# copy made too early, or one call reading another's scales, changes Y.
@pytest.mark.parametrize("path", ["auto", "persistent", "streamk"])
def test_layers_sharing_workspace_in_graph_bit_exact(path, monkeypatch):
    _set_path(monkeypatch, path)  # M = 520: the copy on the library's choice and on the persistent kernel
    m, n, k, layers = 520, 4224, 1024, 3
    cases = [random_case_cached(m, n, k, 128, DTYPES["fp16"], False, seed=40 + i) for i in range(layers)]
    refs = [int_scale_gemm_reference(x, packed, w.S, w.C, None, 128) for x, w, _, packed in cases]
    dev = [(_to_torch(x), _to_torch(packed), _to_torch(w.S), _to_torch(w.C)) for x, w, _, packed in cases]
    _check_graph_replay(m, n, k, dev, refs, "layer")


# v22 reads the epilogue's factors before the K loop in the mma.sync K-split
# kernels of M = 1 and M = 9-16 (C and sa by cp.async into shared memory) and
# in the wgmma kernels of 8-token tiles (C and sa into registers, split leader
# only): partial tiles (rows past M clamp their sa), a bias (read after the
# loop as before) and the split's leader on decode shapes; and the wgmma
# 16-token tiles split 2 ways (12288 x 4096) and unsplit (28672 x 4096), whose
# C an A/B build reads early (IS_WG_EARLY_C16).
@pytest.mark.parametrize("name", ["fp16", "bf16"])
@pytest.mark.parametrize("m,n,k,path", [(12, 4096, 4096, "mma"), (9, 4096, 11008, "mma"), (15, 4096, 4096, "auto"),
                                        (5, 12288, 4096, "auto"), (3, 28672, 4096, "wgmma"),
                                        (12, 12288, 4096, "auto"), (16, 28672, 4096, "wgmma")])
def test_early_epilogue_factors_within_one_ulp(m, n, k, path, name, monkeypatch):
    _set_path(monkeypatch, path)
    seed = 7 * m + n
    x, w, b, packed = random_case_cached(m, n, k, 128, DTYPES[name], True, seed)
    ref = random_reference(m, n, k, 128, name, True, seed)
    y = _run_int(x, w, b, name, 128, packed)
    assert not np.isnan(y.astype(np.float32)).any(), "an output was not written"
    assert ulp_distance(y, ref).max() <= 1


# The walking wgmma kernels (persistent, stream-K) store 16-bit output tiles
# by TMA where Y is 16-byte aligned with rows a multiple of 16 bytes
# (tma_store_ok), else by the consumers' copy-out, as the grid kernels always
# do; IS_TMA_STORE=0 forces the copy-out. Both give the reference's bits: tail
# tiles (TMA clips rows past M and channels past N), a misaligned Y (a view
# one element in), rows of 4100 channels (not a multiple of 8), blocks whose
# boxes are rewritten tile after tile, 64- and 128-token tiles, a grid case.
@pytest.mark.parametrize("name", ["fp16", "bf16"])
@pytest.mark.parametrize("m,n,k,path", [(64, 136, 256, "streamk"), (70, 1000, 1024, "streamk"), (300, 200, 512, "persistent"),
                                        (520, 4224, 512, "persistent"), (384, 12800, 512, "streamk"),
                                        (200, 1024, 1024, "wgmma"), (100, 4100, 1024, "streamk"), (130, 4100, 512, "persistent")])
@pytest.mark.parametrize("tma", ["1", "0"])
@pytest.mark.parametrize("offset", [0, 1])
def test_output_tma_store_and_copy_out_same_bits(m, n, k, path, tma, offset, name, monkeypatch):
    _set_path(monkeypatch, path)
    monkeypatch.setenv("IS_TMA_STORE", tma)
    seed = 3 * m + n
    x, w, b, packed = random_case_cached(m, n, k, 128, DTYPES[name], True, seed)
    ref = random_reference(m, n, k, 128, name, True, seed)
    flat = torch.full((m * n + offset,), float("nan"), dtype=TORCH[name], device="cuda")  # poison
    out = flat[offset:].view(m, n)
    y = plugin.int_scale_gemm(_to_torch(x, name), _to_torch(packed), _to_torch(w.S), _to_torch(w.C),
                              _to_torch(b, name), 128, out=out)
    torch.cuda.synchronize()
    y = _to_numpy(y, name)
    assert not np.isnan(y.astype(np.float32)).any(), "an output was not written"
    assert ulp_distance(y, ref).max() <= 1
    if offset:
        assert torch.isnan(flat[:offset]).all(), "a store landed before Y"


# Y written by one call's TMA stores is the next call's input in the same CUDA
# graph (the next quantization kernel reads it after its grid dependency
# wait): two layers chained, replayed, against the reference of the chain.
@pytest.mark.parametrize("m,path", [(64, "streamk"), (256, "persistent"), (200, "streamk")])
def test_tma_stored_output_feeds_next_call_in_graph(m, path, monkeypatch):
    _set_path(monkeypatch, path)
    n = k = 1024
    _, w, _, packed = random_case_cached(m, n, k, 128, DTYPES["fp16"], False, seed=m + 11)
    x = (np.random.default_rng(m).standard_normal((m, k))).astype(np.float16)
    y1 = int_scale_gemm_reference(x, packed, w.S, w.C, None, 128)
    y2 = int_scale_gemm_reference(y1.astype(np.float16), packed, w.S, w.C, None, 128)
    wq, S, C = _to_torch(packed), _to_torch(w.S), _to_torch(w.C)
    x_dev = _to_torch(x)
    ws = plugin.workspace_for(m, n, k, "cuda")
    a = torch.full((m, n), float("nan"), dtype=torch.float16, device="cuda")
    c = torch.full((m, n), float("nan"), dtype=torch.float16, device="cuda")
    plugin.int_scale_gemm(x_dev, wq, S, C, None, 128, ws, a)  # load the kernels before the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        plugin.int_scale_gemm(x_dev, wq, S, C, None, 128, ws, a)
        plugin.int_scale_gemm(a, wq, S, C, None, 128, ws, c)
    for _ in range(3):
        a.fill_(float("nan"))
        c.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        assert ulp_distance(a.cpu().numpy(), y1).max() <= 1
        assert ulp_distance(c.cpu().numpy(), y2).max() <= 1


@pytest.mark.parametrize("k", [4096, 4100, 20000])  # one-pass vector kernel; K % 8 != 0 and K too long: two-pass kernel
@pytest.mark.parametrize("name", ["fp16", "fp32", "bf16"])
def test_activation_quantization_bit_exact(name, k):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((37, k)) * 3).astype(np.float32).astype(DTYPES[name])
    x[5] = 0
    _check_quantization_bit_exact(x, name)


def _check_quantization_bit_exact(x: np.ndarray, name: str) -> None:
    """xq and sa of the CUDA quantization kernel equal the NumPy reference's."""
    xq, sa = plugin.quantize_activations_cuda(_to_torch(x, name))
    rxq, rsa = quantize_activations(x)
    np.testing.assert_array_equal(xq.cpu().numpy().astype(np.int32), rxq)
    np.testing.assert_array_equal(sa.cpu().numpy(), rsa)


# Every block size of the one-pass quantization kernel (IS_QUANT=256|512|1024,
# act_quant.cu; the library takes 512 where M <= 64, or K >= 8192 and M <= 512): a row of
# zeros, a row whose max is its last element; K = 20000 does not fit the
# registers at any size (the two-pass kernel), K = 1032 leaves most threads idle.
QUANT_THREADS = ["256", "512", "1024"]


@pytest.mark.parametrize("k", [4096, 14336, 20000, 1032])
@pytest.mark.parametrize("threads", QUANT_THREADS)
def test_activation_quantization_block_sizes_bit_exact(threads, k, monkeypatch):
    monkeypatch.setenv("IS_QUANT", threads)
    rng = np.random.default_rng(k)
    x = (rng.standard_normal((19, k)) * 3).astype(np.float16)
    x[4] = 0
    x[7, k - 1] = 1000
    _check_quantization_bit_exact(x, "fp16")


# The same block sizes behind the wgmma GEMM (xq in its permuted order; the
# stream-K counters zeroed by the kernel: 384 x 12800 x 512 runs stream-K)
# and behind the mma.sync GEMM (natural order), bit-exact.
@pytest.mark.parametrize("m,n,k,path", [(64, 4096, 14336, "wgmma"), (384, 12800, 512, "auto"), (37, 256, 4096, "mma")])
@pytest.mark.parametrize("threads", QUANT_THREADS)
def test_gemm_with_quantization_block_sizes_bit_exact(m, n, k, path, threads, monkeypatch):
    _set_path(monkeypatch, path)
    monkeypatch.setenv("IS_QUANT", threads)
    _check_acc_bit_exact(m, n, k, 128, seed=m + k)


def test_quantization_block_size_not_built_is_refused(monkeypatch):
    monkeypatch.setenv("IS_QUANT", "384")
    with pytest.raises(RuntimeError):
        plugin.quantize_activations_cuda(torch.ones((2, 4096), device="cuda", dtype=torch.float16))


@pytest.mark.parametrize("m,n,k", [(1, 4096, 4096), (64, 1024, 2048), (600, 256, 1024)])
def test_float_scale_baseline_close(m, n, k, gemm_path):
    run, ref = _float_baseline_case(m, n, k, seed=m)
    np.testing.assert_allclose(run(), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_bad_arguments_are_refused():
    x = torch.ones((2, 96), device="cuda")
    wq = torch.zeros((8, 12), dtype=torch.int32, device="cuda")
    with pytest.raises(RuntimeError, match="group_size"):  # K = 96 is not a multiple of 128
        plugin.int_scale_gemm(x, wq, torch.ones((8, 1), dtype=torch.int32, device="cuda"),
                              torch.ones(8, device="cuda"), None, 128)
    with pytest.raises(ValueError, match="K=96"):
        plugin.int_scale_gemm(x, wq[:, :8], torch.ones((8, 1), dtype=torch.int32, device="cuda"),
                              torch.ones(8, device="cuda"), None, 32)
    x = torch.zeros((2, 128), dtype=torch.float64, device="cuda")
    with pytest.raises(TypeError):
        plugin.quantize_activations_cuda(x)
