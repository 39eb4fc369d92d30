set -u
cmake -S plugins -B build/plugins -DIS_CUDA_GENCODE="-gencode=arch=compute_90a,code=sm_90a" -DTENSORRT_INCLUDE_DIR=$PWD/.trt_headers > $OUT/build.log 2>&1 && cmake --build build/plugins -j 16 >> $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
export PYTHONPATH=$PWD
timeout 300 python3 -m pytest -q -x -m gpu tests/test_gpu_kernel.py -k "bit_exact" -p no:cacheprovider 2>&1 | tail -3
timeout 200 python3 scripts/bench_gemm.py --out $OUT --quick --shape 4096x4096 --shape 28672x4096 2>&1 | tail -13
for shape in "4096 4096 4096" "1 28672 4096"; do
  set -- $shape
  timeout 200 ncu -k regex:w4a8_wgmma --launch-skip 1 --launch-count 1 --section WarpStateStats --section SchedulerStats --section SourceCounters --import-source no -o $OUT/rep_$1 -f python3 scripts/profile_op.py --m $1 --n $2 --k $3 > /dev/null 2>&1
  ncu -i $OUT/rep_$1.ncu-rep --page details --print-details all > $OUT/details_$1.txt 2>&1
  ncu -i $OUT/rep_$1.ncu-rep --page source --csv --print-source sass > $OUT/sass_$1.csv 2>&1
  grep -i -E "stall|Warp Cycles|Eligible|Issued Warp|No Eligible|Active Warps" $OUT/details_$1.txt | head -40
  ls -la $OUT/sass_$1.csv; head -c 600 $OUT/sass_$1.csv
done
