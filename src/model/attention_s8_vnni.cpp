// int8 attention per head with AVX512-VNNI (scheme and packing in attention_s8.hpp). Scores and
// context are 4 rows x up to 4 vectors of 16 int32 sums per tile, vpdpbusd over 4 bytes per lane:
// scores broadcast 4 features of a query row (u8) against 16 keys x 4 features of packed K;
// the context broadcasts 4 probabilities of a row (u8) against 4 keys x 16 features of packed V.
// The AMX variant (head_s8_amx, below) runs both matmuls on 16 x 16 int32 tiles of the same
// packed operands (they are the tiles' VNNI layouts) and shares the rest. In-cache head at seq
// 128, d 64 (attention_s8_bench): 9.0-9.6 vs 12.3-13.0 us; in BERT-base (90% 1x4 int8, s128)
// the attention stage at b8 1T 14.9-15.4 vs 16.9-17.3 ms, b1 1T 1.68-1.80 vs 2.15-2.20 ms.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/transpose_avx512.hpp"
#include "model/attention_deberta.hpp"
#include "model/attention_s8.hpp"

// GCC 12 reports the _mm512_undefined_* inside the reduce / unpack intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace sparq {
namespace {

inline __mmask16 tail16(int64_t n) {
    return n >= 16  ? static_cast<__mmask16>(0xFFFF)
           : n <= 0 ? static_cast<__mmask16>(0)
                    : static_cast<__mmask16>((1u << n) - 1u);
}

// 255 · 2^x for x <= 0 as in ref::exp2_255 (attention_s8.cpp), FMA for FMA: x clamped at -16,
// x = n + f with n = round(x), degree-4 polynomial in f (coefficients times 255), scaled by 2^n.
// At most 255 (p(f) <= 255 for f <= 0, <= 255·√2 for f <= 1/2 where n <= -1).
inline __m512 exp2_255(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(s8attn::kExp2Min));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(s8attn::kExp2C255[4]);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(s8attn::kExp2C255[3]));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(s8attn::kExp2C255[2]));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(s8attn::kExp2C255[1]));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(s8attn::kExp2C255[0]));
    return _mm512_scalef_ps(p, n);
}

// Q, K, V rows are far apart in the fused QKV output (3·hidden floats): no hardware prefetcher
// follows them, so the row loops prefetch this many rows ahead.
constexpr int64_t kPrefetchRows = 8;

// Walks the cache lines of the next head's Q, K and V rows (AttentionNext), one L2 prefetch per
// step(): the score and context tiles step once per group of 4 features / keys (~8 cycles of
// vpdpbusd), which spreads the head's lines over its matmuls instead of queuing them behind the
// line fill buffers. Without a next head (or once all lines are requested) step() does nothing.
// When next->q == next->v (a v-only layout: Q and K came int8 from the QKV kernel) only V is
// walked.
class NextPrefetch {
  public:
    NextPrefetch(const AttentionNext* next, int64_t ld_qkv, int64_t d)
        : ld_(ld_qkv * 4), bytes_(d * 4) {
        if (!next || !next->q) return;
        base_[0] = reinterpret_cast<const char*>(next->q);
        base_[1] = reinterpret_cast<const char*>(next->k);
        base_[2] = reinterpret_cast<const char*>(next->v);
        parts_ = next->q == next->v ? 1 : 3;  // V alone (Q and K came int8 from the QKV kernel)
        rows_ = next->seq;
        if (rows_ > 0) start_part();
    }
    void step() {
        if (row_ >= rows_) return;
        _mm_prefetch(cur_, _MM_HINT_T1);
        cur_ += 64;
        if (cur_ < end_) return;
        if (++part_ == parts_) {
            part_ = 0;
            ++row_;
        }
        if (row_ < rows_) start_part();
    }

  private:
    void start_part() {
        const char* p = base_[part_] + row_ * ld_;
        cur_ = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63});
        end_ = p + bytes_;
    }
    const char* base_[3] = {};
    const char* cur_ = nullptr;
    const char* end_ = nullptr;
    int64_t ld_, bytes_, row_ = 0, rows_ = 0;
    int part_ = 0, parts_ = 3;
};

// acc += vpdpbusd(a u8, b s8) with acc tied to one register: GCC 12 compiles the intrinsic in
// the 4x4 tile loops with a register copy per accumulator per step (and a spill), which made
// those loops front-end bound.
inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
    asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

inline int32_t load_u32(const uint8_t* p) {
    int32_t x;
    std::memcpy(&x, p, 4);
    return x;
}

// Rows of x (stride ld, d features) to bytes dst[i][0..d4): round(x * 127 / absmax) as s8, or
// as u8 with +128 when kU8; padding features quantize to 0 (128). scales[i] = absmax / 127.
// No clamp: |x| <= absmax makes |x * fl(127 / absmax)| <= 127 (1 + 2^-23)^2, which rounds to 127
// (the reference clamps; tests check both agree). NB = d16 / 16 vectors per row, masks hoisted.
template <bool kU8, int NB>
void quant_rows_nb(const float* x, int64_t ld, int64_t rows, int64_t d, int64_t d4, uint8_t* dst,
                   float* scales) {
    __mmask16 ml[NB], ms[NB];
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) {
        ml[b] = tail16(d - 16 * b);
        ms[b] = tail16(d4 - 16 * b);
    }
    const __m512i offset = _mm512_set1_epi32(128);
    for (int64_t i = 0; i < rows; ++i) {
        const float* xi = x + i * ld;
        if (i + kPrefetchRows < rows)
#pragma GCC unroll 4
            for (int b = 0; b < NB; ++b)
                _mm_prefetch(reinterpret_cast<const char*>(xi + kPrefetchRows * ld + 16 * b),
                             _MM_HINT_T0);
        __m512 v[NB];
#pragma GCC unroll 4
        for (int b = 0; b < NB; ++b) v[b] = _mm512_maskz_loadu_ps(ml[b], xi + 16 * b);
        __m512 m = _mm512_abs_ps(v[0]);
#pragma GCC unroll 4
        for (int b = 1; b < NB; ++b) m = _mm512_max_ps(m, _mm512_abs_ps(v[b]));
        const float absmax = _mm512_reduce_max_ps(m);
        scales[i] = absmax / 127.0f;
        const __m512 inv = _mm512_set1_ps(absmax > s8attn::kTiny ? 127.0f / absmax : 0.0f);
#pragma GCC unroll 4
        for (int b = 0; b < NB; ++b) {
            __m512i t = _mm512_cvtps_epi32(_mm512_mul_ps(v[b], inv));
            __m128i q = kU8 ? _mm512_cvtusepi32_epi8(_mm512_add_epi32(t, offset))
                            : _mm512_cvtsepi32_epi8(t);
            _mm_mask_storeu_epi8(dst + i * d4 + 16 * b, ms[b], q);
        }
    }
}

