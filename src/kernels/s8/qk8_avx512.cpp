// The S8QK8 epilogue of the fused QKV kernel (s8_kernels.hpp): per head (d rows) and 16 tokens,
// dequantize with fm_dequant_rows_avx512 into an L1 block (the operations of epilogue_fm) with
// each token's max |x| down the rows, and quantize 4 rows at a time
// into 16 dwords (token j's 4 features in dword j): K stores them as they are (the packed K of
// the attention's tile matmul), Q transposes them into token rows. The same float operations as
// the attention's own quantization of the f32 rows (quant_rows in attention_s8_vnni.cpp).
#include <immintrin.h>

#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/transpose_avx512.hpp"

namespace sparq::s8 {

void epilogue_qk8_avx512(const int32_t* acc, int64_t ld_acc, int64_t width, int64_t o0, int64_t o1,
                         const float* act_scales, const float* w_scales, const float* bias,
                         const S8QK8& q, int64_t t0) {
    const int64_t d = q.d, groups = d / 4;
    const __m512i order =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    alignas(64) float x[64 * 16];  // one head's rows x 16 tokens
    for (int64_t hr = o0; hr < o1; hr += d) {
        const bool is_q = hr < q.h;
        const int64_t head = (is_q ? hr : hr - q.h) / d;
        for (int64_t v = 0; v < width; v += 16) {
            const int64_t t = t0 + v;
            alignas(64) float tmax[16] = {};
            fm_dequant_rows_avx512(acc + (hr - o0) * ld_acc + v, ld_acc, 16, hr, hr + d,
                                   act_scales + v, w_scales, bias, Activation::none, x, 16, tmax);
            const __m512 m = _mm512_load_ps(tmax);
            _mm512_storeu_ps((is_q ? q.sq : q.sk) + head * q.tpad + t,
                             _mm512_div_ps(m, _mm512_set1_ps(127.0f)));
            const __m512 inv =
                _mm512_maskz_div_ps(_mm512_cmp_ps_mask(m, _mm512_set1_ps(S8QK8::kTiny), _CMP_GT_OQ),
                                    _mm512_set1_ps(127.0f), m);
            // 4 rows -> 16 dwords as the FFN chain's quantize4, but without its clamps: the
            // attention's own quantization (quant_rows) has none, and NaNs must match it too.
            __m512i w[16];
            for (int64_t g = 0; g < groups; ++g) {
                __m512i r4[4];
                for (int i = 0; i < 4; ++i)
                    r4[i] = _mm512_cvtps_epi32(
                        _mm512_mul_ps(_mm512_load_ps(x + (4 * g + i) * 16), inv));
                const __m512i b =
                    _mm512_shuffle_epi8(_mm512_packs_epi16(_mm512_packs_epi32(r4[0], r4[1]),
                                                           _mm512_packs_epi32(r4[2], r4[3])),
                                        order);
                if (is_q)
                    w[g] = _mm512_xor_si512(b, flip);
                else
                    _mm512_storeu_si512(q.k8 + ((head * groups + g) * q.tpad + t) * 4, b);
            }
            if (!is_q) continue;
            for (int64_t g = groups; g < 16; ++g) w[g] = _mm512_setzero_si512();
            transpose16x16_epi32(w);
            const __mmask16 dm = static_cast<__mmask16>((1u << groups) - 1);
            for (int j = 0; j < 16; ++j)
                _mm512_mask_storeu_epi32(q.q8 + (head * q.tpad + t + j) * d, dm, w[j]);
        }
    }
}

}  // namespace sparq::s8
