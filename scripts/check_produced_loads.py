"""Check that no kernel reads what the grid before it writes through the
non-coherent path (`ld.global.nc`, what __ldg and const __restrict__ loads
become), by dataflow over the kernels' PTX; no GPU needed.

    python3 scripts/check_produced_loads.py            # compiles plugins/src/*.cu to PTX (nvcc), prints findings

Why: every kernel of the op starts before the one it depends on has ended
(programmatic dependent launch, common.cuh) and waits for it with
`griddepcontrol.wait` before it reads that kernel's output. `.nc` promises
ptxas that the data is read-only for the kernel's whole lifetime, and ptxas
acts on it: in v21/v22 it moved the mma.sync GEMM's first xq loads above the
wait (PERF.md, tenth H200 session). The produced data, by kernel (parameter
index in the kernel's signature):
  - w4a8_gemm_kernel: x (0, the previous layer's output, read by the
    block-fused form), xq (1) and sa (2) (the quantization kernel's);
  - quantize_rows*_kernel: x (0);
  - w4a8_wgmma_kernel: its arguments come in one struct, so no load of it may
    be `.nc` at all (xq arrives by TMA; sa, C and bias by coherent loads).
A register is tainted when it is loaded from a produced pointer parameter or
computed from a tainted register; an `ld.global.nc` whose address is tainted
is a finding.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "plugins" / "src"

# (source, kernel-name fragment, produced parameter indices; None: no .nc load at all)
RULES = [
    ("w4a8_gemm.cu", "w4a8_gemm_kernel", {0, 1, 2}),
    ("act_quant.cu", "quantize_rows", {0}),
    ("w4a8_wgmma.cu", "w4a8_wgmma_kernel", None),
]

_ENTRY = re.compile(r"\.entry\s+(\S+)\s*\((.*?)\)(.*?)\n\}", re.S)
_REG = re.compile(r"%[a-z]+\d+")


def nc_loads_of_produced(ptx: str, name_fragment: str, produced: set[int] | None) -> dict[str, list[str]]:
    """PTX text -> {kernel name: its `ld.global.nc` lines that read produced
    data} for every .entry whose name holds name_fragment. produced: the
    pointer parameters' indices (None: every .nc load counts)."""
    found: dict[str, list[str]] = {}
    for m in _ENTRY.finditer(ptx):
        name, params, body = m.group(1), m.group(2), m.group(3)
        if name_fragment not in name:
            continue
        pnames = re.findall(r"(\S+_param_\d+)", params)
        sources = {f"[{p}]" for i, p in enumerate(pnames) if produced is None or i in produced}
        tainted: set[str] = set()
        bad = []
        for raw in body.splitlines():
            line = raw.strip()
            if not line or line.startswith(("//", ".", "{", "}")):
                continue
            regs = _REG.findall(line)
            if re.match(r"(@!?%p\d+\s+)?ld\.param", line):
                if regs and any(s in line for s in sources):
                    tainted.add(regs[0])
                continue
            if re.match(r"(@!?%p\d+\s+)?ld\.global\.nc", line):
                addr = re.search(r"\[(%rd\d+)", line)
                if produced is None or (addr and addr.group(1) in tainted):
                    bad.append(line)
                continue
            dst = re.match(r"(?:@!?%p\d+\s+)?\S+\s+(\{[^}]*\}|%[a-z]+\d+)", line)
            if dst and any(r in tainted for r in regs[len(_REG.findall(dst.group(1))):]):
                tainted.update(_REG.findall(dst.group(1)))
        found[name] = bad
    return found


def compile_ptx(source: Path, out: Path) -> str:
    """plugins/src/<source> -> its sm_90a PTX text (the arch with PDL, whose pass emits every kernel body)."""
    subprocess.run(["nvcc", "-O3", "-DNDEBUG", "-std=c++17", "--expt-relaxed-constexpr",
                    "-gencode=arch=compute_90a,code=sm_90a", "-I", str(ROOT / "plugins" / "include"), "-I", str(SRC),
                    "-ptx", str(source), "-o", str(out)], check=True, capture_output=True, text=True)
    return out.read_text()


def main() -> int:
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for source, fragment, produced in RULES:
            found = nc_loads_of_produced(compile_ptx(SRC / source, Path(tmp) / "k.ptx"), fragment, produced)
            bad = {n: v for n, v in found.items() if v}
            print(f"{source}: {len(found)} kernels, {len(bad)} with .nc loads of produced data")
            for n, v in list(bad.items())[:3]:
                print(f"  {n}: {v[0]} (+{len(v) - 1} more)")
            status |= bool(bad) or not found
    return status


if __name__ == "__main__":
    sys.exit(main())
