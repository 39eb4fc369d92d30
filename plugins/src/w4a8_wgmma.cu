// Kernel family 3: the W4A8 GEMM on Hopper (sm_90a): TMA + mbarrier pipeline
// feeding `wgmma` with s8 operands. Same numbers as family 2 (w4a8_gemm.cu,
// the mma.sync path kept for sm_80/sm_89 and group sizes below 128):
//   P[m,g,n]  = sum_{k in group g} xq[m,k] * q[n,k]          (INT8 tensor cores, INT32)
//   acc[m,n] += P[m,g,n] * S[n,g]                             (INT32, integer scale)
//   Y[m,n]    = (float(acc) * sa[m]) * C[n] (+ B[n])          (one conversion per output)
// or, for the float-scale baseline, accf += float(P) * s[n,g]; Y = accf * sa[m] (+ B[n]).
//
// Roles of the operands. The weights are wgmma's A operand (64 output
// channels per warpgroup, from registers) and the tokens its N dimension
// (BT = 8..128 tokens per block, B operand from shared memory). Putting the
// weights in registers lets each thread unpack its INT4 nibbles straight into
// the A fragment, with no INT8 copy of the weights in shared memory; putting
// the tokens on wgmma's N lets one kernel serve M = 1 (BT = 8) to M = 4096
// (BT = 128) with no wasted rows of the 64-row instruction.
//
// Block: 3 warpgroups. Warpgroups 0 and 1 compute (64 output channels each,
// 128 per block); warpgroup 2 produces (only its first warp works; at
// BT = 128 it hands its registers to the consumers with setmaxnreg). With
// IS_SLIM=1 (TileConfig's kSlim) tiles of up to 32 tokens use blocks of 2
// warpgroups + 1 producer warp, so that more blocks share an SM (IS_SLIM=2:
// the same blocks with a deeper pipeline). Per
// k-tile of 128 (one group when group_size = 128), kStages tiles ahead:
//   producer: TMA copies into pipeline stage s: the activation tile [BT
//     tokens x 128 bytes] (128-byte swizzle, the layout wgmma reads without
//     bank conflicts) and, every second stage, the weights of two tiles
//     [128 channels x 128 bytes]; plus the tile's 128 group scales by
//     cp.async (tiles of <= 64 tokens with G % 4 == 0: instead, once, the
//     block's whole table of scales by one TMA box with stage 0; see
//     scale_table_groups; the persistent kernel at M >= 512: one TMA row of
//     the transposed scales, see "Group scales" below); all complete on
//     full[s]. It refills stage s once every
//     consumer thread freed it (empty[s]; both stages of a pair for a weight copy).
//   consumers: wait full[s]; each thread loads 16 bytes of weights for each
//     of its two channels (rows g and g+8 of its warp's 16), unpacks them into
//     the A fragments of 4 k32 steps (one tile ahead, while the previous
//     tile's wgmma run), issues 4 wgmma into a per-group INT32 partial sum P
//     (the two warpgroups take turns: ping-pong), waits, frees stage s, and at
//     a group's end adds P * S[n,g] to its accumulator (the integer epilogue
//     of the paper). At BT = 128 each warpgroup instead splits its tokens
//     into two halves whose wgmma and epilogues overlap (see "Token halves").

// The k permutation. Thread t's 16 weight bytes of a row are k = 32t..32t+31
// of the tile; word s of them (k = 32t+8s..32t+8s+7) becomes step s's A
// fragment: its even nibbles fill slots 4t..4t+3, its odd nibbles slots
// 16+4t..16+4t+3 (unpack_word_even_odd: 6 integer operations per word, no
// byte interleave). wgmma reads B's k32 step s from bytes 32s..32s+31 of each
// token row, so the quantization kernel writes xq in that slot order
// (act_quant.cu, permuted_k). A step mixes k from all four 32-k quarters of
// the tile, hence this path needs whole 128-k groups (group_size % 128 == 0).
//
// Split-K by clusters. When the (channel, token) tiles are fewer than the
// blocks the GPU runs at once (small M), the K groups are split over `splits`
// blocks of one thread-block cluster (grid z), as far as the clusters still
// all run at once (choose_splits). Each block sums its share; the leader adds the others'
// accumulators through distributed shared memory in a fixed order (exact for
// INT32, deterministic for the float baseline) and writes Y. No workspace, no
// atomics, no second kernel.
//
// Persistent grid. 128-token tiles without split-K (K <= 8192, K / 128 even:
// use_persistent) run on a grid of one block per SM that walks the tiles;
// the producer fills the next tile's stages while the consumers write the
// current tile's output, so the pipeline fill is paid once per block. Each
// tile restarts at stage 0; producer and consumers keep one parity bit per
// stage instead of deriving it from the k-tile index.
//
// Tokens per block: the smallest wgmma N that holds M, or 64 instead of 128
// where a waves x k-tiles model says the smaller tiles finish first
// (choose_tiling: N = 4096 at M = 65-128), or 32 instead of 64 where the
// 32-token tiles' split leaves each block a short K (N = K = 4096 at
// M = 33-64).
//
// Stream-K (use_stream_k): where the tiles leave the last wave of blocks
// short, or where 64-token tiles with a long K would fill at most half the SMs,
// a grid of one block per SM walks whole tiles for all but the last one to
// two waves and splits those waves' (tile, group) units evenly; a tile split
// over blocks is summed by the block holding its first group from the
// others' partials in the workspace, in a fixed block order (see the fix-up).
//
// Group scales of the persistent kernel at M >= 512 (kRows: BT = 128, group
// size 128; use_scale_rows says where). S is stored [N, G] (the contract), so a k-tile's 128 scales
// are 128 words 4 * G bytes apart: 128 cp.async gathers per k-tile, which
// cost 4-8% of the persistent kernel's time at M >= 512 (PERF.md, sixteenth
// session: the probe without them), and TMA boxes of S as stored (128 rows
// of 16 bytes) did not win it back. Instead the quantization kernel that runs
// before every GEMM writes S transposed, [G][N] (ScaleTranspose, gemm_paths.h;
// into the workspace, at every call: no cache of S across calls), and the
// producer copies a k-tile's scales as one 512-byte TMA row (zeros past N)
// with the stage's other copies. The copy costs N * K / 32 bytes each way,
// 0.5-3.7 MB for the benchmark's layers against 25-160 us calls at M = 512;
// measured, it paid only on the persistent kernel at M >= 512 (use_scale_rows);
// the other kernels keep their gathers (or, at <= 64 tokens, their table).
// The first tile's prefetched stages
// (prefetch_stages) get their scale rows after the wait for the quantization
// kernel, with their activations.
//
// Tails: TMA fills rows past M (tokens) and past N (channels) with zeros;
// they are computed and not stored.
#include <cuda.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <type_traits>

#include "block_timeline.cuh"
#include "common.cuh"
#include "gemm_paths.h"
#include "int4_unpack.cuh"
#include "sm90_async.cuh"
#include "wgmma_s8.cuh"

// Only the sm_90a pass emits the kernels' bodies (wgmma and setmaxnreg exist
// only there); other passes compile an empty body the host never launches
// (wgmma_available() checks which module the device loaded).
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define IS_WGMMA_BODY 1
#else
#define IS_WGMMA_BODY 0
#endif

// Decode tiles read the output's factors before the K loop (kEarlyFactors in
// the kernel); 0 keeps them after it (a compile-time A/B switch:
// scripts/build_variant.sh).
#ifndef IS_WG_EARLY_FACTORS
#define IS_WG_EARLY_FACTORS 1
#endif

// The output tile is staged in shared memory by stmatrix for 16-bit outputs
// (see the output); 0 keeps the scalar 2-byte stores (a compile-time A/B
// switch: scripts/build_variant.sh).
// The output's factors sa and C reach shared memory by the producer's
// cp.async while the K loop runs (kSmemFactors in the kernel); 0 keeps the
// consumers' loads from global memory after the loop (an A/B switch).
#ifndef IS_WG_SMEM_FACTORS
#define IS_WG_SMEM_FACTORS 1
#endif

#ifndef IS_WG_STMATRIX
#define IS_WG_STMATRIX 1
#endif

// The walking kernels' 16-bit output tiles leave shared memory by TMA stores
// (one per warpgroup, see tma_stores_output and the output) where the host
// could map Y (WgmmaArgs::tma_store); 0 compiles only the consumers' own
// 16-byte copy-out (an A/B switch).
#ifndef IS_WG_TMA_STORE
#define IS_WG_TMA_STORE 1
#endif

