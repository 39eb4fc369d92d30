// Microbenchmark (not part of the library): the rate of the wgmma path's K
// loop at 128-token tiles, built up piece by piece from the wgmma alone to
// the kernel's pipeline from L2, to separate what the loop's own structure
// allows from what the pipeline (copies, barriers, output) costs. One block
// of 2 consumer warpgroups per SM (as the kernel's 128-token blocks; the
// pipeline variants add its producer warpgroup); per 128-k tile a warpgroup computes 64
// channels x 128 tokens (1M MAC; 2M per block) from A fragments in registers
// and a fixed 16 KB token tile in shared memory (its bytes do not matter for
// the timing). The variants add, one by one, what a tile of
// w4a8_wgmma.cu's loop does besides the wgmma:
//   wgmma only      8 x m64n64k32 (two token halves), one wait per tile
//   halves+epilogue the kernel's token halves: issue half 0, the previous
//                   tile's half-1 group epilogue (32 IMAD), issue half 1,
//                   wait_group 1, half-0 epilogue, wait_group 0; the group
//                   scales read from shared memory every tile
//   halves+all      + the next tile's 2 x 16 weight bytes from shared memory
//                   and their unpack into A fragments (unpack_a_fragments),
//                   i.e. the kernel's loop without its stage barriers
//   ping-pong+all   4 x m64n128k32 per tile with the warpgroups taking turns
//                   (named barriers), then unpack and a 64-IMAD epilogue
//   n128 free+all   the same without turns
//   +stages         halves+all fed through a ring of 6 stages with full /
//                   empty mbarriers as the kernel's (a producer thread arrives
//                   on full[s] once the consumers freed it; no copies)
//   +bulk copies    the same with the producer copying each stage's 16 KB of
//                   tokens and 8 KB of weights (cp.async.bulk) from a 768 KB
//                   buffer that stays in L2: the kernel's shared-memory write
//                   traffic and its completion on the barriers, without DRAM
//   +scale gathers  + the producer warp's 128 group scales a stage (4-byte
//                   cp.async per lane from rows 128 B apart, [N, G] int32 at
//                   G = 32, as the kernel's), landing on the same barrier
//     one waiter    the same with one producer lane spinning on a stage's
//                   release instead of all 32
//     256-k stages  one full / empty handshake per 2 k-tiles
//     warp arrivals one arrival on a stage's empty barrier per consumer warp
//     both          the two above
//     2-D TMA       the stage copies as the kernel's 2-D TMA instead: the
//                   token tile [128 rows x 128 B] in the 128-byte swizzle and
//                   the weights [128 rows x 64 B], from a 16 MB and an 8 MB
//                   tensor (K = 4096; 32 x 32 tiles as a 4096^3 GEMM's)
//   +output         + the output of a 128 x 128 tile every 32 k-tiles (K =
//                   4096), as the persistent kernel's: float(acc) * sa * C to
//                   fp16, staged through shared memory between two named
//                   barriers, 16-byte stores to global memory; the producer
//                   keeps filling the ring meanwhile
//     offloaded     the consumers only dump their raw INT32 accumulators
//                   (16-byte stores, 64 KB) and go on; the producer
//                   warpgroup's 3 idle warps convert and store the tile
//     never taken   the offloaded code behind a condition never true at run
//                   time (what its presence in the loop costs)
//     dump only     the consumers' dump without helpers or barriers
//     idle helpers  offloaded, the helpers only taking part in the barriers
//     no stores     offloaded, the helpers' values folded into a word, not stored
//     offl., mbarriers  offloaded with the handshake on two mbarriers
//     idle, mbarriers   the same, the helpers only waiting and arriving
//     per-warpgroup +output, 2-D TMA with each warpgroup staging and storing
//                   its own 64 channels behind barriers of its own 128 threads
//   halves+all u8   halves+all with the weights as unsigned nibbles (3
//                   operations a word, wgmma .u8.s8; see unpack_a_fragments_u8)
//     2-D TMA u8, stmatrix, 2-D TMA, u8: those pipelines with the u8 unpack
//     stmatrix, 2-D TMA  +output, 2-D TMA with the tile staged by stmatrix
//                   .trans (packed token pairs, 8 instructions a thread) instead
//                   of 64 two-byte stores a thread, as w4a8_wgmma.cu's output
// Prints TOPS (2 x MAC per second) per variant. Build and run (gpu_suite.sh
// does not run it; CI checks that it compiles):
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -I../src wgmma_loop_rate.cu -o wgmma_loop_rate
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_fp16.h>

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
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

