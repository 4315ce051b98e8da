// DeBERTa's c2p / p2c terms added to a head's scores with AVX-512 gathers (attention_deberta.hpp):
// 16 keys at a time, their relative rows idx[i - j] read as one reversed vector of the index table.
#include <immintrin.h>

#include "model/attention.hpp"
#include "model/attention_deberta.hpp"

// GCC 12 reports the _mm512_undefined_* inside _mm512_permutexvar_epi32 as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sparq::avx512 {

namespace {

// kSummed: s = s + (c + p) (the int8 attention: its terms' sum as deberta_s8's reference adds
// it); else s = (s + c) + p.
template <bool kSummed>
void add_terms(const DebertaTerms& t, float* s, int64_t lds, int64_t i0, int64_t rows) {
    const __m512i reverse = _mm512_set_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i key_rows =
        _mm512_mullo_epi32(iota, _mm512_set1_epi32(static_cast<int32_t>(t.width)));
    for (int64_t i = i0; i < i0 + rows; ++i) {
        float* row = s + (i - i0) * lds;
        const float* ci = t.c ? t.c + i * t.width - t.c_lo[i / kDebertaBand] : nullptr;
        for (int64_t j = 0; j < t.seq; j += 16) {
            const __mmask16 m =
                t.seq - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (t.seq - j)) - 1);
            // Lane l: idx[i - j - l] (the table is padded by kDebertaIndexPad on each side).
            const __m512i ix =
                _mm512_permutexvar_epi32(reverse, _mm512_loadu_si512(t.idx + (i - j - 15)));
            const __m512 prior = _mm512_maskz_loadu_ps(m, row + j);
            __m512 acc = kSummed ? _mm512_setzero_ps() : prior;
            if (ci)
                acc =
                    _mm512_add_ps(acc, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, ix, ci, 4));
            if (t.p) {
                // Keys j .. j + 15 lie in one band (16 divides kDebertaBand): row (j + l) of p.
                const float* pj = t.p + j * t.width - t.p_lo[j / kDebertaBand];
                const __m512i at = _mm512_add_epi32(ix, key_rows);
                acc =
                    _mm512_add_ps(acc, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, at, pj, 4));
            }
            if (kSummed) acc = _mm512_add_ps(prior, acc);
            _mm512_mask_storeu_ps(row + j, m, acc);
        }
    }
}

}  // namespace

void add_deberta_terms(const DebertaTerms& t, float* s, int64_t lds, int64_t i0, int64_t rows) {
    add_terms<false>(t, s, lds, i0, rows);
}

void add_deberta_term_sums(const DebertaTerms& t, float* s, int64_t lds, int64_t i0, int64_t rows) {
    add_terms<true>(t, s, lds, i0, rows);
}

}  // namespace sparq::avx512

namespace sparq::avx512 {

namespace {

// out[r][c0 + 16 x] = a[r] . bt[:, c0 + 16 x] for r < R, x < NV (a rows of stride lda, bt
// [d][ldb]).
template <int R, int NV>
void product_tile(const float* a, int64_t lda, int64_t d, const float* bt, int64_t ldb, float* out,
                  int64_t ldo, int64_t c0) {
    __m512 acc[R][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int x = 0; x < NV; ++x) acc[r][x] = _mm512_setzero_ps();
    const float* bc = bt + c0;
    for (int64_t e = 0; e < d; ++e, bc += ldb) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int x = 0; x < NV; ++x) b[x] = _mm512_loadu_ps(bc + 16 * x);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const __m512 av = _mm512_set1_ps(a[r * lda + e]);
#pragma GCC unroll 4
            for (int x = 0; x < NV; ++x) acc[r][x] = _mm512_fmadd_ps(av, b[x], acc[r][x]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int x = 0; x < NV; ++x) _mm512_storeu_ps(out + r * ldo + c0 + 16 * x, acc[r][x]);
}

// The tile of `rows` (< 6) rows: the R == rows instantiation.
template <int NV, int R = 5>
void product_rest(int64_t rows, const float* a, int64_t lda, int64_t d, const float* bt,
                  int64_t ldb, float* out, int64_t ldo, int64_t c0) {
    if (rows == R)
        product_tile<R, NV>(a, lda, d, bt, ldb, out, ldo, c0);
    else if constexpr (R > 1)
        product_rest<NV, R - 1>(rows, a, lda, d, bt, ldb, out, ldo, c0);
}

template <int NV>
void product_cols(const float* a, int64_t lda, int64_t d, const float* bt, int64_t ldb,
                  int64_t rows, float* out, int64_t ldo, int64_t c0) {
    int64_t r = 0;
    for (; r + 6 <= rows; r += 6)
        product_tile<6, NV>(a + r * lda, lda, d, bt, ldb, out + r * ldo, ldo, c0);
    if (r < rows) product_rest<NV>(rows - r, a + r * lda, lda, d, bt, ldb, out + r * ldo, ldo, c0);
}

}  // namespace

void deberta_products(const float* a, int64_t lda, int64_t d, const float* bt, int64_t ldb,
                      int64_t rows, int64_t ncols, float* out, int64_t ldo) {
    const int64_t vecs = (ncols + 15) / 16;
    int64_t x = 0;
    for (; x + 4 <= vecs; x += 4) product_cols<4>(a, lda, d, bt, ldb, rows, out, ldo, 16 * x);
    switch (vecs - x) {
        case 3:
            product_cols<3>(a, lda, d, bt, ldb, rows, out, ldo, 16 * x);
            break;
        case 2:
            product_cols<2>(a, lda, d, bt, ldb, rows, out, ldo, 16 * x);
            break;
        case 1:
            product_cols<1>(a, lda, d, bt, ldb, rows, out, ldo, 16 * x);
            break;
        default:
            break;
    }
}

}  // namespace sparq::avx512
