// Microbenchmark (not part of the build): tensor-core rate of
// wgmma m64nNk32 s8 with A from registers (RS) vs A from shared memory (SS),
// 2 warpgroups per block, one block per SM, no global traffic.
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -I../src wgmma_rate.cu -o wgmma_rate && ./wgmma_rate
#include <cstdio>
#include <cstdint>
#include "sm90_async.cuh"
#include "wgmma_s8.cuh"

template <int N>
__device__ __forceinline__ void wgmma_ss(int (&d)[N / 2], uint64_t da, uint64_t db);
template <>
__device__ __forceinline__ void wgmma_ss<128>(int (&d)[64], uint64_t da, uint64_t db) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
      "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,"
      "%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, 1;\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]),
        "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]),
        "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]),
        "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]), "+r"(d[32]),
        "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]),
        "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]),
        "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]), "+r"(d[56]),
        "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
      : "l"(da), "l"(db));
}

template <bool kRS, int kWaitEvery>
__global__ void __launch_bounds__(256, 1) rate(int* out, int iters) {
  extern __shared__ __align__(1024) uint8_t smem[];
  for (int i = threadIdx.x; i < 48 * 1024 / 4; i += blockDim.x) reinterpret_cast<int*>(smem)[i] = i * 2654435761u;
  __syncthreads();
  const uint32_t base = (uint32_t)__cvta_generic_to_shared(smem);
  const uint64_t db = is::desc_k_major_sw128(base), da = is::desc_k_major_sw128(base + 16384 + (threadIdx.x / 128) * 8192);
  int d[64];
  for (int i = 0; i < 64; ++i) d[i] = 0;
  uint32_t a[4] = {threadIdx.x, threadIdx.x * 3u, threadIdx.x * 5u, threadIdx.x * 7u};
  for (int it = 0; it < iters; ++it) {
    is::wgmma_fence();
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      if constexpr (kRS) is::wgmma_rs_s8<128>(d, a, db + 2 * s, 1);
      else wgmma_ss<128>(d, da + 2 * s, db + 2 * s);
    }
    is::wgmma_commit();
    if (kWaitEvery == 1 || (it % kWaitEvery) == kWaitEvery - 1) is::wgmma_wait_all();
  }
  is::wgmma_wait_all();
  int s = 0;
  for (int i = 0; i < 64; ++i) s += d[i];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

template <bool kRS, int kWaitEvery>
void run(const char* name, int sms) {
  int* out;
  cudaMalloc(&out, sms * 256 * 4);
  auto k = rate<kRS, kWaitEvery>;
  cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 48 * 1024);
  const int iters = 4000;
  k<<<sms, 256, 48 * 1024>>>(out, 10);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaEventRecord(e0);
  k<<<sms, 256, 48 * 1024>>>(out, iters);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  const double macs = (double)sms * 2 * iters * 4 * 64.0 * 128 * 32;
  printf("%-28s %8.1f TOPS (%s)\n", name, 2 * macs / (ms * 1e-3) / 1e12, cudaGetErrorString(cudaGetLastError()));
  cudaFree(out);
}

int main() {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  run<true, 1>("RS, wait every 4 wgmma", sms);
  run<true, 4>("RS, wait every 16 wgmma", sms);
  run<false, 1>("SS, wait every 4 wgmma", sms);
  run<false, 4>("SS, wait every 16 wgmma", sms);
  return 0;
}