namespace is {

constexpr int kTileK = 128;             // k per pipeline stage (one 128-byte swizzle row of xq)
constexpr int kBlockChannels = 128;     // 2 consumer warpgroups x 64
constexpr int kConsumerWarps = 8;      // 2 warpgroups of consumers
constexpr int kConsumerThreads = 32 * kConsumerWarps;
constexpr int kWeightTileBytes = kBlockChannels * kTileK / 2;  // 8 KB
// Weights are copied two k-tiles at a time: 128 contiguous bytes of each of
// the block's 128 rows (one full L2 line per row and copy) instead of 64, so
// that DRAM serves runs twice as long (PERF.md, v9). Stages 2p and 2p + 1
// share one 16 KB weight buffer [128 rows][128 B]; stage 2p's copy fills it.
constexpr int kTilesPerWeightCopy = 2;
constexpr int kWeightRowBytes = kTilesPerWeightCopy * kTileK / 2;  // 128
// Largest split-K cluster: 8, the portable limit, for the slim blocks only
// (with 2 of them per SM, N = 4096 at 32 tokens fills the SMs only at 8-way
// splits: 32 tiles x 8 = 256 blocks; measured 1.15-1.19x at K = 11008 and
// 14336 on the H200); the 384-thread blocks stop at 4: 8 never measured
// faster there (PERF.md, v9).
constexpr int kMaxSplits = 8;
constexpr int kMaxSplitsWide = 4;
// Named barriers: 0 is __syncthreads, 1 the split-K reduction, 2 and 3 the
// consumers' turns on the tensor cores (ping-pong), 4 the output staging, 5
// and 6 a warpgroup's staged half of a TMA-stored output tile.
constexpr int kTurnBarrier = 2;
constexpr int kEpilogueBarrier = 4;  // the consumers around the staged output tile
constexpr int kStoreBarrier = 5;     // 5 + wg: one warpgroup's staged half, before its TMA store

// kSlim (BT <= 32, IS_SLIM=1; see slim_level): the producer is one warp instead
// of a warpgroup (288 threads instead of 384) and the pipeline has 6 stages,
// so that 3 decode blocks (BT <= 16) or 2 blocks of 32 tokens share an SM
// instead of 2 or 1. Why: on the H200 the decode calls on this path took the
// same time as on the H100 although DRAM is 1.4x faster (22016x4096 M = 1:
// 20.2 -> 19.7 us; 28672x4096 24.1 -> 19.8 us, 172 and 224 blocks of 32
// k-tiles each both ~0.5 us per k-tile and block). More blocks per SM
// helped only where they cut a wave (32-token tiles) or deepen the split of
// a long K (default_slim_level); elsewhere at <= 16 tokens the 6-stage slim
// blocks were slower (PERF.md, "H200 slim A/B").
// The three idle producer warps
// held 3 x 32 x 64-80 registers each block. No setmaxnreg at these tiles, so
// a warpgroup-sized producer is not needed.
// kSlim = 2 (IS_SLIM=2, "deep"): the same slim blocks, 2 per SM at every BT
// <= 32, with 10 stages at BT <= 16 and 8 at BT = 32 (96-101 KB each). Why:
// the first slim A/B on the H200 (PERF.md, "H200 slim A/B") ran 28672x4096
// M = 1 on the same 224 blocks as the default 8-stage ones 1.37x slower with
// 6 stages (27.3 vs 20.0 us), as if a decode block's k-tile time fell with
// the bytes it has in flight (8/6 = 1.33). Measured: no faster than the
// default blocks (28672x4096 M = 1 20.6 vs 20.0 us), kept as a knob.
template <int BT, int kSlim = 0>
struct TileConfig {
  static_assert(kSlim == 0 || BT <= 32, "slim blocks: tiles of at most 32 tokens");
  static constexpr int kThreads = kConsumerThreads + (kSlim ? 32 : 128);  // + the producer (one working warp)
  static constexpr int kActTileBytes = BT * kTileK;
  static constexpr int kStageBytes = kActTileBytes + kWeightTileBytes;  // smem per stage, both regions
  // 8 stages (72-80 KB) for decode tiles, whose time is mostly waiting for
  // weights from DRAM; 6 (72-144 KB) otherwise. Even (the ring of 2
  // A-fragment buffers follows the stage index, and stage pairs share a
  // weight buffer) and at least 4 (the split-K reduction reuses the
  // activation stages). Shared memory: [kStages activation tiles][kStages / 2
  // weight buffers][scales][barriers].
  // (Slim blocks: 6 at every BT, 59-78 KB, so that 3 of 16 tokens fit an SM's 228 KB; deep slim blocks: 10 or 8.)
  static constexpr int kStages = kSlim == 2 ? (BT <= 16 ? 10 : 8) : !kSlim && BT <= 16 ? 8 : 6;
  static_assert(kStages % 2 == 0 && kStages >= 4, "stage count");
  static constexpr int kScaleOffset = kStages * kStageBytes;  // per stage: 128 group scales (4 bytes each)
  static constexpr int kBarrierOffset = kScaleOffset + kStages * kBlockChannels * 4;
  // The output's factors (see kSmemFactors in the kernel): 2 barriers, then
  // slots of [BT sa][128 C] floats: one for a grid-walk block (one segment),
  // two for a walking block (it alternates them by segment). One slot, not
  // two, keeps the scale table of the slim 16-token blocks within the budget
  // of 3 blocks an SM (table_budget: 20 groups need 76544 of 76800 bytes).
  static constexpr int kFactorBarOffset = kBarrierOffset + 2 * kStages * 8;
  static constexpr int kFactorSlotFloats = BT + kBlockChannels;
  static constexpr int kFactorOffset = (kFactorBarOffset + 2 * 8 + 15) / 16 * 16;
  static constexpr int kFactorEnd = kFactorOffset + kFactorSlotFloats * 4;          // grid walk
  static constexpr int kFactorEndWalk = kFactorOffset + 2 * kFactorSlotFloats * 4;  // walking kernels
  static constexpr int kSmemBytes = kFactorEnd + 1024;  // + alignment slack
  // The grid walk's scale table (WgmmaArgs::table_groups), after the
  // barriers; TMA writes shared memory at 128-byte aligned addresses.
  static constexpr int kTableOffset = (kFactorEnd + 127) / 128 * 128;
  static constexpr int table_smem_bytes(int groups) { return kTableOffset + kBlockChannels * groups * 4 + 1024; }
  // The persistent kernel (kPersistent, BT = 128) stages its output tile in
  // its own region: the producer is already refilling the pipeline's stages
  // for the next tile. Sized for fp32 output (128 tokens x 132 x 4 bytes).
  static constexpr int kStagedOffset = (kFactorEndWalk + 15) / 16 * 16;
  static constexpr int kSmemBytesPersistent = kStagedOffset + BT * (kBlockChannels + 4) * 4 + 1024;
  // A TMA-stored 16-bit tile (the output's kTmaStore) in the same region:
  // two [BT tokens][64 channels] halves of 128-byte rows in the 128-byte
  // swizzle, which repeats every 1024 bytes on address bits: 1024-aligned.
  static constexpr int kTmaStagedOffset = (kStagedOffset + 1023) / 1024 * 1024;
  static_assert(kTmaStagedOffset + 2 * BT * 128 + 1024 <= kSmemBytesPersistent, "TMA-stored tile must fit its region");
  static_assert(kStages * kActTileBytes >= kConsumerThreads * (BT / 2) * 4, "split-K partials must fit the stages");
  // BT = 128 needs ~230 registers per consumer thread (2 x 64 accumulators):
  // the producer warpgroup hands its registers over (setmaxnreg).
  static constexpr bool kRebalance = BT == 128;
  // Decode tiles need few registers (BT / 2 accumulators): two blocks share
  // an SM (<= 80 registers a thread, 2 x <= 85 KB of shared memory), which
  // doubles the tiles in flight per SM; a decode block's rate is bound by its
  // per-tile chain (barrier wait, unpack, wgmma, group epilogue), not by DRAM.
  // Slim blocks: 3 (<= 72 registers a thread) or, at BT = 32, 2 (<= 112).
  static constexpr int kBlocksPerSM = kSlim == 2 ? 2 : kSlim ? (BT <= 16 ? 3 : 2) : BT <= 16 ? 2 : 1;
};

// The slim blocks' occupancy rests on these (sm_90: 228 KB of shared memory
// per SM, 1 KB of it reserved per resident block; 64K registers per SM, which
// __launch_bounds__ turns into <= 72 registers at 3 x 288 threads).
constexpr int kSm90SmemPerSM = 228 * 1024, kReservedSmemPerBlock = 1024;
static_assert(3 * (TileConfig<16, 1>::kSmemBytes + kReservedSmemPerBlock) <= kSm90SmemPerSM, "3 slim blocks");
static_assert(2 * (TileConfig<32, 1>::kSmemBytes + kReservedSmemPerBlock) <= kSm90SmemPerSM, "2 slim blocks");
// The slim 16-token blocks' scale table of a 2-way split of K = 4096 (20
// groups) fits beside 3 of them an SM: without it 22016x4096 M = 16 ran
// 18% slower (PERF.md, twelfth session).
static_assert(TileConfig<16, 1>::table_smem_bytes(20) <= kSm90SmemPerSM / 3 - kReservedSmemPerBlock,
              "slim scale table");
static_assert(2 * (TileConfig<16, 2>::kSmemBytes + kReservedSmemPerBlock) <= kSm90SmemPerSM, "2 deep blocks");
static_assert(2 * (TileConfig<32, 2>::kSmemBytes + kReservedSmemPerBlock) <= kSm90SmemPerSM, "2 deep blocks");

// Set to 1 by the sm_90a pass only: the host reads it to learn whether the
// loaded module holds the real kernels.
__device__ int g_wgmma_built = IS_WGMMA_BODY;

// The integer epilogue of the paper (or the float baseline), once per group,
// on a wgmma accumulator fragment p of one warpgroup: d[q] += p[q] * S (or
// d[q] = fma(float(p[q]), s, d[q])). Register q = 4j + 2h + c holds channel
// row + 8h, token 8j + 2t + c, so its scale is sc0 (h = 0) or sc1 (h = 1).
// kShift = 4: p holds 16 times the partial sum (weights unpacked as 16 q,
// unpack_word_even_odd_x16); p >> 4 is the exact partial sum.
template <int kShift = 0, int N, typename Acc, typename Scale>
__device__ __forceinline__ void add_group(Acc* d, const int (&p)[N], Scale sc0, Scale sc1) {
#pragma unroll
  for (int q = 0; q < N; ++q) {
    const Scale sc = (q & 2) ? sc1 : sc0;
    const int pq = p[q] >> kShift;
    if constexpr (std::is_same<Acc, int>::value) d[q] += pq * sc;
    else d[q] = __fmaf_rn((float)pq, sc, d[q]);
  }
}

// f(integral_constant<int, I>) for I = Begin..End-1, unrolled.
template <int Begin, int End, typename F>
__device__ __forceinline__ void static_for(F&& f) {
  if constexpr (Begin < End) {
    f(std::integral_constant<int, Begin>{});
    static_for<Begin + 1, End>(f);
  }
}

struct WgmmaArgs {
  const float* sa;
  const int32_t* S;       // integer scales [N, G] (int path)
  const float* s_float;   // float scales [N, G] (baseline)
  // S or s transposed, [G][scales_t_pitch(N)] (the workspace's copy, made by
  // the quantization kernel) where use_scale_rows chose it; else nullptr.
  const uint32_t* scales_t;
  const float* C;
  const void* bias;
  void* y;
  int M, N, K, group_size;
  int* counters;   // stream-K: one per tile, zeroed by the quantization kernel
  void* partials;  // stream-K: kStreamKSlotBytes per block
  // > 0: the grid walk copies its block's group scales as one table of
  // [128 channels][table_groups] by one TMA box (tm_s) with its first stage,
  // instead of 128 4-byte cp.async per group (scale_table_groups, host).
  int table_groups;
  // Stages whose weights the producer copies before it waits for the
  // quantization kernel (prefetch_stages(), host; capped at the kernel's
  // kStages).
  int prefetch_stages;
  // 1: tm_y maps Y and the output tiles leave by TMA stores; 0: the
  // consumers copy them out (set by launch_typed: tma_stores_output, tma_store_ok).
  int tma_store;
};

// kGroup128: group_size == 128, one group per tile (no index arithmetic for
// group boundaries in the loop); otherwise group_size is a multiple of 128.
// kWalk: Walk::kGrid, one block per (channel, token) tile and split;
// Walk::kPersistent (BT = 128 without split-K; see use_persistent), a grid of
// one block per SM walks the tiles; the producer runs into the next tile while
// the consumers write the current one's output, so the pipeline fill is paid
// once per block instead of once per tile; Walk::kStreamK (BT = 64 or 128,
// see use_stream_k), a grid of at most one block per SM that walks whole
// tiles as the persistent grid for all but the last one to two waves, and
// takes equal shares of those waves' (tile, group) units: a tile's share
// split over consecutive blocks is summed by the block holding its first
// group (see "Stream-K" below).
enum class Walk { kGrid, kPersistent, kStreamK };

// The walking kernels (persistent, stream-K: 64 and 128 tokens) store their
// 16-bit output tiles by TMA (the output's kTmaStore): a block goes on with
// its next tile while TMA writes the last one. Measured on the H200 (PERF.md,
// thirteenth session; same process against v25): persistent 1.008-1.024x at
// M >= 256 on the K = 4096 shapes. Not in the grid kernels: a block there
// exits after its tile, so it waits for TMA to read the box, which under
// load took longer than copying it out (4096x14336 M = 4096 0.96x,
// 4096x11008 M = 1024-4096 0.99x), and in the slim 16-token blocks the path
// cost registers (spills).
// (16-bit outputs only: they are staged by stmatrix into the TMA box.)
template <typename T>
constexpr bool tma_stores_output(Walk walk) {
  return IS_WG_TMA_STORE != 0 && IS_WG_STMATRIX != 0 && sizeof(T) == 2 && walk != Walk::kGrid;
}

// Which kernels may read their group scales from a block-wide table
// (WgmmaArgs::table_groups): grid walks of <= 64 tokens. At 128 tokens it
// measured no faster (4096x14336 M = 1024-4096), and the branch alone cost the
// 128-token kernel 5-6% at 4096x11008 (PERF.md, "H200, fifth session"); there
// the kernel compiles without it and is v17's.
constexpr bool has_scale_table(int BT, Walk walk) { return walk == Walk::kGrid && BT <= 64; }


// kSlim: 0 the 384-thread blocks; 1 slim blocks; 2 deep slim blocks (TileConfig).
// kRows: the group scales by TMA rows of the transposed copy (see "Group
// scales"; use_scale_rows), persistent 128-token kernels of group size 128 only.
template <typename T, bool kIntScale, int BT, bool kGroup128, Walk kWalk = Walk::kGrid, int kSlim = 0, bool kRows = false>
__global__ void __launch_bounds__(TileConfig<BT, kSlim>::kThreads, TileConfig<BT, kSlim>::kBlocksPerSM)
w4a8_wgmma_kernel(const __grid_constant__ CUtensorMap tm_x, const __grid_constant__ CUtensorMap tm_w,
                  const WgmmaArgs args, const __grid_constant__ CUtensorMap tm_s,
                  const __grid_constant__ CUtensorMap tm_y) {
#if IS_WGMMA_BODY
  static_assert(kSlim == 0 || kWalk == Walk::kGrid, "slim blocks: grid walk only");
  static_assert(kSlim >= 0 && kSlim <= 2, "slim level");
  using Cfg = TileConfig<BT, kSlim>;
  constexpr int kThreads = Cfg::kThreads;
  using Acc = typename std::conditional<kIntScale, int, float>::type;
  constexpr int kStages = Cfg::kStages;
  constexpr int kRegs = BT / 2;  // accumulator registers per thread
  // BT = 128: two token halves in flight per warpgroup instead of ping-pong turns (see below).
  constexpr bool kHalves = BT == 128;
  constexpr bool kRebalance = Cfg::kRebalance;
  constexpr int kProducerRegs = 40, kConsumerRegs = 232;  // 128 * 40 + 256 * 232 <= 65536

  // Timeline build only (block_timeline.cuh): variant BT.
  [[maybe_unused]] constexpr uint16_t kTlKernel = timeline_kernel(kTlWgmma, BT);
  IS_TL_BLOCK(kTlKernel, args.y);
  allow_dependent_launch();  // the next kernel may be scheduled as SMs free up (common.cuh)
  extern __shared__ uint8_t smem_raw[];
  // The 128-byte swizzle repeats every 1024 bytes and is applied on address
  // bits: each activation stage must start 1024-aligned.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + Cfg::kBarrierOffset);
  uint64_t* empty = full + kStages;
  // fact_full[slot]: the output's factors of a segment landed (kSmemFactors).
  uint64_t* fact_full = reinterpret_cast<uint64_t*>(smem + Cfg::kFactorBarOffset);
  float* const factors = reinterpret_cast<float*>(smem + Cfg::kFactorOffset);
  auto act_stage = [&](int s) { return smem + s * Cfg::kActTileBytes; };
  // Stage s's weights: the lower (even s) or upper (odd s) 64 bytes of each
  // 128-byte row of its pair's buffer.
  auto w_pair = [&](int s) { return smem + kStages * Cfg::kActTileBytes + (s / 2) * 2 * kWeightTileBytes; };
  using Scale = typename std::conditional<kIntScale, int32_t, float>::type;
  auto scale_stage = [&](int s) { return reinterpret_cast<Scale*>(smem + Cfg::kScaleOffset) + s * kBlockChannels; };
  // The scale table (grid walk, WgmmaArgs::table_groups > 0): row c holds
  // channel n0 + c's scales of groups g0 .. g0 + table_groups - 1, g0 = g_begin & ~3,
  // as S[N, G] has them (one TMA box, zeros past N and G). The box starts at
  // a multiple of 4 groups (g0: this block's first group rounded down;
  // TMA faults on a box whose start is not 16-byte aligned). table_groups is
  // an odd multiple of 4 (the host pads it), so that the rows' starts are 4
  // banks apart and the 8 rows g of a warp's read hit 8 different banks.
  // Kernels without the table (has_scale_table) see a compile-time 0.
  Scale* const table = reinterpret_cast<Scale*>(smem + Cfg::kTableOffset);
  const int table_groups = has_scale_table(BT, kWalk) ? args.table_groups : 0;

  constexpr bool kPersistent = kWalk == Walk::kPersistent;
  constexpr bool kStreamK = kWalk == Walk::kStreamK;
  constexpr bool kWalks = kWalk != Walk::kGrid;  // a block runs several segments
  // kRows: a k-tile's scales by one TMA row of the transposed copy (tm_s; see "Group scales").
  static_assert(!kRows || (BT == 128 && kGroup128 && kPersistent), "scale rows: persistent 128-token kernels, group 128");
  // Where the output's factors come from (see the consumers' comment below):
  // kEarlyFactors, registers loaded before the K loop (8-token grid blocks);
  // kSmemFactors (the others), shared memory, copied by the producer lanes
  // at the end of each segment's stage loop (the producer runs up to kStages
  // k-tiles ahead of the consumers, so the copies' round trip overlaps the
  // last k-tiles instead of following them), landing on fact_full[slot] of
  // segment number c (slot c % 2, parity c / 2 % 2). A slot is rewritten
  // two segments later, when the producer has filled the first stage of
  // that segment, which the consumers freed only after the output that read
  // the slot: no release barrier needed. Only the split's leader copies and
  // waits (the others exit before the output). The bias stays a load after
  // the loop (LLaMA's linear layers have none). Not in the 128-token grid
  // and stream-K kernels (K > 8192 at M >= 129): there, same-process on the
  // H200, 4096x14336 M = 1024 / 4096 ran 1.5 / 2.3% slower with it (stream-K
  // spilled 20 more bytes), while the other kernels gained up to 2.7% at
  // M = 64-256 (PERF.md, twelfth session).
  constexpr bool kEarlyFactors = IS_WG_EARLY_FACTORS != 0 && BT == 8 && kWalk == Walk::kGrid && kSlim == 0;
  constexpr bool kSmemFactors =
      IS_WG_SMEM_FACTORS != 0 && !kEarlyFactors && (BT <= 64 || kWalk == Walk::kPersistent);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int K = args.K, N = args.N, M = args.M, gs = args.group_size;
  // The block's (channel, token) tiles: its own grid cell, or (persistent)
  // every gridDim.x-th tile of the gx x gy tiles, channel tiles fastest.
  const int gx = (N + kBlockChannels - 1) / kBlockChannels;
  const int tile_begin = kPersistent ? (int)blockIdx.x : 0;
  const int tile_end = kPersistent ? gx * ((M + BT - 1) / BT) : 1;
  const int tile_step = kPersistent ? (int)gridDim.x : 1;
  int n0 = blockIdx.x * kBlockChannels, m0 = blockIdx.y * BT;
  auto set_tile = [&](int tile) {
    if constexpr (kPersistent) {
      n0 = (tile % gx) * kBlockChannels;
      m0 = (tile / gx) * BT;
    }
  };
  const int G = K / gs;
  const int tiles_per_group = kGroup128 ? 1 : gs / kTileK;
  // This block's share of the groups (all of them without split-K).
  const int splits = gridDim.z;
  const int per_split = (G + splits - 1) / splits;
  const int g_begin = min(G, (int)blockIdx.z * per_split);
  const int g_end = min(G, g_begin + per_split);
  int kt_begin = g_begin * tiles_per_group;
  int n_tiles = (g_end - g_begin) * tiles_per_group;
  // Stream-K (data-parallel waves + a stream-K tail, as CUTLASS's hybrid):
  // the first dp_waves x grid tiles are whole tiles, block b taking tiles
  // b, b + grid, ... (the persistent walk: neighbouring blocks share
  // activation rows and weights in L2); the remaining sk_tiles (between one
  // and two waves' worth, or all tiles when there are fewer than two waves)
  // are cut into sk_tiles x G (tile, group) units in tile-major order, and
  // block b takes units [u_begin, u_begin + walk_end - dp_span), walked as
  // segments (a tile and a range of its groups [seg_g0, seg_g1)) cut at tile
  // boundaries. Every block so does the same work up to one unit. (Contiguous stream-K ranges
  // over ALL tiles measured up to 20% slower at M = 4096 and K = 14336: 132
  // blocks spread over the whole problem miss L2.)
  const int n_tiles_all = gx * ((M + BT - 1) / BT);
  const int grid = (int)gridDim.x;
  const int dp_waves = !kStreamK ? 0 : n_tiles_all % grid == 0 ? n_tiles_all / grid : max(0, n_tiles_all / grid - 1);
  const int dp_tiles = dp_waves * grid;
  // (Recomputed where needed rather than kept: the consumers are at their register limit.)
  auto sk_units = [&]() { return (int64_t)(n_tiles_all - dp_tiles) * G; };
  const int u_begin = kStreamK ? (int)((int64_t)blockIdx.x * sk_units() / grid) : 0;
  const int dp_span = dp_waves * G;  // walk positions [0, dp_span) are the whole tiles
  const int walk_end = kStreamK ? dp_span + (int)((int64_t)(blockIdx.x + 1) * sk_units() / grid) - u_begin : 0;
  int seg_tile = 0, seg_g0 = 0, seg_g1 = 0;
  // The walk over the block's segments: tiles (grid, persistent) or walk
  // positions (stream-K: G per whole tile, then one per unit); `enter` sets
  // the segment's tile origin and k-tile range.
  auto walk_start = [&]() { return kStreamK ? 0 : tile_begin; };
  auto walk_more = [&](int w) { return kStreamK ? w < walk_end : w < tile_end; };
  auto walk_enter = [&](int w) {
    if constexpr (kStreamK) {
      if (w < dp_span) {
        seg_tile = (int)blockIdx.x + (w / G) * grid;
        seg_g0 = 0;
        seg_g1 = G;
      } else {
        const int u = u_begin + (w - dp_span);
        seg_tile = dp_tiles + u / G;
        seg_g0 = u % G;
        seg_g1 = min(G, seg_g0 + (walk_end - w));
      }
      n0 = (seg_tile % gx) * kBlockChannels;
      m0 = (seg_tile / gx) * BT;
      kt_begin = seg_g0 * tiles_per_group;
      n_tiles = (seg_g1 - seg_g0) * tiles_per_group;
    } else {
      set_tile(w);
    }
  };
  auto walk_step = [&]() { return kStreamK ? seg_g1 - seg_g0 : tile_step; };

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      // The producer's arrive.expect_tx (the TMA bytes complete it) + one
      // cp.async arrival per producer lane (the group scales).
      mbar_init(&full[s], 1 + 32);
      // Every consumer thread arrives once per use of a stage: each thread's
      // own shared-memory reads of the stage (scales, weight fragments) are
      // then ordered before the refill by its own release. (One arrive per
      // warp after __syncwarp is as correct under the PTX memory model, but
      // compute-sanitizer's racecheck does not follow that chain and flagged
      // the scale refills as WAR hazards; the A/B in PERF.md v12 found no
      // cost.)
      mbar_init(&empty[s], kConsumerThreads);
    }
    // One cp.async arrival per producer lane (the factors it copied).
    for (int f = 0; f < 2; ++f) mbar_init(&fact_full[f], 32);
    fence_mbarrier_init();
  }
  __syncthreads();
  const uint32_t rank = splits > 1 ? cluster_rank() : 0;

  if (warp >= kConsumerWarps) {
    // ---- producer warpgroup (only its first warp works). It gives most of
    // its registers to the consumers where they need them (BT = 128).
    if constexpr (kRebalance) setmaxnreg_dec<kProducerRegs>();
    if (warp == kConsumerWarps) {
      // Lane 0 issues the two TMA copies of each tile; all 32 lanes copy the
      // 128 group scales of a tile that ends a group (cp.async, 4 bytes each:
      // S rows are not 16-byte aligned in general) and arrive on full[s]
      // once they land. kStages tiles in flight.
      const Scale* scales = kIntScale ? reinterpret_cast<const Scale*>(args.S) : reinterpret_cast<const Scale*>(args.s_float);
      if constexpr (kStreamK) walk_enter(walk_start());  // the first segment's k-tiles
      // The first tile's stages whose weights are copied before the wait for
      // the quantization kernel (see prefetch_stages, host).
      const int pre = min(n_tiles, min(kStages, args.prefetch_stages));
      if (lane == 0 && n_tiles > 0) {
        asm volatile("prefetch.tensormap [%0];" ::"l"(&tm_x) : "memory");
        asm volatile("prefetch.tensormap [%0];" ::"l"(&tm_w) : "memory");
      }
      // Per stage: whether it was filled before, and the parity of its fills
      // so far (the n-th fill waits for the consumers' (n-1)-th release of
      // it). Every tile restarts at stage 0, so with a persistent grid the
      // stages are not used in strict rotation; the masks keep the count.
      uint32_t used = 0, fill_parity = 0;
      int fact_count = 0;  // segments so far (kSmemFactors)
      for (int tl = walk_start(); walk_more(tl); tl += walk_step()) {
        walk_enter(tl);
        const bool first_tile = tl == walk_start();
        for (int i = 0; i < n_tiles; ++i) {
          const int s = i % kStages;
          const int kt = kt_begin + i;
          // kStages is even, so stage s and tile i have the same parity: an
          // even tile's copy brings tiles kt and kt + 1 (past the block's range
          // or K, the extra bytes are unused or TMA's zeros), so it waits until
          // the consumers freed both stages of the pair.
          const bool copies_weights = (i & 1) == 0;
          if ((used >> s) & 1) mbar_wait(&empty[s], ((fill_parity >> s) & 1) ^ 1);
          if (copies_weights && ((used >> (s + 1)) & 1)) mbar_wait(&empty[s + 1], ((fill_parity >> (s + 1)) & 1) ^ 1);
          if (lane == 0) {
            const uint32_t table_bytes = table_groups > 0 && first_tile && i == 0 ? kBlockChannels * table_groups * 4 : 0;
            constexpr uint32_t kScaleRowBytes = kRows ? kBlockChannels * 4 : 0;
            mbar_arrive_expect_tx(&full[s], Cfg::kActTileBytes + (copies_weights ? 2 * kWeightTileBytes : 0) +
                                                table_bytes + kScaleRowBytes);
            if (table_bytes) tma_load_2d(table, &tm_s, g_begin & ~3, n0, &full[s]);
            if (copies_weights) tma_load_2d(w_pair(s), &tm_w, kt * (kTileK / 2), n0, &full[s]);
            // The activations and the transposed scales are the quantization
            // kernel's: for the first tile's prefetched stages, after the wait below.
            if (!first_tile || i >= pre) {
              tma_load_2d(act_stage(s), &tm_x, kt * kTileK, m0, &full[s]);
              if constexpr (kRows) tma_load_2d(scale_stage(s), &tm_s, n0, kt, &full[s]);
            }
          }
          if (!kRows && table_groups == 0 && (kGroup128 || (kt + 1) % tiles_per_group == 0)) {
            const int grp = kGroup128 ? kt : kt / tiles_per_group;
#pragma unroll
            for (int j = 0; j < kBlockChannels / 32; ++j) {
              const int c = lane + 32 * j;
              cp_async_4(scale_stage(s) + c, scales + (size_t)min(n0 + c, N - 1) * G + grp);
            }
          }
          cp_async_arrive_noinc(&full[s]);
          used |= 1u << s;
          fill_parity ^= 1u << s;
          if (first_tile && i == pre - 1 && lane == 0) {
            // The weights of the first stages are on their way; the
            // activations come from the quantization kernel, which may still
            // be running (programmatic dependent launch): wait for it here.
            wait_for_prerequisite_grid();
            IS_TL_WAIT_DONE(true, kTlKernel, args.y);
            for (int j = 0; j < pre; ++j) {
              tma_load_2d(act_stage(j), &tm_x, (kt_begin + j) * kTileK, m0, &full[j]);
              if constexpr (kRows) tma_load_2d(scale_stage(j), &tm_s, n0, kt_begin + j, &full[j]);
            }
          }
        }
        if constexpr (kSmemFactors) {
          if (splits == 1 || rank == 0) {
            // sa is the quantization kernel's: this lane's loads after the
            // wait (lane 0 waited in the loop above; the others, and a
            // segment without k-tiles, wait here: at once where satisfied).
            if (first_tile) wait_for_prerequisite_grid();
            float* const f = factors + (fact_count & 1) * Cfg::kFactorSlotFloats;
            for (int c = lane; c < BT; c += 32) cp_async_4(f + c, args.sa + min(m0 + c, M - 1));
            if constexpr (kIntScale)
              for (int c = lane; c < kBlockChannels; c += 32) cp_async_4(f + BT + c, args.C + min(n0 + c, N - 1));
            cp_async_arrive_noinc(&fact_full[fact_count & 1]);
          }
          ++fact_count;
        }
      }
      __syncwarp();
    }
    if (splits > 1) {  // take part in the consumers' barriers of the split-K reduction
      named_barrier_sync(1, kThreads);
      cluster_sync();
      cluster_sync();
    }
    return;
  }

  // ---- consumers (warpgroups 0 and 1).
  if constexpr (kRebalance) setmaxnreg_inc<kConsumerRegs>();
  Acc acc[kRegs];
