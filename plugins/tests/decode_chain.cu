// Microbenchmark (the CMake target decode_chain, sm_90a only): the latency, in SM cycles, of
// the pieces of one decode k-tile of the wgmma kernel (w4a8_wgmma.cu, BT <= 32),
// one block alone on the GPU, no global memory traffic.
//
// Why: on the H200 a decode block of that kernel spends ~0.5 us (~1000 cycles)
// per k-tile whatever the number of blocks (PERF.md, "H200"), far more than its
// ~100 instructions per warp. This program times the candidates of that chain
// separately, so that one GPU call says which one to shorten:
//   chain4     fence, 4 dependent wgmma m64nBTk32 (A in registers) into one
//              accumulator, commit, wait_group 0: the kernel's tile, alone
//   chain2x2   the same 4 wgmma alternating between two accumulators (a chain
//              of 2): what splitting the tile's accumulator would give
//   single     1 wgmma, commit, wait: the latency of one instruction
//   turns      2 warpgroups taking turns (named barriers) around chain4, as
//              the kernel's consumers do
//   unpack     chain4 with the next tile's 2 x 16-byte shared loads and the
//              8-word unpack between commit and wait, as the kernel overlaps them
//   unpack16   unpack with the 3-operation 16 q unpack (unpack_word_even_odd_x16),
//              which the kernel uses at BT <= 32
//   mbarrier   256 threads arrive on an mbarrier (count 256) and wait for its
//              phase: the kernel's per-tile "stage free" protocol
//
// Built by the CMake build (build/plugins/decode_chain) and run by
// scripts/gpu_suite.sh. Prints one line per piece and BT.
#include <cstdint>
#include <cstdio>
#include <type_traits>

#include "int4_unpack.cuh"
#include "sm90_async.cuh"
#include "wgmma_s8.cuh"

