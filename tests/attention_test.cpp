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

// Head 1's context computed directly in double from score(i, j) (the pre-softmax score of
// query i and key j): softmax over j, times V; -7 in the other heads' columns.
template <class Score>
std::vector<float> direct_context(const HeadData& h, Score score) {
    const int64_t ldc = h.heads * h.d;
    std::vector<float> out(h.seq * ldc, -7.0f);
    for (int64_t i = 0; i < h.seq; ++i) {
        std::vector<double> p(h.seq);
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < h.seq; ++j) mx = std::max(mx, p[j] = score(i, j));
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (int64_t c = 0; c < h.d; ++c) {
            double acc = 0;
            for (int64_t j = 0; j < h.seq; ++j) acc += p[j] / sum * h.v()[j * h.ld + c];
            out[i * ldc + h.d + c] = static_cast<float>(acc);
        }
    }
    return out;
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

// With a relative position bias (MPNet): every variant against the reference, which itself is
// checked against scores computed here with the bias added explicitly (bias_i[j] = rel[j - i]).
TEST(Attention, RelativeBiasMatchesReference) {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    for (int64_t seq : {1, 2, 7, 16, 17, 65, 130})
        for (int64_t d : {16, 24, 64}) {
            SCOPED_TRACE("seq=" + std::to_string(seq) + " d=" + std::to_string(d));
            const HeadData h = make_head(seq, d, static_cast<uint32_t>(7 * seq + d), 1.0f);
            std::vector<float> table(2 * seq - 1);
            std::mt19937 rng(static_cast<uint32_t>(seq));
            std::normal_distribution<float> nd(0.0f, 2.0f);
            for (float& x : table) x = nd(rng);
            const float* rel = table.data() + seq - 1;
            const float scale = 1.0f / std::sqrt(static_cast<float>(d));
            auto with_bias = [&](AttentionHeadBiasFn fn) {
                const int64_t ldc = h.heads * h.d, need = scratch_floats(h);
                std::vector<float> ctx(h.seq * ldc, -7.0f), scratch(need + 64, 3.0f);
                fn(h.q(), h.k(), h.v(), h.ld, ctx.data() + h.d, ldc, h.seq, h.d, scale,
                   scratch.data(), nullptr, rel);
                for (int64_t i = need; i < need + 64; ++i) EXPECT_EQ(scratch[i], 3.0f);
                return ctx;
            };
            const std::vector<float> want = with_bias(vs[0].with_bias);
            // Independent: softmax(q·k·scale + rel[j - i]) · v in double.
            const std::vector<float> direct = direct_context(h, [&](int64_t i, int64_t j) {
                double dot = 0;
                for (int64_t c = 0; c < d; ++c)
                    dot += double(h.q()[i * h.ld + c]) * h.k()[j * h.ld + c];
                return dot * scale + rel[j - i];
            });
            expect_matches(want, direct, h, 1e-5f);
            // The bias matters here: without it the context differs.
            const std::vector<float> plain = run(vs[0].fn, h);
            if (seq > 1) EXPECT_NE(plain, want);
            for (int i = 1; i < n; ++i) {
                if (!has_isa(vs[i].isa)) continue;
                SCOPED_TRACE(vs[i].name);
                expect_matches(with_bias(vs[i].with_bias), want, h, 1e-5f);
            }
        }
}