#pragma unroll
  for (int i = 0; i < kRegs; ++i) acc[i] = Acc(0);
  const int wg = warp >> 2, g = lane >> 2, t = lane & 3;
  const int row = 64 * wg + 16 * (warp & 3) + g;  // this thread's channels: row and row + 8 of the block
  // kTmaStore (the walking kernels' 16-bit outputs where the host mapped Y,
  // args.tma_store; see tma_stores_output): each warpgroup stages its 64
  // channels x BT tokens as a [BT][128-byte] box in the 128-byte swizzle
  // (see the output) and one of its threads hands the box to TMA, which
  // writes Y (clipping rows past M and channels past N) while the block goes
  // on with its next tile's K loop, instead of 8 rounds of 16-byte shared
  // loads and global stores a thread. The issuing thread waits for the
  // store's reads of the box before the box is rewritten (the next segment's
  // output) and before the block exits.
  // (tma_out and store_issuer are evaluated where used, from the kernel's
  // parameters, not kept in registers through the K loop.)
  constexpr bool kTmaStore = tma_stores_output<T>(kWalk);
  auto tma_out = [&]() { return kTmaStore && args.tma_store != 0; };
  auto store_issuer = [&]() { return (threadIdx.x & 127) == 0; };  // thread 0 of each consumer warpgroup
  // The output's per-thread factors (C and bias of its 2 channels, sa of its
  // BT / 4 tokens), all loads in flight at once. Blocks of 8-token tiles
  // (M <= 8, one tile a block, not the slim blocks) read C and sa before the
  // K loop: after it C was a round trip to DRAM on the block's critical path,
  // behind the split's reduction. Measured on the H200 (PERF.md, tenth
  // session; same-process A/Bs): 12288x4096 and 28672x4096 M = 1-8
  // 1.02-1.03x faster, the slim blocks' shapes unchanged. At BT = 16 it was
  // +2% at 28672x4096 (no split) but -1.3% at 12288x4096 (2-way split), and a
  // runtime gate on the split made both BT = 16 kernels 1.5-3.5% slower
  // (registers), so 16-token tiles do not hold their factors in registers
  // through the loop, nor do larger tiles (registers taken: 168 at BT = 128)
  // and the slim blocks (they spilled 16-52 bytes with them early): they
  // read them after the loop, from shared memory where kSmemFactors (v25),
  // else from global memory. The bias stays a global load after the loop
  // (with C, bias and sa early the BT = 16 kernels spilled 4-8 bytes).
  // (kEarlyFactors and kSmemFactors: above the producer.)
  // C of channel row + 8h, sa of token 8j + 2t + c (the fragment's layout).
  auto channel_c = [&](int h) {
    const int n = n0 + row + 8 * h;
    return kIntScale && n < N ? args.C[n] : 1.f;
  };
  auto token_sa = [&](int j, int c) {
    const int m = m0 + 8 * j + 2 * t + c;
    return m < M ? args.sa[m] : 0.f;
  };
  float early_cn[2], early_sam[BT / 8][2];  // (used only where kEarlyFactors; dead code elsewhere)
  if constexpr (kEarlyFactors) {
    if (splits == 1 || rank == 0) {  // only the split's leader writes Y
#pragma unroll
      for (int h = 0; h < 2; ++h) early_cn[h] = channel_c(h);
      wait_for_prerequisite_grid();  // sa is complete (the consumers' first stage needs the quantization kernel's xq anyway)
#pragma unroll
      for (int j = 0; j < BT / 8; ++j)
#pragma unroll
        for (int c = 0; c < 2; ++c) early_sam[j][c] = token_sa(j, c);
    }
  }
  // The scale of channel row + 8h for k-tile kt's group: from the table, or
  // from stage s's 128 scales (landed with the stage).
  auto group_scale = [&](int s, int kt, int h) -> Scale {
    if (table_groups > 0)
      return table[(row + 8 * h) * table_groups + (kGroup128 ? kt : kt / tiles_per_group) - (g_begin & ~3)];
    return scale_stage(s)[row + 8 * h];
  };

  // Software pipeline: while the 4 wgmma of tile i run, the thread loads and
  // unpacks the A fragments of tile i + 1. The loop is unrolled over the
  // stages so that every stage index, smem offset and barrier address is a
  // compile-time constant.
  int P[kRegs];
