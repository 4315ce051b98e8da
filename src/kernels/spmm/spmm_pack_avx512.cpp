// AVX-512 pack/unpack of the sparse kernels' token groups: 16x16 in-register transposes, with the
// epilogue (bias, GELU, residual) fused into the unpack; the packed stream's LayerNorm.
// GCC 12 warns falsely on _mm512_undefined_ps inside the unpack intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cassert>

#include "kernels/eltwise/vec_math_avx512.hpp"
#include "kernels/spmm/spmm.hpp"

namespace sparq::spmm_detail {
namespace {

// Transposes the 16x16 block held in r[0..16) (row i = r[i]) in place.
inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    __m512 s[16];
    for (int g = 0; g < 4; ++g) {
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 2]);
        __m512d c = _mm512_castps_pd(t[4 * g + 1]), d = _mm512_castps_pd(t[4 * g + 3]);
        s[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        s[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        s[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        s[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    // s[4g + j] holds columns j, j+4, j+8, j+12 (one per 128-bit lane) of rows 4g..4g+3.
    for (int j = 0; j < 4; ++j) {
        __m512 u0 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0x44);
        __m512 u1 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0xEE);
        __m512 u2 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0x44);
        __m512 u3 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        r[j + 4] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        r[j + 8] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        r[j + 12] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
}

inline __mmask16 first_n(int64_t n) {
    return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

}  // namespace

void pack_tokens_avx512(const float* src, int64_t ld, int64_t in, int64_t count, int64_t group,
                        int lanes, float* dst) {
    __m512 r[16];
    for (int64_t tb = 0; tb < count; tb += 16) {
        const int64_t nt = count - tb < 16 ? count - tb : 16;
        const float* s = src + tb * ld;
        float* d = dst + tb;
        int64_t i0 = 0;
        if (nt == 16) {
            // Full blocks: constant indices keep r[] in registers.
            for (; i0 + 16 <= in; i0 += 16) {
#pragma GCC unroll 16
                for (int t = 0; t < 16; ++t) r[t] = _mm512_loadu_ps(s + t * ld + i0);
                transpose16(r);
#pragma GCC unroll 16
                for (int f = 0; f < 16; ++f) _mm512_storeu_ps(d + (i0 + f) * group, r[f]);
            }
        }
        for (; i0 < in; i0 += 16) {
            const int64_t nf = in - i0 < 16 ? in - i0 : 16;
            const __mmask16 m = first_n(nf);
            for (int64_t t = 0; t < 16; ++t)
                r[t] = t < nt ? _mm512_maskz_loadu_ps(m, s + t * ld + i0) : _mm512_setzero_ps();
            transpose16(r);
            for (int64_t f = 0; f < nf; ++f) _mm512_storeu_ps(d + (i0 + f) * group, r[f]);
        }
    }
}

namespace {

// Transposes 16 tokens x up to kSpan rows into an L1 scratch, then writes each token's run of
// outputs with the epilogue in long contiguous stores (friendlier to the store prefetcher than
// 16-row scattered blocks, and to dst strides that alias in L1 sets). kGelu: apply the
// piecewise GELU of `act`.
template <bool kGelu, bool kResidual>
void unpack_rows_impl(const float* src, int64_t group, int64_t r0, int64_t rows, int64_t count,
                      float* dst, int64_t ld, const float* bias, const float* residual,
                      Activation act) {
    constexpr int64_t kSpan = 256;
    alignas(64) float scratch[16][kSpan];
    __m512 r[16];
    [[maybe_unused]] const vec512::GeluRegs g(act);
    for (int64_t tb = 0; tb < count; tb += 16) {
        const int64_t nt = count - tb < 16 ? count - tb : 16;
        for (int64_t o0 = 0; o0 < rows; o0 += kSpan) {
            const int64_t span = rows - o0 < kSpan ? rows - o0 : kSpan;
            for (int64_t o = 0; o < span; o += 16) {
                const int64_t no = span - o < 16 ? span - o : 16;
                const float* s = src + (o0 + o) * group + tb;
                if (no == 16) {
#pragma GCC unroll 16
                    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(s + i * group);
                } else {
                    for (int64_t i = 0; i < 16; ++i)
                        r[i] = i < no ? _mm512_loadu_ps(s + i * group) : _mm512_setzero_ps();
                }
                transpose16(r);
#pragma GCC unroll 16
                for (int t = 0; t < 16; ++t) _mm512_store_ps(&scratch[t][o], r[t]);
            }
            const int64_t col = r0 + o0;
            for (int64_t t = 0; t < nt; ++t) {
                float* d = dst + (tb + t) * ld + col;
                const float* res = kResidual ? residual + (tb + t) * ld + col : nullptr;
                for (int64_t o = 0; o < span; o += 16) {
                    const __mmask16 m = first_n(span - o);
                    __m512 v = _mm512_load_ps(&scratch[t][o]);
                    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + col + o));
                    if (kGelu) v = vec512::gelu_pieces_ps(v, g);
                    if (kResidual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + o));
                    _mm512_mask_storeu_ps(d + o, m, v);
                }
            }
        }
    }
}

}  // namespace

