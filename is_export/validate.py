"""Validate a rewritten model against its original with Polygraphy.

The reference runner is ONNX Runtime on the original model (FP32, or FP16 via
Polygraphy's ConvertToFp16). The candidate runner is TensorRT with the
IntScaleGemm plugin (``backend="trt"``, needs TensorRT and a GPU) or ONNX
Runtime on the standard-ONNX expansion (``backend="onnxrt"``, any CPU).
Polygraphy's Comparator runs both on the same inputs (its DataLoader, or
inputs loaded from JSON/.npz) and compares them with a compare function that
measures, per output: max/mean absolute and relative error, cosine
similarity, and for logits the top-1 agreement.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from . import contract
from .errors import ExportError
from .model_io import load_model

BACKENDS = ("onnxrt", "trt")
REFERENCES = ("fp32", "fp16")


@dataclass
class Tolerances:
    """Pass criteria, applied to every output.

    min_cosine: mean over rows (last axis) of the cosine similarity. The
    default 0.85 is a sanity gate for W4A8 (a broken rewrite scores near 0;
    4-bit RTN of the small MiniLM encoder alone scores 0.93 weight-only),
    not an accuracy claim: tighten it for your model.
    min_top1: top-1 agreement over rows, for outputs treated as logits.
    max_abs: optional bound on the max absolute error.
    """

    min_cosine: float = 0.85
    min_top1: float = 0.0
    max_abs: float | None = None


@dataclass
class OutputMetrics:
    """Error statistics of one output over all iterations."""

    name: str
    max_abs: float
    mean_abs: float
    max_rel: float
    mean_rel: float
    cosine_mean: float
    cosine_min: float
    top1: float | None
    passed: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class ValidationResult:
    passed: bool
    reference: str
    backend: str
    outputs: list[OutputMetrics]
    iterations: int

    def summary(self) -> str:
        lines = []
        for o in self.outputs:
            top1 = "" if o.top1 is None else f", top-1 agreement {o.top1:.4f}"
            verdict = "PASS" if o.passed else "FAIL: " + "; ".join(o.reasons)
            lines.append(
                f"{o.name}: cosine mean {o.cosine_mean:.5f} min {o.cosine_min:.5f}, max abs {o.max_abs:.4g}, "
                f"mean abs {o.mean_abs:.4g}, max rel {o.max_rel:.4g}, mean rel {o.mean_rel:.4g}{top1} -> {verdict}"
            )
        lines.append(f"validation {'PASSED' if self.passed else 'FAILED'} ({self.backend} vs onnxrt-{self.reference}, "
                     f"{self.iterations} iteration(s))")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"passed": self.passed, "reference": self.reference, "backend": self.backend,
                "iterations": self.iterations, "outputs": [asdict(o) for o in self.outputs]}


def output_metrics(name: str, ref: np.ndarray, got: np.ndarray, logits: bool) -> dict:
    """Error statistics of got vs ref (float64), rows along the last axis."""
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(got, dtype=np.float64)
    if a.shape != b.shape:
        raise ExportError(f"output {name}: shape {list(b.shape)} differs from the reference {list(a.shape)}")
    diff = np.abs(a - b)
    rel = diff / np.maximum(np.abs(a), 1e-6 * max(np.abs(a).max(), 1e-30))
    a2 = a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)
    b2 = b.reshape(-1, b.shape[-1]) if b.ndim else b.reshape(1, 1)
    na, nb = np.linalg.norm(a2, axis=1), np.linalg.norm(b2, axis=1)
    cos = np.where((na > 0) & (nb > 0), (a2 * b2).sum(1) / np.maximum(na * nb, 1e-300), (na == nb).astype(float))
    top1 = float((a2.argmax(1) == b2.argmax(1)).mean()) if logits and a2.shape[1] > 1 else None
    nan = bool(np.isnan(b).any())
    return dict(max_abs=float("inf") if nan else float(diff.max()), mean_abs=float(diff.mean()),
                max_rel=float(rel.max()), mean_rel=float(rel.mean()),
                cosine=cos if not nan else np.zeros_like(cos), top1=top1)


def _is_logits(name: str, logits_names: list[str] | None) -> bool:
    if logits_names is not None:
        return name in logits_names
    return "logit" in name.lower()


def _model_bytes(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString()


def _reference_model(original: onnx.ModelProto, reference: str) -> onnx.ModelProto:
    if reference == "fp32":
        return original
    import warnings

    import onnxruntime as ort
    from polygraphy.backend.onnx import convert_to_fp16

    # Inputs and outputs keep their types (Casts at the edges), so the feeds are shared.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp16 = convert_to_fp16(original)
    try:  # the converter (onnxconverter-common) cannot handle every graph: say so now, plainly
        ort.InferenceSession(fp16.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:
        reason = str(exc).strip().splitlines()[-1][:200]
        raise ExportError(f"the FP16 reference could not be built from the original model ({reason}); "
                          "use --reference fp32") from None
    return fp16


def _candidate_runner(path: Path, model: onnx.ModelProto, backend: str, shapes, plugin_library):
    from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx

    if backend == "onnxrt":
        if any(n.op_type == contract.OP_TYPE for n in model.graph.node):
            from .passes.onnxrt_expand import expand_model

            model = expand_model(model)
        return OnnxrtRunner(SessionFromOnnx(_model_bytes(model)), name="candidate-onnxrt")
    from .deploy import require_tensorrt, trt_profile_shapes

    require_tensorrt()
    from polygraphy.backend.trt import (CreateConfig, EngineFromNetwork, LoadPlugins, NetworkFromOnnxPath, Profile,
                                        TrtRunner)

    from .plugin import plugin_library as find_library

    lib = str(plugin_library or find_library("static"))
    profiles = []
    if shapes:
        prof = Profile()
        for name, (lo, opt, hi) in trt_profile_shapes(shapes).items():
            prof.add(name, min=lo, opt=opt, max=hi)
        profiles = [prof]
    network = LoadPlugins(plugins=[lib], obj=NetworkFromOnnxPath(str(path)))
    engine = EngineFromNetwork(network, config=CreateConfig(fp16=True, profiles=profiles))
    return TrtRunner(engine, name="candidate-trt")


def load_feeds(path: str | Path) -> list[dict]:
    """Inputs from Polygraphy's JSON (a list of feed dicts) or a NumPy .npz (one feed dict)."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"input file {path} does not exist")
    if path.suffix == ".npz":
        with np.load(path) as data:
            return [{k: data[k] for k in data.files}]
    from polygraphy.json import load_json

    feeds = load_json(str(path), description="input data")
    return feeds if isinstance(feeds, list) else [feeds]


