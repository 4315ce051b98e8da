// Attention per head with AVX-512: K is transposed once (16x16 blocks) into a [d][seq16] panel
// so scores are computed 4 query rows x 64 key columns at a time (16 accumulators), column block
// outer so the panel block stays in L1; softmax in place; the context is 4 rows x 64 head features
// at a time, broadcasting probabilities over V rows, keys in chunks that stay in L1.
#include <immintrin.h>

#include <algorithm>

#include "kernels/fused.hpp"
#include "kernels/spmm/spmm.hpp"
#include "model/attention.hpp"

namespace sparq {
namespace {

// scores[i][j] for rows [i0, i0+R), columns [j0, j0 + 16*NV); kt is [d][ldk].
template <int R, int NV>
inline void scores_tile(const float* q, int64_t ld_qkv, const float* kt, int64_t ldk, int64_t d,
                        float* scores, int64_t lds, int64_t i0, int64_t j0) {
    __m512 acc[R][NV];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
        #pragma GCC unroll 8
        for (int x = 0; x < NV; ++x) acc[r][x] = _mm512_setzero_ps();
    const float* qi = q + i0 * ld_qkv;
    for (int64_t c = 0; c < d; ++c) {
        __m512 b[NV];
        #pragma GCC unroll 8
        for (int x = 0; x < NV; ++x) b[x] = _mm512_loadu_ps(kt + c * ldk + j0 + 16 * x);
        #pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            __m512 a = _mm512_set1_ps(qi[r * ld_qkv + c]);
            #pragma GCC unroll 8
            for (int x = 0; x < NV; ++x) acc[r][x] = _mm512_fmadd_ps(a, b[x], acc[r][x]);
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
        #pragma GCC unroll 8
        for (int x = 0; x < NV; ++x)
            _mm512_storeu_ps(scores + (i0 + r) * lds + j0 + 16 * x, acc[r][x]);
}

// All query rows against key columns [j0, j0 + 16*NV): the K panel block stays in L1.
template <int NV>
inline void scores_cols(const float* q, int64_t ld_qkv, const float* kt, int64_t ldk, int64_t d,
                        float* scores, int64_t seq, int64_t j0) {
    int64_t i = 0;
    for (; i + 4 <= seq; i += 4) scores_tile<4, NV>(q, ld_qkv, kt, ldk, d, scores, ldk, i, j0);
    for (; i < seq; ++i) scores_tile<1, NV>(q, ld_qkv, kt, ldk, d, scores, ldk, i, j0);
}

// ctx[i][c0 .. c0 + 16*NV) for rows [i0, i0+R); the last vector is masked by `tail`.
// Keys [j0, j1) only; adds onto ctx unless j0 == 0.
template <int R, int NV>
inline void context_tile(const float* p, int64_t lds, const float* v, int64_t ld_qkv, int64_t j0,
                         int64_t j1, float* ctx, int64_t ld_ctx, int64_t i0, int64_t c0,
                         __mmask16 tail) {
    __m512 acc[R][NV];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
        const float* src = ctx + (i0 + r) * ld_ctx + c0;
        #pragma GCC unroll 8
        for (int x = 0; x < NV - 1; ++x)
            acc[r][x] = j0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(src + 16 * x);
        acc[r][NV - 1] = j0 == 0 ? _mm512_setzero_ps()
                                 : _mm512_maskz_loadu_ps(tail, src + 16 * (NV - 1));
    }
    const float* pi = p + i0 * lds;
    for (int64_t j = j0; j < j1; ++j) {
        __m512 b[NV];
        const float* vj = v + j * ld_qkv + c0;
        #pragma GCC unroll 8
        for (int x = 0; x < NV - 1; ++x) b[x] = _mm512_loadu_ps(vj + 16 * x);
        b[NV - 1] = _mm512_maskz_loadu_ps(tail, vj + 16 * (NV - 1));
        #pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            __m512 a = _mm512_set1_ps(pi[r * lds + j]);
            #pragma GCC unroll 8
            for (int x = 0; x < NV; ++x) acc[r][x] = _mm512_fmadd_ps(a, b[x], acc[r][x]);
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
        float* dst = ctx + (i0 + r) * ld_ctx + c0;
        #pragma GCC unroll 8
        for (int x = 0; x < NV - 1; ++x) _mm512_storeu_ps(dst + 16 * x, acc[r][x]);
        _mm512_mask_storeu_ps(dst + 16 * (NV - 1), tail, acc[r][NV - 1]);
    }
}

template <int R>
inline void context_rows(const float* p, int64_t lds, const float* v, int64_t ld_qkv, int64_t j0,
                         int64_t j1, float* ctx, int64_t ld_ctx, int64_t d, int64_t i0) {
    for (int64_t c = 0; c < d; c += 64) {
        int64_t n = std::min<int64_t>(64, d - c);
        int nv = static_cast<int>((n + 15) / 16);
        int rem = static_cast<int>(n - 16 * (nv - 1));
        __mmask16 tail = static_cast<__mmask16>((1u << rem) - 1u);
        switch (nv) {
            case 4: context_tile<R, 4>(p, lds, v, ld_qkv, j0, j1, ctx, ld_ctx, i0, c, tail); break;
            case 3: context_tile<R, 3>(p, lds, v, ld_qkv, j0, j1, ctx, ld_ctx, i0, c, tail); break;
            case 2: context_tile<R, 2>(p, lds, v, ld_qkv, j0, j1, ctx, ld_ctx, i0, c, tail); break;
            default: context_tile<R, 1>(p, lds, v, ld_qkv, j0, j1, ctx, ld_ctx, i0, c, tail); break;
        }
    }
}

}  // namespace

void attention_head_avx512(const float* q, const float* k, const float* v, int64_t ld_qkv,
                           float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                           float* scratch) {
    const int64_t ldk = (seq + 15) / 16 * 16;  // padded key count: row stride of kt and scores
    float* kt = scratch;                        // [d][ldk], zero padded
    float* scores = scratch + d * ldk;          // [seq][ldk]
    // 16x16 in-register transposes (the sparse kernels' token packing); zero-fills keys [seq, ldk).
    spmm_detail::pack_tokens_avx512(k, ld_qkv, d, seq, ldk, 16, kt);
    int64_t j = 0;
    for (; j + 64 <= ldk; j += 64) scores_cols<4>(q, ld_qkv, kt, ldk, d, scores, seq, j);
    for (; j < ldk; j += 16) scores_cols<1>(q, ld_qkv, kt, ldk, d, scores, seq, j);
    softmax(scores, seq, seq, ldk, scale, nullptr);
    // Keys in chunks whose V rows (chunk x d floats) stay in L1 across all query rows.
    const int64_t chunk = std::max<int64_t>(16, 8192 / std::max<int64_t>(d, 1));
    for (int64_t j0 = 0; j0 < seq; j0 += chunk) {
        int64_t j1 = std::min(seq, j0 + chunk);
        int64_t i = 0;
        for (; i + 4 <= seq; i += 4)
            context_rows<4>(scores, ldk, v, ld_qkv, j0, j1, ctx, ld_ctx, d, i);
        for (; i < seq; ++i) context_rows<1>(scores, ldk, v, ld_qkv, j0, j1, ctx, ld_ctx, d, i);
    }
}

}  // namespace sparq
