// Per-block timeline of the op's kernels, a measurement build only.
//
// Compiled in where IS_TIMELINE is defined (the CMake target
// is_kernels_timeline, libis_kernels_timeline.so, not part of the default
// build); in every other build the macros below expand to nothing, so the
// release kernels' SASS does not change. scripts/block_timeline.py drives it.
//
// What it records: one 32-byte event per block and moment -- the block's
// start (its first instruction), the return of its griddepcontrol.wait (the
// moment its prerequisite grid's memory became visible to it), and its end
// (thread 0 leaving the kernel) -- with the SM it ran on. The buffer is
// [uint32 count, 3 x uint32 pad, TimelineEvent events[cap]] in device memory;
// events past cap are counted but not written.
//
// Why both clocks: %globaltimer is the one clock shared by all SMs (ns), but
// its update interval differs by GPU and driver (it may tick every 32 ns or
// every microsecond); %clock64 counts SM cycles with no common origin. The
// script checks the global timer's tick and, where it is coarse, places each
// SM's cycle counter on the global time axis by a fit over that SM's events.
#pragma once

#include <stdint.h>

namespace is {

// Kernel families (TimelineEvent::kernel / kTlKernelBase); the remainder is the
// variant: threads a block for the quantization kernels, the token tile BT for
// the wgmma kernel, warps a block for the mma.sync kernel.
enum : uint16_t { kTlQuantRows = 1, kTlQuantVec = 2, kTlWgmma = 3, kTlMma = 4 };
// TimelineEvent::kernel of a family's variant (scripts/block_timeline.py's KERNEL_BASE).
constexpr uint16_t kTlKernelBase = 10000;
constexpr uint16_t timeline_kernel(uint16_t family, int variant) { return (uint16_t)(family * kTlKernelBase + variant); }
enum : uint8_t { kTlStart = 0, kTlWaitDone = 1, kTlEnd = 2, kTlMark = 3 };

struct TimelineEvent {
  uint64_t ns;      // %globaltimer
  uint64_t clk;     // %clock64 of this SM
  uint32_t smid;    // %smid
  uint16_t kernel;  // timeline_kernel(family, variant)
  uint8_t what;     // kTlStart, kTlWaitDone, kTlEnd
  uint8_t pad;
  uint32_t block;   // linear block index
  uint32_t tag;     // low 32 bits of a pointer that names the call (X for quantization, Y for a GEMM)
};
static_assert(sizeof(TimelineEvent) == 32, "the script reads 32-byte events");

}  // namespace is

#ifdef IS_TIMELINE

namespace is {

// One copy per kernel file (no relocatable device code); each file's attach
// function (timeline_attach_*, called by is_timeline_attach) sets its own.
static __device__ uint32_t* g_timeline = nullptr;
static __device__ uint32_t g_timeline_cap = 0;

__device__ __forceinline__ void timeline_event(uint16_t kernel, uint8_t what, uint32_t tag) {
  uint32_t* buf = g_timeline;
  if (buf == nullptr) return;
  uint64_t ns, clk;
  uint32_t smid;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
  asm volatile("mov.u64 %0, %%clock64;" : "=l"(clk));
  asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
  const uint32_t slot = atomicAdd(buf, 1u);
  if (slot >= g_timeline_cap) return;
  TimelineEvent* ev = reinterpret_cast<TimelineEvent*>(buf + 4) + slot;
  ev->ns = ns;
  ev->clk = clk;
  ev->smid = smid;
  ev->kernel = kernel;
  ev->what = what;
  ev->pad = 0;
  ev->block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  ev->tag = tag;
}

// Records the block's start when made and its end when it goes out of scope
// (any return of the kernel), both by thread 0 only.
struct BlockTimeline {
  uint16_t kernel;
  uint32_t tag;
  __device__ BlockTimeline(uint16_t k, uint32_t t) : kernel(k), tag(t) {
    if (threadIdx.x == 0 && threadIdx.y == 0) timeline_event(kernel, kTlStart, tag);
  }
  __device__ ~BlockTimeline() {
    if (threadIdx.x == 0 && threadIdx.y == 0) timeline_event(kernel, kTlEnd, tag);
  }
};

__device__ __forceinline__ uint32_t timeline_tag(const void* p) {
  return (uint32_t)reinterpret_cast<uintptr_t>(p);
}

// Host: point this file's kernels at `buf` (nullptr: stop recording).
// is_timeline_attach (act_quant.cu, C ABI of the timeline library only) calls
// each file's timeline_attach_<file>, which calls this in its own file.
static inline int timeline_attach_here(void* buf, uint32_t cap) {
  uint32_t* p = static_cast<uint32_t*>(buf);
  cudaError_t e = cudaMemcpyToSymbol(g_timeline, &p, sizeof(p));
  if (e == cudaSuccess) e = cudaMemcpyToSymbol(g_timeline_cap, &cap, sizeof(cap));
  return (int)e;
}

int timeline_attach_act_quant(void* buf, uint32_t cap);
int timeline_attach_mma(void* buf, uint32_t cap);
int timeline_attach_wgmma(void* buf, uint32_t cap);

}  // namespace is

extern "C" int is_timeline_attach(void* buf, uint32_t cap);

// The block's start and end (a scoped object: declare it at the kernel's top).
#define IS_TL_BLOCK(kernel, ptr) ::is::BlockTimeline is_tl_block_((uint16_t)(kernel), ::is::timeline_tag(ptr))
// The return of griddepcontrol.wait, recorded by the thread for which `cond`
// holds (one thread a block: every thread of some kernels waits).
#define IS_TL_WAIT_DONE(cond, kernel, ptr) \
  if (cond) ::is::timeline_event((uint16_t)(kernel), ::is::kTlWaitDone, ::is::timeline_tag(ptr))
// A phase mark inside a block (what >= kTlMark: read by a diagnosis, ignored by block_timeline.py's summary).
#define IS_TL_MARK(cond, kernel, what, ptr) \
  if (cond) ::is::timeline_event((uint16_t)(kernel), (uint8_t)(what), ::is::timeline_tag(ptr))

#else

#define IS_TL_BLOCK(kernel, ptr) \
  do {                           \
  } while (0)
#define IS_TL_MARK(cond, kernel, what, ptr) \
  do {                                      \
  } while (0)
#define IS_TL_WAIT_DONE(cond, kernel, ptr) \
  do {                                     \
  } while (0)

#endif