namespace {

using is::mbar_arrive;
using is::mbar_init;
using is::mbar_wait;
using is::smem_u32;
using is::tma_load_2d;

constexpr int kTokTileBytes = 128 * 128;  // 128 tokens x 128 k, int8
constexpr int kWeightBytes = 8 * 1024;    // weight words (32 rows x 128 B used) and group scales: any bytes
constexpr int kSmem = kTokTileBytes + kWeightBytes + 1024;


template <int N>
__device__ __forceinline__ void epilogue(int* acc, const int (&p)[N], int s0, int s1) {
#pragma unroll
  for (int q = 0; q < N; ++q) acc[q] += p[q] * ((q & 2) ? s1 : s0);
}

// "u8" variants: the weights as unsigned nibbles u = q + 8 (u8 A operand,
// 3 integer operations a word: no sign conversion) into wgmma .u8.s8; the
// kernel would subtract 8 x (the token's group sum of xq) times S once per
// tile (by a small correction GEMM). Measures what the cheaper unpack buys.
__device__ __forceinline__ void unpack_a_fragments_u8(const uint4& w0, const uint4& w1, uint32_t (&f)[4][4]) {
  is::unpack_a_fragments_with(
      [](uint32_t w, uint32_t& even, uint32_t& odd) {
        even = w & 0x0F0F0F0Fu;
        odd = (w >> 4) & 0x0F0F0F0Fu;
      },
      w0, w1, f);
}
__device__ __forceinline__ void wgmma_rs_u8s8_64(int (&d)[32], const uint32_t (&a)[4], uint64_t b_desc, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.s32.u8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(scale_d));
}

template <bool kU8>
__device__ __forceinline__ void unpack_any(const uint4& w0, const uint4& w1, uint32_t (&f)[4][4]) {
  if constexpr (kU8) unpack_a_fragments_u8(w0, w1, f);
  else is::unpack_a_fragments<false>(w0, w1, f);
}
template <bool kU8>
__device__ __forceinline__ void wgmma64(int (&d)[32], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
  if constexpr (kU8) wgmma_rs_u8s8_64(d, a, desc, scale_d);
  else is::wgmma_rs_s8<64>(d, a, desc, scale_d);
}

enum Variant { kWgmmaOnly, kHalvesEpilogue, kHalvesAll, kPingPongAll, kFreeAll, kHalvesAllU8 };

