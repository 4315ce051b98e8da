// AVX-512 variants of the fused element-wise operators: 16-lane traits over eltwise_impl.hpp,
// tails through k-masks.
// GCC 12's avx512fintrin.h trips -Wuninitialized on its own _mm512_undefined_ps (GCC PR105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/eltwise/eltwise_impl.hpp"
#include "kernels/eltwise/vec_math_avx512.hpp"

namespace sparq {
namespace {

struct V512 {
    using reg = __m512;
    static constexpr int64_t W = 16;
    static __mmask16 tail(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
    static reg zero() { return _mm512_setzero_ps(); }
    static reg set1(float v) { return _mm512_set1_ps(v); }
    static reg ld(const float* p, Full) { return _mm512_loadu_ps(p); }
    static reg ld(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
    static void st(float* p, reg v, Full) { _mm512_storeu_ps(p, v); }
    static void st(float* p, reg v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }
    static reg keep0(reg v, Full) { return v; }
    static reg keep0(reg v, __mmask16 m) { return _mm512_maskz_mov_ps(m, v); }
    static reg max_keep(reg acc, reg v, Full) { return _mm512_max_ps(acc, v); }
    static reg max_keep(reg acc, reg v, __mmask16 m) { return _mm512_mask_max_ps(acc, m, acc, v); }
    static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
    static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
    static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static float hsum(reg v) { return _mm512_reduce_add_ps(v); }
    static float hmax(reg v) { return _mm512_reduce_max_ps(v); }
    static reg exp(reg v) { return vec512::exp_ps(v); }
    static reg erf(reg v) { return vec512::erf_ps(v); }
    static reg gelu(reg v) { return vec512::gelu_erf_ps(v); }
    static reg gelu_tanh(reg v) { return vec512::gelu_tanh_ps(v); }
    // x * sigmoid(x) = x / (1 + e^-x) (e^-x is +inf for x < -88.7: -0 there, as the limit).
    static reg silu(reg v) {
        return _mm512_div_ps(
            v, _mm512_add_ps(_mm512_set1_ps(1.0f), vec512::exp_ps(_mm512_sub_ps(zero(), v))));
    }
};

}  // namespace
}  // namespace sparq

SPARQ_ELTWISE_DEFINE(avx512, V512)
