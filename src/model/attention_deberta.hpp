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

// The banded c2p / p2c products of one head (q, k rows of stride ld_qkv) into scratch
// (attention_deberta_scratch_floats(seq, d) floats): the terms attention_head_deberta adds to the
// scores. *rest: the part of scratch after them (room for seq * seq floats or the fused kernel's
// scratch), 64-byte aligned if scratch is.
struct DisentangledHead;
DebertaTerms deberta_band_products(const float* q, const float* k, int64_t ld_qkv, int64_t seq,
                                   int64_t d, const DisentangledHead& rel, float* scratch,
                                   float** rest);

// s[i][j] += c[i][idx[i - j]] + p[j][idx[i - j]] for the [seq][seq] scores s.
void add_deberta_terms(const DebertaTerms& t, float* s);
// The term of (i, j) as the int8 attention adds it: c[i][idx[i - j]] + p[j][idx[i - j]] in
// float (0 without either), to be fused as fma(term, mul, s).
float deberta_term(const DebertaTerms& t, int64_t i, int64_t j);
namespace avx512 {
// The same for query rows [i0, i0 + rows), row i at s + (i - i0) * lds.
void add_deberta_terms(const DebertaTerms& t, float* s, int64_t lds, int64_t i0, int64_t rows);
// s = fma(deberta_term(t, i, j), mul, s) for those rows (the int8 attention's log2-domain
// scores: mul = scale·log2(e)); bit for bit as the scalar formula.
void add_deberta_terms_scaled(const DebertaTerms& t, float* s, int64_t lds, int64_t i0,
                              int64_t rows, float mul);
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