template <int kV>
__global__ void __launch_bounds__(256, 1) loop_rate(int* out, int tiles) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  for (int i = threadIdx.x; i < (kTokTileBytes + kWeightBytes) / 4; i += blockDim.x)
    reinterpret_cast<uint32_t*>(smem)[i] = i * 2654435761u;
  __syncthreads();
  const int wg = threadIdx.x >> 7, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & 3;
  const int row = 64 * wg + 16 * (warp & 3) + (lane >> 2);
  const uint64_t db = is::desc_k_major_sw128(smem_u32(smem));
  const uint8_t* wbase = smem + kTokTileBytes;
  const int* scales = reinterpret_cast<const int*>(smem + kTokTileBytes);
  int acc[64] = {};
  uint32_t a[2][4][4];
  auto load_words = [&](int i, uint4& w0, uint4& w1) {
    const uint8_t* w = wbase + (i & 1) * 64 + 16 * t;  // two tiles' words a 64 B row, as the kernel's stage pairs
    w0 = *reinterpret_cast<const uint4*>(w + (row & 31) * 128);
    w1 = *reinterpret_cast<const uint4*>(w + ((row + 8) & 31) * 128);
  };
  {
    uint4 w0, w1;
    load_words(0, w0, w1);
    is::unpack_a_fragments<false>(w0, w1, a[0]);
    is::unpack_a_fragments<false>(w0, w1, a[1]);
  }
  if constexpr (kV == kPingPongAll || kV == kFreeAll) {
    int P[64];
    if (kV == kPingPongAll && wg == 1) is::named_barrier_arrive(2, 256);  // warpgroup 0 goes first
    auto tile = [&](auto cur_c, int i) {
      constexpr int c = decltype(cur_c)::value;
      if constexpr (kV == kPingPongAll) is::named_barrier_sync(2 + wg, 256);
      is::wgmma_fence();
#pragma unroll
      for (int st = 0; st < 4; ++st) is::wgmma_rs_s8<128>(P, a[c][st], db + 2 * st, st > 0);
      is::wgmma_commit();
      if (kV == kPingPongAll && (wg == 0 || i + 1 < tiles)) is::named_barrier_arrive(2 + (wg ^ 1), 256);
      const int s0 = scales[row + (i & 7)], s1 = scales[row + 8 + (i & 7)];
      uint4 w0, w1;
      load_words(i + 1, w0, w1);
      is::unpack_a_fragments<false>(w0, w1, a[c ^ 1]);
      is::wgmma_wait_all();
      epilogue(acc, P, s0, s1);
    };
    for (int i = 0; i < tiles; i += 2) {
      tile(std::integral_constant<int, 0>{}, i);
      tile(std::integral_constant<int, 1>{}, i + 1);
    }
  } else {
    int PQ[2][32] = {};
    int sb0 = 0, sb1 = 0;
    constexpr bool kU8 = kV == kHalvesAllU8;
    auto tile = [&](auto cur_c, int i) {
      constexpr int c = decltype(cur_c)::value;
      is::wgmma_fence();
#pragma unroll
      for (int st = 0; st < 4; ++st) wgmma64<kU8>(PQ[0], a[c][st], db + 2 * st, st > 0);
      is::wgmma_commit();
      if constexpr (kV != kWgmmaOnly) epilogue(acc + 32, PQ[1], sb0, sb1);
      const int s0 = scales[row + (i & 7)], s1 = scales[row + 8 + (i & 7)];
      is::wgmma_fence();
#pragma unroll
      for (int st = 0; st < 4; ++st) wgmma64<kU8>(PQ[1], a[c][st], db + 512 + 2 * st, st > 0);
      is::wgmma_commit();
      if constexpr (kV == kHalvesAll || kU8) {
        uint4 w0, w1;
        load_words(i + 1, w0, w1);
        unpack_any<kU8>(w0, w1, a[c ^ 1]);
      }
      if constexpr (kV != kWgmmaOnly) {
        is::wgmma_wait_one();
        epilogue(acc, PQ[0], s0, s1);
      }
      is::wgmma_wait_all();
      if constexpr (kV == kWgmmaOnly) acc[0] += PQ[0][0] + PQ[1][0];  // else ptxas drops the unread wgmma
      sb0 = s0;
      sb1 = s1;
    };
    for (int i = 0; i < tiles; i += 2) {
      tile(std::integral_constant<int, 0>{}, i);
      tile(std::integral_constant<int, 1>{}, i + 1);
    }
    epilogue(acc, PQ[0], sb0, sb1);  // keep the last partial sums alive
    epilogue(acc + 32, PQ[1], sb0, sb1);
  }
  int s = 0;
#pragma unroll
  for (int q = 0; q < 64; ++q) s += acc[q];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

// A 1-D bulk copy global -> shared completing on `bar` (the kernel itself copies by 2-D TMA).
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_u32(dst)),
      "l"(src), "r"(bytes), "r"(smem_u32(bar))
      : "memory");
}

constexpr int kStages = 6;
constexpr int kActBytes = 128 * 128, kWBytes = 128 * 64, kStageBytes = kActBytes + kWBytes;
constexpr int kSrcTiles = 32;  // the copies' source: 32 stages' worth (768 KB), resident in L2

// halves+all through the stage ring; kCopies: the producer copies each stage
// (else it only arrives). 256 consumer threads + a producer warpgroup (its
// first thread works) that hands its registers to the consumers with
// setmaxnreg, as the kernel's 128-token blocks do (without it ptxas caps a
// 288- or 384-thread block at 168 registers and the loop spills).
// kOneWaiter: only lane 0 of the producer warp waits for a stage to be freed
// (the others follow after __syncwarp and one wait that succeeds at once)
// instead of all 32 lanes spinning on it, as the kernel's do. kTPS: k-tiles
// per barrier pair (2: a full / empty handshake every 256 k instead of every
// 128). kWarpArrive: one arrival on empty per consumer warp (after
// __syncwarp) instead of one per thread.
// kOutput: the output tile every kTilesPerOutput k-tiles into y (32 KB per
// block), one of: 0 none; 1 "+output" (staged by the consumers, both
// warpgroups' barriers); 2 "offloaded" (raw dump, 3 helper warps, named
// barriers); 3 "never taken"; 4 "dump only"; 5 "idle helpers"; 6 "no
// stores"; 7 "offl., mbarriers"; 8 "idle, mbarriers"; 9 "per-warpgroup"
// (as 1 with barriers of each warpgroup's 128 threads); 10 "stmatrix" (as 1,
// staged by stmatrix).
constexpr int kTilesPerOutput = 32;
constexpr int kStagedRow = 128 + 8;  // fp16 elements a staged token row (16 bytes of padding, as the kernel's)
constexpr int kStagedOffset = kStages * kStageBytes + 128;  // after the stages and their barriers
constexpr int kSmemOut = kStagedOffset + 128 * kStagedRow * 2 + 1024;  // + alignment slack
// kOutput = 2 ("+output offloaded"): the consumers only dump their raw INT32
// accumulators (64 KB a tile) and go on; the producer warpgroup's 3 idle
// warps convert and store them (see the helper loop).
constexpr int kSmemOffload = kStagedOffset + 128 * 128 * 4 + 1024;
constexpr int kHelperThreads = 96, kRawReady = 5, kRawFree = 6;
// kTma: the copies by 2-D TMA through tm_x / tm_w (else 1-D bulk copies from src).
template <bool kCopies, bool kScales = false, bool kOneWaiter = false, int kTPS = 1, bool kWarpArrive = false,
          int kOutput = 0, bool kTma = false, bool kU8 = false>
