// Attention of one head of one sequence on the packed activation stream (AVX-512): Q, K and V
// are feature-major rows of the QKV stream and the context goes to feature-major rows of the
// context stream, so neither the QKV output nor the attention-output input is transposed. Lanes
// are query tokens throughout: scores are kept transposed (keys x queries), the softmax runs down
// the key rows lane-wise, and the context sums values times probabilities per query lane.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/eltwise/vec_math_avx512.hpp"
#include "model/attention.hpp"

namespace sparq {
namespace {

constexpr int kQv = 4;    // query vectors (of 16 tokens) per block: 64 queries
constexpr int kKeys = 6;  // keys per score tile (6 x 4 accumulators)
constexpr int kDims = 6;  // head dimensions per context tile (6 x 4 accumulators)

// Scores of keys [j0, j0 + NK) against NV query vectors: st[j][16 v + lane] = q . k_j (the
// softmax applies the scale inside its exponential).
// q[v]: the first dimension of query vector v (dimension c at q[v] + c * group); koff[j]: the
// stream offset of key j (dimension c of K at kbase + koff[j] + c * group).
template <int NK, int NV>
inline void score_tile(const float* const* q, const float* kbase, const int64_t* koff, int64_t j0,
                       int64_t d, int64_t group, float* st) {
    __m512 acc[NK][NV];
    for (int i = 0; i < NK; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    const float* kp[NK];
    for (int i = 0; i < NK; ++i) kp[i] = kbase + koff[j0 + i];
    for (int64_t c = 0; c < d; ++c) {
        __m512 qv[NV];
        for (int v = 0; v < NV; ++v) qv[v] = _mm512_loadu_ps(q[v] + c * group);
        for (int i = 0; i < NK; ++i) {
            const __m512 kb = _mm512_set1_ps(kp[i][c * group]);
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(kb, qv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < NK; ++i)
        for (int v = 0; v < NV; ++v) _mm512_storeu_ps(st + (j0 + i) * 16 * kQv + 16 * v, acc[i][v]);
}

// Context dimensions [c0, c0 + ND) of NV query vectors: sum over keys j of v_j[c] * p[j][lane],
// times inv[v] (1 / the softmax sums), stored masked (m[v]) to out[v] + c * group.
template <int ND, int NV>
inline void context_tile(const float* vbase, const int64_t* voff, int64_t seq, int64_t c0,
                         int64_t group, const float* p, const __m512* inv, const __mmask16* m,
                         float* const* out) {
    __m512 acc[ND][NV];
    for (int i = 0; i < ND; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    for (int64_t j = 0; j < seq; ++j) {
        __m512 pv[NV];
        for (int v = 0; v < NV; ++v) pv[v] = _mm512_loadu_ps(p + j * 16 * kQv + 16 * v);
        const float* vj = vbase + voff[j] + c0 * group;
        for (int i = 0; i < ND; ++i) {
            const __m512 vb = _mm512_set1_ps(vj[i * group]);
            for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(vb, pv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < ND; ++i)
        for (int v = 0; v < NV; ++v)
            _mm512_mask_storeu_ps(out[v] + (c0 + i) * group, m[v],
                                  _mm512_mul_ps(acc[i][v], inv[v]));
}

// Keys [jlo, jhi) of the sequence (all of them, or the ones a local window reaches).
template <int NV>
void query_block(const float* qkv, int64_t qkv_features, int64_t q_row, int64_t k_row,
                 int64_t v_row, float* ctx, int64_t ctx_features, int64_t ctx_row, int64_t t0,
                 int64_t len, int64_t jlo, int64_t jhi, int64_t qb, int64_t d, int64_t group,
                 float scale, const int64_t* all_off, const float* rev, float* st) {
    const int64_t seq = jhi - jlo;  // keys of the block, j relative to jlo below
    const int64_t* off = all_off + jlo;
    auto at = [&](int64_t features, int64_t t) {
        return (t / group) * (features + 1) * group + t % group;
    };
    const float* q[NV];
    float* out[NV];
    __mmask16 m[NV];
    for (int v = 0; v < NV; ++v) {
        const int64_t u = qb + 16 * v;  // first token of the vector (16-aligned)
        q[v] = qkv + at(qkv_features, u) + q_row * group;
        out[v] = ctx + at(ctx_features, u) + ctx_row * group;
        const int64_t lo = std::max<int64_t>(t0 - u, 0), hi = std::min<int64_t>(t0 + len - u, 16);
        m[v] = static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
    }
    const float* kbase = qkv + k_row * group;
    int64_t j = 0;
    for (; j + kKeys <= seq; j += kKeys) score_tile<kKeys, NV>(q, kbase, off, j, d, group, st);
    for (; j < seq; ++j) score_tile<1, NV>(q, kbase, off, j, d, group, st);
    // Softmax down the key rows, lane by lane (lanes of other sequences compute harmless values
    // and are never stored). A relative position bias (rev[i - j] for query i, key j, already
    // divided by the scale) is added on the way: lanes are consecutive queries, so one masked
    // load per row and vector (the other sequences' lanes read nothing).
    __m512 mx[NV], sum[NV], inv[NV];
    for (int v = 0; v < NV; ++v) mx[v] = _mm512_set1_ps(-3.0e38f);
    for (j = 0; j < seq; ++j)
        for (int v = 0; v < NV; ++v) {
            float* p = st + j * 16 * kQv + 16 * v;
            __m512 x = _mm512_loadu_ps(p);
            if (rev) {
                x = _mm512_add_ps(
                    x, _mm512_maskz_loadu_ps(m[v], rev + (qb + 16 * v - t0) - (jlo + j)));
                _mm512_storeu_ps(p, x);
            }
            mx[v] = _mm512_max_ps(mx[v], x);
        }
    for (int v = 0; v < NV; ++v) sum[v] = _mm512_setzero_ps();
    const __m512 k = _mm512_set1_ps(scale);
    for (j = 0; j < seq; ++j)
        for (int v = 0; v < NV; ++v) {
            float* p = st + j * 16 * kQv + 16 * v;
            const __m512 e = vec512::exp_scaled_ps(_mm512_loadu_ps(p), mx[v], k);
            _mm512_storeu_ps(p, e);
            sum[v] = _mm512_add_ps(sum[v], e);
        }
    for (int v = 0; v < NV; ++v) inv[v] = _mm512_div_ps(_mm512_set1_ps(1.0f), sum[v]);
    const float* vbase = qkv + v_row * group;
    int64_t c = 0;
    for (; c + kDims <= d; c += kDims)
        context_tile<kDims, NV>(vbase, off, seq, c, group, st, inv, m, out);
    for (; c + 4 <= d; c += 4) context_tile<4, NV>(vbase, off, seq, c, group, st, inv, m, out);
    for (; c < d; ++c) context_tile<1, NV>(vbase, off, seq, c, group, st, inv, m, out);
}

}  // namespace

void attention_head_stream_avx512(const float* qkv, int64_t qkv_features, int64_t q_row,
                                  int64_t k_row, int64_t v_row, float* ctx, int64_t ctx_features,
                                  int64_t ctx_row, int64_t t0, int64_t seq, int64_t d,
                                  int64_t group, float scale, float* scratch, const float* rel_bias,
                                  int64_t window) {
    // Scratch: the stream offset of every key token, the transposed scores of one block, then the
    // relative position bias reversed and divided by the scale (rev[i - j] = rel_bias[j - i] /
    // scale; the scores are unscaled until the exponential).
    auto* off = reinterpret_cast<int64_t*>(scratch);
    float* st = scratch + 2 * seq;
    for (int64_t j = 0; j < seq; ++j) {
        const int64_t t = t0 + j;
        off[j] = (t / group) * (qkv_features + 1) * group + t % group;
    }
    float* rev = nullptr;
    if (rel_bias) {
        rev = st + seq * 16 * kQv + seq - 1;
        const float k = 1.0f / scale;
        for (int64_t x = -(seq - 1); x < seq; ++x) rev[x] = rel_bias[-x] * k;
    }
    const int64_t t1 = t0 + seq;
    for (int64_t qb = t0 / 16 * 16; qb < t1; qb += 16 * kQv) {
        const int64_t nv = std::min<int64_t>(kQv, (t1 - qb + 15) / 16);
        // A local window: the keys the block's queries reach (rel_bias masks the rest).
        int64_t jlo = 0, jhi = seq;
        if (window > 0) {
            const int64_t qlo = std::max(qb, t0) - t0, qhi = std::min(qb + 16 * nv, t1) - t0;
            jlo = std::max<int64_t>(0, qlo - window);
            jhi = std::min(seq, qhi + window);
        }
        auto run = [&](auto tag) {
            query_block<decltype(tag)::value>(qkv, qkv_features, q_row, k_row, v_row, ctx,
                                              ctx_features, ctx_row, t0, seq, jlo, jhi, qb, d,
                                              group, scale, off, rev, st);
        };
        switch (nv) {
            case 1:
                run(std::integral_constant<int, 1>{});
                break;
            case 2:
                run(std::integral_constant<int, 2>{});
                break;
            case 3:
                run(std::integral_constant<int, 3>{});
                break;
            default:
                run(std::integral_constant<int, 4>{});
                break;
        }
    }
}

}  // namespace sparq
