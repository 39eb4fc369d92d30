// The kernel launchers behind is_int_scale_gemm / is_float_scale_gemm, one
// per kernel file, and the choice between the two GEMM paths.
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "is_kernels.h"

namespace is {

// How the quantization kernel orders the int8 activations of each row.
enum class XqOrder {
  kNatural,      // xq[m, k] at m*K + k (the C ABI's is_quantize_activations, the mma.sync GEMM)
  kWgmmaPermuted // within every 128 k: the order the wgmma GEMM's register fragments need (act_quant.cu)
};

// A copy of the group scales the quantization kernel makes on the way (no
// numerics: 4-byte words moved): src [n][g] (S or s as the contract stores
// them, row stride g) to dst [g][pitch], dst[j * pitch + i] = src[i * g + j]
// for i < n, j < g. Why: the wgmma path's 128-token kernels of group size 128
// then copy a k-tile's 128 scales as one 512-byte TMA row instead of 128
// 4-byte gathers (w4a8_wgmma.cu, "Group scales"). n == 0: no copy.
struct ScaleTranspose {
  const uint32_t* src = nullptr;
  uint32_t* dst = nullptr;
  int n = 0, g = 0;
  int pitch = 0;
};

// act_quant.cu: contract steps 1-2 into the workspace.
// zero_ints / n_zero: ints the kernel sets to 0 (the wgmma path's stream-K
// counters; see Workspace), or nullptr / 0; st: the scale copy it also makes
// (n == 0: none). Both are spread over the grid's threads after the kernel
// waited for its predecessor (that one may still read the workspace).
int launch_quantize(const void* x, is_dtype_t dtype, int64_t M, int64_t K, int8_t* xq, float* sa, XqOrder order,
                    cudaStream_t stream, int* zero_ints = nullptr, int n_zero = 0, const ScaleTranspose& st = {});

// w4a8_wgmma.cu: whether this build holds the sm_90a wgmma kernels and the
// current device runs them; whether they handle (and are the faster path for)
// a shape; and their launcher (steps 1-5: the quantization kernel with the
// permuted xq order, and the scale copy where the tiling wants it, then the GEMM).
bool wgmma_available();
bool wgmma_supported(int64_t M, int64_t N, int64_t K, int group_size);
bool wgmma_preferred(int64_t M, int64_t N, int64_t K, int group_size);
int launch_wgmma_gemm(const void* x, const Workspace& ws, is_dtype_t dtype, bool int_scale, const uint32_t* wq,
                      const int32_t* S, const float* s_float, const float* C, const void* bias, void* y, int M, int N,
                      int K, int group_size, cudaStream_t stream);

}  // namespace is
