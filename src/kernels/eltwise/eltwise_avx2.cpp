// AVX2+FMA variants of the fused element-wise operators: 8-lane traits over eltwise_impl.hpp,
// tails through vmaskmovps loads/stores.
#include <immintrin.h>

#include "kernels/eltwise/eltwise_impl.hpp"
#include "kernels/eltwise/vec_math_avx2.hpp"

namespace sparq {
namespace {

alignas(32) const int32_t kTailBits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct V256 {
    using reg = __m256;
    static constexpr int64_t W = 8;
    static __m256i tail(int64_t n) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailBits + 8 - n));
    }
    static reg zero() { return _mm256_setzero_ps(); }
    static reg set1(float v) { return _mm256_set1_ps(v); }
    static reg ld(const float* p, Full) { return _mm256_loadu_ps(p); }
    static reg ld(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
    static void st(float* p, reg v, Full) { _mm256_storeu_ps(p, v); }
    static void st(float* p, reg v, __m256i m) { _mm256_maskstore_ps(p, m, v); }
    static reg keep0(reg v, Full) { return v; }
    static reg keep0(reg v, __m256i m) { return _mm256_and_ps(v, _mm256_castsi256_ps(m)); }
    static reg max_keep(reg acc, reg v, Full) { return _mm256_max_ps(acc, v); }
    static reg max_keep(reg acc, reg v, __m256i m) {
        return _mm256_blendv_ps(acc, _mm256_max_ps(acc, v), _mm256_castsi256_ps(m));
    }
    static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
    static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
    static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static float hsum(reg v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static float hmax(reg v) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static reg exp(reg v) { return vec256::exp_ps(v); }
    static reg erf(reg v) { return vec256::erf_ps(v); }
    static reg gelu(reg v) { return vec256::gelu_erf_ps(v); }
    static reg gelu_tanh(reg v) { return vec256::gelu_tanh_ps(v); }
    // x * sigmoid(x) = x / (1 + e^-x).
    static reg silu(reg v) {
        return _mm256_div_ps(
            v, _mm256_add_ps(_mm256_set1_ps(1.0f), vec256::exp_ps(_mm256_sub_ps(zero(), v))));
    }
};

}  // namespace
}  // namespace sparq

SPARQ_ELTWISE_DEFINE(avx2, V256)
