// Sparse f32 kernels: every variant this CPU can run (AVX2 also under a capped ISA) against the
// scalar reference make_linear_ref, over shapes, sparsities, token counts, epilogues and threads.
#include "kernels/spmm/spmm.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "jit/spmm_gen.hpp"
#include "kernels/fused.hpp"
#include "kernels/linear.hpp"
#include "kernels/spmm/sparse_format.hpp"
#include "sparq/model.hpp"
#include "test_util.hpp"

namespace sparq {
namespace {

// Random [out][in] weight with the given share of zeros; row 0 is empty and row 1 fully dense
// when out >= 3 (and sparsity is neither 0 nor 1).
std::vector<float> random_weight(int64_t out, int64_t in, double sparsity, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> val(-1.0f, 1.0f), u(0.0f, 1.0f);
    std::vector<float> w(out * in);
    for (auto& x : w) x = u(rng) < sparsity ? 0.0f : val(rng);
    if (out >= 3 && sparsity > 0 && sparsity < 1) {
        for (int64_t i = 0; i < in; ++i) w[i] = 0.0f;
        for (int64_t i = 0; i < in; ++i) w[in + i] = val(rng) + 2.0f;
    }
    return w;
}

std::vector<float> random_vec(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> val(-2.0f, 2.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = val(rng);
    return v;
}

struct Case {
    int64_t out, in;
    double sparsity;
    int64_t tokens;
    bool bias, residual;
    Activation act;
    int threads;
};

// Runs `variant` and the reference on one case; tolerance per element is 1e-5 of the magnitude
// sum(|w||x|) + |b| + |residual| (float accumulation order differs from the reference).
void check(const SpmmVariant& variant, const Case& c) {
    SCOPED_TRACE(::testing::Message()
                 << variant.name << " out=" << c.out << " in=" << c.in << " sparsity=" << c.sparsity
                 << " T=" << c.tokens << " bias=" << c.bias << " residual=" << c.residual
                 << " act=" << test::act_name(c.act) << " threads=" << c.threads);
    std::vector<float> w = random_weight(c.out, c.in, c.sparsity, 7 * c.out + c.in);
    std::vector<float> b = random_vec(c.out, 11);
    std::vector<float> x = random_vec(c.tokens * c.in, 13 + c.tokens);
    std::vector<float> res = random_vec(c.tokens * c.out, 17);
    LinearDesc d;
    d.weight = w.data();
    d.bias = c.bias ? b.data() : nullptr;
    d.out = c.out;
    d.in = c.in;
    d.act = c.act;
    d.name = "test";
    set_num_threads(c.threads);
    auto ref = make_linear_ref(d);
    auto k = make_sparse_f32(d, &variant);
    // A variant with a K-block range names the block it chose ("..._k128-384_..." -> "..._k256_").
    std::string family = variant.name;
    if (variant.max_chunk > variant.chunk) family = family.substr(0, family.find("_k") + 2);
    EXPECT_EQ(k->name().rfind(family, 0), 0u) << k->name();
    std::vector<float> want(c.tokens * c.out), got(c.tokens * c.out, NAN);
    const float* r = c.residual ? res.data() : nullptr;
    ref->run(x.data(), want.data(), c.tokens, r);
    k->run(x.data(), got.data(), c.tokens, r);
    int bad = 0;
    for (int64_t t = 0; t < c.tokens && bad < 5; ++t)
        for (int64_t o = 0; o < c.out && bad < 5; ++o) {
            double mag = 0;
            for (int64_t i = 0; i < c.in; ++i) mag += std::fabs(w[o * c.in + i] * x[t * c.in + i]);
            if (c.bias) mag += std::fabs(b[o]);
            if (c.residual) mag += std::fabs(res[t * c.out + o]);
            double tol = 1e-5 * mag + 1e-6;
            float g = got[t * c.out + o], e = want[t * c.out + o];
            if (!(std::fabs(g - e) <= tol)) {
                ADD_FAILURE() << "t=" << t << " o=" << o << " got " << g << " want " << e;
                ++bad;
            }
        }
}

std::vector<const SpmmVariant*> runnable_variants() {
    int n = 0;
    const SpmmVariant* v = spmm_variants(&n);
    std::vector<const SpmmVariant*> out;
    for (int i = 0; i < n; ++i)
        if (has_isa(v[i].isa)) out.push_back(&v[i]);
    return out;
}

const Activation kActs[] = {Activation::none, Activation::gelu, Activation::gelu_tanh};

void check_all(const SpmmVariant& v) {
    // Small shapes: every sparsity x token count x epilogue.
    for (auto [out, in] :
         {std::pair<int64_t, int64_t>{1, 1}, {17, 17}, {64, 17}, {17, 64}, {64, 64}})
        for (double s : {0.0, 0.5, 0.9, 0.99, 1.0})
            for (int64_t t : {1, 2, 15, 16, 17, 33, 128})
                check(v, {out, in, s, t, (t % 2) == 1, t >= 16,
                          t == 17   ? Activation::gelu
                          : t == 33 ? Activation::gelu_tanh
                                    : Activation::none,
                          1 + static_cast<int>(t % 2)});
    // Epilogue combinations on one shape.
    for (bool bias : {false, true})
        for (bool residual : {false, true})
            for (Activation act : kActs)
                for (int threads : {1, 2})
                    check(v, {96, 80, 0.8, 33, bias, residual, act, threads});
    // Several K chunks with a full token group and a tail group (unrolled code + loop tail).
    check(v, {100, 300, 0.9, 70, true, true, Activation::gelu, 2});
    check(v, {100, 300, 0.9, 70, true, false, Activation::gelu_tanh, 1});
    check(v, {100, 300, 0.99, 64, false, false, Activation::none, 1});
    // Sparse enough for a grown K-block (384 of 1000 inputs: three blocks, the last shorter).
    check(v, {64, 1000, 0.98, 70, true, true, Activation::gelu, 2});
    // Inputs over the register-blocked kernel's 1024-wide K chunks.
    check(v, {40, 2100, 0.9, 40, true, true, Activation::gelu, 2});
    check(v, {40, 2100, 0.9, 40, false, false, Activation::gelu_tanh, 1});
    // Token groups not divisible by the thread count: rows split across threads, several groups.
    check(v, {130, 300, 0.9, 150, true, false, Activation::none, 2});
    // Sequence lengths around token-group and thread-split boundaries (64-token groups: 384 is 6
    // groups, split by tokens over 2 threads; 385 adds a 1-token tail group), 1 and 2 threads.
    for (int64_t t : {1, 17, 64, 65, 384, 385})
        for (int threads : {1, 2})
            check(v, {130, 200, 0.9, t, true, t % 2 == 1,
                      t < 64       ? Activation::none
                      : t % 2 == 0 ? Activation::gelu
                                   : Activation::gelu_tanh,
                      threads});
    // BERT-sized, few tokens.
    check(v, {768, 768, 0.9, 17, true, true, Activation::none, 2});
    check(v, {3072, 768, 0.95, 33, true, false, Activation::gelu, 2});
    check(v, {3072, 768, 0.95, 17, true, false, Activation::gelu_tanh, 1});
    check(v, {768, 3072, 0.9, 16, true, true, Activation::none, 1});
    check(v, {768, 3072, 1.0, 2, true, true, Activation::none, 2});
}

TEST(SparseFormat, CsrRoundTripAndColumnBlocks) {
    std::vector<float> w = random_weight(37, 300, 0.9, 3);
    CsrMatrix csr = csr_from_dense(w.data(), 37, 300);
    ASSERT_EQ(csr.row_ptr.size(), 38u);
    std::vector<float> back(37 * 300, 0.0f);
    for (int64_t r = 0; r < 37; ++r)
        for (int32_t k = csr.row_ptr[r]; k < csr.row_ptr[r + 1]; ++k)
            back[r * 300 + csr.col_idx[k]] = csr.values[k];
    EXPECT_EQ(back, w);
    EXPECT_EQ(csr.row_ptr[1], 0);    // empty row 0
    EXPECT_EQ(csr.row_ptr[2], 300);  // dense row 1
    BlockedCsr b = block_columns(csr, 64);
    EXPECT_EQ(b.chunks, 5);
    EXPECT_EQ(b.nnz(), csr.nnz());
    std::vector<float> back2(37 * 300, 0.0f);
    for (int64_t c = 0; c < b.chunks; ++c)
        for (int64_t r = 0; r < 37; ++r) {
            const int32_t* rp = b.row_ptr.data() + c * 38;
            for (int32_t k = rp[r]; k < rp[r + 1]; ++k) {
                EXPECT_GE(b.col_idx[k], c * 64);
                EXPECT_LT(b.col_idx[k], (c + 1) * 64);
                back2[r * 300 + b.col_idx[k]] = b.values[k];
            }
        }
    EXPECT_EQ(back2, w);
}

TEST(SparseFormat, PartitionBalancesNonzerosNotRows) {
    // Rows 0..99 have 10 nonzeros each, rows 100..199 none: two parts split at row 50.
    std::vector<int32_t> rp(201);
    for (int r = 0; r <= 200; ++r) rp[r] = std::min(r, 100) * 10;
    std::vector<int64_t> b = partition_rows(rp.data(), 200, 2);
    EXPECT_EQ(b, (std::vector<int64_t>{0, 50, 200}));
    b = partition_rows(rp.data(), 200, 2, 16);
    EXPECT_EQ(b, (std::vector<int64_t>{0, 48, 200}));
    b = partition_rows(rp.data(), 5, 8);
    EXPECT_EQ(b.front(), 0);
    EXPECT_EQ(b.back(), 5);
    for (size_t i = 1; i < b.size(); ++i) EXPECT_LE(b[i - 1], b[i]);
}

TEST(SparseFormat, PackUnpackMatchScalar) {
    for (Isa isa : {Isa::avx2, Isa::avx512}) {
        if (!has_isa(isa)) continue;
        int lanes = isa == Isa::avx512 ? 16 : 8;
        for (int64_t count : {1, 7, 16, 17, 31, 32}) {
            int64_t group = 32, in = 21;
            std::vector<float> src = random_vec(count * 40, 5);
            std::vector<float> a(in * group, -1.0f), b(in * group, -1.0f);
            spmm_detail::pack_tokens_scalar(src.data(), 40, in, count, group, lanes, a.data());
            spmm_pack_tokens(isa, src.data(), 40, in, count, group, lanes, b.data());
            int64_t padded = (count + lanes - 1) / lanes * lanes;
            for (int64_t i = 0; i < in; ++i)
                for (int64_t t = 0; t < padded; ++t)
                    EXPECT_EQ(a[i * group + t], b[i * group + t]) << "i=" << i << " t=" << t;
        }
    }
}

TEST(SparseFormat, UnpackEpilogueMatchesScalar) {
    const int64_t group = 32, rows = 37, r0 = 5, ld = 50;
    std::vector<float> tile = random_vec(rows * group, 21), bias = random_vec(ld, 22);
    std::vector<float> res = random_vec(group * ld, 23);
    for (Isa isa : {Isa::avx2, Isa::avx512}) {
        if (!has_isa(isa)) continue;
        for (int64_t count : {1, 8, 9, 16, 31, 32})
            for (bool b : {false, true})
                for (bool r : {false, true})
                    for (Activation act : kActs) {
                        SpmmEpilogue ep{b ? bias.data() : nullptr, r ? res.data() : nullptr, act};
                        std::vector<float> want(group * ld, -7.0f), got(group * ld, -7.0f);
                        spmm_detail::unpack_rows_scalar(tile.data(), group, r0, rows, count,
                                                        want.data(), ld, ep);
                        spmm_unpack_rows(isa, tile.data(), group, r0, rows, count, got.data(), ld,
                                         ep);
                        for (size_t i = 0; i < want.size(); ++i)
                            ASSERT_NEAR(got[i], want[i], 2e-6f * (1.0f + std::fabs(want[i])))
                                << isa_name(isa) << " count=" << count << " i=" << i << " "
                                << test::act_name(act);
                    }
    }
}

TEST(Spmm, ListStartsWithReference) {
    int n = 0;
    const SpmmVariant* v = spmm_variants(&n);
    ASSERT_GT(n, 1);
    EXPECT_EQ(v[0].isa, Isa::scalar);
    EXPECT_TRUE(has_isa(spmm_best_variant(768, 768).isa));
}

// The K-block of a variant with a range grows with the zeros: ~12 nonzeros per row and block, in
// multiples of 64 columns, within the range; fixed variants keep theirs. The kernel's name says
// which block it got.
TEST(Spmm, KBlockGrowsWithZeros) {
    int n = 0;
    const SpmmVariant* vars = spmm_variants(&n);
    const SpmmVariant* ranged = nullptr;
    for (int i = 0; i < n; ++i)
        if (vars[i].max_chunk > vars[i].chunk && !ranged) ranged = &vars[i];
    ASSERT_NE(ranged, nullptr);
    ASSERT_EQ(ranged->chunk, 128);
    ASSERT_EQ(ranged->max_chunk, 384);
    const int64_t all = 768 * 768;
    EXPECT_EQ(spmm_chunk(*ranged, 768, 768, all), 128);               // dense
    EXPECT_EQ(spmm_chunk(*ranged, 768, 768, all / 2), 128);           // 50%: 24 columns
    EXPECT_EQ(spmm_chunk(*ranged, 768, 768, all / 10), 128);          // 90%: 120 -> 128
    EXPECT_EQ(spmm_chunk(*ranged, 768, 768, all / 20), 256);          // 95%: 240 -> 256
    EXPECT_EQ(spmm_chunk(*ranged, 3072, 768, 3072 * 768 / 13), 192);  // 92.3%: 156 -> 192
    EXPECT_EQ(spmm_chunk(*ranged, 768, 768, all / 50), 384);          // 98%: 600, capped
    EXPECT_EQ(spmm_chunk(*ranged, 768, 768, 0), 128);                 // all zeros
    for (int i = 0; i < n; ++i)
        if (vars[i].max_chunk <= vars[i].chunk)
            EXPECT_EQ(spmm_chunk(vars[i], 768, 768, all / 20), vars[i].chunk) << vars[i].name;
    if (!has_isa(ranged->isa)) GTEST_SKIP() << ranged->name << " needs " << isa_name(ranged->isa);
    std::vector<float> w = random_weight(96, 768, 0.95, 5);
    LinearDesc d{w.data(), nullptr, 96, 768, Activation::none, "k"};
    EXPECT_EQ(make_sparse_f32(d, ranged)->name(), "spmm_f32_4x16_k256_avx512");
    w = random_weight(96, 768, 0.9, 5);
    d.weight = w.data();
    EXPECT_EQ(make_sparse_f32(d, ranged)->name(), "spmm_f32_4x16_k128_avx512");
}

TEST(Spmm, JitCodeIsCachedPerShape) {
    if (!has_isa(Isa::avx2)) GTEST_SKIP() << "no AVX2";
    auto a = jit::spmm_f32_kernel(Isa::avx2, 2);
    auto b = jit::spmm_f32_kernel(Isa::avx2, 2);
    EXPECT_EQ(a.get(), b.get());
    EXPECT_LT(a->code_size(), 2048u);
}

// spmm_run_chain (FFN1 -> GELU -> FFN2 with the intermediate kept packed) against the scalar
// reference applied twice, for every runnable JIT variant, over token counts (1, tails, several
// groups), threads, an odd intermediate width and both GELU forms; and it declines pairs that do
// not chain.
TEST(Spmm, ChainMatchesTwoReferenceRuns) {
    struct ChainCase {
        int64_t hidden, inter, tokens;
        int threads;
        Activation act;
    };
    constexpr Activation kErf = Activation::gelu, kTanh = Activation::gelu_tanh;
    const ChainCase cases[] = {{48, 200, 1, 1, kErf},   {48, 200, 17, 1, kTanh},
                               {64, 256, 64, 1, kErf},  {64, 256, 100, 1, kTanh},
                               {33, 97, 130, 2, kErf},  {64, 256, 128, 2, kTanh},
                               {40, 160, 300, 2, kErf}, {48, 200, 65, 2, kTanh},
                               {64, 256, 384, 2, kErf}, {64, 256, 385, 1, kTanh}};
    for (const SpmmVariant* v : runnable_variants()) {
        if (v->isa == Isa::scalar) continue;
        for (const ChainCase& c : cases) {
            SCOPED_TRACE(::testing::Message()
                         << v->name << " hidden=" << c.hidden << " inter=" << c.inter << " T="
                         << c.tokens << " threads=" << c.threads << " " << test::act_name(c.act));
            std::vector<float> w1 = random_weight(c.inter, c.hidden, 0.9, 3 + c.inter);
            std::vector<float> w2 = random_weight(c.hidden, c.inter, 0.9, 5 + c.hidden);
            std::vector<float> b1 = random_vec(c.inter, 19), b2 = random_vec(c.hidden, 23);
            std::vector<float> x = random_vec(c.tokens * c.hidden, 29 + c.tokens);
            std::vector<float> res = random_vec(c.tokens * c.hidden, 31);
            LinearDesc d1{w1.data(), b1.data(), c.inter, c.hidden, c.act, "ffn1"};
            LinearDesc d2{w2.data(), b2.data(), c.hidden, c.inter, Activation::none, "ffn2"};
            set_num_threads(c.threads);
            auto k1 = make_sparse_f32(d1, v), k2 = make_sparse_f32(d2, v);
            auto r1 = make_linear_ref(d1), r2 = make_linear_ref(d2);
            std::vector<float> h(c.tokens * c.inter), want(c.tokens * c.hidden);
            r1->run(x.data(), h.data(), c.tokens);
            r2->run(h.data(), want.data(), c.tokens, res.data());
            std::vector<float> got(c.tokens * c.hidden, NAN);
            const int64_t gs = spmm_group(*k1, c.tokens), groups = (c.tokens + gs - 1) / gs;
            const bool chains = groups % c.threads == 0 || groups >= 4 * c.threads;
            ASSERT_EQ(spmm_run_chain(*k1, *k2, x.data(), got.data(), c.tokens, res.data()), chains);
            if (!chains) continue;
            for (int64_t t = 0; t < c.tokens; ++t)
                for (int64_t o = 0; o < c.hidden; ++o) {
                    double mag = std::fabs(b2[o]) + std::fabs(res[t * c.hidden + o]);
                    for (int64_t i = 0; i < c.inter; ++i)
                        mag += std::fabs(w2[o * c.inter + i] * h[t * c.inter + i]);
                    const float g = got[t * c.hidden + o], e = want[t * c.hidden + o];
                    ASSERT_LE(std::fabs(g - e), 1e-5 * mag + 1e-5) << "t=" << t << " o=" << o;
                }
        }
    }
    // Pairs that do not chain: a dense kernel, and mismatched shapes.
    std::vector<float> w = random_weight(32, 32, 0.9, 1);
    LinearDesc d{w.data(), nullptr, 32, 32, Activation::none, "sq"};
    LinearDesc d2{w.data(), nullptr, 16, 64, Activation::none, "other"};
    auto s = make_sparse_f32(d), dense = make_dense_f32(d), other = make_sparse_f32(d2);
    std::vector<float> x(64 * 32, 1.0f), y(64 * 32);
    set_num_threads(1);
    if (spmm_best_variant(32, 32).isa != Isa::scalar) {
        EXPECT_TRUE(spmm_run_chain(*s, *s, x.data(), y.data(), 64));
        EXPECT_FALSE(spmm_run_chain(*s, *other, x.data(), y.data(), 64));
    }
    EXPECT_FALSE(spmm_run_chain(*s, *dense, x.data(), y.data(), 64));
    EXPECT_FALSE(spmm_run_chain(*dense, *s, x.data(), y.data(), 64));
    set_num_threads(0);
}

std::vector<float> spmm_stream_pack_copy(const std::vector<float>& x, int64_t tokens, int64_t h,
                                         int64_t group) {
    std::vector<float> s(spmm_stream_floats(tokens, h, group));
    spmm_stream_pack(x.data(), s.data(), tokens, h, group);
    return s;
}

// The packed stream (spmm.hpp): pack/unpack round trip with zeroed slots, LayerNorm against the
// token-major reference, and the kernels reading/writing it against run() and spmm_run_chain.
TEST(SpmmStream, PackLayerNormAndKernelsMatchTokenMajor) {
    int n = 0;
    const SpmmVariant* vars = spmm_variants(&n);
    const SpmmVariant* v = nullptr;
    for (int i = 0; i < n; ++i)
        if (has_isa(vars[i].isa) && vars[i].lanes == 16 && vars[i].unroll_budget == 0) {
            v = &vars[i];
            break;
        }
    if (!v) GTEST_SKIP() << "no AVX-512";
    const int64_t h = 48, inter = 200;
    std::vector<float> w1 = random_weight(inter, h, 0.9, 3), w2 = random_weight(h, inter, 0.9, 5);
    std::vector<float> wq = random_weight(3 * h, h, 0.8, 7);
    std::vector<float> b1 = random_vec(inter, 19), b2 = random_vec(h, 23),
                       bq = random_vec(3 * h, 29);
    std::vector<float> gamma = random_vec(h, 37), beta = random_vec(h, 41);
    LinearDesc d1{w1.data(), b1.data(), inter, h, Activation::gelu, "ffn1"};
    LinearDesc d2{w2.data(), b2.data(), h, inter, Activation::none, "ffn2"};
    LinearDesc dq{wq.data(), bq.data(), 3 * h, h, Activation::none, "qkv"};
    for (const int threads : {1, 2})
        for (const int64_t tokens : {1, 17, 64, 128, 293}) {
            SCOPED_TRACE(::testing::Message()
                         << v->name << " T=" << tokens << " threads=" << threads);
            set_num_threads(threads);
            auto k1 = make_sparse_f32(d1, v), k2 = make_sparse_f32(d2, v),
                 kq = make_sparse_f32(dq, v);
            const LinearKernel* ks[] = {k1.get(), k2.get(), kq.get()};
            // The default variant's groups of 64 tokens, narrower for fewer tokens.
            const int64_t group = spmm_group(*k1, tokens);
            ASSERT_EQ(group, tokens <= 16 ? 16 : tokens <= 32 ? 32 : 64);
            const int64_t groups = (tokens + group - 1) / group;
            const bool streams = groups % threads == 0 || groups >= 4 * threads;
            ASSERT_EQ(spmm_stream_group(ks, 3, tokens), streams ? group : 0);
            if (!streams) continue;
            const int64_t floats = spmm_stream_floats(tokens, h, group);
            ASSERT_EQ(floats, groups * (h + 1) * group);
            std::vector<float> x = random_vec(tokens * h, 43 + tokens),
                               res = random_vec(tokens * h, 47);
            // Stale values in the stream buffers must not leak into the results.
            std::vector<float> xs(floats, NAN), rs(floats, 1e30f), back(tokens * h, NAN);
            spmm_stream_pack(x.data(), xs.data(), tokens, h, group);
            spmm_stream_pack(res.data(), rs.data(), tokens, h, group);
            for (int64_t g = 0; g < groups; ++g)
                for (int64_t r = 0; r < h; ++r)
                    for (int64_t t = std::min(group, tokens - g * group); t < group; ++t)
                        ASSERT_EQ(xs[(g * (h + 1) + r) * group + t], 0.0f) << "slot " << t;
            spmm_stream_unpack(xs.data(), back.data(), tokens, h, group);
            EXPECT_EQ(back, x);

            // LayerNorm(x + res) in place into the residual's stream vs the token-major reference.
            std::vector<float> want(tokens * h);
            ref::layer_norm(x.data(), res.data(), gamma.data(), beta.data(), want.data(), tokens, h,
                            1e-12f);
            std::vector<float> ln = xs;
            spmm_stream_layer_norm(ln.data(), rs.data(), gamma.data(), beta.data(), rs.data(),
                                   tokens, h, group, 1e-12f);
            spmm_stream_unpack(rs.data(), back.data(), tokens, h, group);
            for (int64_t i = 0; i < tokens * h; ++i) ASSERT_NEAR(back[i], want[i], 2e-5f) << i;
            // The portable twin of one group, against the same reference.
            std::vector<float> g0(floats, NAN);
            const int64_t c0 = std::min(group, tokens);
            spmm_detail::layer_norm_group_scalar(
                xs.data(), spmm_stream_pack_copy(res, tokens, h, group).data(), gamma.data(),
                beta.data(), g0.data(), h, group, c0, 1e-12f, nullptr);
            for (int64_t t = 0; t < group; ++t)
                for (int64_t r = 0; r < h; ++r)
                    ASSERT_NEAR(g0[r * group + t], t < c0 ? want[t * h + r] : 0.0f, 2e-5f)
                        << t << " " << r;
            for (int64_t g = 0; g < groups; ++g)
                for (int64_t t = std::min(group, tokens - g * group); t < group; ++t)
                    ASSERT_EQ(rs[(g * (h + 1)) * group + t], 0.0f) << "slot " << t;
            // With the sum kept (pre-norm residual stream): sum = x + res in place of x (every
            // token slot of the feature rows), the LayerNorm the same.
            std::vector<float> sx = xs, rs2 = spmm_stream_pack_copy(res, tokens, h, group),
                               ln2(floats, NAN);
            spmm_stream_layer_norm(sx.data(), rs2.data(), gamma.data(), beta.data(), ln2.data(),
                                   tokens, h, group, 1e-12f, sx.data());
            spmm_stream_unpack(ln2.data(), back.data(), tokens, h, group);
            for (int64_t i = 0; i < tokens * h; ++i) ASSERT_NEAR(back[i], want[i], 2e-5f) << i;
            for (int64_t g = 0; g < groups; ++g)
                for (int64_t r = 0; r < h; ++r)
                    for (int64_t t = 0; t < group; ++t) {
                        const int64_t i = (g * (h + 1) + r) * group + t;
                        ASSERT_EQ(sx[i], xs[i] + rs2[i]) << g << " " << r << " " << t;
                    }

            // Kernels: packed in and/or out give run()'s numbers exactly.
            std::vector<float> q_want(tokens * 3 * h), q_got(tokens * 3 * h, NAN);
            kq->run(x.data(), q_want.data(), tokens);
            spmm_run_stream(*kq, xs.data(), true, q_got.data(), false, tokens);
            EXPECT_EQ(q_got, q_want);
            std::vector<float> o_want(tokens * h), o_got(tokens * h, NAN);
            std::vector<float> os(floats, NAN);
            k2->run(random_vec(tokens * inter, 53).data(), o_want.data(), tokens);
            spmm_run_stream(*k2, random_vec(tokens * inter, 53).data(), false, os.data(), true,
                            tokens);
            spmm_stream_unpack(os.data(), o_got.data(), tokens, h, group);
            EXPECT_EQ(o_got, o_want);
            std::vector<float> c_want(tokens * h), c_got(tokens * h, NAN), cs(floats, NAN);
            ASSERT_TRUE(spmm_run_chain(*k1, *k2, x.data(), c_want.data(), tokens));
            spmm_run_chain_stream(*k1, *k2, xs.data(), cs.data(), tokens);
            spmm_stream_unpack(cs.data(), c_got.data(), tokens, h, group);
            EXPECT_EQ(c_got, c_want);
        }
    // Not every kernel a stream kernel: a dense one, or a group the others do not share.
    std::vector<float> w = random_weight(32, 32, 0.9, 1);
    LinearDesc d{w.data(), nullptr, 32, 32, Activation::none, "sq"};
    set_num_threads(1);
    auto s = make_sparse_f32(d, v), dense = make_dense_f32(d);
    const LinearKernel* mixed[] = {s.get(), dense.get()};
    EXPECT_EQ(spmm_stream_group(mixed, 2, 64), 0);
    for (int i = 0; i < n; ++i)
        if (has_isa(vars[i].isa) && vars[i].lanes == 16 && vars[i].vectors != v->vectors) {
            auto other = make_sparse_f32(d, &vars[i]);
            const LinearKernel* two[] = {s.get(), other.get()};
            EXPECT_EQ(spmm_stream_group(two, 2, 64), 0) << vars[i].name;
            break;
        }
    set_num_threads(0);
}

// Bias and GELU (either form) inside the last K chunk's JIT kernel give the separate pass's
// numbers bit for bit: run() (token-major epilogue), the packed stream and the FFN chain, shapes
// with one and several K chunks, empty rows, odd row counts (the dummy row), token tails.
// A run of few tokens uses a narrower token group (spmm_group) than a full one, from the same
// data: every token's outputs must equal, bit for bit, those it gets among 128 tokens in groups of
// 64, for run() (split by groups or, at two threads, by rows), the chain and the stream.
TEST(Spmm, NarrowGroupsEqualFullGroups) {
    const SpmmVariant& v = spmm_best_variant(64, 64);
    if (v.isa < Isa::avx512) GTEST_SKIP() << "narrow groups: the AVX-512 record kernels";
    const int64_t full = 128, out = 130, in = 300;
    std::vector<float> w1 = random_weight(out, in, 0.9, 61), b1 = random_vec(out, 67);
    std::vector<float> w2 = random_weight(in, out, 0.95, 71), b2 = random_vec(in, 73);
    const std::vector<float> x = random_vec(full * in, 79), res = random_vec(full * out, 83);
    LinearDesc d1{w1.data(), b1.data(), out, in, Activation::gelu, "n1"};
    LinearDesc d2{w2.data(), b2.data(), in, out, Activation::none, "n2"};
    for (const int threads : {1, 2}) {
        set_num_threads(threads);
        auto k1 = make_sparse_f32(d1, &v), k2 = make_sparse_f32(d2, &v);
        ASSERT_EQ(spmm_group(*k1, full), 64);
        std::vector<float> y_full(full * out), c_full(full * in);
        k1->run(x.data(), y_full.data(), full, res.data());
        ASSERT_TRUE(spmm_run_chain(*k1, *k2, x.data(), c_full.data(), full));
        for (const int64_t tokens : {1, 5, 16, 17, 31, 32, 33, 50}) {
            SCOPED_TRACE(::testing::Message() << "T=" << tokens << " threads=" << threads);
            const int64_t group = spmm_group(*k1, tokens);
            EXPECT_EQ(group, tokens <= 16 ? 16 : tokens <= 32 ? 32 : 64);
            std::vector<float> y(tokens * out, NAN);
            k1->run(x.data(), y.data(), tokens, res.data());
            EXPECT_EQ(y, std::vector<float>(y_full.begin(), y_full.begin() + tokens * out));
            if (spmm_stream_group(std::vector<const LinearKernel*>{k1.get()}.data(), 1, tokens)) {
                std::vector<float> c(tokens * in, NAN), cs(spmm_stream_floats(tokens, in, group));
                ASSERT_TRUE(spmm_run_chain(*k1, *k2, x.data(), c.data(), tokens));
                EXPECT_EQ(c, std::vector<float>(c_full.begin(), c_full.begin() + tokens * in));
                std::vector<float> xs(spmm_stream_floats(tokens, in, group));
                spmm_stream_pack(x.data(), xs.data(), tokens, in, group);
                spmm_run_chain_stream(*k1, *k2, xs.data(), cs.data(), tokens);
                std::fill(c.begin(), c.end(), NAN);
                spmm_stream_unpack(cs.data(), c.data(), tokens, in, group);
                EXPECT_EQ(c, std::vector<float>(c_full.begin(), c_full.begin() + tokens * in));
            }
        }
    }
    set_num_threads(1);
}

TEST(Spmm, JitEpilogueEqualsSeparatePass) {
    if (spmm_best_variant(64, 64).isa < Isa::avx512)
        GTEST_SKIP() << "the JIT epilogue needs AVX-512";
    // The default (record) kernel and the register-blocked one.
    const SpmmVariant* rb = nullptr;
    for (const SpmmVariant* v : runnable_variants())
        if (v->block_rows > 0) rb = v;
    ASSERT_NE(rb, nullptr);
    for (const SpmmVariant* v : {&spmm_best_variant(64, 64), rb}) {
        SCOPED_TRACE(v->name);
        struct Shape {
            int64_t out, in;
            double sparsity;
        };
        for (const Shape sh : {Shape{33, 40, 0.5}, Shape{130, 300, 0.9}, Shape{64, 700, 0.99},
                               Shape{48, 200, 1.0}, Shape{40, 1100, 0.9}})
            for (const Activation act : kActs)
                for (const int64_t tokens : {int64_t{1}, int64_t{17}, int64_t{64}, int64_t{150}}) {
                    SCOPED_TRACE(::testing::Message()
                                 << sh.out << "x" << sh.in << " sparsity " << sh.sparsity << " "
                                 << test::act_name(act) << " T=" << tokens);
                    std::vector<float> w = random_weight(sh.out, sh.in, sh.sparsity, 3 + sh.out);
                    std::vector<float> b = random_vec(sh.out, 5), x = random_vec(tokens * sh.in, 7);
                    std::vector<float> res = random_vec(tokens * sh.out, 9);
                    LinearDesc d{w.data(), b.data(), sh.out, sh.in, act, "epi"};
                    set_num_threads(1);
                    ASSERT_EQ(setenv("SPARQ_NO_JIT_EPILOGUE", "1", 1), 0);
                    auto plain = make_sparse_f32(d, v);
                    ASSERT_EQ(unsetenv("SPARQ_NO_JIT_EPILOGUE"), 0);
                    auto fused = make_sparse_f32(d, v);
                    EXPECT_FALSE(spmm_fuses_epilogue(*plain));
                    EXPECT_TRUE(spmm_fuses_epilogue(*fused));
                    std::vector<float> a(tokens * sh.out, NAN), c(tokens * sh.out, NAN);
                    plain->run(x.data(), a.data(), tokens, res.data());
                    fused->run(x.data(), c.data(), tokens, res.data());
                    EXPECT_EQ(c, a);
                    const int64_t group = spmm_group(*plain, tokens);
                    std::vector<float> sa(spmm_stream_floats(tokens, sh.out, group), NAN), sc = sa;
                    spmm_run_stream(*plain, x.data(), false, sa.data(), true, tokens);
                    spmm_run_stream(*fused, x.data(), false, sc.data(), true, tokens);
                    std::vector<float> ua(tokens * sh.out), uc(tokens * sh.out);
                    spmm_stream_unpack(sa.data(), ua.data(), tokens, sh.out, group);
                    spmm_stream_unpack(sc.data(), uc.data(), tokens, sh.out, group);
                    EXPECT_EQ(uc, ua);
                    // Chain: this kernel (GELU or not) into a square second one with a bias.
                    std::vector<float> w2 = random_weight(sh.in, sh.out, 0.9, 11);
                    std::vector<float> b2 = random_vec(sh.in, 13);
                    LinearDesc d2{w2.data(), b2.data(), sh.in, sh.out, Activation::none, "epi2"};
                    ASSERT_EQ(setenv("SPARQ_NO_JIT_EPILOGUE", "1", 1), 0);
                    auto plain2 = make_sparse_f32(d2, v);
                    ASSERT_EQ(unsetenv("SPARQ_NO_JIT_EPILOGUE"), 0);
                    auto fused2 = make_sparse_f32(d2, v);
                    std::vector<float> ya(tokens * sh.in, NAN), yc(tokens * sh.in, NAN);
                    ASSERT_TRUE(
                        spmm_run_chain(*plain, *plain2, x.data(), ya.data(), tokens, x.data()));
                    ASSERT_TRUE(
                        spmm_run_chain(*fused, *fused2, x.data(), yc.data(), tokens, x.data()));
                    EXPECT_EQ(yc, ya);
                }
    }
    set_num_threads(0);
}

// The whole encoder on sparse kernels (90%-pruned tiny fixture) matches the dense plan.
TEST(Spmm, WholeModelSparseMatchesDense) {
    const std::string dir = (test::fixtures_dir() / "tiny_sparse").string();
    LoadOptions dense_opts, sparse_opts;
    dense_opts.threads = sparse_opts.threads = 2;
    dense_opts.kernels = "dense";
    sparse_opts.kernels = "sparse";
    auto dense = Model::load(dir, dense_opts);
    auto sparse = Model::load(dir, sparse_opts);
    EXPECT_NE(sparse->plan_report().find("spmm_f32"), std::string::npos) << sparse->plan_report();
    std::vector<Encoding> encs(3);
    for (int s = 0; s < 3; ++s)
        for (int p = 0; p < 5 + 17 * s; ++p) {
            encs[s].ids.push_back(p == 0 ? 2 : 5 + (p * 7 + s) % 300);
            encs[s].type_ids.push_back(0);
        }
    PackedBatch batch = PackedBatch::from(encs);
    HiddenStates a = dense->encode(batch), b = sparse->encode(batch);
    ASSERT_EQ(a.data.size(), b.data.size());
    for (size_t i = 0; i < a.data.size(); ++i) ASSERT_NEAR(a.data[i], b.data[i], 1e-4f) << i;
    set_num_threads(0);
}

class SpmmVariants : public ::testing::TestWithParam<int> {};

TEST_P(SpmmVariants, MatchesReference) {
    int n = 0;
    const SpmmVariant& v = spmm_variants(&n)[GetParam()];
    if (!has_isa(v.isa)) GTEST_SKIP() << v.name << " needs " << isa_name(v.isa);
    check_all(v);
    set_num_threads(0);
}

// AVX2 kernels must run with the ISA capped at AVX2 (no AVX-512 instruction slips in).
TEST(Spmm, Avx2RunsUnderCappedIsa) {
    if (!has_isa(Isa::avx2)) GTEST_SKIP() << "no AVX2";
    set_max_isa(Isa::avx2);
    EXPECT_EQ(spmm_best_variant(64, 33).isa, Isa::avx2);
    for (const SpmmVariant* v : runnable_variants()) {
        if (v->isa != Isa::avx2) continue;
        check(*v, {64, 33, 0.9, 17, true, true, Activation::gelu, 2});
        check(*v, {64, 33, 0.9, 17, true, true, Activation::gelu_tanh, 1});
        check(*v, {100, 300, 0.5, 40, false, true, Activation::none, 1});
    }
    set_max_isa(cpu_isa());
}

INSTANTIATE_TEST_SUITE_P(All, SpmmVariants,
                         ::testing::Range(0,
                                          [] {
                                              int n = 0;
                                              spmm_variants(&n);
                                              return n;
                                          }()),
                         [](const ::testing::TestParamInfo<int>& info) {
                             int n = 0;
                             std::string name = spmm_variants(&n)[info.param].name;
                             std::replace(name.begin(), name.end(), '-', '_');  // k128-384
                             return name;
                         });

}  // namespace
}  // namespace sparq