// Any d: the same in two passes over each row.
template <bool kU8>
void quant_rows_any(const float* x, int64_t ld, int64_t rows, int64_t d, int64_t d4, uint8_t* dst,
                    float* scales) {
    const __m512i offset = _mm512_set1_epi32(128);
    for (int64_t i = 0; i < rows; ++i) {
        const float* xi = x + i * ld;
        __m512 m = _mm512_setzero_ps();
        for (int64_t c = 0; c < d; c += 16)
            m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(tail16(d - c), xi + c)));
        const float absmax = _mm512_reduce_max_ps(m);
        scales[i] = absmax / 127.0f;
        const __m512 inv = _mm512_set1_ps(absmax > s8attn::kTiny ? 127.0f / absmax : 0.0f);
        for (int64_t c = 0; c < d4; c += 16) {
            __m512i t = _mm512_cvtps_epi32(
                _mm512_mul_ps(_mm512_maskz_loadu_ps(tail16(d - c), xi + c), inv));
            __m128i q = kU8 ? _mm512_cvtusepi32_epi8(_mm512_add_epi32(t, offset))
                            : _mm512_cvtsepi32_epi8(t);
            _mm_mask_storeu_epi8(dst + i * d4 + c, tail16(d4 - c), q);
        }
    }
}

// d4 == 64 (d in 61..64), 16 rows at a time: absmax by vrangeps (max of |a|, |b| in one op), the
// scales and reciprocals by one vector division per block, each row's 4 vectors packed to 64
// bytes by vpacks (values in [-127, 127]: exact) + one vpermd, +128 as a xor of the sign bit.
// Same numbers as quant_rows_nb.
template <bool kU8>
void quant_rows_64(const float* x, int64_t ld, int64_t rows, int64_t d, uint8_t* dst,
                   float* scales) {
    const __mmask16 ml3 = tail16(d - 48);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    alignas(64) float am[16], inv[16];
    for (int64_t i0 = 0; i0 < rows; i0 += 16) {
        const int64_t n = std::min<int64_t>(16, rows - i0);
        for (int64_t r = 0; r < n; ++r) {
            const float* xi = x + (i0 + r) * ld;
            if (i0 + r + 16 < rows)
#pragma GCC unroll 4
                for (int b = 0; b < 4; ++b)
                    _mm_prefetch(reinterpret_cast<const char*>(xi + 16 * ld + 16 * b), _MM_HINT_T0);
            const __m512 a = _mm512_range_ps(_mm512_loadu_ps(xi), _mm512_loadu_ps(xi + 16), 0x0B);
            const __m512 b = _mm512_range_ps(_mm512_loadu_ps(xi + 32),
                                             _mm512_maskz_loadu_ps(ml3, xi + 48), 0x0B);
            am[r] = _mm512_reduce_max_ps(_mm512_range_ps(a, b, 0x0B));
        }
        const __mmask16 mn = tail16(n);
        const __m512 m = _mm512_maskz_load_ps(mn, am);
        _mm512_mask_storeu_ps(scales + i0, mn, _mm512_div_ps(m, _mm512_set1_ps(127.0f)));
        _mm512_store_ps(inv, _mm512_maskz_div_ps(
                                 _mm512_cmp_ps_mask(m, _mm512_set1_ps(s8attn::kTiny), _CMP_GT_OQ),
                                 _mm512_set1_ps(127.0f), m));
        for (int64_t r = 0; r < n; ++r) {
            const float* xi = x + (i0 + r) * ld;
            const __m512 s = _mm512_set1_ps(inv[r]);
            const __m512i t0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xi), s));
            const __m512i t1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xi + 16), s));
            const __m512i t2 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xi + 32), s));
            const __m512i t3 =
                _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(ml3, xi + 48), s));
            __m512i q = _mm512_permutexvar_epi32(
                order, _mm512_packs_epi16(_mm512_packs_epi32(t0, t1), _mm512_packs_epi32(t2, t3)));
            if constexpr (kU8) q = _mm512_xor_si512(q, flip);
            _mm512_storeu_si512(dst + (i0 + r) * 64, q);
        }
    }
}

template <bool kU8>
void quant_rows(const float* x, int64_t ld, int64_t rows, int64_t d, int64_t d4, uint8_t* dst,
                float* scales) {
    if (d4 == 64) return quant_rows_64<kU8>(x, ld, rows, d, dst, scales);
    switch ((d + 15) / 16) {
        case 1:
            return quant_rows_nb<kU8, 1>(x, ld, rows, d, d4, dst, scales);
        case 2:
            return quant_rows_nb<kU8, 2>(x, ld, rows, d, d4, dst, scales);
        case 3:
            return quant_rows_nb<kU8, 3>(x, ld, rows, d, d4, dst, scales);
        case 4:
            return quant_rows_nb<kU8, 4>(x, ld, rows, d, d4, dst, scales);
        default:
            return quant_rows_any<kU8>(x, ld, rows, d, d4, dst, scales);
    }
}

struct Ops {
    const uint8_t* q8;  // [seq][d4] u8
    const uint8_t* kpack;
    const int32_t* kcomp;
    const float *rf, *sk;
    const uint8_t* p8;  // [seq][l4] u8
    const uint8_t* vpack;
    const float *sp, *sv;
    int64_t seq, d, d4, d16, l4, l16;
    NextPrefetch* pf;  // stepped once per group in the tiles
    int64_t qa = 0, qb = 0;  // the context's query rows [qa, qb)
};

