#pragma once
// Vectorized f32 exp, erf and the GELUs on AVX-512 registers, for element-wise kernels and fused
// epilogues. Include only from translation units built with AVX-512 flags (*_avx512.cpp,
// *_vnni.cpp). Accuracy (tests/fused_test.cpp sweeps it): exp within 2 ulp on normal results
// (denormal results flushed to 0), erf within 1e-6 absolute; both propagate NaN and saturate
// correctly at +-inf.
#include <immintrin.h>

#include "kernels/eltwise/gelu_pieces.hpp"

namespace sparq::vec512 {

// e^x: Cephes-style reduction x = n*ln2 + r, |r| <= ln2/2, degree-7 Horner polynomial, 2^n by
// vscalefps; +inf above 88.72, NaN propagates. Results below FLT_MIN (x < -87.34) are flushed to
// +0, as under FTZ: producing denormals costs a microcode assist per instruction (~150 cycles),
// which made masked softmax rows several times slower.
inline __m512 exp_ps(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654475f);  // ln(FLT_MIN)
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    // Flushed lanes compute e^0 (no underflow anywhere), then are zeroed. max/min return their
    // second operand when either is NaN: this order keeps NaN.
    x = _mm512_maskz_mov_ps(static_cast<__mmask16>(~tiny), x);
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(lo, x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(static_cast<__mmask16>(~tiny), p, n);
}

// e^((x - m) * k) for x <= m, k > 0, the softmax exponential of scores x, row maximum m,
// scale k: 2^t with t = (x - m) * k * log2(e) in one FMA (the rounding of m * k * log2(e)
// shifts a whole row alike, which the normalization cancels), 2^frac(t) by a degree-6
// polynomial on [0, 1) (0.5 ulp), times 2^floor(t) by vscalefps. The argument's rounding,
// |t| * 2^-24 relative, stays below 3e-8 absolute against the row's largest term e^0 = 1
// (|t| e^-|t| <= 1/e), which is what a softmax sums to. t is clamped at -126, so results
// below FLT_MIN come out as ~FLT_MIN instead of 0, never denormal (a microcode assist).
inline __m512 exp_scaled_ps(__m512 x, __m512 m, __m512 k) {
    const __m512 kl = _mm512_mul_ps(k, _mm512_set1_ps(1.44269504088896341f));
    __m512 t = _mm512_fmsub_ps(x, kl, _mm512_mul_ps(m, kl));
    t = _mm512_max_ps(_mm512_set1_ps(-126.0f), t);  // NaN stays NaN
    const __m512 f =
        _mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);  // t - floor(t)
    __m512 p = _mm512_set1_ps(2.1702254889532924e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.2439688434824347e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.678840637207031e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5483341217041016e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022983014583588e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931470036506653e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, t);  // p * 2^floor(t)
}

// erf(x): odd rational minimax P(x^2)*x / Q(x^2) on |x| < 3.8325 (the coefficients used by
// Eigen/TensorFlow), exactly +-1 beyond, where erf rounds to +-1 in f32.
inline __m512 erf_ps(__m512 x) {
    const __m512 lim = _mm512_set1_ps(3.832506856900711f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 xc = _mm512_min_ps(lim, _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), lim), x));
    const __m512 x2 = _mm512_mul_ps(xc, xc);
    __m512 p = _mm512_set1_ps(-2.72614225801306e-10f);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.77068142495902e-08f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.10102402082508e-06f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-5.69250639462346e-05f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-7.34990630326855e-04f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.95459980854025e-03f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.60960333262415e-02f));
    p = _mm512_mul_ps(p, xc);
    __m512 q = _mm512_set1_ps(-1.45660718464996e-05f);
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-2.13374055278905e-04f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.68282697438203e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-7.37332916720468e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.42647390514189e-02f));
    // p/q via rcp14 + one Newton step (~2^-28 rel), far cheaper than vdivps.
    __m512 rq = _mm512_rcp14_ps(q);
    rq = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, rq, _mm512_set1_ps(1.0f)), rq, rq);
    const __m512 r = _mm512_mul_ps(p, rq);
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, x), lim, _CMP_GE_OQ);
    const __m512 one = _mm512_or_ps(_mm512_and_ps(x, sign), _mm512_set1_ps(1.0f));
    return _mm512_mask_mov_ps(r, big, one);
}

