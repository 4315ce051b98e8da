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
    // attention_stream_avx512.cpp: one int64 stream offset per key, then the transposed scores
    // of one block of 64 queries.
    return 2 * seq + seq * 64;
}

namespace ref {
void attention_head(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                    int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch) {
    float* scores = scratch;  // [seq][seq]
    for (int64_t i = 0; i < seq; ++i)
        for (int64_t j = 0; j < seq; ++j) {
            double acc = 0;
            for (int64_t c = 0; c < d; ++c)
                acc += static_cast<double>(q[i * ld_qkv + c]) * k[j * ld_qkv + c];
            scores[i * seq + j] = static_cast<float>(acc);
        }
    ref::softmax(scores, seq, seq, seq, scale, nullptr);
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

void ref_with_next(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                   int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                   const AttentionNext*) {
    ref::attention_head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch);
}

// The variant `Fn` without a next head to prefetch.
template <AttentionHeadNextFn Fn>
void without_next(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                  int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch) {
    Fn(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, nullptr);
}

}  // namespace

const AttentionVariant* attention_variants(int* count) {
    static const AttentionVariant table[] = {
        {Isa::scalar, "attention_f32_ref", ref::attention_head, ref_with_next},
        {Isa::avx2, "attention_f32_avx2", without_next<attention_head_avx2>, attention_head_avx2},
        {Isa::avx512, "attention_f32_avx512", without_next<attention_head_avx512>,
         attention_head_avx512},
    };
    *count = static_cast<int>(sizeof(table) / sizeof(table[0]));
    return table;
}

void attention_head(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                    int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                    const AttentionNext* next) {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    AttentionHeadNextFn pick = vs[0].with_next;
    for (int i = 0; i < n; ++i)
        if (has_isa(vs[i].isa)) pick = vs[i].with_next;
    pick(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, next);
}

}  // namespace sparq
