// AVX2 pack/unpack of the sparse kernels' token groups: 8x8 in-register transposes on full
// blocks, with the epilogue (bias, GELU, residual) fused into the unpack; scalar on the edges.
#include <immintrin.h>

#include <cmath>

#include "kernels/eltwise/vec_math_avx2.hpp"
#include "kernels/spmm/spmm.hpp"

namespace sparq::spmm_detail {
namespace {

// Transposes the 8x8 block held in r[0..8) (row i = r[i]) in place.
inline void transpose8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; ++h) {
        s[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int j = 0; j < 4; ++j) {
        r[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
        r[j + 4] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
    }
}

// erf(x) as a rational approximation on [-4, 4] (the single-precision one of Eigen/XLA).
inline __m256 erf8(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(4.0f)), _mm256_set1_ps(-4.0f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.72614225801306e-10f),
                               _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(x, p);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(-1.45660718464996e-05f),
                               _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
    return _mm256_div_ps(p, q);
}

inline __m256 gelu8(__m256 v) {
    __m256 e = erf8(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

inline __m256 activate8(__m256 v, Activation act) {
    switch (act) {
        case Activation::none:
            break;
        case Activation::gelu:
            return gelu8(v);
        case Activation::gelu_tanh:
            return vec256::gelu_tanh_ps(v);
    }
    return v;
}

}  // namespace

void pack_tokens_avx2(const float* src, int64_t ld, int64_t in, int64_t count, int64_t group,
                      int lanes, float* dst) {
    __m256 r[8];
    for (int64_t tb = 0; tb < count; tb += 8) {
        const int64_t nt = count - tb < 8 ? count - tb : 8;
        const float* s = src + tb * ld;
        float* d = dst + tb;
        int64_t i0 = 0;
        if (nt == 8)
            for (; i0 + 8 <= in; i0 += 8) {
#pragma GCC unroll 8
                for (int t = 0; t < 8; ++t) r[t] = _mm256_loadu_ps(s + t * ld + i0);
                transpose8(r);
#pragma GCC unroll 8
                for (int f = 0; f < 8; ++f) _mm256_storeu_ps(d + (i0 + f) * group, r[f]);
            }
        for (int64_t i = i0; i < in; ++i)
            for (int64_t t = 0; t < 8; ++t) d[i * group + t] = t < nt ? s[t * ld + i] : 0.0f;
    }
}

void unpack_rows_avx2(const float* src, int64_t group, int64_t r0, int64_t rows, int64_t count,
                      float* dst, int64_t ld, const SpmmEpilogue& ep) {
    const Activation act = ep.act;
    __m256 r[8];
    for (int64_t tb = 0; tb < count; tb += 8) {
        const int64_t nt = count - tb < 8 ? count - tb : 8;
        int64_t o = 0;
        if (nt == 8)
            for (; o + 8 <= rows; o += 8) {
#pragma GCC unroll 8
                for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (o + i) * group + tb);
                transpose8(r);
                const int64_t col = r0 + o;
                const __m256 b = ep.bias ? _mm256_loadu_ps(ep.bias + col) : _mm256_setzero_ps();
#pragma GCC unroll 8
                for (int t = 0; t < 8; ++t) {
                    __m256 v = activate8(_mm256_add_ps(r[t], b), act);
                    if (ep.residual)
                        v = _mm256_add_ps(v, _mm256_loadu_ps(ep.residual + (tb + t) * ld + col));
                    _mm256_storeu_ps(dst + (tb + t) * ld + col, v);
                }
            }
        // Edges: the scalar epilogue on the remaining rows / tokens of this block.
        if (o < rows) {
            SpmmEpilogue e = ep;
            if (e.residual) e.residual += tb * ld;
            unpack_rows_scalar(src + o * group + tb, group, r0 + o, rows - o, nt, dst + tb * ld, ld,
                               e);
        }
    }
}

}  // namespace sparq::spmm_detail