// The u8 x s8 micro-kernel of the score and context tiles: acc[r][x] = sum over groups g of
// dpbusd(4 u8 at a + r * lda + 4g, broadcast; 64 s8 bytes at b + g * ldb + 64x), r < R, x < NV
// (ldb in bytes). Steps the prefetcher once per group.
template <int R, int NV>
__attribute__((always_inline)) inline void dot_tile(const uint8_t* a, int64_t lda, const uint8_t* b,
                                                    int64_t ldb, int64_t groups, NextPrefetch* pf,
                                                    __m512i (&acc)[R][NV]) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int x = 0; x < NV; ++x) acc[r][x] = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; ++g) {
        __m512i bg[NV];
        pf->step();
#pragma GCC unroll 4
        for (int x = 0; x < NV; ++x) bg[x] = _mm512_loadu_si512(b + g * ldb + 64 * x);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            __m512i ar = _mm512_set1_epi32(load_u32(a + r * lda + 4 * g));
#pragma GCC unroll 4
            for (int x = 0; x < NV; ++x) acc[r][x] = dpbusd(acc[r][x], ar, bg[x]);
        }
    }
}

// Scores of rows [i0, i0+R) x keys [j0, j0 + 16*NV): int32 sums into dsti (kInt) or the scaled
// floats into dstf, row i at (i - row0) * ldd.
template <int R, int NV, bool kInt>
inline void scores_tile(const Ops& o, int64_t i0, int64_t j0, int64_t row0, float* dstf,
                        int32_t* dsti, int64_t ldd) {
    __m512i acc[R][NV];
    dot_tile<R, NV>(o.q8 + i0 * o.d4, o.d4, o.kpack + j0 * 4, o.l16 * 4, o.d4 / 4, o.pf, acc);
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) {
        const __m512i comp = _mm512_loadu_si512(o.kcomp + j0 + 16 * x);
        const __m512 sk = _mm512_loadu_ps(o.sk + j0 + 16 * x);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            __m512i s = _mm512_sub_epi32(acc[r][x], comp);
            if constexpr (kInt) {
                _mm512_storeu_si512(dsti + (i0 + r - row0) * ldd + j0 + 16 * x, s);
            } else {
                __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(o.rf[i0 + r]));
                _mm512_storeu_ps(dstf + (i0 + r - row0) * ldd + j0 + 16 * x, _mm512_mul_ps(f, sk));
            }
        }
    }
}

template <int NV, bool kInt>
inline void scores_cols(const Ops& o, int64_t i0, int64_t i1, int64_t j0, float* dstf,
                        int32_t* dsti, int64_t ldd) {
    int64_t i = i0;
    for (; i + 4 <= i1; i += 4) scores_tile<4, NV, kInt>(o, i, j0, i0, dstf, dsti, ldd);
    for (; i < i1; ++i) scores_tile<1, NV, kInt>(o, i, j0, i0, dstf, dsti, ldd);
}

// Scores of rows [i0, i1) x `vecs` vectors of 16 keys from key j0, row i at (i - i0) * ldd, key
// j at column j.
template <bool kInt>
void scores_range(const Ops& o, int64_t i0, int64_t i1, int64_t j0, int64_t vecs, float* dstf,
                  int32_t* dsti, int64_t ldd) {
    int64_t j = j0;
    const int64_t j1 = j0 + 16 * vecs;
    for (; j + 64 <= j1; j += 64) scores_cols<4, kInt>(o, i0, i1, j, dstf, dsti, ldd);
    switch ((j1 - j) / 16) {
        case 3:
            scores_cols<3, kInt>(o, i0, i1, j, dstf, dsti, ldd);
            break;
        case 2:
            scores_cols<2, kInt>(o, i0, i1, j, dstf, dsti, ldd);
            break;
        case 1:
            scores_cols<1, kInt>(o, i0, i1, j, dstf, dsti, ldd);
            break;
        default:
            break;
    }
}

// Scores of rows [i0, i1) x all l16 keys (key columns past seq hold 0), row i at (i - i0) * ldd.
template <bool kInt>
void scores_rows(const Ops& o, int64_t i0, int64_t i1, float* dstf, int32_t* dsti, int64_t ldd) {
    scores_range<kInt>(o, i0, i1, 0, o.l16 / 16, dstf, dsti, ldd);
}

// Context of rows [i0, i0+R) x features [c0, c0 + 16*NV) (the last vector cut at d): int32 sums
// into dsti ([seq][d]) when kInt, else the scaled floats into ctx.
template <int R, int NV, bool kInt>
inline void context_tile(const Ops& o, int64_t i0, int64_t c0, float* ctx, int64_t ld_ctx,
                         int32_t* dsti) {
    __m512i acc[R][NV];
    dot_tile<R, NV>(o.p8 + i0 * o.l4, o.l4, o.vpack + c0 * 4, o.d16 * 4, o.l4 / 4, o.pf, acc);
#pragma GCC unroll 4
    for (int x = 0; x < NV; ++x) {
        const int64_t c = c0 + 16 * x;
        const __mmask16 m = tail16(o.d - c);
        const __m512 sv = _mm512_loadu_ps(o.sv + c);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            if constexpr (kInt) {
                _mm512_mask_storeu_epi32(dsti + (i0 + r) * o.d + c, m, acc[r][x]);
            } else {
                __m512 f =
                    _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][x]), _mm512_set1_ps(o.sp[i0 + r]));
                _mm512_mask_storeu_ps(ctx + (i0 + r) * ld_ctx + c, m, _mm512_mul_ps(f, sv));
            }
        }
    }
}

template <int NV, bool kInt>
inline void context_cols(const Ops& o, int64_t c0, float* ctx, int64_t ld_ctx, int32_t* dsti) {
    int64_t i = o.qa;
    for (; i + 4 <= o.qb; i += 4) context_tile<4, NV, kInt>(o, i, c0, ctx, ld_ctx, dsti);
    for (; i < o.qb; ++i) context_tile<1, NV, kInt>(o, i, c0, ctx, ld_ctx, dsti);
}

template <bool kInt>
void context_all(const Ops& o, float* ctx, int64_t ld_ctx, int32_t* dsti) {
    for (int64_t c = 0; c < o.d16; c += 64) {
        switch (std::min<int64_t>(4, (o.d16 - c) / 16)) {
            case 4:
                context_cols<4, kInt>(o, c, ctx, ld_ctx, dsti);
                break;
            case 3:
                context_cols<3, kInt>(o, c, ctx, ld_ctx, dsti);
                break;
            case 2:
                context_cols<2, kInt>(o, c, ctx, ld_ctx, dsti);
                break;
            default:
                context_cols<1, kInt>(o, c, ctx, ld_ctx, dsti);
                break;
        }
    }
}

