"""Compare the kernels' SASS of two builds of libis_kernels.so.

    python3 scripts/sass_compare.py OLD/libis_kernels.so NEW/libis_kernels.so
    SASS_KERNELS=w4a8_gemm_kernel python3 scripts/sass_compare.py OLD.so NEW.so   # the mma.sync kernels

For each instantiation of the kernels whose mangled name holds SASS_KERNELS
(default: w4a8_wgmma_kernel), matched by its template arguments so that a
changed parameter list still pairs them, prints whether its
instructions are identical, identical up to constant-bank offsets
(c[0x0][...]: kernel parameters moved), or differ, and how many lines
differ. Needs cuobjdump (CUOBJDUMP, or on PATH). Why: a change meant to
leave some kernels as they were (a host rule, code compiled out) is checked
without a GPU.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter


def kernel_sass(lib: str, cuobjdump: str, fragment: str = "w4a8_wgmma_kernel") -> dict[str, list[str]]:
    """Template-argument key -> the instructions (addresses and encodings
    dropped) of each kernel of `lib` (a library or object file) whose name
    holds `fragment`."""
    out = subprocess.run([cuobjdump, "-sass", lib], capture_output=True, text=True, check=True).stdout
    kernels: dict[str, list[str]] = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            name = m.group(1)
            kernels[name] = []
        elif name is not None:
            text = re.sub(r"/\*.*?\*/", "", line).strip()
            if text:
                kernels[name].append(text)
    return {n.split("EEEv")[0]: body for n, body in kernels.items() if fragment in n}


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    cuobjdump = os.environ.get("CUOBJDUMP") or shutil.which("cuobjdump")
    if not cuobjdump:
        print("sass_compare: cuobjdump not found (set CUOBJDUMP)")
        return 2
    fragment = os.environ.get("SASS_KERNELS", "w4a8_wgmma_kernel")
    old, new = (kernel_sass(lib, cuobjdump, fragment) for lib in sys.argv[1:])
    norm = lambda body: [re.sub(r"c\[0x0\]\[0x[0-9a-f]+\]", "c[0x0][X]", l) for l in body]
    verdicts = Counter()
    for key in sorted(new):
        if key not in old:
            verdict = "new kernel"
        elif old[key] == new[key]:
            verdict = "identical"
        elif norm(old[key]) == norm(new[key]):
            verdict = "identical up to parameter offsets"
        elif len(old[key]) == len(new[key]):
            verdict = f"{sum(a != b for a, b in zip(norm(old[key]), norm(new[key])))} lines differ"
        else:
            verdict = "differs"
        verdicts[verdict] += 1
        print(f"{verdict:36s} {key}")
    print("summary:", dict(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
