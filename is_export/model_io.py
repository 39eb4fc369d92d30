"""Reading and writing ONNX models safely.

Loading checks what users get wrong (not an ONNX file, a missing or truncated
external-data file) and names the problem. Saving is atomic: everything is
written into a temporary folder beside the output and moved into place with
``os.replace`` only once complete, so no half-written model is ever left and
the input is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from .errors import ExportError

# Models whose initializers exceed this are written with external data: a
# protobuf message cannot exceed 2 GiB.
EXTERNAL_DATA_THRESHOLD = 1 << 30


def external_data_files(model: onnx.ModelProto) -> set[str]:
    """Relative locations of every external-data file the model's initializers use."""
    return {
        ExternalDataInfo(t).location
        for t in model.graph.initializer
        if uses_external_data(t)
    }


def _check_external_data(model: onnx.ModelProto, base: Path) -> None:
    """Raise ExportError if an external-data file is missing or too short."""
    for t in model.graph.initializer:
        if not uses_external_data(t):
            continue
        info = ExternalDataInfo(t)
        path = base / info.location
        if not path.is_file():
            raise ExportError(f"external data file {path} (initializer {t.name!r}) is missing")
        size = path.stat().st_size
        end = (info.offset or 0) + (info.length or 0)
        if info.length is not None and end > size:
            raise ExportError(
                f"external data file {path} is truncated: initializer {t.name!r} needs bytes up to "
                f"{end}, the file has {size}"
            )


def load_model(path: str | Path) -> onnx.ModelProto:
    """Load an ONNX model with its external data.

    Raises ExportError (one line) if the file is missing, is not ONNX, has no
    graph, or refers to external data that is missing or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"input file {path} does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as exc:
        raise ExportError(f"{path} is not an ONNX model ({type(exc).__name__})") from None
    if not model.graph.node and not model.graph.initializer:
        raise ExportError(f"{path} is not an ONNX model (no graph found)")
    _check_external_data(model, path.parent)
    _check_tensors_defined(model, path)
    onnx.load_external_data_for_model(model, str(path.parent))
    return model


def _check_tensors_defined(model: onnx.ModelProto, path: Path) -> None:
    """Raise ExportError if a node reads a tensor nothing provides (e.g. a missing weight)."""
    known = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    known |= {o for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        for name in node.input:
            if name not in known:
                raise ExportError(f"{path}: node {node.name or node.op_type!r} reads {name!r}, which no initializer, "
                                  "graph input or node provides (a missing weight?)")


def initializer_bytes(model: onnx.ModelProto) -> int:
    """Total bytes of the initializers' data (without serializing the model)."""
    return sum(len(t.raw_data) for t in model.graph.initializer)


def check_output_path(inp: str | Path, out: str | Path, inp_model: onnx.ModelProto | None = None) -> None:
    """Refuse an output path that would overwrite the input or its external data."""
    inp, out = Path(inp).resolve(), Path(out).resolve()
    if inp == out:
        raise ExportError(f"output path {out} is the input file: choose another output")
    if inp_model is not None:
        for loc in external_data_files(inp_model):
            data = (inp.parent / loc).resolve()
            if data in (out, out.with_name(out.name + ".data")):
                raise ExportError(f"output path {out} would overwrite the input's external data {data}")


def save_model(model: onnx.ModelProto, out: str | Path, external_data: bool | None = None) -> list[Path]:
    """Write ``model`` to ``out`` atomically; returns the files written.

    external_data: True writes all initializers to ``<out>.data`` beside the
    model; None decides by size (over EXTERNAL_DATA_THRESHOLD).
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if external_data is None:
        external_data = initializer_bytes(model) > EXTERNAL_DATA_THRESHOLD
    data_name = out.name + ".data"
    tmp = Path(tempfile.mkdtemp(prefix=".is-export-", dir=out.parent))
    try:
        if external_data:
            onnx.save_model(
                model, str(tmp / out.name), save_as_external_data=True,
                all_tensors_to_one_file=True, location=data_name, size_threshold=1024,
            )
        else:
            onnx.save_model(model, str(tmp / out.name))
        written = []
        # Data first, model last: a reader never sees a model whose data is missing.
        if (tmp / data_name).exists():
            os.replace(tmp / data_name, out.parent / data_name)
            written.append(out.parent / data_name)
        os.replace(tmp / out.name, out)
        written.append(out)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
