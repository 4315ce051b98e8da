#pragma once
// Scaled dot-product self-attention of one head of one (unpadded) sequence:
// ctx[i] = softmax(q_i · Kᵀ · scale + bias_i) · V. q, k, v rows have stride ld_qkv (they are
// column slices of the fused QKV output), ctx rows have stride ld_ctx. bias_i is zero, or with a
// relative position bias `rel_bias` (MPNet), bias_i[j] = rel_bias[j - i]: rel_bias points at the
// entry of distance 0 and rel_bias[-(seq - 1) .. seq - 1] must be readable.
#include <cstdint>
#include <vector>

#include "cpu/isa.hpp"

namespace sparq {

// Floats of scratch one attention_head call needs for a sequence of `seq` tokens, head size `d`.
int64_t attention_scratch_floats(int64_t seq, int64_t d);

// Kernel layout limits behind attention_scratch_floats: query rows per register tile (at most),
// and floats of the per-row-block scores buffer (16 KiB, kept in L1) unless one tile needs more.
inline constexpr int64_t kAttentionMaxRows = 8;
inline constexpr int64_t kAttentionBlockFloats = 4096;

// Q, K, V rows (same ld_qkv and head size) of the head a thread runs next: the kernels prefetch
// them into L2 while they compute the current head, which hides their first-touch misses.
struct AttentionNext {
    const float* q;
    const float* k;
    const float* v;
    int64_t seq;
};

// Runs the best variant allowed by max_isa(); single-threaded (callers parallelize over heads).
// `next` (optional) only prefetches: results are the same with or without it.
void attention_head(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                    int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                    const AttentionNext* next = nullptr, const float* rel_bias = nullptr);

using AttentionHeadFn = void (*)(const float*, const float*, const float*, int64_t, float*, int64_t,
                                 int64_t, int64_t, float, float*);
using AttentionHeadNextFn = void (*)(const float*, const float*, const float*, int64_t, float*,
                                     int64_t, int64_t, int64_t, float, float*,
                                     const AttentionNext*);
using AttentionHeadBiasFn = void (*)(const float*, const float*, const float*, int64_t, float*,
                                     int64_t, int64_t, int64_t, float, float*, const AttentionNext*,
                                     const float* rel_bias);
struct AttentionVariant {
    Isa isa;
    const char* name;
    AttentionHeadFn fn;             // without prefetch
    AttentionHeadNextFn with_next;  // same, prefetching `next` when non-null
    AttentionHeadBiasFn with_bias;  // same, adding the relative position bias when non-null
};
// All variants compiled in, scalar reference first (tests compare each with it).
const AttentionVariant* attention_variants(int* count);

// Attention of one head of one sequence on the packed activation stream (kernels/spmm/spmm.hpp):
// element (feature f, token t) of a stream of F features sits at
// base[(t / group) * (F + 1) * group + f * group + t % group]. Q, K and V are the d feature rows
// from q_row, k_row and v_row of the QKV stream (qkv_features = 3 * hidden) for tokens
// [t0, t0 + seq); the context goes to the d rows from ctx_row of the context stream, for those
// tokens only (other sequences' slots are left untouched). group: a multiple of 16. AVX-512 only.
// rel_bias: as for attention_head (nullptr: none). window > 0 (ModernBERT's local layers, rel_bias
// then their mask): each block of 64 queries reads only the keys within `window` of them.
int64_t attention_stream_scratch_floats(int64_t seq);
void attention_head_stream_avx512(const float* qkv, int64_t qkv_features, int64_t q_row,
                                  int64_t k_row, int64_t v_row, float* ctx, int64_t ctx_features,
                                  int64_t ctx_row, int64_t t0, int64_t seq, int64_t d,
                                  int64_t group, float scale, float* scratch,
                                  const float* rel_bias = nullptr, int64_t window = 0);

// DeBERTa-v2/v3's disentangled attention (ModelConfig::Disentangled) of one head:
// score[i][j] = (q_i . k_j + q_i . pk[m] + k_j . pq[m]) * scale with m = idx[i - j], then
// softmax and ctx = P . V. pos_k / pos_q: the head's part of the layer's key / query
// projections of the relative embeddings, transposed: pk[m][e] at pos_k[e * ld_pos + m], with
// 16 readable columns past the last relative row (nullptr: no c2p / p2c term); idx points at
// the entry of distance 0 of a deberta_rel_index table long enough for the sequence (idx[r]
// readable for |r| <= seq - 1 + kDebertaIndexPad).
struct DisentangledHead {
    const float* pos_q = nullptr;
    const float* pos_k = nullptr;
    int64_t ld_pos = 0;
    const int32_t* idx = nullptr;
};
// Floats of scratch attention_head_deberta needs for `seq` tokens, head size d.
int64_t attention_deberta_scratch_floats(int64_t seq, int64_t d);
// Single-threaded (callers parallelize over heads). The products run as oneDNN sgemm, the c2p /
// p2c ones over bands of 32 query / key rows and only the relative rows each band reads; the
// terms are gathered with AVX-512 where max_isa() allows (else scalar loops).
void attention_head_deberta(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            const DisentangledHead& rel, float* scratch);
// Hugging Face's make_log_bucket_position(r, buckets, max_position) (float32 arithmetic as the
// torch code; buckets <= 0: r itself).
int64_t deberta_bucket(int64_t r, int64_t buckets, int64_t max_position);
// Entries past the longest sequence's distances on each side of a deberta_rel_index table (the
// vector code reads 16 entries at a time).
inline constexpr int64_t kDebertaIndexPad = 16;
// The relative embedding row each distance reads, clamp(deberta_bucket(r) + span, 0, 2 span - 1),
// for |r| <= max_len - 1 + kDebertaIndexPad; distance 0 at index max_len - 1 + kDebertaIndexPad.
std::vector<int32_t> deberta_rel_index(int64_t span, int64_t buckets, int64_t max_position,
                                       int64_t max_len);

namespace ref {
// Scalar (double accumulation) reference of attention_head_deberta; scratch: seq floats.
void attention_head_deberta(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            const DisentangledHead& rel, float* scratch);
void attention_head(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                    int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                    const float* rel_bias = nullptr);
}
void attention_head_avx2(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                         int64_t ld_ctx, int64_t seq, int64_t d, float scale, float* scratch,
                         const AttentionNext* next, const float* rel_bias = nullptr);
void attention_head_avx512(const float* q, const float* k, const float* v, int64_t ld_qkv,
                           float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                           float* scratch, const AttentionNext* next,
                           const float* rel_bias = nullptr);

// Local (windowed) attention of one head (ModernBERT's local layers): query i attends to keys j
// with |i - j| <= window only. `mask` is the window as a bias by distance, as attention_head's
// rel_bias (0 for |r| <= window, -1e30 beyond; readable from -(seq - 1) to seq - 1). The same
// result as attention_head with rel_bias = mask, computing only the keys the windows reach
// (query blocks of 2 window rows against their 4 window keys): cost ~4 window keys per query
// instead of seq. The best variant allowed by max_isa(); scratch as for attention_head.
void attention_head_local(const float* q, const float* k, const float* v, int64_t ld_qkv,
                          float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                          float* scratch, int64_t window, const float* mask);
void attention_head_local_avx2(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               float* scratch, int64_t window, const float* mask);
void attention_head_local_avx512(const float* q, const float* k, const float* v, int64_t ld_qkv,
                                 float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                                 float* scratch, int64_t window, const float* mask);

// The bias of relative distance r = j - i for MPNet's relative_attention_bias table
// ([buckets][heads], the encoder's) and one head: table[bucket(r)][head], with Hugging Face's
// MPNetAttention bucketing (bidirectional, 32 buckets, exact up to distance 7, logarithmic up to
// 128). rel_bias_of_distance fills out[0 .. 2 * max_len - 1) for r = -(max_len - 1) .. max_len - 1.
int64_t relative_position_bucket(int64_t r, int64_t buckets);
void rel_bias_of_distance(const float* table, int64_t buckets, int64_t heads, int64_t head,
                          int64_t max_len, float* out);

// ALiBi (JinaBERT): the head slopes of the ALiBi paper as jina-bert-implementation computes them
// (n a power of two: s^1 .. s^n with s = 2^(-8 / n); else the slopes of the largest power of two
// p below n, then every other slope of 2p's, n - p of them), and a head's bias by distance,
// -slope * |r| in float32 as torch multiplies them, into out[0 .. 2 * max_len - 1) for
// r = -(max_len - 1) .. max_len - 1.
std::vector<double> alibi_slopes(int64_t heads);
void alibi_bias_of_distance(double slope, int64_t max_len, float* out);

}  // namespace sparq
