// AVX-512 dequantization of feature-major int32 accumulators into token-major f32 (16x16 blocks
// transposed in registers). Same float operations, in the same order, as the scalar epilogue.
#include <immintrin.h>

#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/transpose_avx512.hpp"

namespace sparq::s8 {

namespace {
// One block of nr (<= 16) rows x nt (<= 16) tokens; FULL: nr == nt == 16, no masks or branches.
template <bool FULL, bool BIAS>
inline void block(const int32_t* acc, int64_t ld_acc, int64_t nr, int64_t nt, int64_t out,
                  const float* act_scales, const float* w_scales, const float* bias, float* dst) {
    const __mmask16 om = FULL ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1);
    const __m512 ws = _mm512_maskz_loadu_ps(om, w_scales);
    const __m512 b = BIAS ? _mm512_maskz_loadu_ps(om, bias) : _mm512_setzero_ps();
    __m512i r[16];
    for (int i = 0; i < 16; ++i)
        r[i] = (FULL || i < nr) ? _mm512_loadu_si512(acc + i * ld_acc) : _mm512_setzero_si512();
    transpose16x16_epi32(r);
    for (int j = 0; j < 16; ++j) {
        if (!FULL && j >= nt) break;
        __m512 s = _mm512_mul_ps(_mm512_set1_ps(act_scales[j]), ws);
        __m512 v = BIAS ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(r[j]), s, b)
                        : _mm512_mul_ps(_mm512_cvtepi32_ps(r[j]), s);
        if (FULL)
            _mm512_storeu_ps(dst + j * out, v);
        else
            _mm512_mask_storeu_ps(dst + j * out, om, v);
    }
}

template <bool BIAS>
void epilogue_fm_impl(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                      int64_t out, const float* act_scales, const float* w_scales, const float* bias,
                      float* dst) {
    // Token blocks outer, row blocks inner: each dst row is written sequentially.
    for (int64_t tb = 0; tb < count; tb += 16) {
        const int64_t nt = count - tb < 16 ? count - tb : 16;
        for (int64_t ob = o0; ob < o1; ob += 16) {
            const int64_t nr = o1 - ob < 16 ? o1 - ob : 16;
            const int32_t* a = acc + (ob - o0) * ld_acc + tb;
            float* d = dst + tb * out + ob;
            if (nr == 16 && nt == 16)
                block<true, BIAS>(a, ld_acc, 16, 16, out, act_scales + tb, w_scales + ob, BIAS ? bias + ob : nullptr, d);
            else
                block<false, BIAS>(a, ld_acc, nr, nt, out, act_scales + tb, w_scales + ob, BIAS ? bias + ob : nullptr, d);
        }
    }
}
}  // namespace

void epilogue_fm_avx512(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                        int64_t out, const float* act_scales, const float* w_scales,
                        const float* bias, float* dst) {
    if (bias)
        epilogue_fm_impl<true>(acc, ld_acc, count, o0, o1, out, act_scales, w_scales, bias, dst);
    else
        epilogue_fm_impl<false>(acc, ld_acc, count, o0, o1, out, act_scales, w_scales, bias, dst);
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