// `rows` (<= kScoreRows) rows of log2-domain scores (stride l16) to p8[i][j] = round(255 *
// 2^(s_ij - max_j s_ij)) for j < seq, 0 up to l4 (row stride l4), and sp[i] = 1 / Σ_j p8[i][j]
// (attention_s8.hpp). In phases over the rows (all maxima, then all exp rows, then the sums), so
// the rows' reductions overlap; 64 keys at a time are packed to bytes by vpackus (dwords hold
// values in [0, 255], so the saturating packs are exact), summed by vpsadbw and put back in key
// order by one vpermd.
void softmax_quant(const float* scores, int64_t rows, int64_t seq, int64_t l16, int64_t l4,
                   uint8_t* p8, float* sp, const float* row_max = nullptr) {
    float vmax[s8attn::kScoreRows];
    int32_t sums[s8attn::kScoreRows];
    if (row_max) std::copy(row_max, row_max + rows, vmax);
    for (int64_t i = 0; i < rows && !row_max; ++i) {
        const float* row = scores + i * l16;
        __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
        int64_t c = 0;
        for (; c + 32 <= seq; c += 32) {
            m0 = _mm512_max_ps(m0, _mm512_loadu_ps(row + c));
            m1 = _mm512_max_ps(m1, _mm512_loadu_ps(row + c + 16));
        }
        for (; c < seq; c += 16)
            m0 = _mm512_mask_max_ps(m0, tail16(seq - c), m0, _mm512_loadu_ps(row + c));
        vmax[i] = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    }
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t i = 0; i < rows; ++i) {
        const float* row = scores + i * l16;
        uint8_t* prow = p8 + i * l4;
        const __m512 vm = _mm512_set1_ps(vmax[i]);
        __m512i sum64 = zero, sum32 = zero;
        int64_t c = 0;
        for (; c + 64 <= l4; c += 64) {
            __m512i t[4];
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u)
                t[u] = _mm512_maskz_cvtps_epi32(
                    tail16(seq - c - 16 * u),
                    exp2_255(_mm512_sub_ps(_mm512_loadu_ps(row + c + 16 * u), vm)));
            const __m512i b = _mm512_packus_epi16(_mm512_packus_epi32(t[0], t[1]),
                                                  _mm512_packus_epi32(t[2], t[3]));
            sum64 = _mm512_add_epi64(sum64, _mm512_sad_epu8(b, zero));
            _mm512_storeu_si512(prow + c, _mm512_permutexvar_epi32(order, b));
        }
        for (; c < l4; c += 16) {
            const __mmask16 m = tail16(seq - c);
            __m512 e = exp2_255(_mm512_sub_ps(_mm512_loadu_ps(row + c), vm));
            __m512i t = _mm512_maskz_cvtps_epi32(m, e);
            sum32 = _mm512_add_epi32(sum32, t);
            _mm_mask_storeu_epi8(prow + c, tail16(l4 - c), _mm512_cvtusepi32_epi8(t));
        }
        sums[i] =
            static_cast<int32_t>(_mm512_reduce_add_epi64(sum64)) + _mm512_reduce_add_epi32(sum32);
    }
    for (int64_t i = 0; i < rows; ++i) sp[i] = 1.0f / static_cast<float>(sums[i]);
}

// V per feature over the sequence: sv[c] = max_j |v[j][c]| / 127; vpack[g][c][k] = v8[4g+k][c]
// (keys past seq and features past d are 0). Features [c0, c0 + 16*NB): first the column maxima
// (NB independent chains over the rows), then quantize and interleave 4 rows at a time.
template <int NB>
void quant_pack_v_block(const float* v, int64_t ld, int64_t seq, int64_t d, int64_t d16, int64_t l4,
                        int64_t c0, uint8_t* vpack, float* sv) {
    const __m512i byte = _mm512_set1_epi32(0xFF);
    __mmask16 ml[NB];
    __m512 m[NB], inv[NB];
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) {
        ml[b] = tail16(d - c0 - 16 * b);
        m[b] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < seq; ++j) {
        if (j + kPrefetchRows < seq)
#pragma GCC unroll 4
            for (int b = 0; b < NB; ++b)
                _mm_prefetch(
                    reinterpret_cast<const char*>(v + (j + kPrefetchRows) * ld + c0 + 16 * b),
                    _MM_HINT_T0);
#pragma GCC unroll 4
        for (int b = 0; b < NB; ++b)
            m[b] = _mm512_max_ps(
                m[b], _mm512_abs_ps(_mm512_maskz_loadu_ps(ml[b], v + j * ld + c0 + 16 * b)));
    }
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) {
        _mm512_storeu_ps(sv + c0 + 16 * b, _mm512_div_ps(m[b], _mm512_set1_ps(127.0f)));
        inv[b] =
            _mm512_maskz_div_ps(_mm512_cmp_ps_mask(m[b], _mm512_set1_ps(s8attn::kTiny), _CMP_GT_OQ),
                                _mm512_set1_ps(127.0f), m[b]);
    }
    for (int64_t g = 0; g < l4 / 4; ++g) {
#pragma GCC unroll 4
        for (int b = 0; b < NB; ++b) {
            __m512i t[4];
#pragma GCC unroll 4
            for (int kk = 0; kk < 4; ++kk) {
                const int64_t j = 4 * g + kk;
                t[kk] = j < seq
                            ? _mm512_cvtps_epi32(_mm512_mul_ps(
                                  _mm512_maskz_loadu_ps(ml[b], v + j * ld + c0 + 16 * b), inv[b]))
                            : _mm512_setzero_si512();
            }
            __m512i w = _mm512_or_si512(
                _mm512_and_si512(t[0], byte),
                _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(t[1], byte), 8),
                                _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(t[2], byte), 16),
                                                _mm512_slli_epi32(t[3], 24))));
            _mm512_storeu_si512(vpack + (g * d16 + c0 + 16 * b) * 4, w);
        }
    }
}

