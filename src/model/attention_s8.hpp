#pragma once
// int8 scaled dot-product attention of one head of one (unpadded) sequence, the same contract as
// attention_head (attention.hpp): ctx[i] = softmax(q_i · Kᵀ · scale + bias_i) · V, q/k/v rows
// with stride ld_qkv, ctx rows with stride ld_ctx, the optional relative position bias as there.
// Both matmuls run on int8 operands with int32 sums (vpdpbusd on AVX512-VNNI); the softmax's exp
// runs in f32 and quantizes its output.
//
// Scheme (all quantization dynamic, symmetric, round to nearest even, computed per call):
//   Q, K per token:  sq[i] = max_c |q[i][c]| / 127, q8 = round(q / sq) in [-127, 127]; same for K.
//   scores:          S[i][j] = Σ_c q8[i][c]·k8[j][c] (int32; vpdpbusd multiplies u8 by s8, so it
//                    runs on q8 + 128 and subtracts 128·Σ_c k8[j][c], computed once per key),
//                    s[i][j] = (float(S) · (scale·log2(e)·sq[i])) · sk[j]: the log2 domain;
//                    with a relative position bias, s[i][j] = fma(rel_bias[j - i], log2(e), s).
//   softmax + P:     p8[i][j] = round(255 · 2^(s_ij - max_j s_ij)) in [0, 255] (u8; the row max
//                    maps to 255, as p / max_j p · 255 would), 2^x by a degree-4 polynomial good
//                    to 6e-6 relative (s8attn below; far below the 1/510 rounding step);
//                    sp[i] = 1 / Σ_j p8[i][j], so the quantized probabilities sum to exactly 1 and
//                    the rounding error of ctx is Σ_j r_j (v_j - ctx) / Σ p8, |r_j| <= 1/2.
//   V per feature:   sv[c] = max_j |v[j][c]| / 127 over the sequence, v8 = round(v / sv).
//   context:         C[i][c] = Σ_j p8[i][j]·v8[j][c] (int32, u8 x s8: no compensation),
//                    ctx[i][c] = (float(C) · sp[i]) · sv[c].
//   Scales below s8attn::kTiny count as zero (the row or column quantizes to 0).
// Packing (VNNI variant): K as [d/4][keys][4] bytes (a vector holds 4 features of 16 keys), V as
// [keys/4][d][4] bytes (4 keys of 16 features); d and keys zero padded to multiples of 4 / 16.
// Every variant computes the same integers and floats bit for bit: each float step is one IEEE
// operation (or FMA) in the order written above. Sums fit int32 with a wide margin:
// |S| <= 255·127·d, C <= 255·127·seq.
#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "cpu/isa.hpp"
#include "model/attention.hpp"