// Local (windowed) attention, ModernBERT's local layers: each variant and the dispatcher against
// softmax over the keys |i - j| <= window in double, over windows below, near and above the
// sequence (one block, several blocks, block edges inside and outside the keys), and equal to
// attention_head with the window as a bias.
TEST(Attention, LocalWindowMatchesReference) {
    using LocalFn = void (*)(const float*, const float*, const float*, int64_t, float*, int64_t,
                             int64_t, int64_t, float, float*, int64_t, const float*);
    const std::pair<const char*, LocalFn> fns[] = {
        {"dispatch", attention_head_local},
        {"avx2", has_isa(Isa::avx2) ? attention_head_local_avx2 : nullptr},
        {"avx512", has_isa(Isa::avx512) ? attention_head_local_avx512 : nullptr}};
    for (int64_t seq : {1, 7, 17, 40, 100, 301})
        for (int64_t window : {1, 3, 8, 20, 64})
            for (int64_t d : {8, 64}) {
                SCOPED_TRACE("seq=" + std::to_string(seq) + " window=" + std::to_string(window) +
                             " d=" + std::to_string(d));
                const HeadData h =
                    make_head(seq, d, static_cast<uint32_t>(seq * 31 + window), 1.0f);
                std::vector<float> table(2 * seq - 1);
                for (int64_t r = -(seq - 1); r < seq; ++r)
                    table[r + seq - 1] = std::abs(r) <= window ? 0.0f : -1e30f;
                const float* mask = table.data() + seq - 1;
                const float scale = 1.0f / std::sqrt(static_cast<float>(d));
                const std::vector<float> want = direct_context(h, [&](int64_t i, int64_t j) {
                    double dot = 0;
                    for (int64_t c = 0; c < d; ++c)
                        dot += double(h.q()[i * h.ld + c]) * h.k()[j * h.ld + c];
                    return std::abs(i - j) <= window ? dot * scale : -INFINITY;
                });
                const int64_t ldc = h.heads * h.d, need = scratch_floats(h);
                for (const auto& [name, fn] : fns) {
                    if (!fn) continue;
                    SCOPED_TRACE(name);
                    std::vector<float> ctx(h.seq * ldc, -7.0f), scratch(need + 64, 3.0f);
                    fn(h.q(), h.k(), h.v(), h.ld, ctx.data() + h.d, ldc, h.seq, h.d, scale,
                       scratch.data(), window, mask);
                    for (int64_t i = need; i < need + 64; ++i) EXPECT_EQ(scratch[i], 3.0f);
                    expect_matches(ctx, want, h, 1e-5f);
                }
                std::vector<float> full(h.seq * ldc, -7.0f), scratch(need + 64, 3.0f);
                attention_head(h.q(), h.k(), h.v(), h.ld, full.data() + h.d, ldc, h.seq, h.d, scale,
                               scratch.data(), nullptr, mask);
                expect_matches(full, want, h, 1e-5f);
            }
}