void bias_act_rows_avx512(float* y, int64_t group, int64_t rows, int64_t width, const float* bias,
                          Activation act) {
    const bool gelu = is_gelu(act);
    const vec512::GeluRegs g(act);
    for (int64_t r = 0; r < rows; ++r) {
        float* d = y + r * group;
        const __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        for (int64_t t = 0; t < width; t += 16) {
            __m512 v = _mm512_add_ps(_mm512_loadu_ps(d + t), b);
            if (gelu) v = vec512::gelu_pieces_ps(v, g);
            _mm512_storeu_ps(d + t, v);
        }
    }
}

void layer_norm_group_avx512(const float* a, const float* res, const float* gamma,
                             const float* beta, float* dst, int64_t features, int64_t group,
                             int64_t count, float eps, float* sum) {
    constexpr int kMax = 8;  // vectors per row (groups of up to 128 tokens)
    const int nv = static_cast<int>((count + 15) / 16);
    assert(group <= 16 * kMax && nv >= 1);
    const __m512 n = _mm512_set1_ps(static_cast<float>(features));
    // Whole rows per step (the group's rows are contiguous: a sequential stream from L2; strips
    // of 16 tokens would hit one L1 set in four).
    __m512 mean[kMax], inv[kMax];
    for (int v = 0; v < nv; ++v) mean[v] = inv[v] = _mm512_setzero_ps();
    for (int64_t r = 0; r < features; ++r)
        for (int v = 0; v < nv; ++v) {
            const int64_t i = r * group + 16 * v;
            const __m512 t = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(res + i));
            _mm512_storeu_ps(dst + i, t);
            if (sum) _mm512_storeu_ps(sum + i, t);
            mean[v] = _mm512_add_ps(mean[v], t);
        }
    // Token slots past the vectors holding tokens: the sum's stay a + res as well.
    if (sum)
        for (int64_t r = 0; r < features; ++r)
            for (int64_t t = 16 * nv; t < group; t += 16)
                _mm512_storeu_ps(sum + r * group + t,
                                 _mm512_add_ps(_mm512_loadu_ps(a + r * group + t),
                                               _mm512_loadu_ps(res + r * group + t)));
    for (int v = 0; v < nv; ++v) mean[v] = _mm512_div_ps(mean[v], n);
    for (int64_t r = 0; r < features; ++r)
        for (int v = 0; v < nv; ++v) {
            const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(dst + r * group + 16 * v), mean[v]);
            inv[v] = _mm512_fmadd_ps(d, d, inv[v]);
        }
    for (int v = 0; v < nv; ++v)
        inv[v] = _mm512_div_ps(
            _mm512_set1_ps(1.0f),
            _mm512_sqrt_ps(_mm512_add_ps(_mm512_div_ps(inv[v], n), _mm512_set1_ps(eps))));
    const __mmask16 last = first_n(count - 16 * (nv - 1));
    for (int64_t r = 0; r < features; ++r) {
        const __m512 g = _mm512_set1_ps(gamma[r]), b = _mm512_set1_ps(beta[r]);
        for (int v = 0; v < nv; ++v) {
            float* d = dst + r * group + 16 * v;
            const __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(d), mean[v]), inv[v]);
            _mm512_storeu_ps(
                d, _mm512_maskz_mov_ps(v + 1 < nv ? 0xFFFF : last, _mm512_fmadd_ps(t, g, b)));
        }
        for (int64_t t = 16 * nv; t < group; t += 16)
            _mm512_storeu_ps(dst + r * group + t, _mm512_setzero_ps());
    }
}

void unpack_rows_avx512(const float* src, int64_t group, int64_t r0, int64_t rows, int64_t count,
                        float* dst, int64_t ld, const SpmmEpilogue& ep) {
    const bool res = ep.residual != nullptr;
    const auto impl = is_gelu(ep.act)
                          ? (res ? unpack_rows_impl<true, true> : unpack_rows_impl<true, false>)
                          : (res ? unpack_rows_impl<false, true> : unpack_rows_impl<false, false>);
    impl(src, group, r0, rows, count, dst, ld, ep.bias, ep.residual, ep.act);
}

}  // namespace sparq::spmm_detail
