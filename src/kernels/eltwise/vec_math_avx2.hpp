#pragma once
// Vectorized f32 exp, erf and the GELUs on AVX2+FMA registers: the 8-lane twin of
// vec_math_avx512.hpp (same polynomials, same accuracy). Include only from *_avx2.cpp files.
#include <immintrin.h>

namespace sparq::vec256 {

// 2^e for integer lanes e in [-126, 127], built in the exponent field.
inline __m256 pow2i_ps(__m256i e) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
}

// e^x: same reduction and polynomial as vec512::exp_ps, same flush of results below FLT_MIN
// (x < -87.34) to +0. 2^n is applied as two exact factors 2^(n/2) * 2^(n-n/2) so n = 128 still
// overflows correctly to +inf.
inline __m256 exp_ps(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.33654475f);        // ln(FLT_MIN)
    const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_NLT_UQ);  // false only for x < lo
    // Flushed lanes compute e^0 (no denormal intermediate anywhere), then are zeroed.
    x = _mm256_and_ps(x, keep);
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(lo, x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i e1 = _mm256_srai_epi32(ni, 1);
    const __m256i e2 = _mm256_sub_epi32(ni, e1);
    const __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, pow2i_ps(e1)), pow2i_ps(e2));
    return _mm256_and_ps(y, keep);
}

// erf(x): same rational approximation as vec512::erf_ps.
inline __m256 erf_ps(__m256 x) {
    const __m256 lim = _mm256_set1_ps(3.832506856900711f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 xc = _mm256_min_ps(lim, _mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), lim), x));
    const __m256 x2 = _mm256_mul_ps(xc, xc);
    __m256 p = _mm256_set1_ps(-2.72614225801306e-10f);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(p, xc);
    __m256 q = _mm256_set1_ps(-1.45660718464996e-05f);
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.42647390514189e-02f));
    // p/q via rcp + one Newton step (~2^-23 rel), cheaper than vdivps.
    __m256 rq = _mm256_rcp_ps(q);
    rq = _mm256_fmadd_ps(_mm256_fnmadd_ps(q, rq, _mm256_set1_ps(1.0f)), rq, rq);
    const __m256 r = _mm256_mul_ps(p, rq);
    const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(sign, x), lim, _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_and_ps(x, sign), _mm256_set1_ps(1.0f));
    return _mm256_blendv_ps(r, one, big);
}

// gelu(x) = x/2 * (1 + erf(x/sqrt(2))), evaluated as fma(x/2, erf, x/2).
inline __m256 gelu_erf_ps(__m256 x) {
    const __m256 half = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
    const __m256 e = erf_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_fmadd_ps(half, e, half);
}

// gelu_tanh(x) = x / (1 + e^(-2u)), u = sqrt(2/pi) * (x + 0.044715 x^3): as vec512::gelu_tanh_ps.
inline __m256 gelu_tanh_ps(__m256 x) {
    const __m256 k = _mm256_fmadd_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(-0.07135481627260025f),
                                     _mm256_set1_ps(-1.5957691216057308f));
    const __m256 e = exp_ps(_mm256_mul_ps(x, k));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

}  // namespace sparq::vec256
