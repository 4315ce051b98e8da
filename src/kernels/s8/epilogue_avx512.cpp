// AVX-512 dequantization of feature-major int32 accumulators into token-major f32 (16x16 blocks
// transposed in registers). Same float operations, in the same order, as the scalar epilogue.
#include <immintrin.h>

#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/transpose_avx512.hpp"

namespace sparq::s8 {

void epilogue_fm_avx512(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                        int64_t out, const float* act_scales, const float* w_scales,
                        const float* bias, float* dst) {
    for (int64_t ob = o0; ob < o1; ob += 16) {
        const int64_t nr = o1 - ob < 16 ? o1 - ob : 16;
        const __mmask16 om = static_cast<__mmask16>((1u << nr) - 1);
        const __m512 ws = _mm512_maskz_loadu_ps(om, w_scales + ob);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(om, bias + ob) : _mm512_setzero_ps();
        for (int64_t tb = 0; tb < count; tb += 16) {
            const int64_t nt = count - tb < 16 ? count - tb : 16;
            __m512i r[16];
            for (int i = 0; i < 16; ++i)
                r[i] = i < nr ? _mm512_loadu_si512(acc + (ob - o0 + i) * ld_acc + tb)
                              : _mm512_setzero_si512();
            transpose16x16_epi32(r);
            for (int j = 0; j < nt; ++j) {
                __m512 s = _mm512_mul_ps(_mm512_set1_ps(act_scales[tb + j]), ws);
                __m512 v = bias ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(r[j]), s, b)
                                : _mm512_mul_ps(_mm512_cvtepi32_ps(r[j]), s);
                _mm512_mask_storeu_ps(dst + (tb + j) * out + ob, om, v);
            }
        }
    }
}

void dequant_tm_avx512(const int32_t* acc, int64_t ld_acc, int64_t tokens, int64_t out,
                       const float* act_scales, const float* w_scales, const float* bias, float* dst) {
    for (int64_t t = 0; t < tokens; ++t) {
        const __m512 xs = _mm512_set1_ps(act_scales[t]);
        const int32_t* a = acc + t * ld_acc;
        float* d = dst + t * out;
        for (int64_t o = 0; o < out; o += 16) {
            const __mmask16 m = out - o >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (out - o)) - 1);
            __m512 s = _mm512_mul_ps(xs, _mm512_maskz_loadu_ps(m, w_scales + o));
            __m512 x = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, a + o));
            __m512 v = bias ? _mm512_fmadd_ps(x, s, _mm512_maskz_loadu_ps(m, bias + o)) : _mm512_mul_ps(x, s);
            _mm512_mask_storeu_ps(d + o, m, v);
        }
    }
}

}  // namespace sparq::s8