void quant_pack_v(const float* v, int64_t ld, int64_t seq, int64_t d, int64_t d16, int64_t l4,
                  uint8_t* vpack, float* sv) {
    for (int64_t c = 0; c < d16; c += 64) {
        switch (std::min<int64_t>(4, (d16 - c) / 16)) {
            case 4:
                quant_pack_v_block<4>(v, ld, seq, d, d16, l4, c, vpack, sv);
                break;
            case 3:
                quant_pack_v_block<3>(v, ld, seq, d, d16, l4, c, vpack, sv);
                break;
            case 2:
                quant_pack_v_block<2>(v, ld, seq, d, d16, l4, c, vpack, sv);
                break;
            default:
                quant_pack_v_block<1>(v, ld, seq, d, d16, l4, c, vpack, sv);
                break;
        }
    }
}

// K rows ktmp [l16][d4] (groups = d4 / 4 dwords each) to kpack [groups][l16] dwords: 16x16
// register transposes of dwords, the last block of groups masked.
void pack_k(const uint8_t* ktmp, int64_t d4, int64_t groups, int64_t l16, uint8_t* kpack) {
    for (int64_t g0 = 0; g0 < groups; g0 += 16) {
        const int64_t gn = std::min<int64_t>(16, groups - g0);
        const __mmask16 m = tail16(gn);
        for (int64_t j0 = 0; j0 < l16; j0 += 16) {
            __m512i r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; ++i)
                r[i] = _mm512_maskz_loadu_epi32(m, ktmp + (j0 + i) * d4 + 4 * g0);
            s8::transpose16x16_epi32(r);
            for (int64_t g = 0; g < gn; ++g)
                _mm512_storeu_si512(kpack + ((g0 + g) * l16 + j0) * 4, r[g]);
        }
    }
}

// kcomp[j] = 128 * Σ_c k8[j][c] for all l16 keys, from packed K with groups kld keys apart
// (vpdpbusd of 0x80 bytes).
void key_compensation(const uint8_t* kpack, int64_t groups, int64_t l16, int64_t kld,
                      int32_t* kcomp) {
    const __m512i k128 = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t j = 0; j < l16; j += 16) {
        __m512i acc = _mm512_setzero_si512();
        for (int64_t g = 0; g < groups; ++g)
            acc = _mm512_dpbusd_epi32(acc, k128, _mm512_loadu_si512(kpack + (g * kld + j) * 4));
        _mm512_storeu_si512(kcomp + j, acc);
    }
}

}  // namespace

namespace {
// Pointers into one call's scratch (AttentionS8Layout).
struct Scratch {
    explicit Scratch(uint8_t* s, const AttentionS8Layout& L)
        : q8(s + L.q8),
          rf(reinterpret_cast<float*>(s + L.rf)),
          kpack(s + L.kpack),
          kcomp(reinterpret_cast<int32_t*>(s + L.kcomp)),
          sk(reinterpret_cast<float*>(s + L.sk)),
          ktmp(s + L.ktmp),
          scores(reinterpret_cast<float*>(s + L.scores)),
          p8(s + L.p8),
          sp(reinterpret_cast<float*>(s + L.sp)),
          vpack(s + L.vpack),
          sv(reinterpret_cast<float*>(s + L.sv)) {}
    uint8_t* q8;
    float* rf;
    uint8_t* kpack;
    int32_t* kcomp;
    float* sk;
    uint8_t* ktmp;
    float* scores;
    uint8_t* p8;
    float* sp;
    uint8_t* vpack;
    float* sv;
};

// Both variants' first steps: Q quantized to u8 rows (rf = scale·log2(e)·sq, the log2 domain:
// softmax by 2^x), K quantized, zero padded to l16 keys, packed [d4/4][l16][4] with its
// compensation; the probe gets q8, k8, sq and sk.
void prepare_qk(const float* q, const float* k, int64_t ld_qkv, int64_t seq, int64_t d, float scale,
                const AttentionS8Layout& L, const Scratch& s, AttentionS8Probe* probe) {
    quant_rows<true>(q, ld_qkv, seq, d, L.d4, s.q8, s.rf);  // rf holds sq for now
    if (probe) probe->sq.assign(s.rf, s.rf + seq);
    const float scale_log2 = scale * s8attn::kLog2e;
    for (int64_t i = 0; i < seq; ++i) s.rf[i] = scale_log2 * s.rf[i];
    quant_rows<false>(k, ld_qkv, seq, d, L.d4, s.ktmp, s.sk);
    for (int64_t j = seq; j < L.l16; ++j) {
        std::memset(s.ktmp + j * L.d4, 0, L.d4);
        s.sk[j] = 0.0f;
    }
    const int64_t groups = L.d4 / 4;  // [l16][d4/4] groups of 4 bytes -> [d4/4][l16]
    pack_k(s.ktmp, L.d4, groups, L.l16, s.kpack);
    key_compensation(s.kpack, groups, L.l16, L.l16, s.kcomp);
    if (probe) {
        probe->q8.resize(seq * d);
        probe->k8.resize(seq * d);
        for (int64_t i = 0; i < seq; ++i)
            for (int64_t c = 0; c < d; ++c) {
                probe->q8[i * d + c] = static_cast<int8_t>(int32_t{s.q8[i * L.d4 + c]} - 128);
                probe->k8[i * d + c] = static_cast<int8_t>(s.ktmp[i * L.d4 + c]);
            }
        probe->sk.assign(s.sk, s.sk + seq);
    }
}

// The probe's p8, sp, sv and v8 once they are final (p8 rows with stride lp, V packed with
// key groups of d16 features).
void probe_pv(AttentionS8Probe* probe, const Scratch& s, int64_t seq, int64_t d, int64_t d16,
              int64_t lp) {
    probe->p8.resize(seq * seq);
    for (int64_t i = 0; i < seq; ++i)
        std::copy(s.p8 + i * lp, s.p8 + i * lp + seq, probe->p8.data() + i * seq);
    probe->sp.assign(s.sp, s.sp + seq);
    probe->sv.assign(s.sv, s.sv + d);
    probe->v8.resize(seq * d);
    for (int64_t j = 0; j < seq; ++j)
        for (int64_t c = 0; c < d; ++c)
            probe->v8[j * d + c] = static_cast<int8_t>(s.vpack[((j / 4) * d16 + c) * 4 + j % 4]);
}

// The relative position bias in the log2 domain on `rows` score rows from query i0 (stride l16,
// keys j < seq): s = fma(rel[j - i], log2(e), s), as the reference.
void add_rel_bias(float* scores, int64_t rows, int64_t i0, int64_t seq, int64_t l16,
                  const float* rel) {
    const __m512 log2e = _mm512_set1_ps(s8attn::kLog2e);
    for (int64_t r = 0; r < rows; ++r) {
        float* row = scores + r * l16;
        const float* b = rel - (i0 + r);
        for (int64_t j = 0; j < seq; j += 16) {
            const __mmask16 m = tail16(seq - j);
            _mm512_mask_storeu_ps(
                row + j, m,
                _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, b + j), log2e, _mm512_loadu_ps(row + j)));
        }
    }
}

