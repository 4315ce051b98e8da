// AVX-512BW sparse int8 1x4 core without VNNI: exact vpmaddwd on 16-bit halves.
#include <immintrin.h>

#include "kernels/s8/spmm_s8_cores.hpp"

namespace sparq::s8 {

namespace {
template <int V>
void run_tile(const jit::SpmmS8Args& a) {
    const __m512i lo_bytes = _mm512_set1_epi16(0x00FF);
    const int32_t* rp = a.row_ptr;
    int32_t* dst = a.dst;
    for (int64_t r = 0; r < a.rows; ++r, ++rp, dst += 16 * V) {
        __m512i acc[V];
        const __m512i c = _mm512_set1_epi32(a.comp[r]);
        for (int v = 0; v < V; ++v)
            acc[v] = a.accumulate ? _mm512_loadu_si512(dst + 16 * v) : _mm512_sub_epi32(_mm512_setzero_si512(), c);
        for (int32_t b = rp[0]; b < rp[1]; ++b) {
            const jit::S8Block blk = a.blocks[b];
            const __m512i w = _mm512_set1_epi32(blk.weights);
            const __m512i w_even = _mm512_srai_epi16(_mm512_slli_epi16(w, 8), 8);  // w0, w2
            const __m512i w_odd = _mm512_srai_epi16(w, 8);                         // w1, w3
            const uint8_t* s = a.src + static_cast<int64_t>(blk.offset) * V;
            for (int v = 0; v < V; ++v) {
                __m512i x = _mm512_loadu_si512(s + 64 * v);
                __m512i x_even = _mm512_and_si512(x, lo_bytes);
                __m512i x_odd = _mm512_srli_epi16(x, 8);
                acc[v] = _mm512_add_epi32(acc[v], _mm512_madd_epi16(x_even, w_even));
                acc[v] = _mm512_add_epi32(acc[v], _mm512_madd_epi16(x_odd, w_odd));
            }
        }
        for (int v = 0; v < V; ++v) _mm512_storeu_si512(dst + 16 * v, acc[v]);
    }
}
}  // namespace

void spmm_s8_avx512(const jit::SpmmS8Args& a, int vecs) {
    switch (vecs) {
        case 1: return run_tile<1>(a);
        case 2: return run_tile<2>(a);
        case 4: return run_tile<4>(a);
        default: return run_tile<8>(a);
    }
}

}  // namespace sparq::s8
