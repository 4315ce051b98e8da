// Attention per head with AVX-512 (16 floats per vector, 4x4-vector tiles): the shared kernel in
// attention_kernel.inc over AVX-512 vector traits.
#include <immintrin.h>

#include <algorithm>

#include "kernels/fused.hpp"
#include "model/attention.hpp"

namespace sparq {
namespace {

struct Avx512 {
    static constexpr int W = 16, kScoreNV = 4, kCtxNV = 4;
    using reg = __m512;
    using mask = __mmask16;
    static reg zero() { return _mm512_setzero_ps(); }
    static reg load(const float* p) { return _mm512_loadu_ps(p); }
    static reg maskz_load(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
    static void mask_store(float* p, mask m, reg v) { _mm512_mask_storeu_ps(p, m, v); }
    static reg set1(float x) { return _mm512_set1_ps(x); }
    static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static mask tail(int n) { return static_cast<mask>((1u << n) - 1u); }  // n in [1, 16]
};

#include "model/attention_kernel.inc"

}  // namespace

void attention_head_avx512(const float* q, const float* k, const float* v, int64_t ld_qkv,
                           float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                           float* scratch) {
    attention_head_impl<Avx512>(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch);
}

}  // namespace sparq
