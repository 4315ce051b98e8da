// AVX-512 feature-major steps of the chained sparse int8 FFN (s8_run_chain): FFN1's int32 rows
// dequantized (+ bias, a GELU of vec_math_avx512.hpp) in place of the token-major epilogue, and the
// result quantized straight into FFN2's packed u8 tile. Lanes are tokens, so the per-token absmax
// is a running vmax and packing is a 4-row byte interleave (no transpose). Same float operations
// per value as epilogue_fm_avx512 and quantize_pack_u8_avx512, so the results are bit-identical to
// the unchained pair.
#include <immintrin.h>

#include "kernels/eltwise/vec_math_avx512.hpp"
#include "kernels/s8/s8_kernels.hpp"

namespace sparq::s8 {

namespace {

template <bool BIAS, bool GELU, bool MAX>
void dequant_rows_impl(const int32_t* acc, int64_t ld_acc, int64_t width, int64_t o0, int64_t o1,
                       const float* act_scales, const float* w_scales, const float* bias,
                       Activation act, float* h, int64_t ld_h, float* tok_max) {
    const vec512::GeluRegs g(act);
    for (int64_t v = 0; v < width; v += 16) {
        const __m512 xs = _mm512_loadu_ps(act_scales + v);
        __m512 m = tok_max ? _mm512_loadu_ps(tok_max + v) : _mm512_setzero_ps();
        for (int64_t o = o0; o < o1; ++o) {
            const __m512 s = _mm512_mul_ps(xs, _mm512_set1_ps(w_scales[o]));
            const __m512 a = _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + (o - o0) * ld_acc + v));
            __m512 x = BIAS ? _mm512_fmadd_ps(a, s, _mm512_set1_ps(bias[o])) : _mm512_mul_ps(a, s);
            if (GELU) x = vec512::gelu_pieces_ps(x, g);
            _mm512_storeu_ps(h + (o - o0) * ld_h + v, x);
            if (MAX) m = _mm512_max_ps(m, _mm512_abs_ps(x));
        }
        if (MAX) _mm512_storeu_ps(tok_max + v, m);
    }
}

// 16 tokens of 4 consecutive rows -> 16 dwords of u8 (s8 + 128), row 4g + i in byte i. The same
// rounding steps as quantize_pack_u8_avx512: min(127, x * inv), round half even, saturating
// packs, max(q, -127); then a byte transpose of each 128-bit lane (4 rows x 4 tokens).
template <int ROWS>
inline __m512i quantize4(const float* h, int64_t ld_h, __m512 inv) {
    const __m512 hi = _mm512_set1_ps(static_cast<float>(kQmax));
    __m512i q[4];
    for (int i = 0; i < 4; ++i)
        q[i] = i < ROWS ? _mm512_cvtps_epi32(_mm512_min_ps(hi, _mm512_mul_ps(_mm512_loadu_ps(h + i * ld_h), inv)))
                        : _mm512_setzero_si512();
    __m512i w = _mm512_packs_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
    w = _mm512_max_epi8(w, _mm512_set1_epi8(-kQmax));
    const __m512i tr = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    return _mm512_xor_si512(_mm512_shuffle_epi8(w, tr), _mm512_set1_epi8(static_cast<char>(0x80)));
}

template <int ROWS>
void quantize_group(const float* hr, int64_t ld_h, int64_t width, const float* inv_scales, uint8_t* d) {
    for (int64_t v = 0; v < width; v += 16)
        _mm512_storeu_si512(d + v * 4, quantize4<ROWS>(hr + v, ld_h, _mm512_loadu_ps(inv_scales + v)));
}

}  // namespace

void fm_dequant_rows_avx512(const int32_t* acc, int64_t ld_acc, int64_t width, int64_t o0,
                            int64_t o1, const float* act_scales, const float* w_scales,
                            const float* bias, Activation act, float* h, int64_t ld_h,
                            float* tok_max) {
    using Fn = void (*)(const int32_t*, int64_t, int64_t, int64_t, int64_t, const float*,
                        const float*, const float*, Activation, float*, int64_t, float*);
    static const Fn fns[2][2][2] = {
        {{dequant_rows_impl<false, false, false>, dequant_rows_impl<false, false, true>},
         {dequant_rows_impl<false, true, false>, dequant_rows_impl<false, true, true>}},
        {{dequant_rows_impl<true, false, false>, dequant_rows_impl<true, false, true>},
         {dequant_rows_impl<true, true, false>, dequant_rows_impl<true, true, true>}}};
    fns[bias != nullptr][is_gelu(act)][tok_max != nullptr](acc, ld_acc, width, o0, o1, act_scales,
                                                           w_scales, bias, act, h, ld_h, tok_max);
}

void gelu_pieces_avx512(const float* src, float* dst, int64_t n, Activation act) {
    const vec512::GeluRegs g(act);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m,
                              vec512::gelu_pieces_ps(_mm512_maskz_loadu_ps(m, src + i), g));
    }
}

void fm_quantize_pack_avx512(const float* h, int64_t ld_h, int64_t rows, int64_t g0, int64_t g1,
                             int64_t width, const float* inv_scales, uint8_t* dst) {
    for (int64_t g = g0; g < g1; ++g) {
        const int64_t n = rows - 4 * g;
        const float* hr = h + 4 * g * ld_h;
        uint8_t* d = dst + g * width * 4;
        if (n >= 4)
            quantize_group<4>(hr, ld_h, width, inv_scales, d);
        else if (n == 3)
            quantize_group<3>(hr, ld_h, width, inv_scales, d);
        else if (n == 2)
            quantize_group<2>(hr, ld_h, width, inv_scales, d);
        else
            quantize_group<1>(hr, ld_h, width, inv_scales, d);
    }
}

}  // namespace sparq::s8