namespace sparq {

struct S8QK8;  // kernels/s8/s8_kernels.hpp

namespace s8attn {
inline constexpr int64_t kScoreRows = 8;  // query rows whose scores are live at a time
inline constexpr float kTiny = 1e-30f;    // absmax below: scale 0 (127 / kTiny stays finite)
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kExp2Min = -16.0f;  // 255 · 2^-16 rounds to 0: no denormals
// 255 · 2^f on [-0.5, 0.5]: Σ kExp2C255[k] f^k, exactly 255 at f = 0, max relative error 5.7e-6.
inline constexpr float kExp2C255[5] = {255.0f, 255.0f * 0.6931280493736267f,
                                       255.0f * 0.2402367740869522f, 255.0f * 0.05587027221918106f,
                                       255.0f * 0.009590240195393562f};
}  // namespace s8attn

// Which attention an encoder runs, from the attention option (auto | f32 | int8) and the model's
// precision (f32 | int8): int8 needs AVX512-VNNI under max_isa() and falls back to f32 without
// it (the scalar reference is far too slow for inference); `plan` is one line for plan reports
// saying which and why. Throws sparq::Error for an unknown option.
struct AttentionChoice {
    bool int8 = false;
    std::string plan;
};
AttentionChoice choose_attention(const std::string& option, const std::string& precision);

// Bytes of scratch (64-byte aligned) one attention_head_s8 call needs.
int64_t attention_s8_scratch_bytes(int64_t seq, int64_t d);

// Runs the best variant allowed by max_isa() (the scalar reference without AVX512-VNNI: slow,
// for tests); single-threaded (callers parallelize over heads). scratch: 64-byte aligned.
// `next` (optional) only prefetches the next head's Q/K/V into L2: results are the same.
void attention_head_s8(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                       int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                       const AttentionNext* next = nullptr, const float* rel_bias = nullptr);

// attention_head_s8 for the query rows [q_begin, q_end) of the sequence only (ctx rows outside
// untouched): the same keys, scales and numbers as the whole call's rows, bit for bit, at the
// cost of those rows (ModernBERT's banded local attention). The VNNI variant when max_isa()
// allows it (also where AMX runs the whole calls), else the scalar reference.
void attention_head_s8_rows(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            uint8_t* scratch, const float* rel_bias, int64_t q_begin,
                            int64_t q_end);

// True when a vectorized variant may run (AVX512-VNNI allowed by max_isa()).
bool attention_s8_fast();

// Intermediate values of one call in logical (unpacked) layouts, filled when a probe is passed:
// for tests comparing the variants' integers exactly.
struct AttentionS8Probe {
    std::vector<int8_t> q8, k8, v8;     // [seq][d]
    std::vector<float> sq, sk, sp, sv;  // [seq], [seq], [seq], [d]
    std::vector<int32_t> scores;        // S, [seq][seq]
    std::vector<uint8_t> p8;            // [seq][seq]
    std::vector<int32_t> ctx;           // C, [seq][d]
};

// Both take the relative position bias last (nullptr: none).
using AttentionS8Fn = void (*)(const float*, const float*, const float*, int64_t, float*, int64_t,
                               int64_t, int64_t, float, uint8_t*, AttentionS8Probe*, const float*);
using AttentionS8NextFn = void (*)(const float*, const float*, const float*, int64_t, float*,
                                   int64_t, int64_t, int64_t, float, uint8_t*, const AttentionNext*,
                                   const float*);
struct AttentionS8Variant {
    Isa isa;
    const char* name;
    AttentionS8Fn fn;             // with an optional probe
    AttentionS8NextFn with_next;  // no probe, prefetching `next` when non-null
};
// All variants compiled in, scalar reference first (tests compare each with it).
const AttentionS8Variant* attention_s8_variants(int* count);
// The variant attention_head_s8 runs: the last one max_isa() allows.
const AttentionS8Variant& attention_s8_best();

// Byte offsets of the scratch sections, shared by the variants.
struct AttentionS8Layout {
    int64_t d4, d16, l4, l16, l64;  // d and seq rounded up to 4 / 16 (/ 64)
    int64_t q8, rf, kpack, kcomp, sk, ktmp, scores, p8, sp, vpack, sv, bytes;
    AttentionS8Layout(int64_t seq, int64_t d);
};

// DeBERTa's relative projections of one layer on int8, the right-hand side of the c2p / p2c
// products: per head, the transposed [d][ld] f32 projections (relative row m in column m, as
// DisentangledHead) quantized per relative row, sr[m] = max_c |bt[c][m]| / 127, r8 = round(bt /
// sr) in [-127, 127], packed as the int8 attention packs K ([d4/4][cols][4] bytes; cols: the
// rows rounded up to 16, zero columns past them: a band's products run whole vectors of 16
// relative rows from a multiple of 16), with comp[m] = 128·Σ_c r8[c][m].
struct S8RelPack {
    int64_t heads = 0, d4 = 0, cols = 0;
    AlignedBuffer<uint8_t> pack;  // [heads][d4/4][cols][4]
    AlignedBuffer<int32_t> comp;  // [heads][cols]
    AlignedBuffer<float> scale;   // [heads][cols]
};
// bt: heads blocks of [d][ld] floats (head h at bt + h * d * ld), rows relative rows each.
S8RelPack pack_rel_s8(const float* bt, int64_t heads, int64_t d, int64_t ld, int64_t rows);

// One head of one layer for attention_head_deberta_s8: its packed projections (null: no such
// term) and the relative index table (DisentangledHead::idx).
struct DisentangledS8Head {
    const S8RelPack* pos_k = nullptr;  // c2p
    const S8RelPack* pos_q = nullptr;  // p2c
    int64_t head = 0;
    const int32_t* idx = nullptr;
};

// DeBERTa's disentangled attention on int8 (attention_head_deberta's contract, attention.hpp).
// The scheme above, and the relative products on int8 too, in the log2 domain:
//   c2p[i][m] = (float(Σ_c q8[i][c]·rk8[c][m])·rf[i])·srk[m]              (rf: scale·log2(e)·sq)
//   p2c[j][m] = (float(Σ_c k8[j][c]·rq8[c][m])·(scale·log2(e)·sk[j]))·srq[m]
//   s[i][j]   = (float(S)·rf[i])·sk[j] + (c2p[i][idx[i - j]] + p2c[j][idx[i - j]]).
// The VNNI variant when max_isa() allows it (the AMX one does not take the terms), else the
// scalar reference; scratch: attention_deberta_s8_scratch_bytes. The probe (optional) as
// attention_s8_variants'.
int64_t attention_deberta_s8_scratch_bytes(int64_t seq, int64_t d);
// Byte offsets of its scratch: AttentionS8Layout's sections, then K as u8 rows (p2c's left-hand
// side), their per-row factors, the c2p and p2c products of the bands (width floats per row, a
// band's first relative row rounded down to 16 at column 0) and each band's first relative rows.
struct DebertaS8Layout {
    int64_t width, bands, ku8, rk, c, p, lo, bytes;
    DebertaS8Layout(int64_t seq, int64_t d);
};
void attention_head_deberta_s8(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               const DisentangledS8Head& rel, uint8_t* scratch,
                               AttentionS8Probe* probe = nullptr);

namespace ref {
void attention_head_s8(const float* q, const float* k, const float* v, int64_t ld_qkv, float* ctx,
                       int64_t ld_ctx, int64_t seq, int64_t d, float scale, uint8_t* scratch,
                       AttentionS8Probe* probe, const float* rel_bias = nullptr);
void attention_head_s8_rows(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            const float* rel_bias, int64_t q_begin, int64_t q_end);
void attention_head_deberta_s8(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               const DisentangledS8Head& rel, AttentionS8Probe* probe = nullptr);
}
// The vectorized variants' entry points (attention_s8_vnni.cpp). vnni: vpdpbusd tiles of 4 rows;
// amx: both matmuls on AMX tiles (tdpbusd on the same packed operands, keys padded to 64), the
// rest as vnni, heads wider than 64 run as vnni. `with_next` prefetches `next` (may be null).
struct AttentionS8Entry {
    AttentionS8Fn fn;
    AttentionS8NextFn with_next;
};
AttentionS8Entry attention_s8_vnni_entry();
void attention_s8_vnni_rows(const float* q, const float* k, const float* v, int64_t ld_qkv,
                            float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                            uint8_t* scratch, const float* rel_bias, int64_t q_begin,
                            int64_t q_end);
void attention_s8_vnni_deberta(const float* q, const float* k, const float* v, int64_t ld_qkv,
                               float* ctx, int64_t ld_ctx, int64_t seq, int64_t d, float scale,
                               uint8_t* scratch, const DisentangledS8Head& rel,
                               AttentionS8Probe* probe);
AttentionS8Entry attention_s8_amx_entry();

// Whether attention_head_s8_qk8 applies: the AMX variant is the one that runs and d is 16, 32 or
// 64.
bool attention_s8_takes_qk8(int64_t d);
// attention_head_s8 for head `head` of the sequence at tokens [off, off + seq) with Q and K
// already int8, written by the fused QKV kernel's epilogue over all tokens of the batch (S8QK8 in
// kernels/s8/s8_kernels.hpp; bit-identical to quantizing the same f32 rows); V f32 as before
// (ld_qkv floats apart); `next` prefetches its V. Only the AMX variant reads int8 Q and K.
void attention_head_s8_qk8(const S8QK8& qk, int64_t off, int64_t head, const float* v,
                           int64_t ld_qkv, float* ctx, int64_t ld_ctx, int64_t seq, int64_t d,
                           float scale, uint8_t* scratch, const AttentionNext* next,
                           const float* rel_bias = nullptr);

}  // namespace sparq
