// C ABI of the is-export CUDA kernels (libis_kernels.so).
//
// The operator contract (DESIGN.md, IntScaleGemm v1) defines every number
// computed here. Shapes: X [M, K] row-major (leading dims flattened), Wq
// int32 [N, K/8] in layout nk_u4x8, S int32 [N, G] (G = K / group_size),
// C float32 [N], bias [N] of X's type (or NULL), Y [M, N] of X's type.
//
// Every function returns 0 on success, a positive cudaError_t value when a
// CUDA call failed, or a negative IS_ERR_* code for bad arguments; the
// message of any code is is_error_string(code). All work is enqueued on
// `stream`; nothing synchronizes.
#pragma once

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { IS_DTYPE_F32 = 0, IS_DTYPE_F16 = 1, IS_DTYPE_BF16 = 2 } is_dtype_t;

enum {
  IS_ERR_BAD_SHAPE = -1,       // M, N or K not positive
  IS_ERR_BAD_GROUP = -2,       // group_size not a power of two >= 32, or K % group_size != 0
  IS_ERR_BAD_DTYPE = -3,       // dtype not one of is_dtype_t
  IS_ERR_WORKSPACE = -4,       // workspace NULL or smaller than is_gemm_workspace_size()
  IS_ERR_ALIGNMENT = -5,       // a pointer is not 16-byte aligned
};

const char* is_error_string(int code);

// Bytes of device workspace the GEMMs need for M rows: the INT8 activations
// and per-token scales, a copy of the group scales transposed to [G, N]
// (N * K / 32 bytes: the wgmma path's 128-token tiles read it; rewritten at
// every call), and above M = 32 the wgmma path's stream-K counters (one int
// per 128 x 64 tile of N x M) and partial-sum slots (160 x 64 KB).
// Non-decreasing in M, so a buffer sized for the largest M serves every M.
size_t is_gemm_workspace_size(int64_t M, int64_t N, int64_t K);

// Contract steps 1-2: per-token INT8 activations. xq int8 [M, K], sa float [M].
int is_quantize_activations(const void* x, is_dtype_t dtype, int64_t M, int64_t K,
                            int8_t* xq, float* sa, cudaStream_t stream);

// The full IntScaleGemm op (steps 1-5): Y = IntScaleGemm(X, Wq, S, C, bias).
int is_int_scale_gemm(const void* x, is_dtype_t dtype, const int32_t* wq, const int32_t* S,
                      const float* C, const void* bias, void* y, int64_t M, int64_t N, int64_t K,
                      int group_size, void* workspace, size_t workspace_bytes, cudaStream_t stream);

// The float-scale baseline of the paper (not exported; for accuracy and speed
// comparisons): Y = sa[m] * sum_g float(P[m,g,n]) * s[n,g] (+ bias), s float [N, G].
int is_float_scale_gemm(const void* x, is_dtype_t dtype, const int32_t* wq, const float* s,
                        const void* bias, void* y, int64_t M, int64_t N, int64_t K, int group_size,
                        void* workspace, size_t workspace_bytes, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