__global__ void __launch_bounds__(384, 1)
pipe_rate(const __grid_constant__ CUtensorMap tm_x, const __grid_constant__ CUtensorMap tm_w, int* out,
          const uint8_t* src, const int* S, __half* y, int tiles) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + kStages * kStageBytes);
  uint64_t* empty = full + kStages;
  // What the kOutput variants do (see the list above): 2-8 dump the raw
  // tile; 2 and 5-8 have helper warps (3 has them behind a condition never
  // true at run time, tiles < 0), of which 5 and 8 only take part in the
  // handshake; 7 and 8 hand over by mbarriers (ready: 256 consumer arrivals;
  // free: 96 helper arrivals) instead of named barriers.
  constexpr bool kDump = kOutput >= 2 && kOutput <= 8;
  const bool helpers = kOutput == 2 || (kOutput >= 5 && kOutput <= 8) || (kOutput == 3 && tiles < 0);
  constexpr bool kIdleHelpers = kOutput == 5 || kOutput == 8;
  constexpr bool kMbarHandshake = kOutput == 7 || kOutput == 8;
  uint64_t* raw_ready = empty + kStages;
  uint64_t* raw_free = raw_ready + 1;
  static_assert(2 * kStages * 8 + 16 <= 128, "barriers fit before the staged region");
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full[s], kScales ? 1 + 32 : 1);
      mbar_init(&empty[s], kWarpArrive ? 8 : 256);
    }
    mbar_init(raw_ready, 256);
    mbar_init(raw_free, kHelperThreads);
    is::fence_mbarrier_init();
  }
  for (int i = threadIdx.x; i < kStages * kStageBytes / 4; i += blockDim.x)
    reinterpret_cast<uint32_t*>(smem)[i] = i * 2654435761u;
  __syncthreads();
  if (threadIdx.x >= 256) {  // producer warpgroup
    is::setmaxnreg_dec<40>();
    const int lane = threadIdx.x & 31;
    if (threadIdx.x < 256 + 32) {
      for (int i = 0; i < tiles; ++i) {
        const int s = i % kStages, b = s / kTPS;  // the tile's slot and its barrier pair
        const bool opens = i % kTPS == 0;
        if (opens && i >= kStages) {
          if (!kOneWaiter || lane == 0) mbar_wait(&empty[b], ((i / kStages) + 1) & 1);
          if (kOneWaiter) {
            __syncwarp();
            mbar_wait(&empty[b], ((i / kStages) + 1) & 1);
          }
        }
        if (lane == 0) {
          if constexpr (kCopies) {
            if (opens) is::mbar_arrive_expect_tx(&full[b], kTPS * kStageBytes);
            if constexpr (kTma) {
              const int kt = i % 32, m0 = (blockIdx.x / 32 % 32) * 128, n0 = (blockIdx.x % 32) * 128;
              tma_load_2d(smem + s * kStageBytes, &tm_x, kt * 128, m0, &full[b]);
              tma_load_2d(smem + s * kStageBytes + kActBytes, &tm_w, kt * 64, n0, &full[b]);
            } else {
              const uint8_t* from = src + (size_t)((blockIdx.x + i) % kSrcTiles) * kStageBytes;
              bulk_copy(smem + s * kStageBytes, from, kActBytes, &full[b]);
              bulk_copy(smem + s * kStageBytes + kActBytes, from + kActBytes, kWBytes, &full[b]);
            }
          } else {
            if (opens) mbar_arrive(&full[b]);
          }
        }
        if constexpr (kScales) {
          // 128 channels' scales of group i % 32 ([N, G], G = 32: rows 128 B apart) into the
          // stage's last 512 bytes (the consumers read their scales there).
          int* dst = reinterpret_cast<int*>(smem + s * kStageBytes + kStageBytes - 512);
          const int* from = S + (size_t)(blockIdx.x % 32) * 128 * 32 + (i % 32);
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const int c = lane + 32 * j;
            is::cp_async_4(dst + c, from + (size_t)c * 32);
          }
          if (i % kTPS == kTPS - 1)
            is::cp_async_arrive_noinc(&full[b]);
        }
      }
    } else if (helpers) {
      // The helpers: per output tile, wait until the consumers dumped it,
      // then per unit (token pair 8j + 2t + {0, 1}, channels ch..ch+7) read
      // the 8 source threads' (g = 0..7) 8-byte pairs, convert, scale and
      // store two 16-byte chunks of Y; then free the dump. Lane = (w', h, t):
      // with the consumers' slot swizzle each LDS.64 of a warp hits every
      // bank pair at most twice (256 bytes, 2 wavefronts: the minimum).
      const int hw = (threadIdx.x - 288) >> 5;
      const int t = lane & 3, h = (lane >> 2) & 1, wq = lane >> 3;
      const uint8_t* raw = smem + kStagedOffset;
      const float* fs = reinterpret_cast<const float*>(smem + kStageBytes - 512);  // any factors
      __half* yb = y + (size_t)blockIdx.x * 128 * 128;
      uint32_t keep = 0;  // kOutput = 6: the stores' values folded into one word instead
      for (int o = 0; o < tiles / kTilesPerOutput; ++o) {
        if constexpr (kMbarHandshake) mbar_wait(raw_ready, o & 1);
        else is::named_barrier_sync(kRawReady, 256 + kHelperThreads);
        for (int pj = hw; pj < 32 && !kIdleHelpers; pj += 3) {
          const int j = pj >> 1, wg = pj & 1;
          uint2 v[8];
#pragma unroll
          for (int g = 0; g < 8; ++g) {
            const int slot = 128 * wg + 32 * wq + ((4 * g + t) ^ (4 * (wq & 1)));
            v[g] = *reinterpret_cast<const uint2*>(raw + (size_t)(j * 256 + slot) * 16 + 8 * h);
          }
          const int ch = 64 * wg + 16 * wq + 8 * h;
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const int tok = 8 * (j & 7) + 2 * t + c + 64 * (j >> 3);
            const float sa = fs[32 + (tok & 31)];
            uint32_t packed[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int a0 = c ? (int)v[2 * e].y : (int)v[2 * e].x, a1 = c ? (int)v[2 * e + 1].y : (int)v[2 * e + 1].x;
              const __half2 hv = __floats2half2_rn(__fmul_rn(__fmul_rn(__int2float_rn(a0), sa), fs[(ch + 2 * e) & 127]),
                                                   __fmul_rn(__fmul_rn(__int2float_rn(a1), sa), fs[(ch + 2 * e + 1) & 127]));
              packed[e] = *reinterpret_cast<const uint32_t*>(&hv);
            }
            if constexpr (kOutput == 6) keep ^= packed[0] ^ packed[1] ^ packed[2] ^ packed[3];
            else *reinterpret_cast<uint4*>(yb + tok * 128 + ch) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
          }
        }
        if constexpr (kMbarHandshake) mbar_arrive(raw_free);
        else is::named_barrier_arrive(kRawFree, 256 + kHelperThreads);
      }
      if (kOutput == 6 && keep == 0x12345678u) yb[threadIdx.x] = __float2half(1.f);
    }
    return;
  }
  is::setmaxnreg_inc<232>();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & 3;
  const int row = 64 * (warp >> 2) + 16 * (warp & 3) + (lane >> 2);
  const uint64_t db0 = is::desc_k_major_sw128(smem_u32(smem));
  int acc[64] = {};
  int PQ[2][32] = {};
  int sb0 = 0, sb1 = 0;
  uint32_t a[2][4][4];
  auto load_next = [&](int i, uint32_t (&f)[4][4]) {  // wait for stage i, load and unpack its weight words
    const int s = i % kStages;
    if (i % kTPS == 0) mbar_wait(&full[s / kTPS], (i / kStages) & 1);
    const uint8_t* w = smem + s * kStageBytes + kActBytes + 16 * t;
    const uint4 w0 = *reinterpret_cast<const uint4*>(w + (row & 63) * 128);
    const uint4 w1 = *reinterpret_cast<const uint4*>(w + ((row + 8) & 63) * 128);
    unpack_any<kU8>(w0, w1, f);
  };
  load_next(0, a[0]);
  // The output's per-channel and per-token factors (any bytes: the timing does not depend on them).
  auto scales_base = [&]() { return smem + kStageBytes - 512; };
  auto tile = [&](auto cur_c, int i) {
    constexpr int c = decltype(cur_c)::value;
    const int s = i % kStages;
    const uint64_t db = db0 + (uint64_t)(s * kStageBytes / 16);
    const int* scales = reinterpret_cast<const int*>(smem + s * kStageBytes + kStageBytes - 512);
    is::wgmma_fence();
#pragma unroll
    for (int st = 0; st < 4; ++st) wgmma64<kU8>(PQ[0], a[c][st], db + 2 * st, st > 0);
    is::wgmma_commit();
    epilogue(acc + 32, PQ[1], sb0, sb1);
    const int s0 = scales[row], s1 = scales[row + 8];
    is::wgmma_fence();
#pragma unroll
    for (int st = 0; st < 4; ++st) wgmma64<kU8>(PQ[1], a[c][st], db + 512 + 2 * st, st > 0);
    is::wgmma_commit();
    if (i + 1 < tiles) load_next(i + 1, a[c ^ 1]);
    is::wgmma_wait_one();
    epilogue(acc, PQ[0], s0, s1);
    is::wgmma_wait_all();
    if (i % kTPS == kTPS - 1) {
      if constexpr (kWarpArrive) {
        __syncwarp();
        if (lane == 0) mbar_arrive(&empty[s / kTPS]);
      } else {
        mbar_arrive(&empty[s / kTPS]);
      }
    }
    sb0 = s0;
    sb1 = s1;
    if constexpr (kDump) {
      if ((i + 1) % kTilesPerOutput == 0 && (kOutput != 3 || tiles < 0)) {
        epilogue(acc + 32, PQ[1], sb0, sb1);  // the tile's last half-1 group
        sb0 = sb1 = 0;
        if (kMbarHandshake && i + 1 > kTilesPerOutput) mbar_wait(raw_free, ((i + 1) / kTilesPerOutput - 2) & 1);
        else if (helpers && i + 1 > kTilesPerOutput) is::named_barrier_sync(kRawFree, 256 + kHelperThreads);  // previous dump read
        // 16-byte slot of thread tid for register quad j: j * 256 + (tid ^ 4 (w' & 1)) (the helpers' banks)
        int4* raw = reinterpret_cast<int4*>(smem + kStagedOffset);
        const int slot = threadIdx.x ^ ((threadIdx.x >> 3) & 4);
#pragma unroll
        for (int j = 0; j < 16; ++j) {
          raw[j * 256 + slot] = make_int4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]);
          acc[4 * j] = acc[4 * j + 1] = acc[4 * j + 2] = acc[4 * j + 3] = 0;
        }
        if constexpr (kMbarHandshake) mbar_arrive(raw_ready);
        else if (helpers) is::named_barrier_arrive(kRawReady, 256 + kHelperThreads);
      }
    } else if constexpr (kOutput == 1 || kOutput == 9 || kOutput == 10) {
      // 9: each warpgroup stages and stores its own 64 channels, synchronising
      // only its own 128 threads (barriers 4 and 5) instead of all 256.
      // 10: as 1, the tile staged by stmatrix .trans (w4a8_wgmma.cu's output):
      // per (j, h) the warp's 8 channels x 8 tokens are one 8 x 8 matrix of
      // packed token pairs, 4 matrices an instruction.
      constexpr int kBarThreads = kOutput == 9 ? 128 : 256;
      const int bar = kOutput == 9 ? 4 + (warp >> 2) : 4;
      if ((i + 1) % kTilesPerOutput == 0) {
        epilogue(acc + 32, PQ[1], sb0, sb1);  // the tile's last half-1 group
        sb0 = sb1 = 0;                        // (the next tile's first "previous" epilogue adds nothing)
        __half* staged = reinterpret_cast<__half*>(smem + kStagedOffset);
        const float* fs = reinterpret_cast<const float*>(scales_base());
        const float c0 = fs[row], c1 = fs[row + 8];
        is::named_barrier_sync(bar, kBarThreads);  // the previous output's stores have read the staged tile
        // Register q = 4j + 2h + cc: channel row + 8h, token 8j + 2t + cc.
        auto value = [&](int q, int tok, int h) {
          const float v = __fmul_rn(__fmul_rn(__int2float_rn(acc[q]), fs[32 + (tok & 31)]), h ? c1 : c0);
          acc[q] = 0;
          return v;
        };
        if constexpr (kOutput == 10) {
          const int mi = lane >> 3, mr = lane & 7;
          __half* const warp_base = staged + row - (lane >> 2);
#pragma unroll
          for (int j = 0; j < 16; j += 2) {
            uint32_t v[4];
#pragma unroll
            for (int m = 0; m < 4; ++m) {
              const int jj = j + m / 2, h = m % 2, q = 4 * jj + 2 * h, tok = 8 * jj + 2 * t;
              const __half2 hv = __floats2half2_rn(value(q, tok, h), value(q + 1, tok + 1, h));
              v[m] = *reinterpret_cast<const uint32_t*>(&hv);
            }
            is::stmatrix_x4_trans(warp_base + (8 * (j + mi / 2) + mr) * kStagedRow + 8 * (mi & 1), v);
          }
        } else {
#pragma unroll
          for (int j = 0; j < 16; ++j)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
              for (int cc = 0; cc < 2; ++cc) {
                const int q = 4 * j + 2 * h + cc, tok = 8 * j + 2 * t + cc;
                staged[tok * kStagedRow + row + 8 * h] = __float2half_rn(value(q, tok, h));
              }
        }
        is::named_barrier_sync(bar, kBarThreads);  // the tile is staged
        __half* yb = y + (size_t)blockIdx.x * 128 * 128;
        for (int ci = threadIdx.x % kBarThreads; ci < 128 * 16 * kBarThreads / 256; ci += kBarThreads) {
          // 9: a warpgroup's 8 chunks of 8 channels a token row
          const int r = kOutput == 9 ? ci / 8 : ci / 16, q = kOutput == 9 ? ci % 8 + 8 * (warp >> 2) : ci % 16;
          *reinterpret_cast<uint4*>(yb + r * 128 + q * 8) = *reinterpret_cast<const uint4*>(staged + r * kStagedRow + q * 8);
        }
      }
    }
  };
  for (int i = 0; i < tiles; i += 2) {
    tile(std::integral_constant<int, 0>{}, i);
    tile(std::integral_constant<int, 1>{}, i + 1);
  }
  epilogue(acc, PQ[0], sb0, sb1);
  epilogue(acc + 32, PQ[1], sb0, sb1);
  if constexpr (kMbarHandshake) {
    if (tiles >= kTilesPerOutput) mbar_wait(raw_free, (tiles / kTilesPerOutput - 1) & 1);
  } else if (helpers) {
    if (tiles >= kTilesPerOutput) is::named_barrier_sync(kRawFree, 256 + kHelperThreads);  // the last dump was read
  }
  int sum = 0;