// The packed-stream kernel (attention_head_stream_avx512) against the reference: sequences
// packed back to back so they start and end inside token groups and 16-lane vectors, head sizes
// with and without a multiple of 4 or 6, groups of 64 and 128 tokens. Other heads' rows and other
// sequences' token slots stay untouched; the kernel stays within its scratch.
TEST(Attention, StreamKernelMatchesReference) {
    if (!has_isa(Isa::avx512)) GTEST_SKIP() << "AVX-512 only";
    // With a relative position bias too (MPNet): the table covers the longest sequence.
    std::vector<float> table(2 * 150 - 1);
    std::mt19937 brng(3);
    std::normal_distribution<float> bd(0.0f, 2.0f);
    for (float& x : table) x = bd(brng);
    const float* biased = table.data() + 149;
    // And ModernBERT's local windows: the window as a mask, each query block reading only the
    // keys its windows reach (window < block, and window > block).
    std::vector<float> mask5(2 * 150 - 1), mask70(2 * 150 - 1);
    for (int64_t r = -149; r < 150; ++r) {
        mask5[r + 149] = std::abs(r) <= 5 ? 0.0f : -1e30f;
        mask70[r + 149] = std::abs(r) <= 70 ? 0.0f : -1e30f;
    }
    const std::pair<const float*, int64_t> modes[] = {
        {nullptr, 0}, {biased, 0}, {mask5.data() + 149, 5}, {mask70.data() + 149, 70}};
    for (const auto& [rel, window] : modes)
        for (const int64_t group : {int64_t{64}, int64_t{128}})
            for (const int64_t d : {int64_t{64}, int64_t{10}, int64_t{3}}) {
                const int64_t heads = 3, hid = heads * d;
                const std::vector<int64_t> lens = {1, 17, 70, 5, 150, 64};
                std::vector<int64_t> start = {0};
                for (int64_t len : lens) start.push_back(start.back() + len);
                const int64_t tokens = start.back(), groups = (tokens + group - 1) / group;
                // Token-major Q|K|V rows [tokens][3 * hid] and the same values in a QKV stream.
                std::mt19937 rng(static_cast<uint32_t>(7 * d + group));
                std::normal_distribution<float> nd(0.0f, 1.5f);
                std::vector<float> tm(tokens * 3 * hid);
                for (auto& x : tm) x = nd(rng);
                auto at = [&](int64_t features, int64_t f, int64_t t) {
                    return (t / group) * (features + 1) * group + f * group + t % group;
                };
                std::vector<float> qs(groups * (3 * hid + 1) * group, 11.0f);
                for (int64_t t = 0; t < tokens; ++t)
                    for (int64_t f = 0; f < 3 * hid; ++f)
                        qs[at(3 * hid, f, t)] = tm[t * 3 * hid + f];
                std::vector<float> cs(groups * (hid + 1) * group, -7.0f);
                const float scale = 1.0f / std::sqrt(static_cast<float>(d));
                const int64_t head = 1;
                for (size_t s = 0; s < lens.size(); ++s) {
                    const int64_t need = attention_stream_scratch_floats(lens[s]);
                    std::vector<float> scratch(need + 64, 3.0f);
                    attention_head_stream_avx512(qs.data(), 3 * hid, head * d, hid + head * d,
                                                 2 * hid + head * d, cs.data(), hid, head * d,
                                                 start[s], lens[s], d, group, scale, scratch.data(),
                                                 rel, window);
                    for (int64_t i = need; i < need + 64; ++i)
                        ASSERT_EQ(scratch[i], 3.0f) << "scratch overrun";
                }
                for (size_t s = 0; s < lens.size(); ++s) {
                    SCOPED_TRACE(::testing::Message()
                                 << "group " << group << " d " << d << " sequence " << s << " bias "
                                 << !!rel << " window " << window);
                    const int64_t len = lens[s];
                    std::vector<float> want(len * hid, 0.0f), ref_scratch(len * len);
                    const float* q = tm.data() + start[s] * 3 * hid + head * d;
                    ref::attention_head(q, q + hid, q + 2 * hid, 3 * hid, want.data() + head * d,
                                        hid, len, d, scale, ref_scratch.data(), rel);
                    for (int64_t i = 0; i < len; ++i)
                        for (int64_t f = 0; f < hid; ++f) {
                            const float g = cs[at(hid, f, start[s] + i)];
                            if (f / d != head)
                                ASSERT_EQ(g, -7.0f)
                                    << "other head's row, token " << i << " feature " << f;
                            else
                                ASSERT_NEAR(g, want[i * hid + f], 2e-5f)
                                    << "token " << i << " dim " << f - head * d;
                        }
                }
                // Slots past the last token: untouched.
                for (int64_t t = tokens; t < groups * group; ++t)
                    for (int64_t f = 0; f < hid; ++f) ASSERT_EQ(cs[at(hid, f, t)], -7.0f) << t;
            }
}

