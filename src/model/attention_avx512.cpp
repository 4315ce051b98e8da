// Attention per head with AVX-512 (16 floats per vector, 6x4-vector tiles): the shared kernel in
// attention_kernel.inc over AVX-512 vector traits.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "kernels/eltwise/vec_math_avx512.hpp"
#include "model/attention.hpp"
#include "model/attention_deberta.hpp"

// GCC 12 reports the _mm512_undefined_ps inside the unpack intrinsics as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sparq {
namespace {

struct Avx512 {
    // 6x4 tiles: 24 accumulators + 4 key/value vectors + 1 broadcast of the 32 zmm registers.
    static constexpr int W = 16, kRows = 6, kScoreNV = 4, kCtxNV = 4;
    using reg = __m512;
    using mask = __mmask16;
    static reg zero() { return _mm512_setzero_ps(); }
    static reg load(const float* p) { return _mm512_loadu_ps(p); }
    static reg maskz_load(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
    static void mask_store(float* p, mask m, reg v) { _mm512_mask_storeu_ps(p, m, v); }
    static reg set1(float x) { return _mm512_set1_ps(x); }
    static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
    static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
    static reg select(mask m, reg a, reg b) { return _mm512_mask_mov_ps(b, m, a); }
    // e^((x - m) * k), the softmax exponential: vec512::exp_scaled_ps.
    static reg exp_scaled(reg x, reg m, reg k) { return vec512::exp_scaled_ps(x, m, k); }
    static float hmax(reg x) { return _mm512_reduce_max_ps(x); }
    static float hsum(reg x) { return _mm512_reduce_add_ps(x); }
    static mask tail(int n) { return static_cast<mask>((1u << n) - 1u); }  // n in [0, 16]
    static constexpr bool kTranspose16 = true;
    // r[i] = column i of the 16x16 block whose rows were r[0..15].
    static void transpose16(reg r[16]) {
        reg t[16];
#pragma GCC unroll 16
        for (int i = 0; i < 8; ++i) {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
#pragma GCC unroll 16
        for (int i = 0; i < 4; ++i) {
            r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
            r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
            r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
            r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
        }
#pragma GCC unroll 16
        for (int i = 0; i < 4; ++i) {
            t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
            t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xDD);
            t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
            t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xDD);
        }
        // The last 128-bit lane shuffle leaves columns 4..7 and 8..11 swapped: undo it here.
#pragma GCC unroll 16
        for (int i = 0; i < 4; ++i) {
            r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
            r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
            r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
            r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xDD);
        }
    }
};

#include "model/attention_kernel.inc"

}  // namespace

void attention_head_local_avx512(const float* q, const float* k, const float* v, int64_t ld_qkv,
                                 float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                                 float* scratch, int64_t window, const float* mask) {
    attention_head_local_impl<Avx512>(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, window,
                                      mask);
}

void attention_head_avx512(const float* q, const float* k, const float* v, int64_t ld_qkv,
                           float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                           float* scratch, const AttentionNext* next, const float* rel_bias) {
    attention_head_impl<Avx512>(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, next,
                                rel_bias);
}

namespace avx512 {
void attention_head_with_terms(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               float* scratch, const DebertaTerms& t) {
    attention_head_impl<Avx512>(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, nullptr,
                                nullptr, [&](float* s, int64_t lds, int64_t i0, int64_t rows) {
                                    add_deberta_terms(t, s, lds, i0, rows);
                                });
}
}  // namespace avx512

}  // namespace sparq
