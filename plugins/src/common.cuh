// Shared helpers of the kernel files: dtype conversion, CUDA error checks,
// workspace layout. Every conversion and float operation names its rounding
// (_rn) so that --use_fast_math or FMA contraction cannot change the numbers
// the contract fixes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "is_kernels.h"

// Return the CUDA error of `call` (as int) from the enclosing function.
#define IS_CUDA_TRY(call)                              \
  do {                                                 \
    cudaError_t is_err_ = (call);                      \
    if (is_err_ != cudaSuccess) return (int)is_err_;   \
  } while (0)

// After a launch: the launch error, if any.
#define IS_LAUNCH_CHECK() IS_CUDA_TRY(cudaGetLastError())

namespace is {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Two floats -> one 32-bit word of two 16-bit T (lo in the low half), each
// rounded as from_float<T> rounds it (one F2FP.PACK_AB instead of two).
template <typename T> __device__ __forceinline__ uint32_t pack2_from_float(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2_from_float<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}
template <> __device__ __forceinline__ uint32_t pack2_from_float<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

constexpr size_t kAlign = 256;
__host__ __device__ inline size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Workspace layout: [xq int8 M*K][sa float M][the group scales transposed,
// uint32 [K / 128][scales_t_pitch(N)]] and, where the wgmma path may run
// stream-K (M > 32), [one int counter per 64-token tile][partial-sum slots,
// kStreamKMaxBlocks x 128 x 128 x 4 bytes]; each part 256-byte aligned.
// The quantization kernel zeroes the counters and, for the wgmma path's
// 128-token kernels of group size 128, rewrites the transposed scales at
// every call (a TensorRT workspace is scratch shared with other layers; see
// ScaleTranspose in gemm_paths.h). The transposed scales are N * K / 32
// bytes, 1/16 of the packed weights, and are reserved at every M so that
// the size stays non-decreasing in M whatever tiling a knob forces.
constexpr int kStreamKMaxBlocks = 160;                   // >= the SMs of any sm_90 GPU
constexpr size_t kStreamKSlotBytes = 128 * 128 * 4;      // one block's partials at 128 tokens
constexpr int64_t kScalesTGroup = 128;                   // the only group size whose scales are transposed
struct Workspace {
  int8_t* xq;
  float* sa;
  uint32_t* scales_t;  // [K / 128][scales_t_pitch(N)], S or s as [G, N] (group size 128)
  int* counters;   // nullptr below M = 33
  void* partials;  // nullptr below M = 33
  int n_counters;
};

inline bool workspace_has_stream_k(int64_t M) { return M > 32; }
inline int64_t stream_k_counters(int64_t M, int64_t N) { return ((N + 127) / 128) * ((M + 63) / 64); }
// Row pitch (elements) of the transposed scales: N rounded up to 4, so that
// every row starts 16-byte aligned (a TMA map's row stride is a multiple of 16 bytes).
__host__ __device__ inline int64_t scales_t_pitch(int64_t N) { return (N + 3) / 4 * 4; }
inline size_t scales_t_bytes(int64_t N, int64_t K) {
  return (size_t)((K + kScalesTGroup - 1) / kScalesTGroup) * (size_t)scales_t_pitch(N) * 4;
}

inline size_t workspace_bytes(int64_t M, int64_t N, int64_t K) {
  size_t b = align_up((size_t)M * K) + align_up((size_t)M * sizeof(float)) + align_up(scales_t_bytes(N, K));
  if (workspace_has_stream_k(M))
    b += align_up((size_t)stream_k_counters(M, N) * sizeof(int)) + (size_t)kStreamKMaxBlocks * kStreamKSlotBytes;
  return b;
}

inline Workspace carve_workspace(void* base, int64_t M, int64_t N, int64_t K) {
  char* p = static_cast<char*>(base);
  Workspace w;
  w.xq = reinterpret_cast<int8_t*>(p);
  p += align_up((size_t)M * K);
  w.sa = reinterpret_cast<float*>(p);
  p += align_up((size_t)M * sizeof(float));
  w.scales_t = reinterpret_cast<uint32_t*>(p);
  p += align_up(scales_t_bytes(N, K));
  w.counters = nullptr;
  w.partials = nullptr;
  w.n_counters = 0;
  if (workspace_has_stream_k(M)) {
    w.counters = reinterpret_cast<int*>(p);
    w.n_counters = (int)stream_k_counters(M, N);
    p += align_up((size_t)w.n_counters * sizeof(int));
    w.partials = p;
  }
  return w;
}

__host__ __device__ inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Programmatic dependent launch (sm_90+). Every kernel of the op is launched
// with a programmatic dependency on the kernel before it in the stream
// (launch_dependent below) and lets its own successor launch at once
// (allow_dependent_launch at its start), so that a kernel's launch and block
// scheduling overlap its predecessor's tail instead of following it:
//   previous layer -> quantization: waits (wait_for_prerequisite_grid) before
//     it reads X or writes the workspace (the previous op may still read it);
//   quantization -> GEMM: the GEMM streams its first weights (which do not
//     depend on the activations) and waits before it reads xq and sa;
//   GEMM -> next layer: the next kernel's own wait covers Y.
// A successor is scheduled only once every block of its predecessor has
// started and triggered, so this cannot starve the predecessor of SMs. Both
// calls are no-ops when the launch carries no programmatic dependency (older
// GPUs, or a plain <<<>>> launch).
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_prerequisite_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Loads of what the prerequisite grid writes (X for the quantization kernel
// and the block-fused GEMM, xq and sa for the GEMM), to be issued after
// wait_for_prerequisite_grid: coherent `ld.global`, never `ld.global.nc` /
// __ldg, in volatile asm. Why: `.nc` promises the data is read-only for the
// kernel's whole lifetime, which a programmatic dependent launch breaks (the
// grid before may still be writing it), and ptxas acts on the promise: in
// v21/v22 it moved the mma.sync GEMM's first xq loads (__ldg) above
// griddepcontrol.wait in the 8-row K-split and N-split kernels (SASS: the
// LDG.E.128.CONSTANT of xq before ACQBULK), so a block could read the
// workspace before the quantization kernel had written it (PERF.md, tenth
// H200 session). Coherent loads are ordered after the wait by ptxas; the
// volatile asm keeps the compiler from hoisting them above it.
__device__ __forceinline__ uint4 ld_produced_v4(const void* p) {
  uint4 v;
  asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}
__device__ __forceinline__ uint2 ld_produced_v2(const void* p) {
  uint2 v;
  asm volatile("ld.global.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}
// One element of 2 or 4 bytes (float, __half, __nv_bfloat16).
template <typename T>
__device__ __forceinline__ T ld_produced(const T* p) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4, "2- or 4-byte elements");
  T out;
  if constexpr (sizeof(T) == 4) {
    uint32_t v;
    asm volatile("ld.global.b32 %0, [%1];" : "=r"(v) : "l"(p));
    memcpy(&out, &v, 4);
  } else {
    unsigned short v;
    asm volatile("ld.global.b16 %0, [%1];" : "=h"(v) : "l"(p));
    memcpy(&out, &v, 2);
  }
  return out;
}

// An attribute of the current device, asked once per attribute and process
// (the library serves one device per process); `fallback` where the query
// fails (no device, no driver), which is then cleared as the "last error".
template <cudaDeviceAttr kAttr>
inline int device_attribute(int fallback) {
  static const int value = [fallback] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetAttribute(&v, kAttr, dev) == cudaSuccess) return v;
    cudaGetLastError();
    return fallback;
  }();
  return value;
}

// Whether the current device runs programmatic dependent launch (sm_90+).
inline bool has_pdl() { return device_attribute<cudaDevAttrComputeCapabilityMajor>(0) >= 9; }

// The launch attribute that groups blocks into thread-block clusters of
// (1, 1, cluster_z) (split-K over grid z).
inline cudaLaunchAttribute cluster_attribute(int cluster_z) {
  cudaLaunchAttribute attr = {};
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = 1;
  attr.val.clusterDim.y = 1;
  attr.val.clusterDim.z = (unsigned)cluster_z;
  return attr;
}

// Launch kernel<<<grid, block, smem, stream>>>(args...) with a programmatic
// dependency on the previous kernel of the stream where the GPU supports it,
// and, when cluster_z > 0, in thread-block clusters of (1, 1, cluster_z).
template <typename... Params, typename... Args>
inline cudaError_t launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, int cluster_z,
                                    cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  // IS_PDL=0 (read on every launch, like IS_GEMM_PATH) launches without the
  // dependency, to measure what it gains.
  const char* pdl_env = std::getenv("IS_PDL");
  if (has_pdl() && !(pdl_env != nullptr && pdl_env[0] == '0')) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  if (cluster_z > 0) attr[n++] = cluster_attribute(cluster_z);
  cfg.attrs = attr;
  cfg.numAttrs = n;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

// Streaming multiprocessors of the current device.
inline int sm_count() { return device_attribute<cudaDevAttrMultiProcessorCount>(1); }

}  // namespace is

// Launch one of three instantiations of `kernel_tmpl<T>` by runtime dtype.
#define IS_DISPATCH_DTYPE(dtype, T, ...)                          \
  switch (dtype) {                                                \
    case IS_DTYPE_F32: { using T = float; __VA_ARGS__; break; }  \
    case IS_DTYPE_F16: { using T = __half; __VA_ARGS__; break; } \
    case IS_DTYPE_BF16: { using T = __nv_bfloat16; __VA_ARGS__; break; } \
    default: return IS_ERR_BAD_DTYPE;                             \
  }