// DeBERTa's c2p / p2c products on int8 (attention_head_deberta_s8), per band of kDebertaBand
// query / key rows against the relative rows the band reads, into the scratch after L.bytes; the
// terms to add to the scores. Q and K are quantized (prepare_qk).
DebertaTerms deberta_products_s8(const DisentangledS8Head& rel, const AttentionS8Layout& L,
                                 const Scratch& s, uint8_t* scratch, int64_t seq, int64_t d,
                                 float scale, NextPrefetch* none) {
    const DebertaS8Layout D(seq, d);
    const int64_t width = D.width, bands = D.bands;
    uint8_t* ku8 = scratch + D.ku8;  // K + 128 as u8 rows [l16][d4]
    float* rk = reinterpret_cast<float*>(scratch + D.rk);
    float* c = reinterpret_cast<float*>(scratch + D.c);
    float* p = reinterpret_cast<float*>(scratch + D.p);
    int32_t* lo = reinterpret_cast<int32_t*>(scratch + D.lo);
    DebertaTerms t;
    t.seq = seq;
    t.idx = rel.idx;
    t.width = width;
    t.c_lo = lo;
    t.p_lo = lo + bands;
    // The right-hand side of one term: the head's packed relative rows as "keys".
    auto rel_ops = [&](const S8RelPack& rp, const uint8_t* rows8, const float* rf) {
        return Ops{rows8,
                   rp.pack.data() + rel.head * rp.d4 * rp.cols,
                   rp.comp.data() + rel.head * rp.cols,
                   rf,
                   rp.scale.data() + rel.head * rp.cols,
                   nullptr,
                   nullptr,
                   nullptr,
                   nullptr,
                   seq,
                   d,
                   L.d4,
                   L.d16,
                   L.l4,
                   rp.cols,
                   none};
    };
    if (rel.pos_q) {
        const float scale_log2 = scale * s8attn::kLog2e;
        const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
        for (int64_t j = 0; j < seq; ++j) {
            rk[j] = scale_log2 * s.sk[j];
            for (int64_t c0 = 0; c0 < L.d4; c0 += 64) {
                const __mmask64 m =
                    L.d4 - c0 >= 64 ? ~__mmask64(0) : (__mmask64(1) << (L.d4 - c0)) - 1;
                _mm512_mask_storeu_epi8(
                    ku8 + j * L.d4 + c0, m,
                    _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, s.ktmp + j * L.d4 + c0), flip));
            }
        }
    }
    const Ops oc = rel.pos_k ? rel_ops(*rel.pos_k, s.q8, s.rf) : Ops{};
    const Ops op = rel.pos_q ? rel_ops(*rel.pos_q, ku8, rk) : Ops{};
    for (int64_t b = 0; b < bands; ++b) {
        const int64_t r0 = b * kDebertaBand, r1 = std::min(seq, r0 + kDebertaBand);
        if (rel.pos_k) {  // c2p: query rows [r0, r1) against the relative rows they read
            const int32_t first = rel.idx[r0 - (seq - 1)] / 16 * 16, last = rel.idx[r1 - 1];
            lo[b] = first;
            scores_range<false>(oc, r0, r1, first, (last - first) / 16 + 1, c + r0 * width - first,
                                nullptr, width);
        }
        if (rel.pos_q) {  // p2c: key rows [r0, r1)
            const int32_t first = rel.idx[-(r1 - 1)] / 16 * 16, last = rel.idx[seq - 1 - r0];
            lo[bands + b] = first;
            scores_range<false>(op, r0, r1, first, (last - first) / 16 + 1, p + r0 * width - first,
                                nullptr, width);
        }
    }
    t.c = rel.pos_k ? c : nullptr;
    t.p = rel.pos_q ? p : nullptr;
    return t;
}

// One head: a relative bias by distance (rel) or DeBERTa's relative terms (dis), or neither;
// the context of query rows [qa, qb) only (the others' scores are not computed).
void head_s8_impl(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                  int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                  AttentionS8Probe* probe, const AttentionNext* next, const float* rel,
                  const DisentangledS8Head* dis, int64_t qa, int64_t qb) {
    const AttentionS8Layout L(seq, d);
    const Scratch s(scratch, L);
    prepare_qk(q, k, ld_qkv, seq, d, scale, L, s, probe);
    NextPrefetch pf(next, ld_qkv, d), none(nullptr, ld_qkv, d);
    DebertaTerms terms;
    if (dis) terms = deberta_products_s8(*dis, L, s, scratch, seq, d, scale, &none);
    Ops o{s.q8, s.kpack, s.kcomp, s.rf,  s.sk, s.p8,  s.vpack, s.sp, s.sv,
          seq,  d,       L.d4,    L.d16, L.l4, L.l16, &none,   qa,   qb};
    if (probe) {
        std::vector<int32_t> si(seq * L.l16);
        scores_rows<true>(o, 0, seq, nullptr, si.data(), L.l16);
        probe->scores.resize(seq * seq);
        for (int64_t i = 0; i < seq; ++i)
            std::copy(si.data() + i * L.l16, si.data() + i * L.l16 + seq,
                      probe->scores.data() + i * seq);
    }
    o.pf = &pf;
    // Scores and softmax per tile of query rows: the tile's scores stay in L1.
    for (int64_t i0 = qa; i0 < qb; i0 += s8attn::kScoreRows) {
        const int64_t i1 = std::min(qb, i0 + s8attn::kScoreRows);
        scores_rows<false>(o, i0, i1, s.scores, nullptr, L.l16);
        if (rel) add_rel_bias(s.scores, i1 - i0, i0, seq, L.l16, rel);
        if (dis) avx512::add_deberta_term_sums(terms, s.scores, L.l16, i0, i1 - i0);
        softmax_quant(s.scores, i1 - i0, seq, L.l16, L.l4, s.p8 + i0 * L.l4, s.sp + i0);
    }
    quant_pack_v(v, ld_qkv, seq, d, L.d16, L.l4, s.vpack, s.sv);
    if (probe) {
        probe_pv(probe, s, seq, d, L.d16, L.l4);
        probe->ctx.resize(seq * d);
        o.pf = &none;
        context_all<true>(o, nullptr, 0, probe->ctx.data());
        o.pf = &pf;
    }
    context_all<false>(o, ctx, ld_ctx, nullptr);
}