#pragma unroll
  for (int r = 0; r < kRegs; ++r) P[r] = 0;
  uint32_t a[2][4][4];
  // Tiles of <= 32 tokens unpack the weights as 16 q (3 integer operations a
  // word instead of 6: unpack_word_even_odd_x16) and shift each group's
  // partial sum back (add_group<4>): at these tiles a thread's unpack is most
  // of its per-tile instructions and the shift costs BT / 2 per group. From
  // 64 tokens the shifts would outnumber the operations saved (24 a tile).
  constexpr bool kX16 = BT <= 32;
  constexpr int kPShift = kX16 ? 4 : 0;
  auto load_fragments = [&](auto stage, uint32_t parity, uint32_t (&f)[4][4]) {
    constexpr int s = decltype(stage)::value;
    mbar_wait(&full[s], parity);
    // An odd stage's copy landed with the even one before it, which this
    // thread has already waited for (stages are consumed in order).
    const uint8_t* w = w_pair(s) + (s & 1) * (kTileK / 2) + 16 * t;
    const uint4 w0 = *reinterpret_cast<const uint4*>(w + row * kWeightRowBytes);
    const uint4 w1 = *reinterpret_cast<const uint4*>(w + (row + 8) * kWeightRowBytes);
    unpack_a_fragments<kX16>(w0, w1, f);
  };
  const uint64_t desc0 = desc_k_major_sw128(smem_u32(smem));
  // Tile i = i0 + s of a round of kStages tiles; ph = parity of the round.
  // Per stage, the parity of the consumers' next wait on full[s] (stages
  // restart at 0 every tile: see the producer).
  uint32_t cons_parity = 0;
  auto next_parity = [&](auto stage) {
    constexpr int s = decltype(stage)::value;
    const uint32_t p = (cons_parity >> s) & 1;
    cons_parity ^= 1u << s;
    return p;
  };
  auto tile = [&](auto stage, int i, uint32_t ph) {
    constexpr int s = decltype(stage)::value;
    constexpr int s_next = (s + 1) % kStages;
    const uint32_t(&cur)[4][4] = a[s & 1];  // kStages is even: the ring of 2 stays in step
    uint32_t(&next)[4][4] = a[(s + 1) & 1];
    const int kt = kt_begin + i;
    const bool first = kGroup128 || kt % tiles_per_group == 0;
    const bool last = kGroup128 || (kt + 1) % tiles_per_group == 0;
    // The group scales of stage s (landed with it: this thread waited for
    // full[s] in load_fragments), read before the turn so that the shared
    // loads' latency is not on the chain between wgmma_wait and add_group.
    Scale sc0 = 0, sc1 = 0;
    if (last) {
      sc0 = group_scale(s, kt, 0);
      sc1 = group_scale(s, kt, 1);
    }
    // Ping-pong: the two warpgroups take turns on the tensor cores, so that
    // one's integer work (unpack, group epilogue) runs while the other's
    // wgmma execute, instead of both idling the tensor cores at once.
    named_barrier_sync(kTurnBarrier + wg, kConsumerThreads);  // my turn
    wgmma_fence();
#pragma unroll
    for (int st = 0; st < 4; ++st) {
      // Descriptor units are 16 bytes: the stage's offset, then +32 bytes per
      // k32 step inside the swizzled 128-byte rows.
      const uint64_t desc = desc0 + (s * Cfg::kActTileBytes) / 16 + 2 * st;
      wgmma_rs_s8<BT>(P, cur[st], desc, (st > 0 || !first) ? 1 : 0);
    }
    wgmma_commit();
    // Hand the turn over; warpgroup 1 skips this after its last tile, so
    // that every arrival is matched by a wait (warpgroup 0 arrives n_tiles
    // times, warpgroup 1 once up front and n_tiles - 1 times here).
    if (wg == 0 || i + 1 < n_tiles) named_barrier_arrive(kTurnBarrier + (wg ^ 1), kConsumerThreads);
    // (The stream-K walk restarts at stage 0 every segment: per-stage parity bits.)
    if (i + 1 < n_tiles) {
      constexpr auto sn = std::integral_constant<int, s_next>{};
      load_fragments(sn, kStreamK ? next_parity(sn) : (s_next == 0 ? ph ^ 1 : ph), next);
    }
    wgmma_wait_all();
    mbar_arrive(&empty[s]);  // this thread is done with stage s (its scales were read above)
    if (last) add_group<kPShift>(acc, P, sc0, sc1);
  };
  int fact_count = 0;  // segments so far (kSmemFactors: as the producer's)
  for (int tl = walk_start(); walk_more(tl); tl += walk_step()) {
  walk_enter(tl);
#pragma unroll
  for (int i = 0; i < kRegs; ++i) acc[i] = Acc(0);
  if constexpr (!kHalves) {
    if (n_tiles > 0) {
      if (wg == 1) named_barrier_arrive(kTurnBarrier, kConsumerThreads);  // warpgroup 0 goes first
      constexpr auto s0 = std::integral_constant<int, 0>{};
      load_fragments(s0, kStreamK ? next_parity(s0) : 0u, a[0]);
    }
    for (int i0 = 0; i0 < n_tiles; i0 += kStages) {
      const uint32_t ph = (i0 / kStages) & 1;
      static_for<0, kStages>([&](auto stage) {
        constexpr int si = decltype(stage)::value;
        if (i0 + si < n_tiles) tile(stage, i0 + si, ph);
      });
    }
  } else {
    // Token halves (BT = 128): each warpgroup splits its 64 x 128 tile into
    // two 64 x 64 halves with their own partial sums (PQ[0], PQ[1]: 32
    // registers each, as many as one 64 x 128 partial). Per k-tile: issue the
    // first half's 4 wgmma; run the previous tile's second-half group
    // epilogue while they execute; issue the second half; wait for the first
    // half (wait_group 1), run its epilogue; wait for both (wait_group 0) and
    // free the stage. A warpgroup so keeps a batch on the tensor cores during
    // its epilogues, and no ping-pong turns are needed. (ptxas schedules the
    // first half's epilogue after the wait_group 0 anyway: the other
    // warpgroup's batches cover it; it also injects one wait into the first
    // tile of each unrolled round, C7517, where the second half's registers
    // cross the loop's back edge.) Every tile ends with wait_group 0: when an
    // accumulator was read after a wait_group 1 that retired a batch of an
    // earlier tile, ptxas serialized every wgmma (C7514); reading only
    // batches retired by a wait_group 0, as FlashAttention-3's
    // intra-warpgroup overlap does, it does not. Measured on the H100 against
    // ping-pong: 4096^3 216 -> 206 us, 28672x4096 M = 4096 1494 -> 1426 us,
    // M = 128 49.6 -> 46.0 us (PERF.md, v11).
    int PQ[2][kRegs / 2] = {};
    Scale sb0 = 0, sb1 = 0;  // the previous tile's group scales (its second half's epilogue)
    bool prev_last = false;
    auto tile_halves = [&](auto stage, int i) {
      constexpr int s = decltype(stage)::value;
      constexpr int s_next = (s + 1) % kStages;
      const uint32_t(&cur)[4][4] = a[s & 1];
      uint32_t(&next)[4][4] = a[(s + 1) & 1];  // tile i - 1's fragments: retired
      const int kt = kt_begin + i;
      const bool first = kGroup128 || kt % tiles_per_group == 0;
      const bool last = kGroup128 || (kt + 1) % tiles_per_group == 0;
      const uint64_t desc = desc0 + (s * Cfg::kActTileBytes) / 16;
      wgmma_fence();
#pragma unroll
      for (int st = 0; st < 4; ++st)
        wgmma_rs_s8<BT / 2>(PQ[0], cur[st], desc + 2 * st, (st > 0 || !first) ? 1 : 0);
      wgmma_commit();
      if (prev_last) add_group(acc + kRegs / 2, PQ[1], sb0, sb1);  // tokens 64..127
      const Scale sc0 = last ? group_scale(s, kt, 0) : Scale(0);
      const Scale sc1 = last ? group_scale(s, kt, 1) : Scale(0);
      wgmma_fence();
      // The second half: tokens 64..127, 64 rows x 128 bytes = 8 KB further
      // (a whole number of 1024-byte swizzle atoms).
#pragma unroll
      for (int st = 0; st < 4; ++st)
        wgmma_rs_s8<BT / 2>(PQ[1], cur[st], desc + (BT / 2) * kTileK / 16 + 2 * st,
                            (st > 0 || !first) ? 1 : 0);
      wgmma_commit();
      if (i + 1 < n_tiles) {
        constexpr auto sn = std::integral_constant<int, s_next>{};
        load_fragments(sn, next_parity(sn), next);
      }
      wgmma_wait_one();  // the first half is done
      if (last) add_group(acc, PQ[0], sc0, sc1);
      wgmma_wait_all();  // the second half is done
      mbar_arrive(&empty[s]);  // this thread is done with stage s
      sb0 = sc0;
      sb1 = sc1;
      prev_last = last;
    };
    if (n_tiles > 0) {
      constexpr auto s0 = std::integral_constant<int, 0>{};
      load_fragments(s0, next_parity(s0), a[0]);
    }
    for (int i0 = 0; i0 < n_tiles; i0 += kStages) {
      static_for<0, kStages>([&](auto stage) {
        constexpr int si = decltype(stage)::value;
        if (i0 + si < n_tiles) tile_halves(stage, i0 + si);
      });
    }
    if (prev_last) add_group(acc + kRegs / 2, PQ[1], sb0, sb1);  // tokens 64..127
  }

  if (splits > 1) {
    // Every stage was consumed, so no copy is in flight: the stages hold the partials.
    named_barrier_sync(1, kThreads);
    Acc* part = reinterpret_cast<Acc*>(smem);
    if (rank != 0) {
#pragma unroll
      for (int r = 0; r < kRegs; ++r) part[r * kConsumerThreads + threadIdx.x] = acc[r];
    }
    cluster_sync();  // partials written and visible cluster-wide
    if (rank == 0) {
      for (int b = 1; b < splits; ++b) {
#pragma unroll
        for (int r = 0; r < kRegs; ++r) {
          const uint32_t v = ld_cluster_u32(&part[r * kConsumerThreads + threadIdx.x], b);
          if constexpr (kIntScale) acc[r] += (int)v;
          else acc[r] = __fadd_rn(acc[r], __uint_as_float(v));
        }
      }
    }
    cluster_sync();  // the leader has read every partial: the others may exit
    if (rank != 0) return;
  }

  // ---- Stream-K fix-up. A tile's groups may be spread over consecutive
  // blocks b (its owner, holding group 0) .. last. The others store their
  // partial sums to their own slot (in thread order: coalesced) and
  // release-increment the tile's counter; the owner acquire-waits until all
  // have, then adds their partials in block order (exact for INT32,
  // deterministic for the float baseline). Only the owner writes Y. A
  // non-owner segment is always its block's first stream-K segment, so one
  // slot per block suffices; non-owners never wait, so the waits cannot
  // cycle (every block is resident: at most one per SM).
  bool write_output = true;
  if constexpr (kStreamK) {
    wait_for_prerequisite_grid();  // the quantization kernel zeroed the counters
    if (seg_g0 > 0) {
      Acc* slot = reinterpret_cast<Acc*>(static_cast<char*>(args.partials) + (size_t)blockIdx.x * kStreamKSlotBytes);
#pragma unroll
      for (int r = 0; r < kRegs; ++r) __stcg(&slot[r * kConsumerThreads + threadIdx.x], acc[r]);
      __threadfence();
      named_barrier_sync(kEpilogueBarrier, kConsumerThreads);  // every consumer thread's partials are out
      if (threadIdx.x == 0) asm volatile("red.release.gpu.global.add.s32 [%0], 1;" ::"l"(args.counters + seg_tile) : "memory");
      write_output = false;
    } else if (seg_g1 < G) {
      // The block holding the tile's last unit u_last: the largest b with
      // b * sk_units / grid <= u_last (every block holds at least one unit:
      // the host launches at most sk_units blocks, see launch_typed).
      const int64_t u_last = (int64_t)(seg_tile - dp_tiles + 1) * G - 1;
      const int last = (int)(((u_last + 1) * grid - 1) / sk_units());
      const int n_others = last - (int)blockIdx.x;
      if (threadIdx.x == 0) {
        int done = 0;
        do {
          asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(done) : "l"(args.counters + seg_tile) : "memory");
        } while (done < n_others);
      }
      named_barrier_sync(kEpilogueBarrier, kConsumerThreads);  // thread 0 saw every partial land
      for (int b = (int)blockIdx.x + 1; b <= last; ++b) {
        const Acc* slot = reinterpret_cast<const Acc*>(static_cast<const char*>(args.partials) + (size_t)b * kStreamKSlotBytes);
#pragma unroll
        for (int r = 0; r < kRegs; ++r) {
          const Acc v = __ldcg(&slot[r * kConsumerThreads + threadIdx.x]);
          if constexpr (kIntScale) acc[r] += v;
          else acc[r] = __fadd_rn(acc[r], v);
        }
      }
    }
  }
  // This segment's factors in shared memory (kSmemFactors): every segment
  // waits, so that the slots' parities stay in step with the producer's.
  const float* const seg_factors = factors + (fact_count & 1) * Cfg::kFactorSlotFloats;
  if constexpr (kSmemFactors) {
    mbar_wait(&fact_full[fact_count & 1], (fact_count >> 1) & 1);
    ++fact_count;
  }
  if (write_output) {

  // ---- output. Y = (float(acc) * sa[m]) * C[n] (+ B[n]) (or accf * sa[m] (+ B[n])),
  // staged through shared memory as a [BT tokens][128 channels] tile so that
  // the stores to Y (token-major) are 16 bytes wide and coalesced: a thread's
  // own outputs are 2 channels x BT / 4 tokens, so direct stores would write
  // 2-byte pieces of 4 rows per instruction. (Before: 64 dependent load +
  // scattered store steps per thread, ~20% of the warp samples at M = 4096.)
  wait_for_prerequisite_grid();  // sa is complete from here on
  constexpr int kVec = 16 / sizeof(T);                  // elements per 16-byte chunk
  constexpr int kRowElems = kBlockChannels + kVec;      // staged row, padded by 16 bytes: the 4 t of a
                                                        // warp's store land 2 rows (544 or 1056 B) apart,
                                                        // 8 banks apart: no bank conflicts
  static_assert(BT * kRowElems * sizeof(T) <= kStages * Cfg::kStageBytes, "staged tile must fit the stages");
  static_assert(!kWalks || Cfg::kStagedOffset + BT * kRowElems * sizeof(T) + 1024 <= Cfg::kSmemBytesPersistent,
                "staged tile must fit its region");
  T* staged = reinterpret_cast<T*>(kWalks ? smem + Cfg::kStagedOffset : smem);
  // 16-bit outputs are staged by stmatrix (below); float ones by scalar stores.
  constexpr bool kStmatrix = IS_WG_STMATRIX != 0 && sizeof(T) == 2;
  const T* bias = static_cast<const T*>(args.bias);
  T* y = static_cast<T*>(args.y);
  // Per-thread factors, loaded before the first shared-memory store so that
  // the loads are all in flight at once (C and sa read before the K loop
  // where kEarlyFactors, from this segment's slot where kSmemFactors; rows
  // past M hold row M - 1's sa there and are not stored).
  float cn[2], bn[2], sam[BT / 8][2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int n = n0 + row + 8 * h;
    cn[h] = kEarlyFactors ? early_cn[h] : kSmemFactors ? (kIntScale ? seg_factors[BT + row + 8 * h] : 1.f) : channel_c(h);
    bn[h] = bias != nullptr && n < N ? to_float(bias[n]) : 0.f;
  }
#pragma unroll
  for (int j = 0; j < BT / 8; ++j)
#pragma unroll
    for (int c = 0; c < 2; ++c)
      sam[j][c] = kEarlyFactors ? early_sam[j][c] : kSmemFactors ? seg_factors[8 * j + 2 * t + c] : token_sa(j, c);
  // Output value of register 4j + 2h + c: channel row + 8h, token 8j + 2t + c.
  auto out_value = [&](int j, int h, int c) {
    const Acc v0 = acc[4 * j + 2 * h + c];
    float v;
    if constexpr (kIntScale) v = __fmul_rn(__fmul_rn(__int2float_rn(v0), sam[j][c]), cn[h]);
    else v = __fmul_rn(v0, sam[j][c]);
    if (bias != nullptr) v = __fadd_rn(v, bn[h]);
    return v;
  };
  // The previous segment's TMA store has read its box (walking kernels).
  if (tma_out() && store_issuer()) bulk_wait_group_read_all();
  // Both warpgroups' last wgmma have read their stages (the tile overwrites them).
  named_barrier_sync(kEpilogueBarrier, kConsumerThreads);
  // 16-bit outputs: the pair of tokens 8j + 2t + {0, 1} of channel row + 8h
  // is one packed word, and for each (j, h) the warp's 8 channels x 8 tokens
  // are one 8 x 8 matrix in the mma fragment layout (row g = channel,
  // columns 2t, 2t + 1 = tokens), which stmatrix .trans writes as 8 token
  // rows of 8 channels (16 bytes each) of the staged tile: one instruction
  // per 4 matrices instead of 16 two-byte stores per thread. Lane 8i + r
  // passes the address of row r (token) of the instruction's matrix i =
  // (j + i / 2, h = i % 2): token 8 (j + i / 2) + r, channels 16 (warp % 4)
  // + 8h .. + 7 of the warpgroup's 64. Either layout puts the 8 rows of a
  // matrix in 8 different 16-byte bank groups (conflict-free): the padded
  // tile's rows are 272 or 528 bytes apart (kRowElems); the TMA box's rows
  // are 128 bytes, with 16-byte chunk 2 (warp % 4) + h of row r at chunk
  // (2 (warp % 4) + h) ^ (r % 8) (the 128-byte swizzle).
  // The two layouts differ only in the address: a branch around the whole
  // staging made ptxas serialize the walking kernels' wgmma (C7518). The
  // grid kernels (no kTmaStore) compile v25's address arithmetic, SASS
  // unchanged.
  const bool tma = tma_out();
  if constexpr (kStmatrix) {
    const int mi = lane >> 3, mr = lane & 7;
    T* const warp_base = staged + row - g;  // channel 64 wg + 16 (warp & 3), token 0
    // Row mr of this lane's matrix in token block jj (tokens 8 jj .. 8 jj + 7).
    auto row_addr = [&](int jj) -> void* {
      if constexpr (kTmaStore) {
        uint8_t* const wg_box = smem + Cfg::kTmaStagedOffset + wg * BT * 128;
        if (tma) return wg_box + (8 * jj + mr) * 128 + 16 * ((2 * (warp & 3) + (mi & 1)) ^ mr);
      }
      return warp_base + (8 * jj + mr) * kRowElems + 8 * (mi & 1);
    };
    if constexpr (BT / 8 == 1) {
      uint32_t v[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) v[h] = pack2_from_float<T>(out_value(0, h, 0), out_value(0, h, 1));
      stmatrix_x2_trans(row_addr(0), v);
    } else {
#pragma unroll
      for (int j = 0; j < BT / 8; j += 2) {
        uint32_t v[4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
          v[i] = pack2_from_float<T>(out_value(j + i / 2, i % 2, 0), out_value(j + i / 2, i % 2, 1));
        stmatrix_x4_trans(row_addr(j + mi / 2), v);
      }
    }
  } else {
#pragma unroll
    for (int j = 0; j < BT / 8; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int c = 0; c < 2; ++c) staged[(8 * j + 2 * t + c) * kRowElems + row + 8 * h] = from_float<T>(out_value(j, h, c));
  }
  if (tma) {
    fence_proxy_async_shared();  // this thread's box writes, before TMA reads them
    named_barrier_sync(kStoreBarrier + wg, 128);
    if (store_issuer()) {
      tma_store_2d(&tm_y, smem + Cfg::kTmaStagedOffset + wg * BT * 128, n0 + 64 * wg, m0);
      bulk_commit_group();
    }
  } else {
  named_barrier_sync(kEpilogueBarrier, kConsumerThreads);
  // 16 consecutive threads (fp16) store one token's 256 bytes.
  constexpr int kChunksPerRow = kBlockChannels / kVec;
  const bool vec = N % kVec == 0 && (reinterpret_cast<uintptr_t>(y) & 15) == 0;
  for (int ci = threadIdx.x; ci < BT * kChunksPerRow; ci += kConsumerThreads) {
    const int r = ci / kChunksPerRow, q = ci % kChunksPerRow;
    const int m = m0 + r, n = n0 + q * kVec;
    if (m >= M || n >= N) continue;
    const T* src = staged + r * kRowElems + q * kVec;
    T* dst = y + (size_t)m * N + n;
    if (vec) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {
      for (int e = 0; e < kVec && n + e < N; ++e) dst[e] = src[e];
    }
  }
  }  // !tma
  }  // write_output
  }  // segments
  // The shared memory of a block lives until it exits: the last TMA store must have read its box.
  if (tma_out() && store_issuer()) bulk_wait_group_read_all();
