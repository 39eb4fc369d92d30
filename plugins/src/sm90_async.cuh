// sm_90a building blocks of the wgmma GEMM (w4a8_wgmma.cu), one home for
// them and for the microbenchmarks that rebuild its loop (plugins/tests/
// decode_chain.cu, wgmma_loop_rate.cu): mbarriers, TMA and cp.async copies
// completing on them, TMA stores, wgmma fences and waits, named and cluster barriers,
// register hand-over (setmaxnreg), transposed matrix stores (stmatrix), the
// shared-memory matrix descriptor.
// Inline PTX valid on sm_90a only, except smem_u32 and cp_async_4 (sm_80+,
// also used by the mma.sync GEMM, w4a8_gemm.cu); every function is inline
// and emitted only where a kernel body calls it.
#pragma once

#include <cuda.h>
#include <stdint.h>

namespace is {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count));
}
// Makes the thread's mbarrier initializations visible to the other threads and the async proxy (TMA).
__device__ __forceinline__ void fence_mbarrier_init() { asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory"); }
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n}\n" ::"r"(smem_u32(bar)),
      "r"(parity)
      : "memory");
}
// 2-D TMA copy global -> shared, completing on `bar`.
__device__ __forceinline__ void tma_load_2d(void* dst, const CUtensorMap* map, int c0, int c1, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(
          smem_u32(dst)),
      "l"(map), "r"(c0), "r"(c1), "r"(smem_u32(bar))
      : "memory");
}
// 2-D TMA copy shared -> global of the box at (c0, c1) (inner, outer
// coordinate, in elements), tracked by the issuing thread's bulk groups; TMA
// clips the parts of the box outside the tensor.
__device__ __forceinline__ void tma_store_2d(const CUtensorMap* map, const void* src, int c0, int c1) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];" ::"l"(map),
               "r"(smem_u32(src)), "r"(c0), "r"(c1)
               : "memory");
}
// Closes this thread's bulk copies issued so far into one bulk group.
__device__ __forceinline__ void bulk_commit_group() { asm volatile("cp.async.bulk.commit_group;" ::: "memory"); }
// Wait until all of this thread's bulk groups have read their shared-memory
// source (the buffer may be rewritten; the global writes may still be in flight).
__device__ __forceinline__ void bulk_wait_group_read_all() {
  asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
}
// Orders this thread's earlier generic-proxy shared-memory writes before
// later async-proxy (TMA) accesses of them.
__device__ __forceinline__ void fence_proxy_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}
// 4-byte asynchronous copy global -> shared (generic proxy, read back with ordinary loads).
__device__ __forceinline__ void cp_async_4(void* dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(smem_u32(dst)), "l"(src) : "memory");
}
// `bar` receives one arrival once all of this thread's earlier cp.async have landed.
__device__ __forceinline__ void cp_async_arrive_noinc(uint64_t* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
// Wait until this warpgroup's committed wgmma have completed. (Keeping one
// group in flight with wait_group 1 while reading the other group's
// accumulators made ptxas serialize every wgmma, PERF.md v7c, unless each
// tile ends with wait_group 0: see "Token halves".)
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }
// Wait until at most the most recently committed group of this warpgroup is pending.
__device__ __forceinline__ void wgmma_wait_one() { asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory"); }
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
// Move registers from the producer warpgroup to the consumers (sm_90a):
// ptxas sizes every warpgroup alike at launch (65536 / 384 threads = 168).
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(N));
}
__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
// Read a 32-bit word at `local`'s offset in the shared memory of cluster block `rank`.
__device__ __forceinline__ uint32_t ld_cluster_u32(const void* local, uint32_t rank) {
  uint32_t remote, v;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(smem_u32(local)), "r"(rank));
  asm volatile("ld.shared::cluster.u32 %0, [%1];" : "=r"(v) : "r"(remote) : "memory");
  return v;
}
// Store 4 (x4) or 2 (x2) 8 x 8 matrices of 16-bit values from the mma
// fragment layout into shared memory, transposed (sm_90). Thread T's register
// i holds the pair (row T / 4, columns 2 (T % 4) and 2 (T % 4) + 1) of
// matrix i; with .trans it lands in memory rows 2 (T % 4) and 2 (T % 4) + 1,
// column T / 4: memory row r of matrix i is the 16 bytes at the address that
// thread 8 i + r passes (16-byte aligned). One instruction replaces 8 (x4)
// scalar 2-byte stores of each thread.
__device__ __forceinline__ void stmatrix_x4_trans(void* row_addr, const uint32_t (&v)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};" ::"r"(smem_u32(row_addr)),
               "r"(v[0]), "r"(v[1]), "r"(v[2]), "r"(v[3])
               : "memory");
}
__device__ __forceinline__ void stmatrix_x2_trans(void* row_addr, const uint32_t (&v)[2]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x2.trans.shared.b16 [%0], {%1, %2};" ::"r"(smem_u32(row_addr)), "r"(v[0]),
               "r"(v[1])
               : "memory");
}
// Shared-memory matrix descriptor of a K-major operand in the 128-byte swizzle
// layout TMA writes: rows of 128 bytes, 8-row atoms 1024 bytes apart (stride
// byte offset); the leading byte offset is unused for this layout.
__device__ __forceinline__ uint64_t desc_k_major_sw128(uint32_t smem_addr) {
  return static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(1024 >> 4) << 32) |
         (static_cast<uint64_t>(1) << 62);
}

}  // namespace is
