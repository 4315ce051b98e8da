// int8 attention (attention_s8.hpp): every variant's integers (quantized operands, scores and
// context sums) and floats exactly equal to the scalar reference; the float output against the f32
// attention within the bound derived from the quantization steps; the encoder-level switch
// (choice, plan line, fallback without VNNI) and an int8-attention model against the f32 model.
#include "model/attention_s8.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/buffer.hpp"
#include "model/attention.hpp"
#include "model/attention_deberta.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "test_util.hpp"
#include "tools/drift.hpp"

namespace sparq {
namespace {

// Q, K, V as column slices of a fused [seq][ld] buffer like the encoder's QKV output; rows get
// different magnitudes, a few outliers, and (when seq > 2) one all-zero Q row and one constant
// V column, so per-row / per-column scales and the absmax == 0 path are exercised.
struct Qkv {
    int64_t seq, d, ld;
    std::vector<float> data;
    const float* q() const { return data.data(); }
    const float* k() const { return data.data() + d; }
    const float* v() const { return data.data() + 2 * d; }
};

Qkv make_qkv(int64_t seq, int64_t d, uint32_t seed, float spread = 3.0f) {
    Qkv x{seq, d, 3 * d + 7, {}};
    x.data.assign(seq * x.ld, 0.0f);
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    std::uniform_real_distribution<float> u(0.2f, 1.0f);
    for (int64_t i = 0; i < seq; ++i) {
        float row_scale = spread * u(rng);
        for (int64_t c = 0; c < 3 * d; ++c) x.data[i * x.ld + c] = row_scale * n(rng);
        if (i % 7 == 3) x.data[i * x.ld + (i % (3 * d))] *= 6.0f;  // outlier
    }
    if (seq > 2) {
        for (int64_t c = 0; c < d; ++c) x.data[1 * x.ld + c] = 0.0f;            // zero Q row
        for (int64_t i = 0; i < seq; ++i) x.data[i * x.ld + 2 * d + 1] = 0.5f;  // constant V column
    }
    return x;
}

struct HeadRun {
    std::vector<float> ctx;
    AttentionS8Probe probe;
};

HeadRun run_variant(const AttentionS8Variant& var, const Qkv& x, float scale,
                    const float* rel = nullptr) {
    const int64_t ld_ctx = x.d + 5;
    HeadRun r;
    r.ctx.assign(x.seq * ld_ctx, -7.0f);  // padding columns must stay untouched
    AlignedBuffer<uint8_t> scratch(attention_s8_scratch_bytes(x.seq, x.d));
    var.fn(x.q(), x.k(), x.v(), x.ld, r.ctx.data(), ld_ctx, x.seq, x.d, scale, scratch.data(),
           &r.probe, rel);
    for (int64_t i = 0; i < x.seq; ++i)
        for (int64_t c = x.d; c < ld_ctx; ++c) EXPECT_EQ(r.ctx[i * ld_ctx + c], -7.0f);
    return r;
}

template <typename T>
void expect_same(const std::vector<T>& a, const std::vector<T>& b, const char* what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (size_t i = 0; i < a.size(); ++i)
        ASSERT_EQ(a[i], b[i]) << what << " differs at " << i;  // floats compared bit for bit
}

std::vector<int64_t> lengths() {
    std::vector<int64_t> l;
    for (int64_t n = 1; n <= 130; ++n) l.push_back(n);
    l.push_back(384);
    l.push_back(512);
    return l;
}

TEST(AttentionS8, EveryVariantMatchesTheReferenceExactly) {
    int n = 0;
    const AttentionS8Variant* vs = attention_s8_variants(&n);
    ASSERT_GE(n, 2);
    ASSERT_EQ(vs[0].isa, Isa::scalar);
    int ran = 0;
    for (int vi = 1; vi < n; ++vi) {
        if (!has_isa(vs[vi].isa)) continue;
        ++ran;
        // d 80 and 128: more than 4 vectors per row (the generic row quantization, two feature
        // blocks in the context); d 62: 64-byte quantized rows with a masked last vector;
        // seq 512: the longest BERT input (largest int32 sums).
        for (int64_t d : {64, 62, 32, 20, 80, 128}) {
            for (int64_t seq : lengths()) {
                if (d > 64 && seq % 7 != 0 && seq < 128) continue;
                if (seq == 512 && d != 64) continue;
                SCOPED_TRACE(std::string(vs[vi].name) + " d " + std::to_string(d) + " seq " +
                             std::to_string(seq));
                Qkv x = make_qkv(seq, d, static_cast<uint32_t>(seq * 131 + d));
                const float scale = 1.0f / std::sqrt(static_cast<float>(d));
                HeadRun a = run_variant(vs[0], x, scale), b = run_variant(vs[vi], x, scale);
                expect_same(a.probe.q8, b.probe.q8, "q8");
                expect_same(a.probe.k8, b.probe.k8, "k8");
                expect_same(a.probe.sq, b.probe.sq, "sq");
                expect_same(a.probe.sk, b.probe.sk, "sk");
                expect_same(a.probe.scores, b.probe.scores, "scores (int32)");
                expect_same(a.probe.p8, b.probe.p8, "p8");
                expect_same(a.probe.sp, b.probe.sp, "sp");
                expect_same(a.probe.v8, b.probe.v8, "v8");
                expect_same(a.probe.sv, b.probe.sv, "sv");
                expect_same(a.probe.ctx, b.probe.ctx, "context (int32)");
                expect_same(a.ctx, b.ctx, "context (float)");
            }
        }
    }
    if (ran == 0) GTEST_SKIP() << "no AVX512-VNNI: only the reference is available";
}

// A relative position bias table by distance (MPNet), N(0, 2), covering sequences up to 512.
std::vector<float> rel_table() {
    std::vector<float> t(2 * 512 - 1);
    std::mt19937 rng(17);
    std::normal_distribution<float> n(0.0f, 2.0f);
    for (float& x : t) x = n(rng);
    return t;
}

// With MPNet's relative position bias: the same integers and floats as the reference, bit for
// bit (the bias enters every variant as fma(bias, log2(e), score)), and different from no bias.
TEST(AttentionS8, EveryVariantMatchesTheReferenceWithRelativeBias) {
    int n = 0;
    const AttentionS8Variant* vs = attention_s8_variants(&n);
    const std::vector<float> table = rel_table();
    const float* rel = table.data() + 511;
    int ran = 0;
    for (int vi = 1; vi < n; ++vi) {
        if (!has_isa(vs[vi].isa)) continue;
        ++ran;
        for (int64_t d : {64, 32, 20, 80})
            for (int64_t seq : {1, 2, 15, 16, 17, 63, 64, 65, 130, 384}) {
                SCOPED_TRACE(std::string(vs[vi].name) + " d " + std::to_string(d) + " seq " +
                             std::to_string(seq));
                Qkv x = make_qkv(seq, d, static_cast<uint32_t>(seq * 7 + d));
                const float scale = 1.0f / std::sqrt(static_cast<float>(d));
                HeadRun a = run_variant(vs[0], x, scale, rel),
                        b = run_variant(vs[vi], x, scale, rel);
                expect_same(a.probe.scores, b.probe.scores, "scores (int32)");
                expect_same(a.probe.p8, b.probe.p8, "p8");
                expect_same(a.probe.sp, b.probe.sp, "sp");
                expect_same(a.probe.ctx, b.probe.ctx, "context (int32)");
                expect_same(a.ctx, b.ctx, "context (float)");
                if (seq > 1) EXPECT_NE(a.probe.p8, run_variant(vs[0], x, scale).probe.p8);
            }
    }
    if (ran == 0) GTEST_SKIP() << "no AVX512-VNNI: only the reference is available";
}

// DeBERTa's relative projections for two heads (the tests run head 1): a table of span 16 in 16
// log buckets over 64 positions (so long sequences clamp), random transposed projections of
// stride ld_pos, f32 (for the f32 reference) and packed on int8.
struct DebertaSetup {
    int64_t span = 16, buckets = 16, max_position = 64, max_len = 520, ld_pos;
    std::vector<int32_t> idx;
    std::vector<float> pk, pq;
    DisentangledHead rel;  // head 1, f32
    S8RelPack pk8, pq8;
    DisentangledS8Head rel8;                           // head 1, int8
    DebertaSetup(int64_t d, int which, uint32_t seed)  // which: bit 0 c2p, bit 1 p2c
        : ld_pos(2 * span + 16 + 3) {
        idx = deberta_rel_index(span, buckets, max_position, max_len);
        pk.resize(2 * d * ld_pos);
        pq.resize(2 * d * ld_pos);
        std::mt19937 rng(seed);
        std::normal_distribution<float> n(0.0f, 1.0f);
        for (float& x : pk) x = n(rng);
        for (float& x : pq) x = n(rng);
        pk8 = pack_rel_s8(pk.data(), 2, d, ld_pos, 2 * span);
        pq8 = pack_rel_s8(pq.data(), 2, d, ld_pos, 2 * span);
        rel.pos_k = which & 1 ? pk.data() + d * ld_pos : nullptr;
        rel.pos_q = which & 2 ? pq.data() + d * ld_pos : nullptr;
        rel.ld_pos = ld_pos;
        rel.idx = idx.data() + max_len - 1 + kDebertaIndexPad;
        rel8.pos_k = which & 1 ? &pk8 : nullptr;
        rel8.pos_q = which & 2 ? &pq8 : nullptr;
        rel8.head = 1;
        rel8.idx = rel.idx;
    }
};

// DeBERTa on int8 (attention_head_deberta_s8): the VNNI variant's integers and floats equal the
// scalar reference's bit for bit, the relative products on int8 in banded register tiles against
// the reference's direct sums (each term alone and both; sequences past a band of 32 rows and
// past the span; d not a multiple of 16), and the terms change the probabilities.
TEST(AttentionS8, DebertaMatchesTheReferenceExactly) {
    if (!attention_s8_fast()) GTEST_SKIP() << "no AVX512-VNNI: only the reference is available";
    for (int which : {3, 1, 2})
        for (int64_t d : {64, 32, 20})
            for (int64_t seq : {1, 2, 15, 16, 17, 33, 64, 65, 130, 300}) {
                SCOPED_TRACE("terms " + std::to_string(which) + " d " + std::to_string(d) +
                             " seq " + std::to_string(seq));
                Qkv x = make_qkv(seq, d, static_cast<uint32_t>(seq * 5 + d + which));
                DebertaSetup ds(d, which, static_cast<uint32_t>(seq + 77 * which));
                const float scale = 1.0f / std::sqrt(static_cast<float>(3 * d));
                const int64_t ld_ctx = d + 3;
                HeadRun a, b;
                a.ctx.assign(seq * ld_ctx, -7.0f);
                b.ctx.assign(seq * ld_ctx, -7.0f);
                const int64_t bytes = attention_deberta_s8_scratch_bytes(seq, d);
                AlignedBuffer<uint8_t> scratch(bytes + 64);
                std::fill(scratch.data(), scratch.data() + bytes + 64, uint8_t{0xA5});
                ref::attention_head_deberta_s8(x.q(), x.k(), x.v(), x.ld, a.ctx.data(), ld_ctx, seq,
                                               d, scale, ds.rel8, &a.probe);
                attention_head_deberta_s8(x.q(), x.k(), x.v(), x.ld, b.ctx.data(), ld_ctx, seq, d,
                                          scale, ds.rel8, scratch.data(), &b.probe);
                for (int64_t i = bytes; i < bytes + 64; ++i) ASSERT_EQ(scratch.data()[i], 0xA5);
                expect_same(a.probe.scores, b.probe.scores, "scores (int32)");
                expect_same(a.probe.p8, b.probe.p8, "p8");
                expect_same(a.probe.sp, b.probe.sp, "sp");
                expect_same(a.probe.ctx, b.probe.ctx, "context (int32)");
                expect_same(a.ctx, b.ctx, "context (float, padding columns untouched)");
                int n = 0;
                if (seq >= 15)  // without the terms (the reference variant)
                    EXPECT_NE(a.probe.p8,
                              run_variant(attention_s8_variants(&n)[0], x, scale).probe.p8);
            }
}

// DeBERTa's int8 attention against the f32 double-precision reference of the disentangled
// attention: within 1% of the values' range at worst (a little over one int8 step of V), 0.15%
// on average (measured at 128 tokens: see the line printed).
TEST(AttentionS8, DebertaInt8CloseToF32) {
    for (int which : {3, 1, 2})
        for (int64_t seq : {1, 5, 17, 64, 128, 200}) {
            const int64_t d = 64;
            SCOPED_TRACE("terms " + std::to_string(which) + " seq " + std::to_string(seq));
            Qkv x = make_qkv(seq, d, static_cast<uint32_t>(seq + 31 * which), 1.0f);
            DebertaSetup ds(d, which, static_cast<uint32_t>(seq * 3 + which));
            const float scale = 1.0f / std::sqrt(static_cast<float>(3 * d));
            std::vector<float> got(seq * d), want(seq * d);
            AlignedBuffer<uint8_t> s8(attention_deberta_s8_scratch_bytes(seq, d));
            attention_head_deberta_s8(x.q(), x.k(), x.v(), x.ld, got.data(), d, seq, d, scale,
                                      ds.rel8, s8.data());
            std::vector<float> rs(seq + 16);
            ref::attention_head_deberta(x.q(), x.k(), x.v(), x.ld, want.data(), d, seq, d, scale,
                                        ds.rel, rs.data());
            float vmax = 0, worst = 0;
            double sum = 0;
            for (int64_t j = 0; j < seq; ++j)
                for (int64_t c = 0; c < d; ++c)
                    vmax = std::max(vmax, std::fabs(x.v()[j * x.ld + c]));
            for (int64_t i = 0; i < seq * d; ++i) {
                worst = std::max(worst, std::fabs(got[i] - want[i]));
                sum += std::fabs(got[i] - want[i]);
            }
            EXPECT_LE(worst, 0.01f * vmax);
            EXPECT_LE(sum / (seq * d), 0.0015 * vmax);
            if (seq > 1) EXPECT_GT(worst, 0.0f);  // int8 really ran
            if (seq == 128 && which == 3)
                std::printf(
                    "DeBERTa int8 attention, seq 128: max |diff| %.4f, mean %.5f (max |v| %.2f)\n",
                    worst, sum / (seq * d), vmax);
        }
}

// The packed relative projections: per relative row the scale max|x| / 127, the values rounded
// into [-127, 127] in [d4/4][cols][4] order, the compensation 128 * their sum, zero columns past
// the rows.
TEST(AttentionS8, RelativeProjectionsPackedPerRow) {
    const int64_t d = 20, ld = 53, rows = 37;
    std::vector<float> bt(2 * d * ld);
    std::mt19937 rng(3);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (float& x : bt) x = n(rng);
    for (int64_t c = 0; c < d; ++c) bt[d * ld + c * ld + 5] = 0.0f;  // head 1, row 5: all zero
    const S8RelPack p = pack_rel_s8(bt.data(), 2, d, ld, rows);
    ASSERT_EQ(p.cols, 48);
    ASSERT_EQ(p.d4, 20);
    for (int64_t h = 0; h < 2; ++h)
        for (int64_t m = 0; m < p.cols; ++m) {
            float mx = 0;
            for (int64_t c = 0; m < rows && c < d; ++c)
                mx = std::max(mx, std::fabs(bt[h * d * ld + c * ld + m]));
            ASSERT_EQ(p.scale.data()[h * p.cols + m], mx / 127.0f) << h << " " << m;
            int32_t sum = 0;
            for (int64_t c = 0; c < d; ++c) {
                const int8_t q = static_cast<int8_t>(
                    p.pack.data()[h * p.d4 * p.cols + ((c / 4) * p.cols + m) * 4 + c % 4]);
                const float want = m < rows && mx > 0
                                       ? std::nearbyint(bt[h * d * ld + c * ld + m] * (127.0f / mx))
                                       : 0.0f;
                ASSERT_EQ(q, static_cast<int8_t>(want)) << h << " " << m << " " << c;
                sum += q;
            }
            ASSERT_EQ(p.comp.data()[h * p.cols + m], 128 * sum);
        }
}

// Query rows [qa, qb) alone (ModernBERT's band): the whole call's rows bit for bit, with and
// without a relative bias, the rows outside untouched; the reference's rows the same.
TEST(AttentionS8, RowsEqualTheWholeCallsRows) {
    const std::vector<float> table = rel_table();
    for (const float* rel : {static_cast<const float*>(nullptr), table.data() + 511})
        for (int64_t seq : {1, 9, 40, 130})
            for (auto [qa, qb] : {std::pair<int64_t, int64_t>{0, seq},
                                  {0, seq / 2},
                                  {seq / 3, seq},
                                  {seq / 4, seq / 4 + (seq + 2) / 3},
                                  {seq / 2, seq / 2}}) {
                const int64_t d = 32;
                SCOPED_TRACE("seq " + std::to_string(seq) + " rows " + std::to_string(qa) + ".." +
                             std::to_string(qb) + (rel ? " bias" : ""));
                Qkv x = make_qkv(seq, d, static_cast<uint32_t>(seq + 7 * qa));
                const float scale = 1.0f / std::sqrt(static_cast<float>(d));
                AlignedBuffer<uint8_t> scratch(attention_s8_scratch_bytes(seq, d));
                std::vector<float> whole(seq * d), rows(seq * d, -7.0f), ref_rows(seq * d, -7.0f);
                attention_head_s8(x.q(), x.k(), x.v(), x.ld, whole.data(), d, seq, d, scale,
                                  scratch.data(), nullptr, rel);
                attention_head_s8_rows(x.q(), x.k(), x.v(), x.ld, rows.data(), d, seq, d, scale,
                                       scratch.data(), rel, qa, qb);
                ref::attention_head_s8_rows(x.q(), x.k(), x.v(), x.ld, ref_rows.data(), d, seq, d,
                                            scale, rel, qa, qb);
                for (int64_t i = 0; i < seq; ++i)
                    for (int64_t c = 0; c < d; ++c) {
                        const bool in = i >= qa && i < qb;
                        ASSERT_EQ(rows[i * d + c], in ? whole[i * d + c] : -7.0f) << i << " " << c;
                        ASSERT_EQ(ref_rows[i * d + c], rows[i * d + c]) << i << " " << c;
                    }
            }
    std::vector<float> x(3 * 8 * 4, 1.0f), out(8 * 4);
    AlignedBuffer<uint8_t> scratch(attention_s8_scratch_bytes(8, 4));
    EXPECT_THROW(attention_head_s8_rows(x.data(), x.data() + 4, x.data() + 8, 12, out.data(), 4, 8,
                                        4, 0.5f, scratch.data(), nullptr, 3, 9),
                 Error);
}

TEST(AttentionS8, ReferenceIntegersAreTheDefinition) {
    // The reference's own integers from its quantized operands, recomputed here independently.
    int n = 0;
    const AttentionS8Variant* vs = attention_s8_variants(&n);
    Qkv x = make_qkv(17, 32, 5);
    HeadRun r = run_variant(vs[0], x, 0.25f);
    const auto& p = r.probe;
    for (int64_t i = 0; i < x.seq; ++i) {
        float m = 0;
        for (int64_t c = 0; c < x.d; ++c) m = std::max(m, std::fabs(x.q()[i * x.ld + c]));
        EXPECT_EQ(p.sq[i], m / 127.0f);
        for (int64_t c = 0; c < x.d; ++c)
            EXPECT_LE(std::fabs(p.q8[i * x.d + c] * p.sq[i] - x.q()[i * x.ld + c]),
                      p.sq[i] * 0.5001f);
        for (int64_t j = 0; j < x.seq; ++j) {
            int64_t s = 0;
            for (int64_t c = 0; c < x.d; ++c) s += p.q8[i * x.d + c] * p.k8[j * x.d + c];
            EXPECT_EQ(p.scores[i * x.seq + j], s);
        }
        EXPECT_EQ(*std::max_element(p.p8.begin() + i * x.seq, p.p8.begin() + (i + 1) * x.seq),
                  255);  // the row max maps to 255
    }
}

// Bound on |ctx_s8 - ctx_f32| for query i, feature c, derived from the quantization steps:
//  - q8, k8 are off by at most sq_i/2, sk_j/2 per element, so score s_ij is off by at most
//    δ_ij = scale·(‖q_i‖₁·sk_j/2 + ‖k_j‖₁·sq_i/2 + d·sq_i·sk_j/4); let Δ_i = max_j δ_ij.
//  - softmax of scores each off by <= Δ changes every probability by a factor in [e^-2Δ, e^2Δ]:
//    Σ_j |p'_j - p_j| <= e^2Δ - 1; likewise e'_j = 2^(s'_j - max s') is within e^±2Δ of
//    e_j = p_j / max_j p_j.
//  - p8_j = 255·e'_j + r_j with |r_j| <= min(1/2, 255·e'_j) (plus 2^x's 6e-6 relative error:
//    1/2 -> 0.502), and p̂_j = p8_j / Σ p8. Since Σ p̂ = Σ p' = 1, the rounding moves the context
//    by Σ_j r_j·(v̂_j - ctx') / Σ p8 <= 2·A_c·Σ_j |r_j| / Σ p8, with A_c = max_j |v_jc| and
//    Σ p8 >= max(255, 255·Σ_j e'_j - seq/2).
//  - v8 is off by at most sv_c/2 = A_c/254 and |v̂| <= A_c; Σ_j p_j = 1.
//  |ctx' - ctx| <= A_c·(e^2Δ - 1) + 2·A_c·Σ_j |r_j| / Σ p8 + A_c/254, plus f32 rounding.
// With and without a relative position bias (added exactly in f32 by both sides: the score
// error, hence the bound, is the same).
TEST(AttentionS8, FloatOutputWithinTheQuantizationBoundOfF32) {
    const std::vector<float> table = rel_table();
    const float* biased = table.data() + 511;
    for (const float* rel : {static_cast<const float*>(nullptr), biased})
        for (int64_t d : {64, 32, 128}) {
            for (int64_t seq : {1, 3, 4, 5, 15, 16, 17, 64, 127, 128, 129, 384}) {
                SCOPED_TRACE("d " + std::to_string(d) + " seq " + std::to_string(seq) + " bias " +
                             std::to_string(rel != nullptr));
                Qkv x = make_qkv(seq, d, static_cast<uint32_t>(seq + 1000 * d), 1.0f);
                const float scale = 1.0f / std::sqrt(static_cast<float>(d));
                std::vector<float> got(seq * d), want(seq * d);
                AlignedBuffer<uint8_t> s8(attention_s8_scratch_bytes(seq, d));
                attention_head_s8(x.q(), x.k(), x.v(), x.ld, got.data(), d, seq, d, scale,
                                  s8.data(), nullptr, rel);
                std::vector<float> f32_scratch(seq * seq + 16);
                ref::attention_head(x.q(), x.k(), x.v(), x.ld, want.data(), d, seq, d, scale,
                                    f32_scratch.data(), rel);
                // The f32 probabilities (ref::attention_head leaves them in its scratch).
                const float* p = f32_scratch.data();
                std::vector<float> sq(seq), sk(seq), q1(seq), k1(seq), a(d, 0.0f);
                for (int64_t i = 0; i < seq; ++i) {
                    float mq = 0, mk = 0;
                    for (int64_t c = 0; c < d; ++c) {
                        mq = std::max(mq, std::fabs(x.q()[i * x.ld + c]));
                        mk = std::max(mk, std::fabs(x.k()[i * x.ld + c]));
                        q1[i] += std::fabs(x.q()[i * x.ld + c]);
                        k1[i] += std::fabs(x.k()[i * x.ld + c]);
                        a[c] = std::max(a[c], std::fabs(x.v()[i * x.ld + c]));
                    }
                    sq[i] = mq / 127;
                    sk[i] = mk / 127;
                }
                double worst = 0;
                for (int64_t i = 0; i < seq; ++i) {
                    double delta = 0, pmax = 0;
                    for (int64_t j = 0; j < seq; ++j) {
                        delta =
                            std::max<double>(delta, scale * (q1[i] * sk[j] / 2 + k1[j] * sq[i] / 2 +
                                                             d * sq[i] * sk[j] / 4));
                        pmax = std::max<double>(pmax, p[i * seq + j]);
                    }
                    const double grow = std::exp(2 * delta);
                    double r_sum = 0, e_sum = 0;
                    for (int64_t j = 0; j < seq; ++j) {
                        const double e = p[i * seq + j] / pmax;
                        r_sum += std::min(0.502, 255 * grow * e);
                        e_sum += e / grow;
                    }
                    const double p8_sum = std::max(255.0, 255 * e_sum - seq / 2.0);
                    for (int64_t c = 0; c < d; ++c) {
                        const double bound = a[c] * (grow - 1) + 2 * a[c] * r_sum / p8_sum +
                                             a[c] / 254 + 1e-5 * (a[c] + 1e-3);
                        const double err = std::fabs(got[i * d + c] - want[i * d + c]);
                        ASSERT_LE(err, bound) << "query " << i << " feature " << c;
                        worst = std::max(worst, err / bound);
                    }
                }
                EXPECT_GT(worst, 0.0);  // int8 really ran: not the f32 result
                if (seq == 128 && d == 64)
                    std::printf("d 64 seq 128%s: max error / bound %.3f\n", rel ? " (bias)" : "",
                                worst);
            }
        }
}

TEST(AttentionS8, ChoiceFollowsOptionPrecisionAndIsa) {
    const Isa saved = max_isa();
    set_max_isa(cpu_isa());
    const bool vnni = has_isa(Isa::avx512_vnni);
    EXPECT_FALSE(choose_attention("auto", "f32").int8);
    EXPECT_FALSE(choose_attention("f32", "int8").int8);
    EXPECT_EQ(choose_attention("auto", "int8").int8, vnni);
    EXPECT_EQ(choose_attention("int8", "f32").int8, vnni);
    EXPECT_NE(choose_attention("f32", "int8").plan.find("attention  f32"), std::string::npos);
    EXPECT_THROW(choose_attention("bogus", "int8"), Error);
    set_max_isa(Isa::avx512);  // no VNNI: f32 with the reason
    AttentionChoice c = choose_attention("int8", "int8");
    EXPECT_FALSE(c.int8);
    EXPECT_NE(c.plan.find("needs AVX512-VNNI"), std::string::npos) << c.plan;
    set_max_isa(saved);
}

// Encoder level: the tiny fixtures at int8 precision with int8 attention against the f32 model,
// within the int8 model bound of tests/quantize_test.cpp (per linear a relative step of 1/254
// per operand; here the two attention matmuls add two more such terms per layer, P's u8 step
// 1/510 being finer): the same max |diff| 0.25 and cosine 0.99 leave room for them.
TEST(AttentionS8, Int8AttentionModelMatchesF32Model) {
    if (!attention_s8_fast()) GTEST_SKIP() << "no AVX512-VNNI: int8 attention falls back to f32";
    const std::vector<std::string> texts = {"the movie was great !", "i did not like it",
                                            "who wrote the book ?", "the film was long but good"};
    for (const char* name :
         {"tiny_cls", "tiny_sparse", "tiny_mpnet_cls", "tiny_deberta_cls", "tiny_deberta_v1_cls"}) {
        SCOPED_TRACE(name);
        const std::string dir = (test::fixtures_dir() / name).string();
        LoadOptions o;
        o.threads = 1;  // tiny models: threads only add OpenMP overhead on a loaded machine
        auto f32 = Model::load(dir, o);
        o.precision = "int8";
        o.kernels = "dense";
        o.attention = "f32";
        auto int8_f32att = Model::load(dir, o);
        o.attention = "auto";
        auto int8_auto = Model::load(dir, o);
        o.attention = "int8";
        auto int8_att = Model::load(dir, o);
        EXPECT_NE(int8_att->plan_report().find(std::string("attention  int8  ") +
                                               attention_s8_best().name),
                  std::string::npos)
            << int8_att->plan_report();
        EXPECT_NE(int8_f32att->plan_report().find("attention  f32"), std::string::npos);
        tools::DriftReport d = tools::compare_models(*f32, *int8_att, texts);
        EXPECT_GE(d.hidden.min_cosine, 0.99);
        EXPECT_LE(d.hidden.max_abs_diff, 0.25);
        EXPECT_GE(d.pooled.min_cosine, 0.99);
        EXPECT_LE(d.logits.max_abs_diff, 0.25);
        // int8 attention really ran: not identical to the int8 model with f32 attention.
        tools::DriftReport same = tools::compare_models(*int8_f32att, *int8_att, texts);
        // MPNet: int8 attention adds the relative position bias as the f32 one does (the two
        // differ by ~9e-3 here, by ~7e-2 without the bias in the int8 kernels).
        if (std::string(name) == "tiny_mpnet_cls") EXPECT_LE(same.hidden.max_abs_diff, 0.025);
        EXPECT_GT(same.hidden.max_abs_diff, 0.0);
        // auto is one of the two, bit for bit.
        tools::DriftReport a8 = tools::compare_models(*int8_auto, *int8_att, texts);
        tools::DriftReport a32 = tools::compare_models(*int8_auto, *int8_f32att, texts);
        EXPECT_TRUE(a8.hidden.max_abs_diff == 0.0 || a32.hidden.max_abs_diff == 0.0);
    }
}

TEST(AttentionS8, UnknownAttentionOptionIsAnError) {
    LoadOptions o;
    o.attention = "bogus";
    try {
        Model::load((test::fixtures_dir() / "tiny_cls").string(), o);
        FAIL() << "expected sparq::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("expected auto, f32 or int8, found 'bogus'"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace sparq
