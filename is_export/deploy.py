"""Deployment API: quantize a model, build and run a TensorRT engine with the
IntScaleGemm plugin, or run the portable ONNX Runtime form.

TensorRT is imported lazily; every function that needs it raises
TensorRTUnavailable, with what to install, when it is missing.
"""

from __future__ import annotations

import ctypes
import shlex
from pathlib import Path

import numpy as np

from . import contract
from .errors import ExportError
from .exporter import export_model
from .options import ExportOptions
from .report import ExportReport


class TensorRTUnavailable(ExportError):
    """TensorRT (the Python package and its libraries) is not installed here."""


INSTALL_HINT = ("TensorRT is not available: install TensorRT 10.x with its Python package on a machine with an "
                "NVIDIA GPU (pip install tensorrt, or NVIDIA's TensorRT tarball/container), then build the plugin "
                "with cmake -S plugins -B build/plugins -DTENSORRT_ROOT=<TensorRT> && cmake --build build/plugins")


def require_tensorrt():
    """Import and return the ``tensorrt`` module, or raise TensorRTUnavailable."""
    try:
        import tensorrt as trt  # noqa: PLC0415
    except Exception as exc:  # ImportError, or a broken install whose libraries fail to load
        raise TensorRTUnavailable(f"{INSTALL_HINT} ({type(exc).__name__}: {exc})") from None
    if not hasattr(trt, "Builder"):
        raise TensorRTUnavailable(f"{INSTALL_HINT} (the 'tensorrt' module found has no Builder: type stubs only?)")
    return trt


def quantize(model: str | Path, output: str | Path, **options) -> ExportReport:
    """Rewrite ``model`` into ``output``; options are ExportOptions fields
    (group_size, amplifier, target, exclude, keep_head, ...)."""
    return export_model(model, output, ExportOptions(**options))


Shape = tuple[int, ...]


def trt_profile_shapes(shapes: dict[str, Shape | tuple[Shape, Shape, Shape]]) -> dict[str, tuple[Shape, Shape, Shape]]:
    """Normalize input shapes to (min, opt, max) triples for an optimization profile.

    A single shape means min = opt = max. Raises ExportError unless the three
    have the same rank and min <= opt <= max elementwise.
    """
    out = {}
    for name, spec in shapes.items():
        if spec and isinstance(spec[0], (tuple, list)):
            lo, opt, hi = (tuple(int(d) for d in s) for s in spec)
        else:
            lo = opt = hi = tuple(int(d) for d in spec)
        if not (len(lo) == len(opt) == len(hi)) or any(not (a <= b <= c) for a, b, c in zip(lo, opt, hi)):
            raise ExportError(f"input {name}: profile needs min <= opt <= max of equal rank, got {lo}, {opt}, {hi}")
        if any(d <= 0 for d in lo):
            raise ExportError(f"input {name}: profile dims must be positive, got {lo}")
        out[name] = (lo, opt, hi)
    return out


def _dims(shape: Shape) -> str:
    return "x".join(str(d) for d in shape)


def trtexec_command(onnx_path: str | Path, engine_path: str | Path, shapes: dict, plugin_library: str | Path) -> str:
    """The trtexec command line that builds the same engine as build_trt_engine."""
    prof = trt_profile_shapes(shapes)
    parts = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}", "--fp16",
             f"--dynamicPlugins={plugin_library}"]
    if prof:
        for flag, i in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
            parts.append(flag + "=" + ",".join(f"{n}:{_dims(s[i])}" for n, s in prof.items()))
    return " ".join(shlex.quote(p) for p in parts)


def load_plugin_library(path: str | Path | None = None) -> Path:
    """Load the self-registering plugin library into this process (RTLD_GLOBAL)."""
    from .plugin import plugin_library

    lib = Path(path) if path else plugin_library("static")
    ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    return lib


def build_trt_engine(onnx_path: str | Path, engine_path: str | Path, shapes: dict | None = None, *,
                     fp16: bool = True, plugin_library: str | Path | None = None, workspace_gib: float = 4.0) -> Path:
    """Parse a ``--target trt`` model with the plugin loaded, build an engine
    (FP16 flag, one optimization profile from ``shapes``) and save it."""
    trt = require_tensorrt()
    prof = trt_profile_shapes(shapes or {})
    logger = trt.Logger(trt.Logger.WARNING)
    trt.init_libnvinfer_plugins(logger, "")
    load_plugin_library(plugin_library)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if prof:
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in prof.items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise ExportError("TensorRT failed to build the engine (see its log above)")
    engine_path = Path(engine_path)
    engine_path.write_bytes(bytes(blob))
    return engine_path


class TrtSession:
    """Runs a serialized engine on torch CUDA tensors (NumPy inputs are copied to the GPU)."""

    def __init__(self, engine_path: str | Path, plugin_library: str | Path | None = None):
        trt = require_tensorrt()
        import torch

        load_plugin_library(plugin_library)
        self._torch = torch
        self._trt = trt
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise ExportError(f"TensorRT could not deserialize {engine_path}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]

    def run(self, feeds: dict) -> dict:
        """feeds: name -> NumPy array or torch tensor. Returns name -> torch CUDA tensor."""
        torch = self._torch
        keep = []
        for name in self.inputs:
            t = torch.as_tensor(feeds[name]).cuda().contiguous()
            keep.append(t)
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        out = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32}.get(
                np.dtype(self._trt.nptype(self.engine.get_tensor_dtype(name))), torch.float32)
            out[name] = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, out[name].data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise ExportError("TensorRT execution failed")
        stream.synchronize()
        return out


class OrtSession:
    """The portable fallback: ONNX Runtime on a rewritten model, any CPU.

    A ``--target trt`` model is expanded to standard ONNX ops in memory first.
    """

    def __init__(self, model_path: str | Path, providers: list[str] | None = None):
        import onnxruntime as ort

        from .model_io import load_model

        model = load_model(model_path)
        if any(n.op_type == contract.OP_TYPE for n in model.graph.node):
            from .passes.onnxrt_expand import expand_model

            model = expand_model(model)
        self.session = ort.InferenceSession(model.SerializeToString(), providers=providers or ["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict) -> dict:
        """feeds: name -> NumPy array (or torch tensor). Returns name -> NumPy array."""
        arrays = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)) for k, v in feeds.items()}
        return dict(zip(self.outputs, self.session.run(None, arrays)))
