"""Finding the built CUDA libraries and calling the kernels from Python.

``plugin_library()`` returns the path of the TensorRT plugin library (for
``trtexec``, Polygraphy ``--plugins`` or ``ctypes.CDLL``). The kernel
functions take and return torch CUDA tensors; they call ``libis_kernels.so``
through ctypes on torch's current stream.

Build the libraries with::

    cmake -S plugins -B build/plugins && cmake --build build/plugins -j

or point ``IS_EXPORT_PLUGIN_DIR`` at a folder holding them.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache
from pathlib import Path

LIBRARIES = {
    "static": "libis_plugins.so",  # registers the creator when loaded
    "dynamic": "libis_plugins_dynamic.so",  # exports getCreators() for --dynamicPlugins
    "kernels": "libis_kernels.so",  # the C ABI of plugins/include/is_kernels.h
}

BUILD_HINT = "build it with: cmake -S plugins -B build/plugins && cmake --build build/plugins -j"

# is_dtype_t of is_kernels.h
_DTYPE_CODES = {"torch.float32": 0, "torch.float16": 1, "torch.bfloat16": 2}


def _search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("IS_EXPORT_PLUGIN_DIR"):
        dirs.append(Path(os.environ["IS_EXPORT_PLUGIN_DIR"]))
    root = Path(__file__).resolve().parents[1]
    dirs += [root / "build" / "plugins", Path(__file__).resolve().parent / "lib"]
    return dirs


def plugin_library(kind: str = "static") -> Path:
    """Path of a built library: "static" (plugin, self-registering), "dynamic"
    (plugin, getCreators) or "kernels". Raises FileNotFoundError saying how to
    build it when it is not there."""
    if kind not in LIBRARIES:
        raise ValueError(f"unknown library kind {kind!r}: one of {', '.join(LIBRARIES)}")
    name = LIBRARIES[kind]
    for d in _search_dirs():
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(f"{name} not found in {', '.join(map(str, _search_dirs()))}; {BUILD_HINT}")


def _kernels() -> ctypes.CDLL:
    return kernels_library()


@lru_cache(maxsize=None)
def kernels_library(path: str | None = None) -> ctypes.CDLL:
    """libis_kernels.so with its functions typed: the build plugin_library("kernels")
    finds (path None), or the file at `path`, another build loaded beside it in
    the same process (each copy has its own kernels and state), so that two
    builds can be timed side by side (scripts/bench_gemm.py --lib). Raises
    FileNotFoundError when `path` is not a file."""
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"kernel library {path} not found")
    lib = ctypes.CDLL(str(plugin_library("kernels") if path is None else Path(path).resolve()))
    i64, vp, sz, i32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    lib.is_error_string.restype = ctypes.c_char_p
    lib.is_error_string.argtypes = [i32]
    lib.is_gemm_workspace_size.restype = sz
    lib.is_gemm_workspace_size.argtypes = [i64, i64, i64]
    lib.is_quantize_activations.argtypes = [vp, i32, i64, i64, vp, vp, vp]
    gemm_args = [vp, i32, vp, vp, vp, vp, vp, i64, i64, i64, i32, vp, sz, vp]
    lib.is_int_scale_gemm.argtypes = gemm_args
    lib.is_float_scale_gemm.argtypes = [vp, i32, vp, vp, vp, vp, i64, i64, i64, i32, vp, sz, vp]
    return lib


def _check(code: int) -> None:
    if code != 0:
        raise RuntimeError(_kernels().is_error_string(code).decode())


def _dtype_code(t) -> int:
    code = _DTYPE_CODES.get(str(t.dtype))
    if code is None:
        raise TypeError(f"unsupported activation dtype {t.dtype}: float32, float16 or bfloat16")
    return code


def _stream():
    import torch

    return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)


def _ptr(t):
    return ctypes.c_void_p(0 if t is None else t.data_ptr())


def quantize_activations_cuda(x):
    """Contract steps 1-2 on the GPU: x [..., K] -> (xq int8 [M, K], sa float32 [M])."""
    import torch

    x2 = x.reshape(-1, x.shape[-1]).contiguous()
    m, k = x2.shape
    xq = torch.empty((m, k), dtype=torch.int8, device=x.device)
    sa = torch.empty((m,), dtype=torch.float32, device=x.device)
    _check(_kernels().is_quantize_activations(_ptr(x2), _dtype_code(x2), m, k, _ptr(xq), _ptr(sa), _stream()))
    return xq, sa


def workspace_for(m: int, n: int, k: int, device, lib: ctypes.CDLL | None = None):
    """A device workspace large enough for the GEMMs at these sizes (of `lib`,
    a kernels_library(); the default build when None)."""
    import torch

    size = (lib or _kernels()).is_gemm_workspace_size(m, n, k)
    return torch.empty(int(size), dtype=torch.uint8, device=device)


def _gemm(fn_name: str, lib, x, wq, scales, c, bias, group_size, workspace, out):
    """Calls lib's (the default build's when None) GEMM entry point fn_name."""
    import torch

    lib = lib or _kernels()

    k = x.shape[-1]
    x2 = x.reshape(-1, k).contiguous()
    m, n = x2.shape[0], wq.shape[0]
    if wq.shape[1] * 8 != k:
        raise ValueError(f"X has K={k} but Wq holds K={wq.shape[1] * 8}")
    if workspace is None:
        workspace = workspace_for(m, n, k, x.device, lib)
    y = out if out is not None else torch.empty((m, n), dtype=x.dtype, device=x.device)
    args = [_ptr(x2), _dtype_code(x2), _ptr(wq), _ptr(scales)]
    if c is not None:
        args.append(_ptr(c))
    args += [_ptr(bias), _ptr(y), m, n, k, group_size, _ptr(workspace), workspace.numel(), _stream()]
    _check(getattr(lib, fn_name)(*args))
    return y.reshape(*x.shape[:-1], n)


def int_scale_gemm(x, wq, S, C, bias=None, group_size: int = 128, workspace=None, out=None, lib=None):
    """IntScaleGemm on the GPU (the op the plugin runs), torch tensors in and out.

    x [..., K] fp32/fp16/bf16; wq int32 [N, K/8] (nk_u4x8); S int32 [N, G];
    C float32 [N]; bias [N] of x's dtype or None. Returns [..., N] of x's dtype.
    lib: a kernels_library() to run instead of the default build.
    """
    return _gemm("is_int_scale_gemm", lib, x, wq, S, C, bias, group_size, workspace, out)


def float_scale_gemm(x, wq, s, bias=None, group_size: int = 128, workspace=None, out=None, lib=None):
    """The float-scale baseline kernel: s float32 [N, G] instead of S and C."""
    return _gemm("is_float_scale_gemm", lib, x, wq, s, None, bias, group_size, workspace, out)
