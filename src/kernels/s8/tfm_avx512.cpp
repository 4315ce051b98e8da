// AVX-512 steps of the int8 encoder's tile-major feature-major ("TFM") hidden states (layout in
// s8_kernels.hpp): conversion from / to token-major rows, and the residual LayerNorm with lanes
// as tokens (vertical sums; no horizontal reductions) that also returns each token's max |y|, the
// next sparse int8 kernel's activation scale.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/threading.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/transpose_avx512.hpp"

// GCC 12 reports the _mm512_undefined_* inside several intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sparq::s8 {

namespace {

constexpr int64_t kL = kTfmTile;  // row stride of a TFM tile (token slots)

inline __mmask16 lanes(int64_t n) {
    return n >= 16  ? static_cast<__mmask16>(0xFFFF)
           : n <= 0 ? 0
                    : static_cast<__mmask16>((1u << n) - 1);
}

// LayerNorm of NS strips of 16 token lanes of one tile (rows kL floats apart) in two passes
// over the rows, front to back (one stream per array): v = src + res (stored) with the shifted
// sums s1 = Σ (v - v0), s2 = Σ (v - v0)² (v0: the token's first feature, so a large common
// offset cancels exactly; the variance's relative error grows only as (v0 - mean)² / var, ~1e-7
// times that ratio, against the 1 / 254 step of the int8 activations that follow), then
// y = (v - mean) · inv · gamma + beta with mean = v0 + s1 / n, var = s2 / n - (s1 / n)²,
// inv = 1 / sqrt(var + eps), and each lane's max |y|.
template <int NS>
void ln_strips(const float* src, const float* res, const float* gamma, const float* beta,
               float* dst, int64_t rows, float eps, float* absmax) {
    __m512 k0[NS], s1[NS], s2[NS];
    for (int k = 0; k < NS; ++k) {
        k0[k] = _mm512_loadu_ps(src + 16 * k);
        if (res) k0[k] = _mm512_add_ps(k0[k], _mm512_loadu_ps(res + 16 * k));
        s1[k] = s2[k] = _mm512_setzero_ps();
    }
    for (int64_t f = 0; f < rows; ++f)
        for (int k = 0; k < NS; ++k) {
            __m512 v = _mm512_loadu_ps(src + f * kL + 16 * k);
            if (res) {
                v = _mm512_add_ps(v, _mm512_loadu_ps(res + f * kL + 16 * k));
                _mm512_storeu_ps(dst + f * kL + 16 * k, v);
            }
            const __m512 d = _mm512_sub_ps(v, k0[k]);
            s1[k] = _mm512_add_ps(s1[k], d);
            s2[k] = _mm512_fmadd_ps(d, d, s2[k]);
        }
    const float* v = res ? dst : src;
    const __m512 n = _mm512_set1_ps(static_cast<float>(rows));
    __m512 mean[NS], inv[NS], m[NS];
    for (int k = 0; k < NS; ++k) {
        const __m512 d = _mm512_div_ps(s1[k], n);
        mean[k] = _mm512_add_ps(k0[k], d);
        const __m512 var =
            _mm512_max_ps(_mm512_fnmadd_ps(d, d, _mm512_div_ps(s2[k], n)), _mm512_setzero_ps());
        inv[k] = _mm512_div_ps(_mm512_set1_ps(1.0f),
                               _mm512_sqrt_ps(_mm512_add_ps(var, _mm512_set1_ps(eps))));
        m[k] = _mm512_setzero_ps();
    }
    for (int64_t f = 0; f < rows; ++f) {
        const __m512 g = _mm512_set1_ps(gamma[f]), b = _mm512_set1_ps(beta[f]);
        for (int k = 0; k < NS; ++k) {
            const __m512 t =
                _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(v + f * kL + 16 * k), mean[k]), inv[k]);
            const __m512 y = _mm512_fmadd_ps(t, g, b);
            _mm512_storeu_ps(dst + f * kL + 16 * k, y);
            m[k] = _mm512_max_ps(m[k], _mm512_abs_ps(y));
        }
    }
    for (int k = 0; k < NS; ++k) _mm512_storeu_ps(absmax + 16 * k, m[k]);
}

}  // namespace

