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
void add_deberta_terms(const DebertaTerms& t, float* s);
}

}  // namespace sparq
