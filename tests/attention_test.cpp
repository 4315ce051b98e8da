// Attention per head (src/model/attention.hpp): every compiled variant against the scalar
// reference, over sequence lengths around the register tile (6 query rows), the 16-key padding
// and the scores row block, head sizes that are and are not multiples of a vector, rows strided
// as in the fused QKV output, and the dispatch under a capped ISA.
#include "model/attention.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cpu/isa.hpp"

using namespace sparq;

namespace {

struct HeadData {
    int64_t seq, d, heads = 3, ld;
    std::vector<float> qkv;
    // Head 1 of `heads`: q, k, v column slices of one fused QKV row of stride ld.
    const float* q() const { return qkv.data() + d; }
    const float* k() const { return q() + heads * d; }
    const float* v() const { return k() + heads * d; }
};

HeadData make_head(int64_t seq, int64_t d, uint32_t seed, float spread) {
    HeadData h{seq, d};
    h.ld = 3 * h.heads * d + 5;
    h.qkv.resize(seq * h.ld);
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, spread);
    for (auto& x : h.qkv) x = nd(rng);
    return h;
}

// Scratch floats for any variant (the reference keeps seq x seq scores).
int64_t scratch_floats(const HeadData& h) {
    return std::max(attention_scratch_floats(h.seq, h.d), h.seq * h.seq);
}

// Context of head 1 into a [seq][heads*d] buffer filled with -7 elsewhere.
std::vector<float> run(AttentionHeadFn fn, const HeadData& h) {
    const int64_t ldc = h.heads * h.d;
    std::vector<float> ctx(h.seq * ldc, -7.0f);
    // Guard floats after the scratch the kernel may use: it must stay within its size.
    const int64_t need = scratch_floats(h);
    std::vector<float> scratch(need + 64, 3.0f);
    fn(h.q(), h.k(), h.v(), h.ld, ctx.data() + h.d, ldc, h.seq, h.d,
       1.0f / std::sqrt(static_cast<float>(h.d)), scratch.data());
    for (int64_t i = need; i < need + 64; ++i) EXPECT_EQ(scratch[i], 3.0f) << "scratch overrun";
    return ctx;
}

void expect_matches(const std::vector<float>& got, const std::vector<float>& want,
                    const HeadData& h, float tol) {
    const int64_t ldc = h.heads * h.d;
    for (int64_t r = 0; r < h.seq; ++r)
        for (int64_t c = 0; c < ldc; ++c) {
            const float g = got[r * ldc + c], w = want[r * ldc + c];
            if (c < h.d || c >= 2 * h.d) {  // other heads' columns: untouched
                ASSERT_EQ(g, -7.0f) << "row " << r << " col " << c;
                continue;
            }
            // Context = convex combination of V rows (|v| ~ 1): absolute tolerance.
            ASSERT_NEAR(g, w, tol) << "row " << r << " col " << c - h.d;
        }
}

}  // namespace

TEST(Attention, VariantsMatchReference) {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    ASSERT_EQ(vs[0].isa, Isa::scalar);
    for (int64_t seq : {0, 1, 2, 5, 6, 7, 8, 13, 15, 16, 17, 63, 64, 65, 127, 128, 129, 384})
        for (int64_t d : {8, 16, 24, 32, 64, 80}) {
            if (seq == 384 && d != 64) continue;  // keep the test fast
            const HeadData h = make_head(seq, d, static_cast<uint32_t>(seq * 100 + d), 1.0f);
            const std::vector<float> want = run(vs[0].fn, h);
            for (int i = 1; i < n; ++i) {
                if (!has_isa(vs[i].isa)) continue;  // TEMP
                SCOPED_TRACE(std::string(vs[i].name) + " seq=" + std::to_string(seq) +
                             " d=" + std::to_string(d));
                expect_matches(run(vs[i].fn, h), want, h, 1e-5f);
            }
        }
}

// Large scores (peaked softmax, exp of very negative numbers flushed to 0) and a row block
// boundary that is not a multiple of the tile: still the reference, no NaN.
TEST(Attention, PeakedScoresMatchReference) {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    for (int64_t seq : {33, 200, 301}) {
        const HeadData h = make_head(seq, 64, static_cast<uint32_t>(seq), 6.0f);
        const std::vector<float> want = run(vs[0].fn, h);
        for (int i = 1; i < n; ++i) {
            if (!has_isa(vs[i].isa)) continue;  // TEMP
            SCOPED_TRACE(std::string(vs[i].name) + " seq=" + std::to_string(seq));
            // Scores reach ~100 here; their f32 rounding (~1e-5 relative, vs the reference's
            // double sums) moves the exponentials by ~1e-4 relative, times |v| ~ 6.
            expect_matches(run(vs[i].fn, h), want, h, 5e-4f);
        }
    }
}

// The dispatching entry point runs the variant of the capped ISA (SPARQ_MAX_ISA / set_max_isa).
TEST(Attention, DispatchUnderCappedIsa) {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    const HeadData h = make_head(129, 64, 11, 1.0f);
    const std::vector<float> want = run(vs[0].fn, h);
    for (int i = 0; i < n; ++i) {
        if (!has_isa(vs[i].isa)) continue;  // TEMP
        SCOPED_TRACE(vs[i].name);
        set_max_isa(vs[i].isa);
        const std::vector<float> expect = run(vs[i].fn, h);
        const std::vector<float> got = run(
            [](const float* q, const float* k, const float* v, int64_t ld, float* ctx, int64_t ldc,
               int64_t seq, int64_t d, float scale,
               float* scratch) { attention_head(q, k, v, ld, ctx, ldc, seq, d, scale, scratch); },
            h);
        set_max_isa(cpu_isa());
        expect_matches(got, want, h, 1e-5f);
        // Dispatch picks the last variant of each ISA: bit-identical to it.
        if (i + 1 == n || vs[i + 1].isa != vs[i].isa) ASSERT_EQ(got, expect);
    }
}

// Prefetching the next head (the encoder's mode) changes nothing: same bits as without, for a
// next head longer, shorter and at other offsets than the current one.
TEST(Attention, NextHeadPrefetchKeepsResults) {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    const HeadData h = make_head(77, 64, 5, 1.0f);
    for (int64_t next_seq : {1, 40, 77, 300}) {
        const HeadData other = make_head(next_seq, 64, 6, 1.0f);
        const AttentionNext next{other.q(), other.k(), other.v(), next_seq};
        for (int i = 0; i < n; ++i) {
            if (!has_isa(vs[i].isa)) continue;
            SCOPED_TRACE(std::string(vs[i].name) + " next_seq=" + std::to_string(next_seq));
            const std::vector<float> want = run(vs[i].fn, h);
            std::vector<float> got(want.size(), -7.0f);
            std::vector<float> scratch(scratch_floats(h));
            vs[i].with_next(h.q(), h.k(), h.v(), h.ld, got.data() + h.d, h.heads * h.d, h.seq, h.d,
                            0.125f, scratch.data(), &next);
            ASSERT_EQ(got, want);
        }
    }
}
