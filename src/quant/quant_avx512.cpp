// AVX-512 quantize + pack of activations into the tiled u8 layout (same results as ref::).
#include <immintrin.h>

#include <cstring>

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

void quantize_pack_u8_avx512(const float* src, int64_t in, int64_t in_pad, const float* inv_scales,
                             const std::vector<TokenTile>& tiles, uint8_t* dst) {
    const int64_t groups = in_pad / 4;
    const __m512 lo = _mm512_set1_ps(-static_cast<float>(kQmax));
    const __m512 hi = _mm512_set1_ps(static_cast<float>(kQmax));
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    for (const TokenTile& tile : tiles) {
        uint8_t* base = dst + tile.offset;
        if (tile.count < tile.width) std::memset(base, 0x80, tile.width * in_pad);
        const __m512i stride =
            _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                               _mm512_set1_epi32(static_cast<int>(tile.width * 4)));
        for (int64_t j = 0; j < tile.count; ++j) {
            const int64_t t = tile.t0 + j;
            const float* row = src + t * in;
            const __m512 inv = _mm512_set1_ps(inv_scales[t]);
            uint8_t* col = base + j * 4;
            for (int64_t k0 = 0; k0 < in_pad; k0 += 64) {
                __m512i packed = _mm512_setzero_si512();
                __m128i parts[4];
                for (int p = 0; p < 4; ++p) {
                    int64_t k = k0 + p * 16;
                    int64_t n = in - k;
                    __mmask16 m = n >= 16 ? 0xFFFF : (n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1));
                    __m512 x = _mm512_maskz_loadu_ps(m, row + (n > 0 ? k : 0));
                    x = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, inv), lo), hi);
                    parts[p] = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(x));
                }
                packed = _mm512_inserti32x4(packed, parts[0], 0);
                packed = _mm512_inserti32x4(packed, parts[1], 1);
                packed = _mm512_inserti32x4(packed, parts[2], 2);
                packed = _mm512_inserti32x4(packed, parts[3], 3);
                packed = _mm512_xor_si512(packed, bias);
                int64_t g0 = k0 / 4, ng = groups - g0;
                __mmask16 gm = ng >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << ng) - 1);
                _mm512_mask_i32scatter_epi32(col + g0 * tile.width * 4, gm, stride, packed, 1);
            }
        }
    }
}

}  // namespace sparq
