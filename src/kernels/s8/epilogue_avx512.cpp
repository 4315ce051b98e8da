// AVX-512 dequantization epilogues with GELU and residual fused in registers. Same float
// operations, in the same order, as the scalar epilogue (dequant as one fma; residual added
// last), except GELU: the piecewise GELU of vec_math_avx512.hpp (within 1e-6 of the GELU, erf or
// tanh form, that the scalar path's bias_gelu / bias_gelu_tanh computes), shared with the chained
// FFN (chain_avx512.cpp).
#include <immintrin.h>

#include "kernels/eltwise/vec_math_avx512.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/transpose_avx512.hpp"

namespace sparq::s8 {

namespace {

template <bool BIAS, bool GELU>
inline __m512 finish(__m512i acc, __m512 scale, __m512 b, const vec512::GeluRegs& g) {
    __m512 v = BIAS ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, b)
                    : _mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale);
    return GELU ? vec512::gelu_pieces_ps(v, g) : v;
}

// One block of nr (<= 16) rows x nt (<= 16) tokens; FULL: nr == nt == 16, no masks or branches.
// LD: the row stride of acc when known at compile time (the 64-token tiles), else 0 (ld_acc).
template <bool FULL, bool BIAS, bool GELU, bool RES, int LD>
inline void block(const int32_t* acc, int64_t ld_acc, int64_t nr, int64_t nt, int64_t out,
                  const float* act_scales, const float* w_scales, const float* bias,
                  const float* residual, float* dst, const vec512::GeluRegs& g) {
    const int64_t ld = LD ? LD : ld_acc;
    const __mmask16 om = FULL ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1);
    const __m512 ws = _mm512_maskz_loadu_ps(om, w_scales);
    const __m512 b = BIAS ? _mm512_maskz_loadu_ps(om, bias) : _mm512_setzero_ps();
    __m512i r[16];
    for (int i = 0; i < 16; ++i)
        r[i] = (FULL || i < nr) ? _mm512_loadu_si512(acc + i * ld) : _mm512_setzero_si512();
    transpose16x16_epi32(r);
    for (int j = 0; j < 16; ++j) {
        if (!FULL && j >= nt) break;
        __m512 v = finish<BIAS, GELU>(r[j], _mm512_mul_ps(_mm512_set1_ps(act_scales[j]), ws), b, g);
        if (RES) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(om, residual + j * out));
        if (FULL)
            _mm512_storeu_ps(dst + j * out, v);
        else
            _mm512_mask_storeu_ps(dst + j * out, om, v);
    }
}

template <bool BIAS, bool GELU, bool RES, int LD>
void epilogue_fm_impl(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                      int64_t out, const float* act_scales, const float* w_scales,
                      const float* bias, Activation act, const float* residual, float* dst) {
    const vec512::GeluRegs g(act);
    // Token blocks outer, row blocks inner: each dst row is written sequentially.
    for (int64_t tb = 0; tb < count; tb += 16) {
        const int64_t nt = count - tb < 16 ? count - tb : 16;
        for (int64_t ob = o0; ob < o1; ob += 16) {
            const int64_t nr = o1 - ob < 16 ? o1 - ob : 16;
            const int32_t* a = acc + (ob - o0) * ld_acc + tb;
            const float* res = RES ? residual + tb * out + ob : nullptr;
            const float* bo = BIAS ? bias + ob : nullptr;
            float* d = dst + tb * out + ob;
            if (ob + 16 < o1)  // the next block's dst lines, for writing (RFO ahead of the stores)
                for (int j = 0; j < nt; ++j) __builtin_prefetch(d + 16 + j * out, 1, 3);
            if (nr == 16 && nt == 16)
                block<true, BIAS, GELU, RES, LD>(a, ld_acc, 16, 16, out, act_scales + tb, w_scales + ob, bo, res, d,
                                                 g);
            else
                block<false, BIAS, GELU, RES, LD>(a, ld_acc, nr, nt, out, act_scales + tb, w_scales + ob, bo, res,
                                                  d, g);
        }
    }
}

template <bool BIAS, bool GELU, bool RES>
void epilogue_fm_ld(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                    int64_t out, const float* act_scales, const float* w_scales, const float* bias,
                    Activation act, const float* residual, float* dst) {
    (ld_acc == 64 ? epilogue_fm_impl<BIAS, GELU, RES, 64>
                  : epilogue_fm_impl<BIAS, GELU, RES, 0>)(acc, ld_acc, count, o0, o1, out,
                                                          act_scales, w_scales, bias, act, residual,
                                                          dst);
}

template <bool BIAS, bool GELU>
void epilogue_tm_impl(const int32_t* acc, int64_t ld_acc, int64_t tokens, int64_t out,
                      const float* act_scales, const float* w_scales, const float* bias,
                      Activation act, const float* residual, float* dst) {
    const vec512::GeluRegs g(act);
    for (int64_t t = 0; t < tokens; ++t) {
        const __m512 xs = _mm512_set1_ps(act_scales[t]);
        const int32_t* a = acc + t * ld_acc;
        float* d = dst + t * out;
        const float* res = residual ? residual + t * out : nullptr;
        for (int64_t o = 0; o < out; o += 16) {
            const __mmask16 m = out - o >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (out - o)) - 1);
            const __m512 s = _mm512_mul_ps(xs, _mm512_maskz_loadu_ps(m, w_scales + o));
            const __m512 b = BIAS ? _mm512_maskz_loadu_ps(m, bias + o) : _mm512_setzero_ps();
            __m512 v = finish<BIAS, GELU>(_mm512_maskz_loadu_epi32(m, a + o), s, b, g);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + o));
            _mm512_mask_storeu_ps(d + o, m, v);
        }
    }
}

}  // namespace

void epilogue_fm_avx512(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                        int64_t out, const float* act_scales, const float* w_scales,
                        const float* bias, Activation act, const float* residual, float* dst) {
    using Fn = void (*)(const int32_t*, int64_t, int64_t, int64_t, int64_t, int64_t, const float*,
                        const float*, const float*, Activation, const float*, float*);
    static const Fn fns[2][2][2] = {{{epilogue_fm_ld<false, false, false>, epilogue_fm_ld<false, false, true>},
                                     {epilogue_fm_ld<false, true, false>, epilogue_fm_ld<false, true, true>}},
                                    {{epilogue_fm_ld<true, false, false>, epilogue_fm_ld<true, false, true>},
                                     {epilogue_fm_ld<true, true, false>, epilogue_fm_ld<true, true, true>}}};
    fns[bias != nullptr][is_gelu(act)][residual != nullptr](
        acc, ld_acc, count, o0, o1, out, act_scales, w_scales, bias, act, residual, dst);
}

void epilogue_tm_avx512(const int32_t* acc, int64_t ld_acc, int64_t tokens, int64_t out,
                        const float* act_scales, const float* w_scales, const float* bias,
                        Activation act, const float* residual, float* dst) {
    const bool gelu = is_gelu(act);
    if (bias)
        (gelu ? epilogue_tm_impl<true, true>
              : epilogue_tm_impl<true, false>)(acc, ld_acc, tokens, out, act_scales, w_scales, bias,
                                               act, residual, dst);
    else
        (gelu ? epilogue_tm_impl<false, true>
              : epilogue_tm_impl<false, false>)(acc, ld_acc, tokens, out, act_scales, w_scales,
                                                bias, act, residual, dst);
}

}  // namespace sparq::s8