// DeBERTa's disentangled attention (attention_head_deberta, sgemm form) against its scalar
// reference and an independent double-precision computation of HF's definition: c2p and p2c
// terms gathered through the relative index table (log buckets and the clamp at the span), each
// term alone, sequences of 1 token up to past the span and the buckets' exact range.
TEST(Attention, DisentangledMatchesReference) {
    for (int64_t seq : {1, 2, 9, 17, 40, 64, 130})
        for (int64_t d : {8, 64})
            for (int terms : {3, 1, 2}) {  // bit 0: c2p, bit 1: p2c
                SCOPED_TRACE("seq=" + std::to_string(seq) + " d=" + std::to_string(d) +
                             " terms=" + std::to_string(terms));
                const HeadData h = make_head(seq, d, static_cast<uint32_t>(11 * seq + d), 1.0f);
                const int64_t span = 16, buckets = 16, max_position = 64, max_len = 140;
                const std::vector<int32_t> idx =
                    deberta_rel_index(span, buckets, max_position, max_len);
                // Transposed projections [d][ld_pos]: 2 span relative rows, 16 readable columns
                // after them (the vector tiles read whole vectors), an odd stride.
                const int64_t ld_pos = 2 * span + 16 + 5;
                std::vector<float> pk(d * ld_pos + 8), pq(d * ld_pos + 8);
                std::mt19937 rng(static_cast<uint32_t>(seq + d));
                std::normal_distribution<float> nd(0.0f, 1.0f);
                for (float& x : pk) x = nd(rng);
                for (float& x : pq) x = nd(rng);
                DisentangledHead rel;
                rel.pos_k = terms & 1 ? pk.data() + 3 : nullptr;
                rel.pos_q = terms & 2 ? pq.data() + 3 : nullptr;
                rel.ld_pos = ld_pos;
                rel.idx = idx.data() + max_len - 1 + kDebertaIndexPad;
                const float scale = 1.0f / std::sqrt(static_cast<float>(d * 3));
                const int64_t ldc = h.heads * h.d;
                auto run_with = [&](auto fn) {
                    const int64_t need = attention_deberta_scratch_floats(seq, d);
                    std::vector<float> ctx(seq * ldc, -7.0f), scratch(need + 64, 3.0f);
                    fn(h.q(), h.k(), h.v(), h.ld, ctx.data() + h.d, ldc, seq, d, scale, rel,
                       scratch.data());
                    for (int64_t i = need; i < need + 64; ++i) EXPECT_EQ(scratch[i], 3.0f);
                    return ctx;
                };
                const std::vector<float> want = run_with(ref::attention_head_deberta);
                // The terms gathered with AVX-512 and by the scalar loop (ISA capped to AVX2).
                for (Isa isa : {Isa::avx512, Isa::avx2}) {
                    if (!has_isa(isa)) continue;
                    SCOPED_TRACE(isa_name(isa));
                    set_max_isa(isa);
                    const std::vector<float> got = run_with(attention_head_deberta);
                    set_max_isa(cpu_isa());
                    expect_matches(got, want, h, 1e-5f);
                }
                // Independent: the index of distance i - j as HF computes it (bucket, + span,
                // clamp), the three dot products in double.
                const std::vector<float> direct = direct_context(h, [&](int64_t i, int64_t j) {
                    const int64_t m = std::clamp<int64_t>(
                        deberta_bucket(i - j, buckets, max_position) + span, 0, 2 * span - 1);
                    double s = 0;
                    for (int64_t c = 0; c < d; ++c) {
                        const double q = h.q()[i * h.ld + c], k = h.k()[j * h.ld + c];
                        s += q * k;
                        if (rel.pos_k) s += q * rel.pos_k[c * ld_pos + m];
                        if (rel.pos_q) s += k * rel.pos_q[c * ld_pos + m];
                    }
                    return s * scale;
                });
                expect_matches(want, direct, h, 1e-5f);
            }
}

// Hugging Face's make_log_bucket_position: identity inside (-mid, mid), logarithmic beyond,
// odd in r, the last distance max_position - 1 in bucket 2 mid - 1 (the exact-ratio case).
TEST(Attention, DebertaBucketsShape) {
    EXPECT_EQ(deberta_bucket(0, 256, 512), 0);
    EXPECT_EQ(deberta_bucket(128, 256, 512), 128);
    EXPECT_EQ(deberta_bucket(-128, 256, 512), -128);
    EXPECT_EQ(deberta_bucket(511, 256, 512), 255);
    EXPECT_EQ(deberta_bucket(-511, 256, 512), -255);
    EXPECT_EQ(deberta_bucket(7, 0, 512), 7);  // no buckets: the distance itself
    for (int64_t r = 1; r < 2000; ++r) {
        EXPECT_EQ(deberta_bucket(-r, 256, 512), -deberta_bucket(r, 256, 512));
        EXPECT_GE(deberta_bucket(r, 256, 512), deberta_bucket(r - 1, 256, 512));
    }
}
