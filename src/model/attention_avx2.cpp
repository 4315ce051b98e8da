// Attention per head with AVX2 + FMA (8 floats per vector, 6x2-vector tiles within 16 ymm
// registers): the shared kernel in attention_kernel.inc over AVX2 vector traits.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "kernels/eltwise/vec_math_avx2.hpp"
#include "model/attention.hpp"

namespace sparq {
namespace {

struct Avx2 {
    // 6x2 tiles: 12 accumulators + 2 key/value vectors + 1 broadcast of the 16 ymm registers.
    static constexpr int W = 8, kRows = 6, kScoreNV = 2, kCtxNV = 2;
    using reg = __m256;
    using mask = __m256i;
    static reg zero() { return _mm256_setzero_ps(); }
    static reg load(const float* p) { return _mm256_loadu_ps(p); }
    static reg maskz_load(mask m, const float* p) { return _mm256_maskload_ps(p, m); }
    static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
    static void mask_store(float* p, mask m, reg v) { _mm256_maskstore_ps(p, m, v); }
    static reg set1(float x) { return _mm256_set1_ps(x); }
    static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
    static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
    static reg select(mask m, reg a, reg b) {
        return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m));
    }
    static reg exp_scaled(reg x, reg m, reg k) {  // e^((x - m) * k)
        return vec256::exp_ps(_mm256_mul_ps(_mm256_sub_ps(x, m), k));
    }
    static float hmax(reg x) {
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
    }
    static float hsum(reg x) {
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
    }
    static mask tail(int n) {  // n in [0, 8]: lanes below n set
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static constexpr bool kTranspose16 = false;
    static void transpose16(reg*) {}
};

#include "model/attention_kernel.inc"

}  // namespace

void attention_head_local_avx2(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               float* scratch, int64_t window, const float* mask) {
    attention_head_local_impl<Avx2>(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, window,
                                    mask);
}

void attention_head_avx2(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                         int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                         const AttentionNext* next, const float* rel_bias) {
    attention_head_impl<Avx2>(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, next, rel_bias);
}

}  // namespace sparq