def _data_loader(model: onnx.ModelProto, shapes: dict | None, int_range, float_range, iterations: int, seed: int):
    from polygraphy.comparator import DataLoader
    from polygraphy.common import TensorMetadata

    meta = TensorMetadata()
    for inp in model.graph.input:
        if any(inp.name == init.name for init in model.graph.initializer):
            continue
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or -1) for d in tt.shape.dim]
        if shapes and inp.name in shapes:
            dims = list(shapes[inp.name])
        elif any(not isinstance(d, int) or d < 0 for d in dims):
            raise ExportError(f"input {inp.name} has dynamic dims {dims}: give its shape with --shape {inp.name}:AxB")
        meta.add(inp.name, onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type), dims)
    val_range = {}
    for inp in model.graph.input:
        dt = onnx.helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
        rng = int_range if np.issubdtype(dt, np.integer) else float_range
        if rng is not None:
            val_range[inp.name] = tuple(rng)
    return DataLoader(seed=seed, iterations=iterations, input_metadata=meta, val_range=val_range or None)


def validate(
    original: str | Path,
    rewritten: str | Path,
    *,
    reference: str = "fp32",
    backend: str = "onnxrt",
    shapes: dict[str, tuple[int, ...]] | None = None,
    int_range: tuple[int, int] | None = None,
    float_range: tuple[float, float] | None = None,
    load_inputs: str | Path | None = None,
    iterations: int = 1,
    seed: int = 1,
    tolerances: Tolerances | None = None,
    logits_names: list[str] | None = None,
    report_path: str | Path | None = None,
    plugin_library: str | Path | None = None,
) -> ValidationResult:
    """Compare ``rewritten`` with ``original`` on the same inputs; see the module doc.

    shapes: concrete shapes for inputs with dynamic dims, e.g. {"input_ids": (1, 16)}.
    int_range / float_range: (low, high) of generated integer / float inputs.
    load_inputs: Polygraphy JSON or .npz with the inputs to use instead.
    Returns a ValidationResult; raises ExportError on bad arguments or models.
    """
    from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
    from polygraphy.comparator import Comparator
    from polygraphy.logger import G_LOGGER

    G_LOGGER.module_severity = G_LOGGER.WARNING  # Polygraphy's per-inference chatter is not for this CLI
    if backend not in BACKENDS:
        raise ExportError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if reference not in REFERENCES:
        raise ExportError(f"unknown reference {reference!r}: use one of {', '.join(REFERENCES)}")
    tol = tolerances or Tolerances()
    orig = load_model(original)
    cand = load_model(rewritten)
    ref_runner = OnnxrtRunner(SessionFromOnnx(_model_bytes(_reference_model(orig, reference))),
                              name=f"reference-onnxrt-{reference}")
    cand_runner = _candidate_runner(Path(rewritten), cand, backend, shapes, plugin_library)
    if load_inputs is not None:
        feeds = load_feeds(load_inputs)
        loader = feeds
        iterations = len(feeds)
    else:
        loader = _data_loader(orig, shapes, int_range, float_range, iterations, seed)
    try:
        results = Comparator.run([ref_runner, cand_runner], data_loader=loader)
    except Exception as exc:  # a model that does not run is a failed validation with its reason
        raise ExportError(f"running the models failed: {str(exc).strip().splitlines()[-1]}") from None

    per_output: dict[str, list[dict]] = {}
    (_, ref_iters), (_, cand_iters) = results[0], results[1]
    for ref_out, cand_out in zip(ref_iters, cand_iters):
        for name in ref_out.keys():
            if name not in cand_out:
                raise ExportError(f"output {name} is missing from the rewritten model")
            per_output.setdefault(name, []).append(
                output_metrics(name, np.asarray(ref_out[name]), np.asarray(cand_out[name]), _is_logits(name, logits_names)))

    outputs = []
    for name, ms in per_output.items():
        cos = np.concatenate([m["cosine"] for m in ms])
        top1s = [m["top1"] for m in ms if m["top1"] is not None]
        om = OutputMetrics(
            name=name, max_abs=max(m["max_abs"] for m in ms), mean_abs=float(np.mean([m["mean_abs"] for m in ms])),
            max_rel=max(m["max_rel"] for m in ms), mean_rel=float(np.mean([m["mean_rel"] for m in ms])),
            cosine_mean=float(cos.mean()), cosine_min=float(cos.min()),
            top1=float(np.mean(top1s)) if top1s else None, passed=True,
        )
        if not om.cosine_mean >= tol.min_cosine:
            om.reasons.append(f"cosine mean {om.cosine_mean:.4f} < {tol.min_cosine}")
        if om.top1 is not None and not om.top1 >= tol.min_top1:
            om.reasons.append(f"top-1 agreement {om.top1:.4f} < {tol.min_top1}")
        if tol.max_abs is not None and not om.max_abs <= tol.max_abs:
            om.reasons.append(f"max abs error {om.max_abs:.4g} > {tol.max_abs}")
        om.passed = not om.reasons
        outputs.append(om)
    result = ValidationResult(passed=all(o.passed for o in outputs), reference=reference, backend=backend,
                              outputs=outputs, iterations=iterations)
    if report_path is not None:
        Path(report_path).write_text(json.dumps(result.to_json(), indent=2))
    return result