void to_tfm_avx512(const float* src, int64_t tokens, int64_t rows, float* dst, float* absmax) {
    const int64_t ntiles = tfm_tiles(tokens);
#pragma omp parallel for schedule(static) if (ntiles > 1 && !omp_in_parallel())
    for (int64_t i = 0; i < ntiles; ++i) {
        const int64_t count = std::min(kL, tokens - i * kL);
        float* tile = dst + i * rows * kL;
        for (int64_t tb = 0; tb < kL; tb += 16) {
            const int64_t nt = count - tb;
            __m512 m = _mm512_setzero_ps();
            for (int64_t fb = 0; fb < rows; fb += 16) {
                const int64_t nr = std::min<int64_t>(16, rows - fb);
                __m512i r[16];
                for (int j = 0; j < 16; ++j)
                    r[j] = j < nt ? _mm512_maskz_loadu_epi32(lanes(nr),
                                                             src + (i * kL + tb + j) * rows + fb)
                                  : _mm512_setzero_si512();
                transpose16x16_epi32(r);
                for (int64_t f = 0; f < nr; ++f) {
                    const __m512 x = _mm512_castsi512_ps(r[f]);
                    _mm512_storeu_ps(tile + (fb + f) * kL + tb, x);
                    m = _mm512_max_ps(m, _mm512_abs_ps(x));
                }
            }
            if (absmax) _mm512_storeu_ps(absmax + i * kL + tb, m);
        }
    }
}

void from_tfm_avx512(const float* src, int64_t tokens, int64_t rows, float* dst) {
    const int64_t ntiles = tfm_tiles(tokens);
#pragma omp parallel for schedule(static) if (ntiles > 1 && !omp_in_parallel())
    for (int64_t i = 0; i < ntiles; ++i) {
        const int64_t count = std::min(kL, tokens - i * kL);
        const float* tile = src + i * rows * kL;
        for (int64_t tb = 0; tb < count; tb += 16) {
            const int64_t nt = std::min<int64_t>(16, count - tb);
            for (int64_t fb = 0; fb < rows; fb += 16) {
                const int64_t nr = std::min<int64_t>(16, rows - fb);
                __m512i r[16];
                for (int f = 0; f < 16; ++f)
                    r[f] = f < nr ? _mm512_loadu_si512(tile + (fb + f) * kL + tb)
                                  : _mm512_setzero_si512();
                transpose16x16_epi32(r);
                for (int64_t j = 0; j < nt; ++j)
                    _mm512_mask_storeu_epi32(dst + (i * kL + tb + j) * rows + fb, lanes(nr), r[j]);
            }
        }
    }
}

void layer_norm_tfm_avx512(const float* src, const float* residual, const float* gamma,
                           const float* beta, float* dst, int64_t tokens, int64_t rows, float eps,
                           float* absmax, const S8Team* team) {
    const int64_t ntiles = tfm_tiles(tokens), strips = kL / 16;
    // Strips [s0, s1) of tile i (those holding tokens).
    auto run = [&](int64_t i, int64_t s0, int64_t s1) {
        s1 = std::min(s1, (std::min(kL, tokens - i * kL) + 15) / 16);
        const int64_t o = i * rows * kL + 16 * s0;
        const float* r = residual ? residual + o : nullptr;
        float* am = absmax + i * kL + 16 * s0;
        using Fn = void (*)(const float*, const float*, const float*, const float*, float*, int64_t,
                            float, float*);
        static constexpr Fn fns[] = {nullptr, ln_strips<1>, ln_strips<2>, ln_strips<3>,
                                     ln_strips<4>};
        if (s1 > s0) fns[s1 - s0](src + o, r, gamma, beta, dst + o, rows, eps, am);
    };
    // Tile i on thread i % threads, as the sparse int8 kernels take whole tiles (the tile stays
    // in that core's cache); fewer tiles than threads: each tile's strips split between them.
    auto body = [&](int n, int id) {
        if (ntiles >= n) {
            for (int64_t i = id; i < ntiles; i += n) run(i, 0, strips);
        } else {
            int64_t s0, s1;
            split_range(strips * ntiles, n, id, s0, s1);
            for (int64_t u = s0; u < s1;) {  // units of one strip, grouped by tile
                const int64_t i = u / strips, e = std::min(s1, (i + 1) * strips);
                run(i, u % strips, u % strips + (e - u));
                u = e;
            }
        }
    };
    if (team) {
        body(team->n, team->id);
        return;
    }
    const int nt = omp_in_parallel() ? 1 : num_threads();
    if (nt > 1 && ntiles * strips > 1) {
#pragma omp parallel num_threads(nt)
        body(omp_get_num_threads(), omp_get_thread_num());
    } else {
        body(1, 0);
    }
}

}  // namespace sparq::s8
