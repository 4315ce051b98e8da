#pragma once
// 16x16 transpose of 32-bit elements in AVX-512 registers (include only from *_avx512.cpp /
// *_vnni.cpp translation units).
#include <immintrin.h>

namespace sparq::s8 {

// In place: r[i] lane j becomes r[j] lane i.
inline void transpose16x16_epi32(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
        u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    // u[4b + e], lane L: rows 4b..4b+3 of column 4L + e.
    for (int e = 0; e < 4; ++e) {
        __m512i v = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x88);
        __m512i w = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xdd);
        __m512i x = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x88);
        __m512i y = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xdd);
        r[e] = _mm512_shuffle_i32x4(v, x, 0x88);
        r[8 + e] = _mm512_shuffle_i32x4(v, x, 0xdd);
        r[4 + e] = _mm512_shuffle_i32x4(w, y, 0x88);
        r[12 + e] = _mm512_shuffle_i32x4(w, y, 0xdd);
    }
}

}  // namespace sparq::s8
