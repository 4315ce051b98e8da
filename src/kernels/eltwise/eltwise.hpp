#pragma once
// Vectorized variants of the fused element-wise operators (kernels/fused.hpp), one namespace per
// ISA, plus array entry points of the vector math (exp, erf) so tests can sweep their accuracy.
// Private to the library: callers use kernels/fused.hpp.
#include <omp.h>

#include <cstdint>

#include "cpu/isa.hpp"

namespace sparq {

// Row loops go parallel over rows only when the op is large enough to pay for a team and the
// caller is not already inside a parallel region (e.g. attention softmax per head).
constexpr int64_t kEltwiseParallelMin = int64_t{1} << 16;

// Calls fn(r) for r in [0, rows), over OpenMP threads when rows*cols > kEltwiseParallelMin.
template <class Fn>
inline void for_each_row(int64_t rows, int64_t cols, Fn&& fn) {
    if (rows > 1 && rows * cols > kEltwiseParallelMin && !omp_in_parallel() &&
        omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; ++r) fn(r);
    } else {
        for (int64_t r = 0; r < rows; ++r) fn(r);
    }
}

#define SPARQ_ELTWISE_DECLS                                                                    \
    void layer_norm(const float* src, const float* residual, const float* gamma,               \
                    const float* beta, float* dst, int64_t rows, int64_t cols, float eps);     \
    void bias_gelu(float* data, const float* bias, int64_t rows, int64_t cols);                \
    void bias_gelu_tanh(float* data, const float* bias, int64_t rows, int64_t cols);           \
    void bias_silu(float* data, const float* bias, int64_t rows, int64_t cols);                \
    void gelu_glu(const float* u, float* out, int64_t rows, int64_t cols);                     \
    void silu_glu(const float* u, float* out, int64_t rows, int64_t cols);                     \
    void bias_residual(float* data, const float* bias, const float* residual, int64_t rows,    \
                       int64_t cols);                                                          \
    void softmax(float* data, int64_t rows, int64_t cols, int64_t ld, float scale,             \
                 const float* mask);                                                           \
    void embed_layer_norm(const float* word, const float* pos, const float* type,              \
                          const int32_t* ids, const int32_t* pos_ids, const int32_t* type_ids, \
                          const float* gamma, const float* beta, float* dst, int64_t rows,     \
                          int64_t cols, float eps);                                            \
    /* dst[i] = exp(src[i]) / erf(src[i]) for i < n (dst may alias src). */                    \
    void exp_f32(const float* src, float* dst, int64_t n);                                     \
    void erf_f32(const float* src, float* dst, int64_t n);

namespace avx2 {
SPARQ_ELTWISE_DECLS
}
namespace avx512 {
SPARQ_ELTWISE_DECLS
}
namespace ref {
void exp_f32(const float* src, float* dst, int64_t n);
void erf_f32(const float* src, float* dst, int64_t n);
}  // namespace ref

#undef SPARQ_ELTWISE_DECLS

// The vector math of each variant, scalar (libm) first; same ISA order as fused_variants().
struct VecMathOps {
    Isa isa;
    void (*exp)(const float*, float*, int64_t);
    void (*erf)(const float*, float*, int64_t);
};
const VecMathOps* vec_math_variants(int* count);

}  // namespace sparq