#pragma unroll
  for (int q = 0; q < 64; ++q) sum += acc[q];
  out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
}

// Time `launch(tiles)` and print TOPS at 2M MAC per tile and block.
template <typename Launch>
int time_it(const char* name, int sms, Launch launch) {
  const int tiles = 4000;
  launch(16);  // warm-up
  CHECK(cudaGetLastError());
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  CHECK(cudaEventRecord(e0));
  launch(tiles);
  CHECK(cudaGetLastError());
  CHECK(cudaEventRecord(e1));
  CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, e0, e1));
  const double macs = (double)sms * tiles * 128.0 * 128 * 128;  // per block and tile: 128 channels x 128 tokens x 128 k
  std::printf("%-16s %7.1f TOPS (%.2f us per tile and block)\n", name, 2 * macs / (ms * 1e-3) / 1e12, ms * 1e3 / tiles);
  CHECK(cudaEventDestroy(e0));
  CHECK(cudaEventDestroy(e1));
  return 0;
}

struct Maps {
  CUtensorMap x, w;  // tokens [4096 rows x 4096 B] (128-byte swizzle), weights [4096 rows x 2048 B]
};

// The 2-D TMA maps of the "2-D TMA" variant over x (16 MB) and w (8 MB); false if the driver lacks the encoder.
bool encode_maps(Maps* m, const void* x, const void* w) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult q;
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
      q != cudaDriverEntryPointSuccess)
    return false;
  auto encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  auto one = [&](CUtensorMap* map, const void* base, uint64_t row_bytes, uint32_t box_bytes, CUtensorMapSwizzle sw) {
    const cuuint64_t dims[2] = {row_bytes, 4096}, strides[1] = {row_bytes};
    const cuuint32_t box[2] = {box_bytes, 128}, elem[2] = {1, 1};
    return encode(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(base), dims, strides, box, elem,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, sw, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
  };
  return one(&m->x, x, 4096, 128, CU_TENSOR_MAP_SWIZZLE_128B) && one(&m->w, w, 2048, 64, CU_TENSOR_MAP_SWIZZLE_NONE);
}