#endif
}

// ---- host side

static PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) == cudaSuccess &&
        q == cudaDriverEntryPointSuccess)
      fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  });
  return fn;
}

bool wgmma_available() {
  static int available = -1;
  if (available < 0) {
    int built = 0;
    available = device_attribute<cudaDevAttrComputeCapabilityMajor>(0) == 9 &&
                device_attribute<cudaDevAttrComputeCapabilityMinor>(-1) == 0 &&
                cudaMemcpyFromSymbol(&built, g_wgmma_built, sizeof(int)) == cudaSuccess && built == 1 &&
                tensor_map_encoder() != nullptr;
    cudaGetLastError();  // a failed probe must not linger as the sticky "last error"
  }
  return available == 1;
}

// Tokens per block: the smallest wgmma N that holds M, up to 128.
static int tokens_per_block(int64_t M) { return M <= 8 ? 8 : M <= 16 ? 16 : M <= 32 ? 32 : M <= 64 ? 64 : 128; }

// Walking kernels (persistent, stream-K) stage their output in a region of
// their own: the producer is already refilling the stages.
template <int BT, Walk kWalk, int kSlim = 0>
constexpr int smem_bytes() {
  return kWalk != Walk::kGrid ? TileConfig<BT, kSlim>::kSmemBytesPersistent : TileConfig<BT, kSlim>::kSmemBytes;
}

