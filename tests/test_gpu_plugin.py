"""The TensorRT plugin's own code on the GPU, without the TensorRT runtime.

plugins/tests/plugin_host drives creator -> createPlugin -> clone ->
getOutputDataTypes -> supportsFormatCombination -> configurePlugin ->
getWorkspaceSize -> onShapeChange -> enqueue, then getFieldsToSerialize ->
createPlugin -> attachToContext -> enqueue; both outputs must equal the NumPy
reference bit for bit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from is_export.numerics import int_scale_gemm_reference
from tests.gpu_helpers import DTYPES, random_case

pytestmark = pytest.mark.gpu

HOST = Path(__file__).resolve().parents[1] / "build" / "plugins" / "plugin_host"
CODES = {"fp32": 0, "fp16": 1, "bf16": 2}


def write_case(d: Path, m, n, k, gs, name, bias, seed=0):
    rng = np.random.default_rng(seed)
    x, w, b = random_case(m, n, k, gs, DTYPES[name], bias, rng)
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.txt").write_text(f"{m} {n} {k} {gs} {CODES[name]} {int(bias)}\n")
    for fname, arr in (("X", x), ("Wq", w.packed()), ("S", w.S), ("C", w.C)) + ((("B", b),) if bias else ()):
        (d / f"{fname}.bin").write_bytes(np.ascontiguousarray(arr).tobytes())
    return int_scale_gemm_reference(x, w.packed(), w.S, w.C, b, gs)


@pytest.mark.skipif(not HOST.exists(), reason="plugin_host not built (scripts/gpu_suite.sh builds it)")
@pytest.mark.parametrize("m,n,k,gs,name,bias", [
    (1, 4096, 4096, 128, "fp16", False), (7, 1000, 1024, 64, "bf16", True),
    (300, 256, 2048, 128, "fp32", True), (33, 11008, 4096, 128, "fp16", True),
])
def test_plugin_calls_match_reference(tmp_path, m, n, k, gs, name, bias):
    ref = write_case(tmp_path, m, n, k, gs, name, bias, seed=m + n)
    res = subprocess.run([str(HOST), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    for out in ("Y_first.bin", "Y_reloaded.bin"):
        y = np.frombuffer((tmp_path / out).read_bytes(), dtype=ref.dtype).reshape(m, n)
        np.testing.assert_array_equal(y, ref)
