"""CI without a GPU: no kernel reads what the grid before it writes (X, xq,
sa) through the non-coherent `ld.global.nc` path, which lets ptxas move the
load above `griddepcontrol.wait` (scripts/check_produced_loads.py says why;
in v21/v22 it did, for the mma.sync GEMM's xq). Checked on each kernel
source's sm_90a PTX by the script's dataflow."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("check_produced_loads", ROOT / "scripts" / "check_produced_loads.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed: PTX cannot be generated here")

PROBE = r"""
__global__ void probe_kernel(const float* __restrict__ produced, const float* __restrict__ weights,
                             float* __restrict__ y, int n) {
  asm volatile("griddepcontrol.wait;" ::: "memory");
  const int i = threadIdx.x % n;
  y[threadIdx.x] = __ldg(produced + i) * __ldg(weights + i);
}
"""


@needs_nvcc
def test_the_check_flags_nc_loads_of_produced_data_and_only_those(tmp_path):
    """A kernel reading its parameter 0 (produced) and 1 (a weight) with
    __ldg: exactly the produced load is a finding; with no parameter
    produced, none; with the wgmma rule (None), both."""
    src = tmp_path / "probe.cu"
    src.write_text(PROBE)
    ptx = check.compile_ptx(src, tmp_path / "probe.ptx")
    assert ptx.count("ld.global.nc") == 2
    assert [len(v) for v in check.nc_loads_of_produced(ptx, "probe_kernel", {0}).values()] == [1]
    assert [len(v) for v in check.nc_loads_of_produced(ptx, "probe_kernel", set()).values()] == [0]
    assert [len(v) for v in check.nc_loads_of_produced(ptx, "probe_kernel", None).values()] == [2]


@needs_nvcc
@pytest.mark.parametrize("source,fragment,produced", check.RULES, ids=[r[0] for r in check.RULES])
def test_kernels_read_produced_data_coherently(tmp_path, source, fragment, produced):
    found = check.nc_loads_of_produced(check.compile_ptx(check.SRC / source, tmp_path / "k.ptx"), fragment, produced)
    assert found, f"no {fragment} kernels in {source}"
    bad = {name: lines for name, lines in found.items() if lines}
    assert not bad, f"{len(bad)} kernels read produced data with ld.global.nc, e.g. {next(iter(bad.items()))}"