// gelu(x) = x/2 * (1 + erf(x/sqrt(2))), as HF's "gelu" (erf form), evaluated as fma(x/2, erf, x/2).
inline __m512 gelu_erf_ps(__m512 x) {
    const __m512 half = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
    const __m512 e = erf_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
    return _mm512_fmadd_ps(half, e, half);
}

// gelu_tanh(x) = x/2 * (1 + tanh(u)), u = sqrt(2/pi) * (x + 0.044715 x^3), as HF's "gelu_new",
// evaluated as x / (1 + e^(-2u)) (1 + tanh(u) = 2 / (1 + e^(-2u))): no cancellation for x < 0,
// x for large x (e^(-2u) flushed to 0), -0 for large -x (x / inf); -inf gives NaN, as the formula.
inline __m512 gelu_tanh_ps(__m512 x) {
    // -2u = x * (-2 sqrt(2/pi) - 2 sqrt(2/pi) 0.044715 x^2)
    const __m512 k = _mm512_fmadd_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(-0.07135481627260025f),
                                     _mm512_set1_ps(-1.5957691216057308f));
    const __m512 e = exp_ps(_mm512_mul_ps(x, k));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// GELU by the piecewise cubic of gelu_pieces.hpp: gelu(a) for a = |x| < 6 is a cubic in the
// position inside one of 32 intervals of [0, 6), its coefficients picked with vpermt2ps;
// gelu(a) = a beyond 6 (off by < 1e-8) and gelu(-a) = gelu(a) - a. NaN propagates. The same
// operations for either GELU form; the table decides which.
// The coefficient tables in registers (lo: intervals 0-15, hi: 16-31), loaded once per loop:
// those of GELU `act` (gelu_pieces(act)).
struct GeluRegs {
    __m512 lo[GeluPieces::kDegree + 1], hi[GeluPieces::kDegree + 1];
    explicit GeluRegs(Activation act) {
        const GeluPieces& p = gelu_pieces(act);
        for (int k = 0; k <= GeluPieces::kDegree; ++k) {
            lo[k] = _mm512_load_ps(p.c[k]);
            hi[k] = _mm512_load_ps(p.c[k] + 16);
        }
    }
};

inline __m512 gelu_pieces_ps(__m512 x, const GeluRegs& t) {
    const __m512 a = _mm512_abs_ps(x);
    // min(lim, a) returns a when a is NaN: NaN flows through the polynomial.
    const __m512 s = _mm512_mul_ps(_mm512_min_ps(_mm512_set1_ps(GeluPieces::kLast), a),
                                   _mm512_set1_ps(GeluPieces::kPerUnit));
    const __m512i i = _mm512_cvttps_epi32(s);
    const __m512 f = _mm512_sub_ps(s, _mm512_cvtepi32_ps(i));
    constexpr int kDeg = GeluPieces::kDegree;
    __m512 p = _mm512_permutex2var_ps(t.lo[kDeg], i, t.hi[kDeg]);
    for (int k = kDeg - 1; k >= 0; --k)
        p = _mm512_fmadd_ps(p, f, _mm512_permutex2var_ps(t.lo[k], i, t.hi[k]));
    p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(a, _mm512_set1_ps(GeluPieces::kRange), _CMP_GE_OQ),
                           a);
    return _mm512_mask_sub_ps(p, _mm512_movepi32_mask(_mm512_castps_si512(x)), p, a);
}

}  // namespace sparq::vec512
