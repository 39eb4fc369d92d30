set -u
export PYTHONPATH=$PWD
build() { cmake -S plugins -B $1 -DIS_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" -DTENSORRT_INCLUDE_DIR=$PWD/.trt_headers -DCMAKE_CUDA_FLAGS="$2" > $OUT/build_$(basename $1).log 2>&1 && cmake --build $1 -j 16 --target is_kernels >> $OUT/build_$(basename $1).log 2>&1 || { tail -20 $OUT/build_$(basename $1).log; exit 1; }; }
build build/plugins "" &
build build/exp_split2 "-DIS_WGMMA_SPLIT_FACTOR=2" &
wait
cmake --build build/plugins -j 16 >> $OUT/build_plugins.log 2>&1
timeout 300 python3 -m pytest -q -x -m gpu tests/test_gpu_kernel.py -k "bit_exact" -p no:cacheprovider 2>&1 | tail -2
for v in plugins exp_split2; do echo "== $v"; IS_EXPORT_PLUGIN_DIR=$PWD/build/$v timeout 200 python3 scripts/bench_gemm.py --out $OUT/$v --quick --shape 4096x4096 --shape 28672x4096 2>&1 | tail -12 | cut -c1-128; done
