#pragma once
// Internals of DeBERTa's disentangled attention (attention_deberta.cpp): the step that adds the
// gathered c2p / p2c terms to a head's scores, scalar and AVX-512.
#include <cstdint>

namespace sparq {

// Query rows (c2p) and key rows (p2c) per banded product.
inline constexpr int64_t kDebertaBand = 32;
static_assert(kDebertaBand % 16 == 0, "the AVX-512 gathers take 16 keys of one band");

// The banded products of one head of `seq` tokens: row i of c holds q_i . pk[m] for relative
// rows m from c_lo[i / kDebertaBand] on (c + i * width + m - c_lo[...]); row j of p holds
// k_j . pq[m] from p_lo[j / kDebertaBand] on. c or p null: no such term. idx: as
// DisentangledHead::idx.
struct DebertaTerms {
    const float* c = nullptr;
    const float* p = nullptr;
    const int32_t* c_lo = nullptr;
    const int32_t* p_lo = nullptr;
    const int32_t* idx = nullptr;
    int64_t seq = 0, width = 0;
};

// s[i][j] += c[i][idx[i - j]] + p[j][idx[i - j]] for the [seq][seq] scores s.
void add_deberta_terms(const DebertaTerms& t, float* s);
namespace avx512 {
// The same for query rows [i0, i0 + rows), row i at s + (i - i0) * lds.
void add_deberta_terms(const DebertaTerms& t, float* s, int64_t lds, int64_t i0, int64_t rows);
// s = s + (c + p) for those rows (0 + c, + p: the int8 attention's sum of the terms, as its
// scalar reference adds them).
void add_deberta_term_sums(const DebertaTerms& t, float* s, int64_t lds, int64_t i0, int64_t rows);
// attention_head_avx512 (the fused kernel: scores, softmax, context per block of query rows)
// with the terms added to each block's scores; scratch: attention_scratch_floats(seq, d).
void attention_head_with_terms(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               float* scratch, const DebertaTerms& t);
// out[r][c] = a[r] . bt[:, c] for r < rows and c < ncols rounded up to 16 (those columns of the
// [d][ldb] bt must be readable, out's rows of stride ldo that wide): the c2p / p2c products in
// register tiles of 6 rows x 64 columns.
void deberta_products(const float* a, int64_t lda, int64_t d, const float* bt, int64_t ldb,
                      int64_t rows, int64_t ncols, float* out, int64_t ldo);
}

}  // namespace sparq