// Lets the kernel instantiation use its dynamic shared memory (once per
// instantiation): kernels with a scale table (has_scale_table) up to the
// device's per-block limit (the table comes on top of smem_bytes;
// table_budget keeps the occupancy).
template <typename T, bool kIntScale, int BT, bool kGroup128, Walk kWalk = Walk::kGrid, int kSlim = 0, bool kRows = false>
static cudaError_t kernel_ready() {
  static std::once_flag once;
  static cudaError_t err = cudaSuccess;
  std::call_once(once, [] {
    const int limit = has_scale_table(BT, kWalk) ? std::max(smem_bytes<BT, kWalk, kSlim>(),
                                                            device_attribute<cudaDevAttrMaxSharedMemoryPerBlockOptin>(0))
                                                 : smem_bytes<BT, kWalk, kSlim>();
    err = cudaFuncSetAttribute(w4a8_wgmma_kernel<T, kIntScale, BT, kGroup128, kWalk, kSlim, kRows>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, limit);
  });
  return err;
}

// The most dynamic shared memory a grid-walk block of this instantiation may
// take with its scale table and still run as many blocks per SM as with
// smem_bytes alone (cudaOccupancyMaxActiveBlocksPerMultiprocessor, asked once);
// 0 where a query fails.
template <typename T, bool kIntScale, int BT, bool kGroup128, int kSlim>
static int table_budget() {
  static int budget = -1;
  static std::once_flag once;
  std::call_once(once, [] {
    budget = 0;
    auto kernel = w4a8_wgmma_kernel<T, kIntScale, BT, kGroup128, Walk::kGrid, kSlim>;
    constexpr int threads = TileConfig<BT, kSlim>::kThreads, base = TileConfig<BT, kSlim>::kSmemBytes;
    int blocks = 0, with_table = 0;
    if (kernel_ready<T, kIntScale, BT, kGroup128, Walk::kGrid, kSlim>() != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, base) != cudaSuccess || blocks < 1) {
      cudaGetLastError();
      return;
    }
    const int per_sm = device_attribute<cudaDevAttrMaxSharedMemoryPerMultiprocessor>(0);
    const int reserved = device_attribute<cudaDevAttrReservedSharedMemoryPerBlock>(0);
    const int optin = device_attribute<cudaDevAttrMaxSharedMemoryPerBlockOptin>(0);
    const int candidate = std::min(optin, per_sm / blocks - reserved) / 128 * 128;
    if (candidate > base &&
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&with_table, kernel, threads, candidate) == cudaSuccess &&
        with_table == blocks)
      budget = candidate;
    cudaGetLastError();
  });
  return budget;
}

// The group scales the kernel reads: S (integer scale) or s (float baseline), [N, G], 4 bytes each.
template <bool kIntScale>
static const void* scales_of(const WgmmaArgs& args) {
  return kIntScale ? static_cast<const void*>(args.S) : static_cast<const void*>(args.s_float);
}

// Groups per row of the grid walk's scale table (WgmmaArgs::table_groups), 0
// for none (the per-stage cp.async gathers then). The table holds a block's
// share of the groups, per_split of them from its first group rounded down to
// a multiple of 4 (up to 3 more: a TMA box starts 16-byte aligned), padded to
// an odd multiple of 4 (TMA needs 16-byte rows; odd: no bank conflicts, see
// the kernel). Needs S (or s) rows of a multiple of 16 bytes (G % 4 == 0) and
// a 16-byte aligned base, at most 256 groups (a TMA box's limit), and the
// table within table_budget. IS_SCALE_TABLE=0 (read on every call, a
// measurement knob) turns it off. Called for kernels with has_scale_table.
template <typename T, bool kIntScale, int BT, bool kGroup128, int kSlim>
static int scale_table_groups(const WgmmaArgs& args, int splits) {
  if (const char* env = std::getenv("IS_SCALE_TABLE"))
    if (env[0] == '0') return 0;
  const int G = args.K / args.group_size;
  if (G % 4 != 0 || (reinterpret_cast<uintptr_t>(scales_of<kIntScale>(args)) & 15) != 0) return 0;
  const int per_split = (G + splits - 1) / splits;
  // A split block's first group is a multiple of per_split, so its offset
  // from the box's aligned start is 0 only where per_split % 4 == 0.
  int groups = (per_split + (per_split % 4 == 0 ? 0 : 3) + 3) / 4 * 4;
  if ((groups / 4) % 2 == 0) groups += 4;
  if (groups > 256) return 0;
  return TileConfig<BT, kSlim>::table_smem_bytes(groups) <= table_budget<T, kIntScale, BT, kGroup128, kSlim>() ? groups
                                                                                                                : 0;
}

// How many clusters of `splits` blocks of the BT-token kernel the device runs
// at once (cudaOccupancyMaxActiveClusters: SMs, their shared memory and
// registers, and which SMs share a GPC), for splits = 1..kMaxSplits; asked
// once per BT, of the fp16 integer-scale instantiation (all of a BT use the
// same shared memory and about the same registers). 0 where the query fails.
template <int BT, int kSlim = 0>
static const int* active_clusters() {
  static int count[kMaxSplits + 1] = {};
  static std::once_flag once;
  std::call_once(once, [] {
    auto kernel = w4a8_wgmma_kernel<__half, true, BT, true, Walk::kGrid, kSlim>;
    if (kernel_ready<__half, true, BT, true, Walk::kGrid, kSlim>() != cudaSuccess) return;
    for (int s = 1; s <= kMaxSplits; s *= 2) {
      cudaLaunchConfig_t cfg = {};
      cfg.gridDim = dim3(1, 1, s);
      cfg.blockDim = dim3(TileConfig<BT, kSlim>::kThreads);
      cfg.dynamicSmemBytes = TileConfig<BT, kSlim>::kSmemBytes;
      cudaLaunchAttribute attr = cluster_attribute(s);
      cfg.attrs = &attr;
      cfg.numAttrs = 1;
      if (cudaOccupancyMaxActiveClusters(&count[s], kernel, &cfg) != cudaSuccess) count[s] = 0;
    }
    cudaGetLastError();  // a failed query must not linger as the sticky "last error"
  });
  return count;
}

// Clusters of `splits` blocks of the BT-token kernel (slim level `slim`: 0, 1, 2) that run at once.
// (`slim` only matters up to 32 tokens: the callers pass a slim_level, 0 above.)
template <int BT>
static int clusters_for_level(int splits, int slim) {
  return slim == 2 ? active_clusters<BT, 2>()[splits] : slim ? active_clusters<BT, 1>()[splits] : active_clusters<BT>()[splits];
}
static int max_active_clusters(int BT, int splits, int slim) {
  switch (BT) {
    case 8: return clusters_for_level<8>(splits, slim);
    case 16: return clusters_for_level<16>(splits, slim);
    case 32: return clusters_for_level<32>(splits, slim);
    case 64: return active_clusters<64>()[splits];
    default: return active_clusters<128>()[splits];
  }
}

// Split K over a cluster while the tiles alone would leave SMs idle: the
// largest split (up to kMaxSplitsWide, or kMaxSplits for slim blocks) whose clusters, one per (channel, token)
// tile, all run at once. A split whose clusters need a second wave is slower
// than none (measured, PERF.md v9: 4-way clusters of the 1-block-per-SM
// tiles at N = 4096 ran 1.5x slower than 2-way ones).
// `slim`: the slim level whose occupancy counts (slim_level).
static int choose_splits(int64_t M, int64_t N, int K, int group_size, int BT, int slim) {
  const int64_t tiles = ((N + kBlockChannels - 1) / kBlockChannels) * ((M + BT - 1) / BT);
  int splits = 1;
  const int max_splits = slim ? kMaxSplits : kMaxSplitsWide;
  for (int s = 2; s <= max_splits && s <= K / group_size; s *= 2)
    if (tiles * s <= (int64_t)max_active_clusters(BT, 1, slim) && tiles <= max_active_clusters(BT, s, slim)) splits = s;
  // IS_SPLITS=n (read on every call, a measurement knob like IS_GEMM_PATH) forces the split.
  if (const char* forced = std::getenv("IS_SPLITS")) splits = std::max(1, std::min(kMaxSplits, std::atoi(forced)));
  return std::min(splits, K / group_size);
}

// Groups of at most 65536 k: the 16 q partial sums of the <= 32-token tiles
// (unpack_word_even_odd_x16) stay within INT32: 16 x 65536 x 127 x 8 < 2^31.
constexpr int kMaxGroupSize = 65536;

bool wgmma_supported(int64_t M, int64_t N, int64_t K, int group_size) {
  // K >= 256: a weight copy spans two k-tiles (its box must fit the rows).
  return group_size % kTileK == 0 && group_size <= kMaxGroupSize && K % group_size == 0 &&
         K >= kTilesPerWeightCopy * kTileK &&
         (M + 7) / 8 <= 65535 && N <= (int64_t)1 << 31;
}

