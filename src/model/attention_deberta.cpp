// DeBERTa-v2/v3's disentangled attention of one head of one sequence (attention.hpp): the scalar
// reference and the GEMM form the encoder runs (oneDNN sgemm for the four products, the fused
// softmax in between).
#include "model/attention_deberta.hpp"

#include <dnnl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/isa.hpp"
#include "kernels/fused.hpp"
#include "model/attention.hpp"
#include "sparq/error.hpp"

namespace sparq {

int64_t deberta_bucket(int64_t r, int64_t buckets, int64_t max_position) {
    if (buckets <= 0) return r;
    // Hugging Face's make_log_bucket_position, in its float32 arithmetic.
    const int64_t mid = buckets / 2;
    const int64_t abs_pos = (r < mid && r > -mid) ? mid - 1 : std::llabs(r);
    if (abs_pos <= mid) return r;
    const float log_pos =
        std::ceil(std::log(static_cast<float>(abs_pos) / static_cast<float>(mid)) /
                  std::log(static_cast<float>(max_position - 1) / static_cast<float>(mid)) *
                  static_cast<float>(mid - 1)) +
        static_cast<float>(mid);
    return r < 0 ? -static_cast<int64_t>(log_pos) : static_cast<int64_t>(log_pos);
}

std::vector<int32_t> deberta_rel_index(int64_t span, int64_t buckets, int64_t max_position,
                                       int64_t max_len) {
    const int64_t reach = max_len - 1 + kDebertaIndexPad;
    std::vector<int32_t> out(static_cast<size_t>(2 * reach + 1));
    for (int64_t r = -reach; r <= reach; ++r) {
        const int64_t b = deberta_bucket(r, buckets, max_position) + span;
        out[r + reach] = static_cast<int32_t>(std::clamp<int64_t>(b, 0, 2 * span - 1));
    }
    return out;
}

namespace {

void sgemm(char tb, int64_t m, int64_t n, int64_t kk, const float* a, int64_t lda, const float* b,
           int64_t ldb, float* out, int64_t ldc) {
    if (dnnl_sgemm('N', tb, m, n, kk, 1.0f, a, lda, b, ldb, 0.0f, out, ldc) != dnnl_success)
        throw Error("attention: oneDNN sgemm failed");
}

// Width of the c2p / p2c products of one band: a band of query rows [i0, i1) reads relative rows
// idx[i0 - (seq - 1)] .. idx[i1 - 1]; a band of key rows [j0, j1) reads idx[-(j1 - 1)] ..
// idx[seq - 1 - j0] (idx is monotone): at most seq + kDebertaBand - 1 distinct distances, so
// as many rows; rounded up to whole 16-float vectors (the AVX-512 products store whole vectors).
int64_t band_width(int64_t seq) { return (seq + kDebertaBand - 1 + 15) / 16 * 16; }

}  // namespace

int64_t attention_deberta_scratch_floats(int64_t seq, int64_t d) {
    const int64_t bands = (seq + kDebertaBand - 1) / kDebertaBand;
    return std::max(seq * seq, attention_scratch_floats(seq, d)) + 2 * seq * band_width(seq) +
           2 * bands + 16;
}

namespace {

// The banded c2p / p2c products of one head (q, k rows of stride ld_qkv) into scratch: the terms
// attention_head_deberta adds to the scores. *rest: the part of scratch after them (room for
// seq * seq floats or the fused kernel's scratch), 64-byte aligned if scratch is.
DebertaTerms band_products(const float* q, const float* k, int64_t ld_qkv, int64_t seq, int64_t d,
                           const DisentangledHead& rel, float* scratch, float** rest) {
    const int64_t width = band_width(seq);
    const int64_t bands = (seq + kDebertaBand - 1) / kDebertaBand;
    DebertaTerms t;
    t.seq = seq;
    t.idx = rel.idx;
    t.width = width;
    float* c = scratch;  // [seq][width] c2p products, then [seq][width] p2c ones
    float* p = c + seq * width;
    int32_t* lo = reinterpret_cast<int32_t*>(p + seq * width);  // [2][bands] first relative rows
    // What follows (64-byte aligned if scratch is): the scores.
    *rest = reinterpret_cast<float*>(lo + 2 * bands + 16);
    // rows x n products of a (rows of stride ld_qkv) with columns [first, first + n) of the
    // transposed relative projections: AVX-512 register tiles, else oneDNN sgemm.
    const bool tiles = has_isa(Isa::avx512);
    auto rel_products = [&](const float* a, int64_t rows, const float* bt, int64_t first, int64_t n,
                            float* out) {
        if (tiles)
            avx512::deberta_products(a, ld_qkv, d, bt + first, rel.ld_pos, rows, n, out, width);
        else
            sgemm('N', rows, n, d, a, ld_qkv, bt + first, rel.ld_pos, out, width);
    };
    for (int64_t b = 0; b < bands; ++b) {
        const int64_t r0 = b * kDebertaBand, r1 = std::min(seq, r0 + kDebertaBand);
        if (rel.pos_k) {  // c2p: query rows [r0, r1) against the relative rows they read
            const int32_t first = rel.idx[r0 - (seq - 1)], last = rel.idx[r1 - 1];
            lo[b] = first;
            rel_products(q + r0 * ld_qkv, r1 - r0, rel.pos_k, first, last - first + 1,
                         c + r0 * width);
        }
        if (rel.pos_q) {  // p2c: key rows [r0, r1)
            const int32_t first = rel.idx[-(r1 - 1)], last = rel.idx[seq - 1 - r0];
            lo[bands + b] = first;
            rel_products(k + r0 * ld_qkv, r1 - r0, rel.pos_q, first, last - first + 1,
                         p + r0 * width);
        }
    }
    t.c = rel.pos_k ? c : nullptr;
    t.p = rel.pos_q ? p : nullptr;
    t.c_lo = lo;
    t.p_lo = lo + bands;
    return t;
}

}  // namespace

void attention_head_deberta(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            const DisentangledHead& rel, float* scratch) {
    // The scores: [seq][seq] (sgemm path), or the fused kernel's scratch.
    float* s = nullptr;
    const DebertaTerms t = band_products(q, k, ld_qkv, seq, d, rel, scratch, &s);
    if (has_isa(Isa::avx512)) {  // scores, the terms, softmax and context in the fused kernel
        avx512::attention_head_with_terms(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, s, t);
        return;
    }
    sgemm('T', seq, seq, d, q, ld_qkv, k, ld_qkv, s, seq);
    if (t.c || t.p) add_deberta_terms(t, s);
    softmax(s, seq, seq, seq, scale, nullptr);
    sgemm('N', seq, d, seq, s, seq, v, ld_qkv, ctx, ld_ctx);
}

void add_deberta_terms(const DebertaTerms& t, float* s) {
    for (int64_t i = 0; i < t.seq; ++i) {
        float* row = s + i * t.seq;
        const int32_t* idx = t.idx + i;  // idx[-j]: the relative row of distance i - j
        if (t.c) {
            const float* ci = t.c + i * t.width - t.c_lo[i / kDebertaBand];
            for (int64_t j = 0; j < t.seq; ++j) row[j] += ci[idx[-j]];
        }
        if (t.p)
            for (int64_t j = 0; j < t.seq; ++j)
                row[j] += t.p[j * t.width + idx[-j] - t.p_lo[j / kDebertaBand]];
    }
}

namespace ref {

void attention_head_deberta(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            const DisentangledHead& rel, float* scratch) {
    for (int64_t i = 0; i < seq; ++i) {
        float* row = scratch;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < seq; ++j) {
            const int64_t m = rel.idx[i - j];
            double acc = 0;
            for (int64_t e = 0; e < d; ++e) {
                double qk = double(k[j * ld_qkv + e]);
                if (rel.pos_k) qk += rel.pos_k[e * rel.ld_pos + m];  // c2p: q_i . pk[m]
                acc += double(q[i * ld_qkv + e]) * qk;
                if (rel.pos_q)  // p2c: k_j . pq[m]
                    acc += double(k[j * ld_qkv + e]) * rel.pos_q[e * rel.ld_pos + m];
            }
            row[j] = static_cast<float>(acc) * scale;
            mx = std::max(mx, row[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < seq; ++j) {
            row[j] = std::exp(row[j] - mx);
            sum += row[j];
        }
        for (int64_t e = 0; e < d; ++e) {
            double acc = 0;
            for (int64_t j = 0; j < seq; ++j) acc += double(row[j]) * v[j * ld_qkv + e];
            ctx[i * ld_ctx + e] = static_cast<float>(acc / sum);
        }
    }
}

}  // namespace ref

}  // namespace sparq
