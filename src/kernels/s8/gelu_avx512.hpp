#pragma once
// GELU (erf form) of the int8 epilogues on AVX-512 registers (include only from *_avx512.cpp /
// *_vnni.cpp): gelu(a) for a = |x| < 6 is a cubic in the position inside one of 32 intervals
// of [0, 6), its coefficients picked with vpermt2ps (s8::gelu_pieces()); gelu(a) = a beyond 6
// (off by < 1e-8) and gelu(-a) = gelu(a) - a. Within 1e-6 of the exact erf-GELU (7e-7 measured;
// tests/s8_kernels_test.cpp) at ~17 vector ops instead of the ~26 of vec512::gelu_erf_ps. NaN
// propagates.
#include <immintrin.h>

#include "kernels/s8/s8_kernels.hpp"

namespace sparq::s8 {

// The coefficient tables in registers (lo: intervals 0-15, hi: 16-31), loaded once per loop.
struct GeluRegs {
    __m512 lo[GeluPieces::kDegree + 1], hi[GeluPieces::kDegree + 1];
    GeluRegs() {
        const GeluPieces& p = gelu_pieces();
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
    for (int k = kDeg - 1; k >= 0; --k) p = _mm512_fmadd_ps(p, f, _mm512_permutex2var_ps(t.lo[k], i, t.hi[k]));
    p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(a, _mm512_set1_ps(GeluPieces::kRange), _CMP_GE_OQ), a);
    return _mm512_mask_sub_ps(p, _mm512_movepi32_mask(_mm512_castps_si512(x)), p, a);
}

}  // namespace sparq::s8
