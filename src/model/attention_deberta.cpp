// DeBERTa-v2/v3's disentangled attention of one head of one sequence (attention.hpp): the scalar
// reference and the GEMM form the encoder runs (oneDNN sgemm for the four products, the fused
// softmax in between).
#include <dnnl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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

void deberta_rel_index(int64_t span, int64_t buckets, int64_t max_position, int64_t max_len,
                       int32_t* out) {
    for (int64_t r = -(max_len - 1); r <= max_len - 1; ++r) {
        const int64_t b = deberta_bucket(r, buckets, max_position) + span;
        out[r + max_len - 1] = static_cast<int32_t>(std::clamp<int64_t>(b, 0, 2 * span - 1));
    }
}

namespace {

// Rows [lo, hi] of the relative-index range a sequence of `seq` tokens reaches (idx is monotone).
void index_range(const DisentangledHead& rel, int64_t seq, int64_t& lo, int64_t& hi) {
    lo = rel.idx[-(seq - 1)];
    hi = rel.idx[seq - 1];
}

}  // namespace

int64_t attention_deberta_scratch_floats(int64_t seq, int64_t span) {
    const int64_t width = std::min<int64_t>(2 * span, 2 * seq - 1);
    return seq * seq + 2 * seq * width + 16;
}

void attention_head_deberta(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            const DisentangledHead& rel, float* scratch) {
    int64_t lo, hi;
    index_range(rel, seq, lo, hi);
    const int64_t width = hi - lo + 1;
    float* s = scratch;          // [seq][seq] scores, then probabilities
    float* c = s + seq * seq;    // [seq][width]: q_i . pk[lo + m]
    float* p = c + seq * width;  // [seq][width]: k_j . pq[lo + m]
    auto gemm = [](char tb, int64_t m, int64_t n, int64_t kk, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float* out, int64_t ldc) {
        if (dnnl_sgemm('N', tb, m, n, kk, 1.0f, a, lda, b, ldb, 0.0f, out, ldc) != dnnl_success)
            throw Error("attention: oneDNN sgemm failed");
    };
    gemm('T', seq, seq, d, q, ld_qkv, k, ld_qkv, s, seq);
    if (rel.pos_k)
        gemm('T', seq, width, d, q, ld_qkv, rel.pos_k + lo * rel.ld_pos, rel.ld_pos, c, width);
    if (rel.pos_q)
        gemm('T', seq, width, d, k, ld_qkv, rel.pos_q + lo * rel.ld_pos, rel.ld_pos, p, width);
    for (int64_t i = 0; i < seq; ++i) {
        float* row = s + i * seq;
        const int32_t* idx = rel.idx + i;  // idx[-j] is the index of distance i - j
        if (rel.pos_k) {
            const float* ci = c + i * width - lo;
            for (int64_t j = 0; j < seq; ++j) row[j] += ci[idx[-j]];
        }
        if (rel.pos_q) {
            const float* pj = p - lo;
            for (int64_t j = 0; j < seq; ++j) row[j] += pj[j * width + idx[-j]];
        }
    }
    softmax(s, seq, seq, seq, scale, nullptr);
    if (dnnl_sgemm('N', 'N', seq, d, seq, 1.0f, s, seq, v, ld_qkv, 0.0f, ctx, ld_ctx) !=
        dnnl_success)
        throw Error("attention: oneDNN sgemm failed");
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
                if (rel.pos_k) qk += rel.pos_k[m * rel.ld_pos + e];  // c2p: q_i . pk[m]
                acc += double(q[i * ld_qkv + e]) * qk;
                if (rel.pos_q)  // p2c: k_j . pq[m]
                    acc += double(k[j * ld_qkv + e]) * rel.pos_q[m * rel.ld_pos + e];
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