// Slim blocks (TileConfig's kSlim: one producer warp; level 1: 6 stages, 3
// blocks of <= 16 tokens or 2 of 32 per SM; level 2: 10 or 8 stages, 2 per
// SM) for the tiles of at most 32 tokens. The default, measured on the H200
// (PERF.md, "H200 slim A/B" and "third session"): level 1
// - for 32-token tiles (M = 17..32) whose split leaves each block at least
//   kSlimMinTilesPerBlock k-tiles: 22016x4096 and 28672x4096 1.36-1.39x
//   faster (their 172 and 224 tiles need two waves of 1-per-SM blocks, one of
//   2-per-SM ones), 4096x11008 and 4096x14336 1.13-1.19x (8-way splits
//   instead of 4), 12288x4096 1.00-1.02x; 4096x4096 3% slower (8-way splits
//   of 32 k-tiles: 4 per block), so it keeps the 384-thread blocks;
// - for tiles of <= 16 tokens where the slim blocks' occupancy allows a
//   deeper split than the 384-thread blocks' and the split still leaves each
//   block at least kSlimMinTilesPerBlockDecode k-tiles: 4096x14336 M = 1-16
//   (8-way splits of 112 k-tiles instead of the mma.sync kernel) 1.06-1.12x
//   in two runs, 22016x4096 (2-way instead of none) -3%..+9% in two runs
//   (M = 16 the slower end). Where the split does not
//   deepen, slim blocks only pack more blocks per SM and ran slower
//   (28672x4096 M = 1-16 0.74x, 224 blocks either way); 12288x4096 (4-way
//   instead of 2: 8 k-tiles a block) 0.76-0.78x; 4096x11008 (10 k-tiles a
//   block) within 3% of mma.sync; 4096x4096 (4) 1.2x slower.
// Level 2 measured no faster anywhere. IS_SLIM=0|1|2 (read on every call like
// IS_GEMM_PATH) forces a level (slim_level; default_slim_level is the rule
// alone, which wgmma_preferred asks). choose_splits sees the level's
// occupancy through max_active_clusters.
constexpr int kSlimMinTilesPerBlock = 8;
constexpr int kSlimMinTilesPerBlockDecode = 12;
static int default_slim_level(int64_t M, int64_t N, int K, int group_size, int BT) {
  if (BT > 32) return 0;
  const int slim_splits = choose_splits(M, N, K, group_size, BT, 1);
  if (BT == 32) return (K / kTileK) / slim_splits >= kSlimMinTilesPerBlock ? 1 : 0;
  return slim_splits > choose_splits(M, N, K, group_size, BT, 0) &&
                 (K / kTileK) / slim_splits >= kSlimMinTilesPerBlockDecode
             ? 1
             : 0;
}
static int slim_level(int64_t M, int64_t N, int K, int group_size, int BT) {
  if (BT > 32) return 0;
  if (const char* env = std::getenv("IS_SLIM")) return env[0] == '1' ? 1 : env[0] == '2' ? 2 : 0;
  return default_slim_level(M, N, K, group_size, BT);
}

bool wgmma_preferred(int64_t M, int64_t N, int64_t K, int group_size) {
  if (!wgmma_supported(M, N, K, group_size)) return false;
  // Measured (PERF.md, v8): at M <= 32 with N so small that K must be split
  // 4 ways or more (N <= ~4096 on an H100), the mma.sync kernel is as fast or
  // faster (up to 1.2x at N = K = 4096): short per-block pipelines do not pay
  // for their fill and the cluster reduction. Except where the default slim
  // blocks apply (default_slim_level: their 8-way splits of a long K, e.g.
  // 4096x14336 at M <= 16, beat mma.sync by 6-12% on the H200).
  // (Counted without the IS_SLIM knob: it changes the blocks of the wgmma
  // path, not the path.)
  const int BT = tokens_per_block(M);
  if (M <= 32 && choose_splits(M, N, (int)K, group_size, BT, 0) >= 4 &&
      default_slim_level(M, N, (int)K, group_size, BT) == 0)
    return false;
  return true;
}

