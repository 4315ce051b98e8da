// AVX2 sparse int8 1x4 core: exact vpmaddwd on 16-bit halves, a 16-token vector as two ymm.
#include <immintrin.h>

#include "kernels/s8/spmm_s8_cores.hpp"

namespace sparq::s8 {

namespace {
template <int V>
void run_tile(const jit::SpmmS8Args& a) {
    const __m256i lo_bytes = _mm256_set1_epi16(0x00FF);
    const int32_t* rp = a.row_ptr;
    int32_t* dst = a.dst;
    for (int64_t r = 0; r < a.rows; ++r, ++rp, dst += 16 * V) {
        __m256i acc[2 * V];
        const __m256i c = _mm256_set1_epi32(a.comp[r]);
        for (int v = 0; v < 2 * V; ++v)
            acc[v] = a.accumulate ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + 8 * v))
                                  : _mm256_sub_epi32(_mm256_setzero_si256(), c);
        for (int32_t b = rp[0]; b < rp[1]; ++b) {
            const jit::S8Block blk = a.blocks[b];
            const __m256i w = _mm256_set1_epi32(blk.weights);
            const __m256i w_even = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
            const __m256i w_odd = _mm256_srai_epi16(w, 8);
            const uint8_t* s = a.src + static_cast<int64_t>(blk.offset) * V;
            for (int v = 0; v < 2 * V; ++v) {
                __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32 * v));
                __m256i x_even = _mm256_and_si256(x, lo_bytes);
                __m256i x_odd = _mm256_srli_epi16(x, 8);
                acc[v] = _mm256_add_epi32(acc[v], _mm256_madd_epi16(x_even, w_even));
                acc[v] = _mm256_add_epi32(acc[v], _mm256_madd_epi16(x_odd, w_odd));
            }
        }
        for (int v = 0; v < 2 * V; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 8 * v), acc[v]);
    }
}
}  // namespace

void spmm_s8_avx2(const jit::SpmmS8Args& a, int vecs) {
    switch (vecs) {
        case 1: return run_tile<1>(a);
        case 2: return run_tile<2>(a);
        case 4: return run_tile<4>(a);
        default: return run_tile<8>(a);
    }
}

}  // namespace sparq::s8
