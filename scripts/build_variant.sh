#!/usr/bin/env bash
# Build a variant of libis_kernels.so whose mma.sync GEMM (src/w4a8_gemm.cu)
# is compiled with extra preprocessor definitions, linked with the release
# objects of the other kernels from build/plugins (so only one source is
# recompiled: ~1 minute on 2 cores instead of ~4 for a whole build dir).
# For same-process A/Bs of compile-time variants on the GPU machine:
#
#   bash scripts/build_variant.sh build/var1 -DIS_MMA_VARIANT=1
#   # then on the GPU: python3 scripts/bench_gemm.py --ab --lib v1=build/var1/libis_kernels.so ...
#
# Needs an up-to-date build/plugins (`cmake --build build/plugins --target is_kernels`).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:?usage: build_variant.sh DEST_DIR -DNAME=VALUE ...}"
shift
objs=build/plugins/CMakeFiles/is_kernel_objs.dir/src
for o in act_quant w4a8_wgmma; do
  [ -f "$objs/$o.cu.o" ] || { echo "build_variant.sh: $objs/$o.cu.o missing: build build/plugins first" >&2; exit 1; }
done
mkdir -p "$dest"
# The same flags as build/plugins' objects (flags.make), plus the definitions given.
gencode="$(sed -n 's/^IS_CUDA_GENCODE:STRING=//p' build/plugins/CMakeCache.txt)"
gencode="${gencode//;/ }"
nvcc -O3 -DNDEBUG -Xcompiler=-fPIC $gencode --expt-relaxed-constexpr -Xptxas=-warn-spills -std=c++17 \
  -Iplugins/include "$@" -c plugins/src/w4a8_gemm.cu -o "$dest/w4a8_gemm.cu.o"
g++ -fPIC -shared -Wl,-soname,libis_kernels.so -o "$dest/libis_kernels.so" \
  "$objs/act_quant.cu.o" "$dest/w4a8_gemm.cu.o" "$objs/w4a8_wgmma.cu.o" \
  -L/usr/local/cuda/lib64 -lcudart
echo "built $dest/libis_kernels.so ($*)"