// Row-major 2-D tensor [rows, row_bytes] as a TMA map with box [box_rows,
// box_bytes], of bytes (xq, the packed weights) or, with `type` INT32 and
// elem_bytes 4, of 4-byte elements (the group scales, int32 or float alike:
// a block's scale table); TMA counts the inner dimension and the box in
// elements.
static int encode_map(CUtensorMap* map, const void* base, uint64_t row_bytes, uint64_t rows, uint32_t box_bytes,
                      uint32_t box_rows, CUtensorMapSwizzle swizzle,
                      CUtensorMapDataType type = CU_TENSOR_MAP_DATA_TYPE_UINT8, uint32_t elem_bytes = 1) {
  const cuuint64_t dims[2] = {row_bytes / elem_bytes, rows};
  const cuuint64_t strides[1] = {row_bytes};
  const cuuint32_t box[2] = {box_bytes / elem_bytes, box_rows};
  const cuuint32_t elem_strides[2] = {1, 1};
  CUresult r = tensor_map_encoder()(map, type, 2, const_cast<void*>(base), dims, strides, box, elem_strides,
                                    CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                    CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? 0 : IS_ERR_ALIGNMENT;
}

// A row-major 2-D tensor of 4-byte words [rows][cols] whose rows lie
// pitch_bytes apart (a multiple of 16), as a TMA map with box [box_rows][box_cols]
// (the transposed group scales).
static int encode_map_pitched(CUtensorMap* map, const void* base, uint64_t cols, uint64_t rows, uint64_t pitch_bytes,
                              uint32_t box_cols, uint32_t box_rows) {
  const cuuint64_t dims[2] = {cols, rows};
  const cuuint64_t strides[1] = {pitch_bytes};
  const cuuint32_t box[2] = {box_cols, box_rows};
  const cuuint32_t elem_strides[2] = {1, 1};
  CUresult r = tensor_map_encoder()(map, CU_TENSOR_MAP_DATA_TYPE_INT32, 2, const_cast<void*>(base), dims, strides, box,
                                    elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? 0 : IS_ERR_ALIGNMENT;
}

// Whether Y allows the output's TMA stores (where the kernel has them,
// tma_stores_output): 16-byte aligned, rows a multiple of 16 bytes (TMA's
// global stride). IS_TMA_STORE=0 (read on every call, a measurement knob like
// IS_GEMM_PATH) turns them off.
static bool tma_store_ok(const void* y, int N) {
  if (const char* env = std::getenv("IS_TMA_STORE"); env != nullptr && env[0] == '0') return false;
  return N % 8 == 0 && (reinterpret_cast<uintptr_t>(y) & 15) == 0;
}

template <typename T, bool kIntScale, int BT, bool kGroup128, Walk kWalk = Walk::kGrid, int kSlim = 0, bool kRows = false>
static int launch_typed(const CUtensorMap& tm_x, const CUtensorMap& tm_w, const WgmmaArgs& args, int splits,
                        cudaStream_t stream) {
  auto kernel = w4a8_wgmma_kernel<T, kIntScale, BT, kGroup128, kWalk, kSlim, kRows>;
  int smem = smem_bytes<BT, kWalk, kSlim>();
  IS_CUDA_TRY((kernel_ready<T, kIntScale, BT, kGroup128, kWalk, kSlim, kRows>()));
  // The scale table, where it applies (has_scale_table, scale_table_groups);
  // tm_s is unused otherwise.
  WgmmaArgs a = args;
  CUtensorMap tm_s = tm_w;
  if constexpr (has_scale_table(BT, kWalk)) {
    const int groups = scale_table_groups<T, kIntScale, BT, kGroup128, kSlim>(args, splits);
    if (groups > 0 && encode_map(&tm_s, scales_of<kIntScale>(args), (uint64_t)(args.K / args.group_size) * 4,
                                 (uint64_t)args.N, (uint32_t)groups * 4, kBlockChannels, CU_TENSOR_MAP_SWIZZLE_NONE,
                                 CU_TENSOR_MAP_DATA_TYPE_INT32, 4) == 0) {
      a.table_groups = groups;
      smem = TileConfig<BT, kSlim>::table_smem_bytes(groups);
    }
  }
  // The transposed scales, [G rows][N words] with row stride scales_t_pitch(N),
  // in boxes of one row of 128 words (zeros past N).
  if constexpr (kRows) {
    if (args.scales_t == nullptr) return IS_ERR_WORKSPACE;
    if (int e = encode_map_pitched(&tm_s, args.scales_t, (uint64_t)args.N, (uint64_t)(args.K / args.group_size),
                                   (uint64_t)scales_t_pitch(args.N) * 4, kBlockChannels, 1))
      return e;
  }
  // The map of Y for the output's TMA stores, where the kernel has them
  // (tma_stores_output) and Y allows them (tma_store_ok); tm_y is unused otherwise.
  CUtensorMap tm_y = tm_w;
  if constexpr (tma_stores_output<T>(kWalk)) {
    if (tma_store_ok(args.y, args.N) &&
        encode_map(&tm_y, args.y, (uint64_t)args.N * sizeof(T), (uint64_t)args.M, 128, BT, CU_TENSOR_MAP_SWIZZLE_128B,
                   CU_TENSOR_MAP_DATA_TYPE_UINT16, sizeof(T)) == 0)
      a.tma_store = 1;
  }
  const int gx = (args.N + kBlockChannels - 1) / kBlockChannels, gy = (args.M + BT - 1) / BT;
  // Persistent: one block per SM (BT = 64 and 128 run one per SM), at most
  // one per tile; stream-K: one per SM, at most one per (tile, group) unit,
  // at most kStreamKMaxBlocks (the workspace's partial-sum slots).
  const int64_t units = (int64_t)gx * gy * (args.K / args.group_size);
  const dim3 grid = kWalk == Walk::kPersistent ? dim3((unsigned)std::min(gx * gy, sm_count()))
                    : kWalk == Walk::kStreamK
                        ? dim3((unsigned)std::min<int64_t>(units, std::min(sm_count(), kStreamKMaxBlocks)))
                        : dim3(gx, gy, splits);
  IS_CUDA_TRY(launch_dependent(kernel, grid, dim3(TileConfig<BT, kSlim>::kThreads), smem, splits, stream, tm_x, tm_w,
                               a, tm_s, tm_y));
  IS_LAUNCH_CHECK();
  return 0;
}

// The persistent kernel runs the 128-token tiles without split-K where
// K / 128 is even (the configuration the GPU tests and the sanitizer cover;
// every tile restarts at stage 0, so odd counts may work but were never run)
// and K <= 8192: measured
// on the H100 (PERF.md v12) it was 4-14% faster at M >= 1024 for K = 4096 and
// 3-4% slower for 4096 x 14336, where the fill it saves is 2 of 112 k-tiles;
// with v26's TMA-stored output, on the H200, still 1.9-4.6% slower at 4096 x 11008
// and 4096 x 14336, M = 512-4096 (PERF.md, fourteenth session).
// IS_PERSISTENT=1 forces it wherever it applies, IS_PERSISTENT=0 never (read
// on every call, like IS_GEMM_PATH).
constexpr int kPersistentMaxK = 8192;
static bool use_persistent(int K, int splits) {
  if (splits != 1 || (K / kTileK) % 2 != 0) return false;
  const char* env = std::getenv("IS_PERSISTENT");
  if (env != nullptr && env[0] == '1') return true;
  if (env != nullptr && env[0] == '0') return false;
  return K <= kPersistentMaxK;
}

// Stream-K for the 64- and 128-token tiles (the workspace has its counters
// and slots at M > 32), in place of the grid or persistent kernel's
// `splits`-way split, in two cases measured on the H100 (PERF.md, v13):
// (a) the tiles fill more than one wave of blocks but leave the last wave
// short: a wave efficiency tiles / (waves x SMs) below
// kStreamKMaxWaveEfficiency. 172 and 192 tiles (efficiency 0.65, 0.73) ran
// 6-9% faster; 224-688 tiles (0.85-0.87) within -4% to +3%; grids below one
// wave of 86-128 blocks 8-11% slower: there the grid leaves SMs free for the
// next kernel's early blocks (programmatic dependent launch).
// (b) 64-token tiles whose grid (tiles x splits blocks) would fill at most
// half the SMs (the split is capped by how many clusters run at once: N =
// 4096, M = 33-64 runs 32 tiles x 2 = 64 blocks on an H100) with at least
// kStreamKMinGroupsPerBlock groups per block: N = 4096, K = 8192-14336 4-14%
// faster; with 16 groups per block (K = 4096) 12% slower, and grids of 86 or
// 128 blocks (N = 11008 and 8192) 8-11% slower.
// Refined on the H200 (132 SMs, as the H100; PERF.md, "H200, fifth session",
// --variant IS_STREAMK=1 at M = 192-512 on the six shapes):
// (a') 128-token tiles of more than two waves take it up to an efficiency of
// kStreamKMaxWaveEfficiency128: 448 and 672 tiles (0.85; 28672x4096
// M = 129-384) ran 1-8% faster (the H100's 448 tiles: 3%), while 344 and
// 688 tiles (0.87) went -3% and +4% and >= 0.97 lost 4-6%. Not at two waves:
// 224 tiles (0.85, 28672x4096 M = 65-128) lost 6-9%, as every tile is then
// split (no whole wave ahead of the stream-K waves); nor for the 64-token
// tiles (the H100's 224 at 0.85 lost 4%).
// (c) 128-token tiles below one wave that the grid kernel cannot split
// (splits = 1), with an efficiency below kStreamKMaxWaveEfficiency and at
// least kStreamKMinTilesBelowWave k-tiles: 96 tiles (0.73) of 4096x8192,
// 4096x11008 and 4096x14336 at M = 257-384 ran 1-15% faster (probe and two
// A/Bs, mostly 4-9%); at K = 4096 (32 k-tiles) 6% slower: the fix-up and the
// lost head start of the next kernel (see (a)) outweigh a short K's gain.
// IS_STREAMK=1|0 (read on every call) forces it on or off.
constexpr double kStreamKMaxWaveEfficiency = 0.8;
constexpr double kStreamKMaxWaveEfficiency128 = 0.86;
constexpr int kStreamKMinGroupsPerBlock = 32;
constexpr int kStreamKMinTilesBelowWave = 64;
static bool use_stream_k(const WgmmaArgs& args, int BT, int splits) {
  if (BT < 64 || args.counters == nullptr || args.partials == nullptr) return false;
  const char* env = std::getenv("IS_STREAMK");
  if (env != nullptr && env[0] == '1') return true;
  if (env != nullptr && env[0] == '0') return false;
  const int64_t tiles = (int64_t)((args.N + kBlockChannels - 1) / kBlockChannels) * ((args.M + BT - 1) / BT);
  const int64_t sms = sm_count();
  if (BT == 64 && 2 * tiles * splits <= sms && (args.K / args.group_size) / splits >= kStreamKMinGroupsPerBlock)
    return true;
  const int64_t waves = (tiles + sms - 1) / sms;
  const double efficiency = (double)tiles / (double)(waves * sms);
  if (tiles > sms)
    return efficiency < (BT == 128 && tiles > 2 * sms ? kStreamKMaxWaveEfficiency128 : kStreamKMaxWaveEfficiency);
  return BT == 128 && splits == 1 && efficiency < kStreamKMaxWaveEfficiency &&
         args.K / kTileK >= kStreamKMinTilesBelowWave;  // (c)
}

// The slim blocks (level kSlim) of a tile of BT = 8, 16 or 32 tokens.
template <typename T, bool kIntScale, bool kGroup128, int kSlim>
static int launch_slim(const CUtensorMap& tm_x, const CUtensorMap& tm_w, const WgmmaArgs& args, int BT, int splits,
                       cudaStream_t stream) {
  constexpr Walk kG = Walk::kGrid;
  switch (BT) {
    case 8: return launch_typed<T, kIntScale, 8, kGroup128, kG, kSlim>(tm_x, tm_w, args, splits, stream);
    case 16: return launch_typed<T, kIntScale, 16, kGroup128, kG, kSlim>(tm_x, tm_w, args, splits, stream);
    default: return launch_typed<T, kIntScale, 32, kGroup128, kG, kSlim>(tm_x, tm_w, args, splits, stream);
  }
}

template <typename T, bool kIntScale, bool kGroup128>
static int launch_for_tokens(const CUtensorMap& tm_x, const CUtensorMap& tm_w, const WgmmaArgs& args, int BT,
                             int splits, int slim, cudaStream_t stream) {
  if (use_stream_k(args, BT, splits))
    return BT == 64 ? launch_typed<T, kIntScale, 64, kGroup128, Walk::kStreamK>(tm_x, tm_w, args, 1, stream)
                    : launch_typed<T, kIntScale, 128, kGroup128, Walk::kStreamK>(tm_x, tm_w, args, 1, stream);
  if (slim)
    return slim == 2 ? launch_slim<T, kIntScale, kGroup128, 2>(tm_x, tm_w, args, BT, splits, stream)
                     : launch_slim<T, kIntScale, kGroup128, 1>(tm_x, tm_w, args, BT, splits, stream);
  switch (BT) {
    case 8: return launch_typed<T, kIntScale, 8, kGroup128>(tm_x, tm_w, args, splits, stream);
    case 16: return launch_typed<T, kIntScale, 16, kGroup128>(tm_x, tm_w, args, splits, stream);
    case 32: return launch_typed<T, kIntScale, 32, kGroup128>(tm_x, tm_w, args, splits, stream);
    case 64: return launch_typed<T, kIntScale, 64, kGroup128>(tm_x, tm_w, args, splits, stream);
    default:
      if (!use_persistent(args.K, splits)) return launch_typed<T, kIntScale, 128, kGroup128>(tm_x, tm_w, args, splits, stream);
      if constexpr (kGroup128) {  // the transposed scales where the launcher made them (use_scale_rows)
        if (args.scales_t != nullptr)
          return launch_typed<T, kIntScale, 128, true, Walk::kPersistent, 0, true>(tm_x, tm_w, args, splits, stream);
      }
      return launch_typed<T, kIntScale, 128, kGroup128, Walk::kPersistent>(tm_x, tm_w, args, splits, stream);
  }
}

template <typename T, bool kIntScale>
static int launch_for_groups(const CUtensorMap& tm_x, const CUtensorMap& tm_w, const WgmmaArgs& args, int BT,
                             int splits, int slim, cudaStream_t stream) {
  return args.group_size == kTileK ? launch_for_tokens<T, kIntScale, true>(tm_x, tm_w, args, BT, splits, slim, stream)
                                   : launch_for_tokens<T, kIntScale, false>(tm_x, tm_w, args, BT, splits, slim, stream);
}

// The call's tiling: tokens per block and the split of K for them.
constexpr int kBT32MaxTilesPerBlock = 16;  // choose_tiling's 32-token tiles at M = 33..64
struct Tiling {
  int BT;      // tokens per block
  int splits;  // blocks of a cluster sharing K (choose_splits for BT)
  int slim;    // slim level of the blocks (slim_level; 0 above 32 tokens)
};

// Tokens per block: tokens_per_block(M), except that above 64 tokens the
// 64-token tiles are taken where a simple time model says they finish first:
// waves of (tiles x split) blocks x k-tiles per block x the time of one
// k-tile, 0.76 of a 128-token one (measured on the H100 as 4096x4096 M = 64
// against M = 128, both 32 tiles x 2-way split: 10.4 vs 13.6 us without
// quantization). At N = 4096, M = 128 the 32 channel tiles fill only 64 SMs
// even split 2 ways; 64-token tiles fill 128. IS_BT=8..128 (read on every
// call, a measurement knob like IS_SPLITS) forces it.
static Tiling choose_tiling(int64_t M, int64_t N, int K, int group_size) {
  Tiling t{tokens_per_block(M), 0, 0};
  t.slim = slim_level(M, N, K, group_size, t.BT);
  t.splits = choose_splits(M, N, K, group_size, t.BT, t.slim);
  if (t.BT == 128) {
    auto cost = [&](int bt, int splits, double k_tile_time) {
      const int64_t tiles = ((N + kBlockChannels - 1) / kBlockChannels) * ((M + bt - 1) / bt);
      const int64_t slots = std::max(1, max_active_clusters(bt, 1, 0));  // blocks the GPU runs at once
      const int64_t waves = (tiles * splits + slots - 1) / slots;
      return (double)waves * ((K / kTileK + splits - 1) / splits) * k_tile_time;
    };
    const int splits64 = choose_splits(M, N, K, group_size, 64, 0);
    if (cost(64, splits64, 0.76) < cost(128, t.splits, 1.0)) t = Tiling{64, splits64, 0};
  }
  if (M <= 64 && t.BT == 64) {  // (not the 64-token tiles the cost model took for M > 64)
    // M = 33..64: 32-token tiles (384-thread blocks) where they still split K
    // and leave each block at most kBT32MaxTilesPerBlock k-tiles, i.e. where
    // the 64-token tiles' split is deep and each block's K short. Measured on
    // the H200 (PERF.md, "fourth session"), --variant IS_BT=32,IS_SLIM=0:
    // 4096x4096 M = 40-64 1.08-1.10x (16 k-tiles a block, 2-way, against 8,
    // 4-way; 1.12x in the session before); 4096x11008 (43 k-tiles) 0.96x,
    // 4096x14336 (56) 0.87x, and N >= 12288 (no split at 32 tokens) 0.5-0.7x.
    const int splits32 = choose_splits(M, N, K, group_size, 32, 0);
    if (splits32 >= 2 && (K / kTileK + splits32 - 1) / splits32 <= kBT32MaxTilesPerBlock) t = Tiling{32, splits32, 0};
  }
  if (const char* forced = std::getenv("IS_BT")) {
    const int v = std::atoi(forced);
    if (v == 8 || v == 16 || v == 32 || v == 64 || v == 128) {
      t = Tiling{v, 0, slim_level(M, N, K, group_size, v)};
      t.splits = choose_splits(M, N, K, group_size, v, t.slim);
    }
  }
  return t;
}

// Whether the call runs the persistent kernel that reads its group scales by
// TMA rows of the transposed copy (kRows; "Group scales" above): the
// persistent 128-token kernel of group size 128 at M >= kScaleRowsMinM.
// Measured on the H100 against main 2c654be in one process (PERF.md,
// seventeenth session; bench_results/h100_2026-12-07_scale_rows_*): the
// persistent kernel (K = 4096) at M = 512-4096 1.03-1.054x faster on
// 28672x4096, 0.99-1.04x on 12288x4096, 0.99-1.02x on 4096x4096 (with rows
// in every 128-token kernel, two forms); but at M = 128-256 0.79-0.98x
// (28672x4096 M = 128: 54.7 against 43.0 us), and the 128-token grid and
// stream-K kernels (K > 8192) 0.94-1.00x at M = 256-1024, so neither takes it.
// IS_SCALE_ROWS=1|0 (read on every call, a measurement knob like
// IS_PERSISTENT) forces it wherever the persistent kernel runs, or never.
constexpr int kScaleRowsMinM = 512;
static bool use_scale_rows(const WgmmaArgs& args, const Tiling& tiling) {
  if (tiling.BT != 128 || args.group_size != kTileK) return false;
  if (use_stream_k(args, 128, tiling.splits) || !use_persistent(args.K, tiling.splits)) return false;
  const char* env = std::getenv("IS_SCALE_ROWS");
  if (env != nullptr && env[0] == '1') return true;
  if (env != nullptr && env[0] == '0') return false;
  return args.M >= kScaleRowsMinM;
}

// How many of the first tile's stages a block fills with weights before it
// waits for the quantization kernel (programmatic dependent launch: the GEMM's
// blocks start while that kernel, or the previous GEMM, still runs): 4, not
// all of its 6-10 stages. Why: those early copies compete for DRAM with the
// kernels still running ahead of this one (the previous call's last blocks,
// the quantization kernel's reads of X); past 4 stages a block has enough
// weights in flight to start its K loop at once. Measured on the H200, the
// whole op in one process (PERF.md, "sixth session"; `bench_gemm.py --ab
// --variant IS_PREFETCH=1 --variant IS_PREFETCH=2 --variant IS_PREFETCH=4`):
// 22016x4096 M = 1-16 1.09-1.10x, 28672x4096 M = 8-32 1.03-1.06x,
// 12288x4096 M = 16-32 1.04-1.06x, 4096x14336 M = 1-16 1.04-1.06x, M >= 64
// 1.0-1.025x; no point below 0.99x. 1 or 2 stages were as good at M >= 256 but
// up to 5% slower at decode. IS_PREFETCH=n (read on every call, a
// measurement knob like IS_SPLITS) sets it, at least 1.
constexpr int kPrefetchStages = 4;
static int prefetch_stages() {
  if (const char* env = std::getenv("IS_PREFETCH")) return std::max(1, std::atoi(env));
  return kPrefetchStages;
}

int launch_wgmma_gemm(const void* x, const Workspace& ws, is_dtype_t dtype, bool int_scale, const uint32_t* wq,
                      const int32_t* S, const float* s_float, const float* C, const void* bias, void* y, int M, int N,
                      int K, int group_size, cudaStream_t stream) {
  const Tiling tiling = choose_tiling(M, N, K, group_size);
  const int BT = tiling.BT, splits = tiling.splits;
  CUtensorMap tm_x, tm_w;
  if (int e = encode_map(&tm_x, ws.xq, (uint64_t)K, (uint64_t)M, kTileK, BT, CU_TENSOR_MAP_SWIZZLE_128B)) return e;
  if (int e = encode_map(&tm_w, wq, (uint64_t)K / 2, (uint64_t)N, kWeightRowBytes, kBlockChannels, CU_TENSOR_MAP_SWIZZLE_NONE))
    return e;
  WgmmaArgs args{ws.sa,       S, s_float, nullptr, C, bias, y, M, N, K, group_size, ws.counters,
                 ws.partials, 0, prefetch_stages(), 0};
  // The scale copy, where the kernel that runs reads it (use_scale_rows).
  ScaleTranspose st;
  if (use_scale_rows(args, tiling)) {
    args.scales_t = ws.scales_t;
    st.src = reinterpret_cast<const uint32_t*>(int_scale ? static_cast<const void*>(S) : static_cast<const void*>(s_float));
    st.dst = ws.scales_t;
    st.n = N;
    st.g = K / group_size;
    st.pitch = (int)scales_t_pitch(N);
  }
  if (int e = launch_quantize(x, dtype, M, K, ws.xq, ws.sa, XqOrder::kWgmmaPermuted, stream, ws.counters,
                              ws.n_counters, st))
    return e;
  IS_DISPATCH_DTYPE(dtype, T, {
    return int_scale ? launch_for_groups<T, true>(tm_x, tm_w, args, BT, splits, tiling.slim, stream)
                     : launch_for_groups<T, false>(tm_x, tm_w, args, BT, splits, tiling.slim, stream);
  });
  return 0;
}

#ifdef IS_TIMELINE
int timeline_attach_wgmma(void* buf, uint32_t cap) { return timeline_attach_here(buf, cap); }
#endif

}  // namespace is