void head_s8(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
             int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
             AttentionS8Probe* probe, const AttentionNext* next, const float* rel) {
    head_s8_impl(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, probe, next, rel, nullptr, 0,
                 seq);
}

// ---- AMX variant: the same integers from tdpbusd on 16 x 16 int32 tiles ----
// Only these functions use the tile instructions (function-level target: the file is built for
// AVX512-VNNI, the tile unit is asked for at run time, amx_tiles_ready()).
#define SPARQ_AMX __attribute__((target("amx-tile,amx-int8")))

struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

// Tiles: 0 query rows (16 x d4 bytes of q8), 1 probability rows (16 x 64 keys of p8), 2-3 K
// blocks (d4/4 groups x 16 keys x 4), 4-5 V blocks (16 key groups x 16 features x 4), 6-7 int32
// sums (16 x 16).
TileConfig tile_config(int64_t d4) {
    TileConfig c;
    auto set = [&](int t, int rows, int colsb) {
        c.rows[t] = static_cast<uint8_t>(rows);
        c.colsb[t] = static_cast<uint16_t>(colsb);
    };
    set(0, 16, static_cast<int>(d4));
    set(1, 16, 64);
    set(2, static_cast<int>(d4 / 4), 64);
    set(3, static_cast<int>(d4 / 4), 64);
    for (int t = 4; t < 8; ++t) set(t, 16, 64);
    return c;
}

// Where the AMX matmuls find Q (u8 rows, qld bytes apart) and packed K (groups kld keys apart).
struct QkTiles {
    const uint8_t* q8;
    int64_t qld;
    const uint8_t* kp;
    int64_t kld;
};

// Scores of query rows [i0, i0 + 16) against all l16 keys as int32 into si (row stride l16), two
// 16-key blocks at a time on separate tiles.
SPARQ_AMX void scores_amx(const AttentionS8Layout& L, const QkTiles& o, int64_t i0, int32_t* si) {
    _tile_loadd(0, o.q8 + i0 * o.qld, o.qld);
    const int64_t kstride = o.kld * 4, sstride = L.l16 * 4;
    int64_t j = 0;
    for (; j + 32 <= L.l16; j += 32) {
        _tile_loadd(2, o.kp + j * 4, kstride);
        _tile_loadd(3, o.kp + (j + 16) * 4, kstride);
        _tile_zero(6);
        _tile_zero(7);
        _tile_dpbusd(6, 0, 2);
        _tile_dpbusd(7, 0, 3);
        _tile_stored(6, si + j, sstride);
        _tile_stored(7, si + j + 16, sstride);
    }
    if (j < L.l16) {
        _tile_loadd(2, o.kp + j * 4, kstride);
        _tile_zero(6);
        _tile_dpbusd(6, 0, 2);
        _tile_stored(6, si + j, sstride);
    }
}

// Context sums of query rows [i0, i0 + 16) x features [c0, c0 + 16 * nb) (nb 1 or 2) over all
// l64 keys into ct[x][16][16].
SPARQ_AMX void context_amx(const AttentionS8Layout& L, const Scratch& s, int64_t i0, int64_t c0,
                           int nb, int32_t* ct) {
    const int64_t vstride = L.d16 * 4;
    _tile_zero(6);
    _tile_zero(7);
    for (int64_t kb = 0; kb < L.l64; kb += 64) {
        _tile_loadd(1, s.p8 + i0 * L.l64 + kb, L.l64);
        const uint8_t* vb = s.vpack + ((kb / 4) * L.d16 + c0) * 4;
        _tile_loadd(4, vb, vstride);
        _tile_dpbusd(6, 1, 4);
        if (nb == 2) {
            _tile_loadd(5, vb + 64, vstride);
            _tile_dpbusd(7, 1, 5);
        }
    }
    _tile_stored(6, ct, 64);
    if (nb == 2) _tile_stored(7, ct + 256, 64);
}

SPARQ_AMX void load_tiles(const TileConfig& c) { _tile_loadconfig(&c); }
// Frees the tile state after each head, so the AVX-512 code around runs as without AMX.
SPARQ_AMX void release_tiles() { _tile_release(); }

