set -u
cmake -S plugins -B build/plugins -DIS_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" -DTENSORRT_INCLUDE_DIR=$PWD/.trt_headers > $OUT/build.log 2>&1 && cmake --build build/plugins -j 16 >> $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
export PYTHONPATH=$PWD
timeout 300 python3 -m pytest -q -x -m gpu tests/test_gpu_kernel.py -k "bit_exact" -p no:cacheprovider 2>&1 | tail -3
timeout 250 python3 scripts/bench_gemm.py --out $OUT --quick --shape 4096x4096 --shape 28672x4096 ${EXTRA_SHAPES:-} 2>&1 | tail -${TAIL:-13}
