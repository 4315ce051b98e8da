// DeBERTa's c2p / p2c terms added to a head's scores with AVX-512 gathers (attention_deberta.hpp):
// 16 keys at a time, their relative rows idx[i - j] read as one reversed vector of the index table.
#include <immintrin.h>

#include "model/attention.hpp"
#include "model/attention_deberta.hpp"

namespace sparq::avx512 {

void add_deberta_terms(const DebertaTerms& t, float* s) {
    const __m512i reverse = _mm512_set_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i rows = _mm512_mullo_epi32(iota, _mm512_set1_epi32(static_cast<int32_t>(t.width)));
    for (int64_t i = 0; i < t.seq; ++i) {
        float* row = s + i * t.seq;
        const float* ci = t.c ? t.c + i * t.width - t.c_lo[i / kDebertaBand] : nullptr;
        for (int64_t j = 0; j < t.seq; j += 16) {
            const __mmask16 m =
                t.seq - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (t.seq - j)) - 1);
            // Lane l: idx[i - j - l] (the table is padded by kDebertaIndexPad on each side).
            const __m512i ix =
                _mm512_permutexvar_epi32(reverse, _mm512_loadu_si512(t.idx + (i - j - 15)));
            __m512 acc = _mm512_maskz_loadu_ps(m, row + j);
            if (ci)
                acc =
                    _mm512_add_ps(acc, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, ix, ci, 4));
            if (t.p) {
                // Keys j .. j + 15 lie in one band (16 divides kDebertaBand): row (j + l) of p.
                const float* pj = t.p + j * t.width - t.p_lo[j / kDebertaBand];
                const __m512i at = _mm512_add_epi32(ix, rows);
                acc =
                    _mm512_add_ps(acc, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, at, pj, 4));
            }
            _mm512_mask_storeu_ps(row + j, m, acc);
        }
    }
}

}  // namespace sparq::avx512