template <bool kCopies, bool kScales = false, bool kOneWaiter = false, int kTPS = 1, bool kWarpArrive = false,
          int kOutput = 0, bool kTma = false, bool kU8 = false>
int run_pipe(const char* name, int sms, int* out, const uint8_t* src, const int* S, __half* y, const Maps& maps) {
  auto k = pipe_rate<kCopies, kScales, kOneWaiter, kTPS, kWarpArrive, kOutput, kTma, kU8>;
  constexpr int smem = kOutput >= 2 && kOutput <= 8 ? kSmemOffload : kSmemOut;
  CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  return time_it(name, sms, [&](int tiles) { k<<<sms, 384, smem>>>(maps.x, maps.w, out, src, S, y, tiles); });
}

template <int kV>
int run(const char* name, int sms, int* out) {
  auto k = loop_rate<kV>;
  CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  return time_it(name, sms, [&](int tiles) { k<<<sms, 256, kSmem>>>(out, tiles); });
}

}  // namespace

int main() {
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  int* out = nullptr;
  CHECK(cudaMalloc(&out, (size_t)sms * 256 * sizeof(int)));
  uint8_t* src = nullptr;
  CHECK(cudaMalloc(&src, (size_t)kSrcTiles * kStageBytes));
  CHECK(cudaMemset(src, 0x5a, (size_t)kSrcTiles * kStageBytes));
  uint8_t *tx = nullptr, *tw = nullptr;  // the 2-D TMA variant's tensors
  CHECK(cudaMalloc(&tx, (size_t)4096 * 4096));
  CHECK(cudaMalloc(&tw, (size_t)4096 * 2048));
  CHECK(cudaMemset(tx, 0x11, (size_t)4096 * 4096));
  CHECK(cudaMemset(tw, 0x22, (size_t)4096 * 2048));
  Maps maps;
  if (!encode_maps(&maps, tx, tw)) {
    std::printf("cuTensorMapEncodeTiled unavailable\n");
    return 1;
  }
  __half* y = nullptr;  // the +output variant's output tiles, one per block
  CHECK(cudaMalloc(&y, (size_t)sms * 128 * 128 * sizeof(__half)));
  int* S = nullptr;  // group scales [32 x 128 channels, 32 groups]
  CHECK(cudaMalloc(&S, (size_t)32 * 128 * 32 * sizeof(int)));
  CHECK(cudaMemset(S, 0, (size_t)32 * 128 * 32 * sizeof(int)));
  int e = run<kWgmmaOnly>("wgmma only", sms, out) | run<kHalvesEpilogue>("halves+epilogue", sms, out) |
          run<kHalvesAll>("halves+all", sms, out) | run<kPingPongAll>("ping-pong+all", sms, out) |
          run<kFreeAll>("n128 free+all", sms, out) | run_pipe<false>("+stages", sms, out, src, S, y, maps) |
          run_pipe<true>("+bulk copies", sms, out, src, S, y, maps) | run_pipe<true, true>("+scale gathers", sms, out, src, S, y, maps) |
          run_pipe<true, true, true>("  one waiter", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 2>("  256-k stages", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, true>("  warp arrivals", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 2, true>("  both", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, false, true>("  2-D TMA", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 1>("+output", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 1, true>("+output, 2-D TMA", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 2>("  offloaded", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 2, true>("  offloaded, 2-D TMA", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 3, true>("  never taken", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 4, true>("  dump only", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 5, true>("  idle helpers", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 6, true>("  no stores", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 7, true>("  offl., mbarriers", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 8, true>("  idle, mbarriers", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 9, true>("  per-warpgroup", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 10, true>("  stmatrix, 2-D TMA", sms, out, src, S, y, maps) |
          run<kHalvesAllU8>("halves+all u8", sms, out) |
          run_pipe<true, true, false, 1, false, 0, true, true>("  2-D TMA u8", sms, out, src, S, y, maps) |
          run_pipe<true, true, false, 1, false, 10, true, true>("  stmatrix, 2-D TMA, u8", sms, out, src, S, y, maps);
  CHECK(cudaFree(S));
  CHECK(cudaFree(y));
  CHECK(cudaFree(tx));
  CHECK(cudaFree(tw));
  CHECK(cudaFree(src));
  CHECK(cudaFree(out));
  return e;
}
