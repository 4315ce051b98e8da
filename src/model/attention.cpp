// Attention per head: scalar reference and dispatch.
#include "model/attention.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/fused.hpp"

namespace sparq {

int64_t attention_scratch_floats(int64_t seq, int64_t d) {
    // attention_kernel.inc: packed Q, Kt [d][ldk], packed V (rows padded to 16 floats), one row
    // block of scores, 1/sum per row and a vector of partial sums per row; each 64-byte aligned.
    const int64_t ldk = (seq + 15) / 16 * 16, ldv = (d + 15) / 16 * 16;
    const int64_t scores = std::max(kAttentionBlockFloats, kAttentionMaxRows * ldk);
    const int64_t block_rows = std::max(kAttentionBlockFloats / 16, kAttentionMaxRows);
    return seq * d + d * ldk + seq * ldv + scores + block_rows * 17 + 6 * 16;
}

int64_t attention_stream_scratch_floats(int64_t seq) {
    // attention_stream_avx512.cpp: one int64 stream offset per key, the transposed scores of
    // one block of 64 queries, then a relative position bias by distance (2 * seq - 1).
    return 2 * seq + seq * 64 + 2 * seq;
}

int64_t relative_position_bucket(int64_t r, int64_t buckets) {
    // modeling_mpnet.py MPNetEncoder.relative_position_bucket (max_distance 128), in float as
    // torch computes it: n = -r; the upper half of the buckets for n < 0 (keys after the query).
    const int64_t half = buckets / 2, exact = half / 2;
    int64_t n = -r, ret = 0;
    if (n < 0) {
        ret = half;
        n = -n;
    }
    if (n < exact) return ret + n;
    const float lg = std::log(static_cast<float>(n) / static_cast<float>(exact)) /
                     static_cast<float>(std::log(128.0 / static_cast<double>(exact))) *
                     static_cast<float>(half - exact);
    return ret + std::min<int64_t>(exact + static_cast<int64_t>(lg), half - 1);
}

void rel_bias_of_distance(const float* table, int64_t buckets, int64_t heads, int64_t head,
                          int64_t max_len, float* out) {
    for (int64_t r = -(max_len - 1); r < max_len; ++r)
        out[r + max_len - 1] = table[relative_position_bucket(r, buckets) * heads + head];
}

std::vector<double> alibi_slopes(int64_t heads) {
    auto power_of_2 = [](int64_t n) {
        const double start =
            std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(n)) - 3)));
        std::vector<double> s;
        for (int64_t i = 0; i < n; ++i)
            s.push_back(start * std::pow(start, static_cast<double>(i)));
        return s;
    };
    int64_t p = 1;
    while (p * 2 <= heads) p *= 2;
    std::vector<double> s = power_of_2(p);
    if (p == heads) return s;
    const std::vector<double> twice = alibi_slopes(2 * p);
    for (int64_t i = 0; static_cast<int64_t>(s.size()) < heads; i += 2) s.push_back(twice[i]);
    return s;
}

void alibi_bias_of_distance(double slope, int64_t max_len, float* out) {
    const float neg = -static_cast<float>(slope);
    for (int64_t r = -(max_len - 1); r < max_len; ++r)
        out[r + max_len - 1] = neg * static_cast<float>(r < 0 ? -r : r);
}

namespace ref {
void attention_head(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                    int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                    const float* rel_bias) {
    float* scores = scratch;  // [seq][seq]
    for (int64_t i = 0; i < seq; ++i)
        for (int64_t j = 0; j < seq; ++j) {
            double acc = 0;
            for (int64_t c = 0; c < d; ++c)
                acc += static_cast<double>(q[i * ld_qkv + c]) * k[j * ld_qkv + c];
            scores[i * seq + j] = static_cast<float>(acc);
            if (rel_bias) scores[i * seq + j] = scores[i * seq + j] * scale + rel_bias[j - i];
        }
    ref::softmax(scores, seq, seq, seq, rel_bias ? 1.0f : scale, nullptr);
    for (int64_t i = 0; i < seq; ++i)
        for (int64_t c = 0; c < d; ++c) {
            double acc = 0;
            for (int64_t j = 0; j < seq; ++j)
                acc += static_cast<double>(scores[i * seq + j]) * v[j * ld_qkv + c];
            ctx[i * ld_ctx + c] = static_cast<float>(acc);
        }
}
}  // namespace ref

namespace {

void ref_with_bias(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                   int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                   const AttentionNext*, const float* rel_bias) {
    ref::attention_head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, rel_bias);
}

// The variant `Fn` without a relative position bias.
template <AttentionHeadBiasFn Fn>
void without_bias(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                  int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                  const AttentionNext* next) {
    Fn(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, next, nullptr);
}

// The variant `Fn` without a next head to prefetch nor a bias.
template <AttentionHeadBiasFn Fn>
void without_next(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                  int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch) {
    Fn(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, nullptr, nullptr);
}

}  // namespace

const AttentionVariant* attention_variants(int* count) {
    static const AttentionVariant table[] = {
        {Isa::scalar, "attention_f32_ref", without_next<ref_with_bias>, without_bias<ref_with_bias>,
         ref_with_bias},
        {Isa::avx2, "attention_f32_avx2", without_next<attention_head_avx2>,
         without_bias<attention_head_avx2>, attention_head_avx2},
        {Isa::avx512, "attention_f32_avx512", without_next<attention_head_avx512>,
         without_bias<attention_head_avx512>, attention_head_avx512},
    };
    *count = static_cast<int>(sizeof(table) / sizeof(table[0]));
    return table;
}

void attention_head_local(const float* q, const float* k, const float* v, int64_t ld_qkv,
                          float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                          float* scratch, int64_t window, const float* mask) {
    if (has_isa(Isa::avx512))
        attention_head_local_avx512(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, window,
                                    mask);
    else if (has_isa(Isa::avx2))
        attention_head_local_avx2(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, window,
                                  mask);
    else  // the scalar reference over every key, the window as a bias
        ref::attention_head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, mask);
}

void attention_head(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                    int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                    const AttentionNext* next, const float* rel_bias) {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    AttentionHeadBiasFn pick = vs[0].with_bias;
    for (int i = 0; i < n; ++i)
        if (has_isa(vs[i].isa)) pick = vs[i].with_bias;
    pick(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, next, rel_bias);
}

}  // namespace sparq
