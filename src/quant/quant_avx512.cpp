// AVX-512 quantize + pack of activations into the tiled u8 layout (same results as ref::).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/s8/transpose_avx512.hpp"
#include "quant/quant.hpp"

namespace sparq {

float max_abs_avx512(const float* src, int64_t n) {
    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= n; k += 32) {
        m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_loadu_ps(src + k)));
        m1 = _mm512_max_ps(m1, _mm512_abs_ps(_mm512_loadu_ps(src + k + 16)));
    }
    for (; k < n; k += 16) {
        const __mmask16 m = n - k >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - k)) - 1);
        m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, src + k)));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

namespace {
// 64 inputs of one row starting at k (masked beyond in) -> 64 s8 in one zmm, as 16 groups of 4
// inputs in the order vpackssdw / vpacksswb leave them: dword 4L + m holds group 4m + L.
// q = clamp(round_half_even(x * inv), -127, 127): min(127, v) before the conversion (NaN and
// values below -2^31 convert to INT_MIN), saturating packs, then max(q, -127).
inline __m512i quantize64_lanes(const float* row, int64_t k, int64_t in, __m512 inv) {
    const __m512 hi = _mm512_set1_ps(static_cast<float>(kQmax));
    __m512i q[4];
    for (int p = 0; p < 4; ++p) {
        const int64_t kk = k + p * 16, n = in - kk;
        __m512 x;
        if (n >= 16) {
            x = _mm512_loadu_ps(row + kk);
        } else {
            const __mmask16 m = n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
            x = _mm512_maskz_loadu_ps(m, row + (n > 0 ? kk : 0));
        }
        q[p] = _mm512_cvtps_epi32(_mm512_min_ps(hi, _mm512_mul_ps(x, inv)));
    }
    const __m512i w = _mm512_packs_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
    return _mm512_max_epi8(w, _mm512_set1_epi8(-kQmax));
}
// Group held by dword d of quantize64_lanes.
constexpr int lane_group(int d) { return (d % 4) * 4 + d / 4; }
// Same, groups in natural order (dword g holds group g).
inline __m512i quantize64(const float* row, int64_t k, int64_t in, __m512 inv) {
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(order, quantize64_lanes(row, k, in, inv));
}
}  // namespace

void quantize_activations_avx512(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                                 const float* inv_scales, int8_t* dst) {
    for (int64_t t = 0; t < tokens; ++t) {
        const __m512 inv = _mm512_set1_ps(inv_scales[t]);
        for (int64_t k = 0; k < in_pad; k += 64) {
            __m512i q = quantize64(src + t * in, k, in, inv);
            const int64_t n = in_pad - k;
            const __mmask64 m = n >= 64 ? ~0ull : (1ull << n) - 1;
            _mm512_mask_storeu_epi8(dst + t * in_pad + k, m, q);
        }
    }
}

// Per token: max |x| (scale), then quantize while the row is in L1.
void scale_quantize_activations_avx512(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                                       float* scales, float* inv_scales, int8_t* dst) {
    for (int64_t t = 0; t < tokens; ++t) {
        const float* row = src + t * in;
        const float m = max_abs_avx512(row, in);
        scales[t] = scale_for(m);
        inv_scales[t] = inv_scale_for(m);
        quantize_activations_avx512(row, 1, in, in_pad, inv_scales + t, dst + t * in_pad);
    }
}

namespace {
// 16 token slots (nt of them real, rows `in` floats apart from src) of a tile of `width` tokens
// into the tile's packed bytes at dst (the slots' first group): quantize each token's 64 inputs
// into one zmm (16 dwords, one per group, in the packs' order), transpose 16x16 dwords, store
// each group's 16 tokens as one 64-byte vector at that group's place.
void pack_block16(const float* src, int64_t nt, int64_t in, int64_t in_pad, const float* inv_scales,
                  int64_t width, uint8_t* dst) {
    const int64_t groups = in_pad / 4;
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512 inv[16];
    for (int j = 0; j < 16; ++j) inv[j] = _mm512_set1_ps(j < nt ? inv_scales[j] : 0.0f);
    for (int64_t k = 0; k < in_pad; k += 64) {
        __m512i r[16];
        for (int j = 0; j < 16; ++j)
            r[j] = j < nt ? _mm512_xor_si512(quantize64_lanes(src + j * in, k, in, inv[j]), bias) : bias;
        s8::transpose16x16_epi32(r);
        const int64_t g0 = k / 4, ng = std::min<int64_t>(16, groups - g0);
        for (int d = 0; d < 16; ++d)
            if (lane_group(d) < ng) _mm512_storeu_si512(dst + (g0 + lane_group(d)) * width * 4, r[d]);
    }
}
}  // namespace

void quantize_pack_u8_avx512(const float* src, int64_t in, int64_t in_pad, const float* inv_scales,
                             const std::vector<TokenTile>& tiles, uint8_t* dst) {
    for (const TokenTile& tile : tiles)
        for (int64_t jb = 0; jb < tile.width; jb += 16) {
            const int64_t nt = std::min<int64_t>(16, std::max<int64_t>(0, tile.count - jb));
            pack_block16(src + (tile.t0 + jb) * in, nt, in, in_pad, inv_scales + tile.t0 + jb, tile.width,
                         dst + tile.offset + jb * 4);
        }
}

// Per 16 tokens: their max |x| (scales), then their quantize + pack while the rows are in L1.
void scale_quantize_pack_u8_avx512(const float* src, int64_t count, int64_t width, int64_t in, int64_t in_pad,
                                   float* scales, float* inv_scales, uint8_t* dst) {
    for (int64_t jb = 0; jb < width; jb += 16) {
        const int64_t nt = std::min<int64_t>(16, std::max<int64_t>(0, count - jb));
        for (int64_t j = jb; j < jb + nt; ++j) {
            const float m = max_abs_avx512(src + j * in, in);
            scales[j] = scale_for(m);
            inv_scales[j] = inv_scale_for(m);
        }
        pack_block16(src + jb * in, nt, in, in_pad, inv_scales + jb, width, dst + jb * 4);
    }
}

}  // namespace sparq
