#!/usr/bin/env bash
# Build a variant of libis_kernels.so whose kernel source SOURCE (w4a8_gemm,
# the default: the mma.sync GEMM; w4a8_wgmma; act_quant) is compiled with
# extra preprocessor definitions, linked with the release objects of the
# other sources from build/plugins (so only one source is recompiled: ~20 s
# for w4a8_gemm, ~3 minutes for w4a8_wgmma on 2 cores). For same-process
# A/Bs of compile-time variants on the GPU machine:
#
#   SOURCE=w4a8_wgmma bash scripts/build_variant.sh build/late -DIS_WG_EARLY_FACTORS=0
#   # then on the GPU: LIBS="late=build/late" bash scripts/try_variants.sh ... (or ab_libraries.sh)
#
# Needs an up-to-date build/plugins (`cmake --build build/plugins --target is_kernels`),
# or BUILD=another configured build folder of plugins/ whose objects to link.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:?usage: build_variant.sh DEST_DIR -DNAME=VALUE ...}"
shift
src="${SOURCE:-w4a8_gemm}"
build="${BUILD:-build/plugins}"
objs="$build/CMakeFiles/is_kernel_objs.dir/src"
[ -f "plugins/src/$src.cu" ] || { echo "build_variant.sh: no plugins/src/$src.cu" >&2; exit 1; }
link=()
for o in act_quant w4a8_gemm w4a8_wgmma; do
  if [ "$o" = "$src" ]; then link+=("$dest/$o.cu.o"); continue; fi
  [ -f "$objs/$o.cu.o" ] || { echo "build_variant.sh: $objs/$o.cu.o missing: build $build first" >&2; exit 1; }
  link+=("$objs/$o.cu.o")
done
mkdir -p "$dest"
# The same flags as build/plugins' objects (flags.make), plus the definitions given.
gencode="$(sed -n 's/^IS_CUDA_GENCODE:STRING=//p' "$build/CMakeCache.txt")"
gencode="${gencode//;/ }"
nvcc -O3 -DNDEBUG -Xcompiler=-fPIC $gencode --expt-relaxed-constexpr -Xptxas=-warn-spills -std=c++17 \
  -Iplugins/include "$@" -c "plugins/src/$src.cu" -o "$dest/$src.cu.o"
g++ -fPIC -shared -Wl,-soname,libis_kernels.so -o "$dest/libis_kernels.so" "${link[@]}" -L/usr/local/cuda/lib64 -lcudart
echo "built $dest/libis_kernels.so ($src.cu with $*)"