#define CHECK(call)                                                                       \
  do {                                                                                    \
    cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) {                                                              \
      std::printf("decode_chain: %s failed: %s\n", #call, cudaGetErrorString(e_));        \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

enum Mode { kChain4, kChain2x2, kSingle, kTurns, kUnpack, kMbarrier, kUnpack16 };
constexpr const char* kNames[] = {"chain4", "chain2x2", "single", "turns", "unpack", "mbarrier", "unpack16"};


// out[0] = cycles per iteration (thread 0), out[1 + tid] = a checksum that keeps the work alive.
template <int BT, Mode kMode>
__global__ void __launch_bounds__(256, 1) chain(long long* out, int iters) {
  __shared__ __align__(1024) uint8_t smem[16384];
  __shared__ __align__(8) uint64_t bar;
  for (int i = threadIdx.x; i < 16384 / 4; i += blockDim.x) reinterpret_cast<uint32_t*>(smem)[i] = i * 2654435761u;
  if (threadIdx.x == 0) {
    is::mbar_init(&bar, 256);
    is::fence_mbarrier_init();
  }
  __syncthreads();
  const int wg = threadIdx.x / 128;
  const uint64_t db = is::desc_k_major_sw128(is::smem_u32(smem));
  int P[BT / 2] = {}, Q[BT / 2] = {};
  // A ring of two fragment buffers indexed by the iteration's parity (the loop
  // is unrolled by 2), as the kernel's a[2][4][4]: the next tile's fragments are
  // written while the wgmma reading the current ones run (unpack mode).
  uint32_t a[2][4][4];
  for (int b = 0; b < 2; ++b)
    for (int s = 0; s < 4; ++s)
      for (int r = 0; r < 4; ++r) a[b][s][r] = threadIdx.x * (8 * b + 4 * s + r + 1);
  uint32_t sink = 0;
  if (kMode == kTurns && wg == 1) is::named_barrier_arrive(2, 256);  // warpgroup 0 goes first
  auto step = [&](auto parity, int it) {
    constexpr int cur = decltype(parity)::value, nxt = cur ^ 1;
    (void)nxt;  // (used by the unpack mode only)
    if constexpr (kMode == kMbarrier) {
      is::mbar_arrive(&bar);
      is::mbar_wait(&bar, it & 1);
      return;
    }
    if constexpr (kMode == kTurns) is::named_barrier_sync(2 + wg, 256);
    is::wgmma_fence();
    if constexpr (kMode == kSingle) {
      is::wgmma_rs_s8<BT>(P, a[cur][0], db, 1);
    } else {
#pragma unroll
      for (int st = 0; st < 4; ++st) {
        if (kMode == kChain2x2 && (st & 1)) is::wgmma_rs_s8<BT>(Q, a[cur][st], db + 2 * st, 1);
        else is::wgmma_rs_s8<BT>(P, a[cur][st], db + 2 * st, 1);
      }
    }
    is::wgmma_commit();
    if constexpr (kMode == kTurns) {
      if (wg == 0 || it + 1 < iters) is::named_barrier_arrive(2 + (wg ^ 1), 256);
    }
    if constexpr (kMode == kUnpack || kMode == kUnpack16) {
      // The next tile's fragments: two 16-byte shared loads, 8 words unpacked (as load_fragments).
      const int off = (threadIdx.x * 16 + it * 64) & 8191;
      const uint4 w0 = *reinterpret_cast<const uint4*>(smem + off);
      const uint4 w1 = *reinterpret_cast<const uint4*>(smem + 8192 + off);
      is::unpack_a_fragments<kMode == kUnpack16>(w0, w1, a[nxt]);
    }
    is::wgmma_wait_all();
  };
  const long long t0 = clock64();
  for (int it = 0; it < iters; it += 2) {
    step(std::integral_constant<int, 0>{}, it);
    step(std::integral_constant<int, 1>{}, it + 1);
  }
  const long long t1 = clock64();
  for (int r = 0; r < BT / 2; ++r) sink += P[r] + Q[r];
  for (int s = 0; s < 4; ++s) sink += a[0][s][0] + a[1][s][1];
  if (threadIdx.x == 0) out[0] = (t1 - t0) / iters;
  out[1 + threadIdx.x] = sink;
}

template <int BT, Mode kMode>
static int run(long long* d_out) {
  const int threads = kMode == kTurns || kMode == kMbarrier ? 256 : 128;
  const int iters = 2000;  // even: the loop is unrolled by 2
  chain<BT, kMode><<<1, threads>>>(d_out, 10);  // warm-up (instruction cache, clocks)
  CHECK(cudaGetLastError());
  chain<BT, kMode><<<1, threads>>>(d_out, iters);
  CHECK(cudaGetLastError());
  long long cycles = 0;
  CHECK(cudaMemcpy(&cycles, d_out, sizeof(cycles), cudaMemcpyDeviceToHost));
  std::printf("BT=%3d %-9s %6lld cycles per tile (%d warpgroup%s)\n", BT, kNames[kMode], cycles, threads / 128,
              threads > 128 ? "s" : "");
  return 0;
}

template <int BT>
static int run_all(long long* d_out) {
  if (run<BT, kChain4>(d_out) || run<BT, kChain2x2>(d_out) || run<BT, kSingle>(d_out) || run<BT, kTurns>(d_out) ||
      run<BT, kUnpack>(d_out) || run<BT, kUnpack16>(d_out))
    return 1;
  return 0;
}

int main() {
  int major = 0, minor = 0, clock_khz = 0;
  CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
  CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));
  CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  if (major != 9 || minor != 0) {
    std::printf("decode_chain: needs an sm_90 GPU (H100/H200), found sm_%d%d\n", major, minor);
    return 1;
  }
  std::printf("decode_chain: SM clock %.0f MHz (1000 cycles = %.2f us)\n", clock_khz / 1e3, 1e3 / (clock_khz / 1e3));
  long long* d_out = nullptr;
  CHECK(cudaMalloc(&d_out, (1 + 256) * sizeof(long long)));
  if (run_all<8>(d_out) || run_all<16>(d_out) || run_all<32>(d_out) || run<8, kMbarrier>(d_out)) return 1;
  CHECK(cudaFree(d_out));
  return 0;
}