// The AMX head once Q, rf, packed K, kcomp and sk are in place (o, s): V quantized here, then per
// 16 query rows the scores tiles, their conversion with the row maxima, the softmax and the
// context tiles.
void amx_body(const AttentionS8Layout& L, const Scratch& s, const QkTiles& o, const float* v,
              int64_t ld_qkv, float* ctx, int64_t ld_ctx, int64_t seq, int64_t d,
              AttentionS8Probe* probe, const AttentionNext* next, const float* rel) {
    const __m512 log2e = _mm512_set1_ps(s8attn::kLog2e);
    quant_pack_v(v, ld_qkv, seq, d, L.d16, L.l64, s.vpack, s.sv);
    NextPrefetch pf(next, ld_qkv, d);  // a local: its state stays in registers
    if (probe) {
        probe->scores.resize(seq * seq);
        probe->ctx.resize(seq * d);
    }
    const TileConfig cfg = tile_config(L.d4);
    load_tiles(cfg);
    auto* si = reinterpret_cast<int32_t*>(s.scores);
    alignas(64) int32_t ct[2 * 256];
    for (int64_t i0 = 0; i0 < seq; i0 += 16) {
        const int64_t rows = std::min<int64_t>(16, seq - i0);
        scores_amx(L, o, i0, si);
        // s[i][j] = (float(S - comp[j]) · rf[i]) · sk[j], in place (as scores_tile), and the
        // row maxima over the seq keys for the softmax.
        alignas(64) float rmax[16];
        for (int64_t r = 0; r < rows; ++r) {
            int32_t* row = si + r * L.l16;
            if (probe) std::copy(row, row + seq, probe->scores.data() + (i0 + r) * seq);
            const __m512 rf = _mm512_set1_ps(s.rf[i0 + r]);
            __m512 m = _mm512_set1_ps(-INFINITY);
            const float* b = rel ? rel - (i0 + r) : nullptr;
            for (int64_t j = 0; j < L.l16; j += 16) {
                pf.step();
                const __m512i x =
                    _mm512_sub_epi32(_mm512_loadu_si512(row + j), _mm512_loadu_si512(s.kcomp + j));
                __m512 f = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(x), rf),
                                         _mm512_loadu_ps(s.sk + j));
                if (b)  // keys past seq read no bias (their scores are masked below)
                    f = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail16(seq - j), b + j), log2e, f);
                _mm512_storeu_ps(reinterpret_cast<float*>(row + j), f);
                m = _mm512_mask_max_ps(m, tail16(seq - j), m, f);
            }
            rmax[r] = _mm512_reduce_max_ps(m);
            if (probe)
                for (int64_t j = 0; j < seq; ++j) probe->scores[(i0 + r) * seq + j] -= s.kcomp[j];
        }
        for (int64_t r0 = 0; r0 < rows; r0 += s8attn::kScoreRows)
            softmax_quant(s.scores + r0 * L.l16, std::min(s8attn::kScoreRows, rows - r0), seq,
                          L.l16, L.l64, s.p8 + (i0 + r0) * L.l64, s.sp + i0 + r0, rmax + r0);
        for (int64_t c0 = 0; c0 < L.d16; c0 += 32) {
            const int nb = c0 + 16 < L.d16 ? 2 : 1;
            context_amx(L, s, i0, c0, nb, ct);
            for (int x = 0; x < nb; ++x) {
                const int64_t c = c0 + 16 * x;
                const __mmask16 m = tail16(d - c);
                const __m512 sv = _mm512_loadu_ps(s.sv + c);
                for (int64_t r = 0; r < rows; ++r) {
                    pf.step();
                    const __m512i a = _mm512_load_si512(ct + x * 256 + r * 16);
                    if (probe) _mm512_mask_storeu_epi32(probe->ctx.data() + (i0 + r) * d + c, m, a);
                    const __m512 f =
                        _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_set1_ps(s.sp[i0 + r]));
                    _mm512_mask_storeu_ps(ctx + (i0 + r) * ld_ctx + c, m, _mm512_mul_ps(f, sv));
                }
            }
        }
    }
    release_tiles();
    if (probe) probe_pv(probe, s, seq, d, L.d16, L.l64);
}

void head_s8_amx(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                 int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                 AttentionS8Probe* probe, const AttentionNext* next, const float* rel) {
    const AttentionS8Layout L(seq, d);
    if (L.d4 > 64)
        return head_s8(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, probe, next, rel);
    const Scratch s(scratch, L);
    prepare_qk(q, k, ld_qkv, seq, d, scale, L, s, probe);
    amx_body(L, s, {s.q8, L.d4, s.kpack, L.l16}, v, ld_qkv, ctx, ld_ctx, seq, d, probe, next, rel);
}

// Q and K from the QKV kernel (S8QK8): rf and sk from its scales, kcomp from its packed K
// (which runs on into the next sequence's keys: those are masked like the padding keys).
void head_s8_qk8(const S8QK8& qk, int64_t off, int64_t head, const float* v, int64_t ld_qkv,
                 float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                 const AttentionNext* next, const float* rel) {
    const AttentionS8Layout L(seq, d);
    const Scratch s(scratch, L);
    const int64_t groups = d / 4, at = head * qk.tpad + off;
    const float scale_log2 = scale * s8attn::kLog2e;
    for (int64_t i = 0; i < seq; ++i) s.rf[i] = scale_log2 * qk.sq[at + i];
    std::copy(qk.sk + at, qk.sk + at + L.l16, s.sk);
    const auto* kp = reinterpret_cast<const uint8_t*>(qk.k8) + (head * groups * qk.tpad + off) * 4;
    key_compensation(kp, groups, L.l16, qk.tpad, s.kcomp);
    amx_body(L, s, {qk.q8 + at * d, d, kp, qk.tpad}, v, ld_qkv, ctx, ld_ctx, seq, d, nullptr, next,
             rel);
}
}  // namespace

namespace {
// The variant table's two entry points of one head function: with a probe, or prefetching next.
using HeadFn = void (*)(const float*, const float*, const float*, int64_t, float*, int64_t, int64_t,
                        int64_t, float, uint8_t*, AttentionS8Probe*, const AttentionNext*,
                        const float*);
template <HeadFn Head>
void probed(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
            int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
            AttentionS8Probe* probe, const float* rel) {
    Head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, probe, nullptr, rel);
}
template <HeadFn Head>
void prefetching(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                 int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                 const AttentionNext* next, const float* rel) {
    Head(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, nullptr, next, rel);
}
}  // namespace

AttentionS8Entry attention_s8_vnni_entry() { return {probed<head_s8>, prefetching<head_s8>}; }
AttentionS8Entry attention_s8_amx_entry() {
    return {probed<head_s8_amx>, prefetching<head_s8_amx>};
}

void attention_s8_vnni_deberta(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               uint8_t* scratch, const DisentangledS8Head& rel,
                               AttentionS8Probe* probe) {
    head_s8_impl(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, probe, nullptr, nullptr,
                 &rel, 0, seq);
}

void attention_s8_vnni_rows(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            uint8_t* scratch, const float* rel_bias, int64_t q_begin,
                            int64_t q_end) {
    head_s8_impl(q, k, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, nullptr, nullptr, rel_bias,
                 nullptr, q_begin, q_end);
}

void attention_head_s8_qk8(const S8QK8& qk, int64_t off, int64_t head, const float* v,
                           int64_t ld_qkv, float* ctx, int64_t ld_ctx, int64_t seq, int64_t d,
                           float scale, uint8_t* scratch, const AttentionNext* next,
                           const float* rel_bias) {
    head_s8_qk8(qk, off, head, v, ld_qkv, ctx, ld_ctx, seq, d, scale, scratch, next, rel_bias);
}

}  // namespace sparq
