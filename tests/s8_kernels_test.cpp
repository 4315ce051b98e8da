// int8 weight kernels vs their scalar reference: int32 accumulators bit-exact on every kernel and
// ISA this CPU runs, f32 outputs equal to the int8 reference's (same epilogue math), and within
// the quantization error bound of the f32 reference (make_linear_ref).
#include "kernels/s8/s8_kernels.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "jit/spmm_s8_1x4.hpp"
#include "kernels/linear.hpp"
#include "kernels/s8/spmm_s8_cores.hpp"
#include "sparq/error.hpp"
#include "test_util.hpp"

namespace sparq {
namespace {

enum class Pattern { unstructured, blocks_1x4 };

struct Weight {
    int64_t out, in;
    std::vector<float> w, b;
    LinearDesc desc(Activation act = Activation::none, bool bias = true) const {
        LinearDesc d;
        d.weight = w.data();
        d.bias = bias ? b.data() : nullptr;
        d.out = out;
        d.in = in;
        d.act = act;
        d.name = "test";
        return d;
    }
};

// Random weight with `sparsity` share of zeros in the given pattern; rows listed in empty_rows
// are all zero.
Weight make_weight(int64_t out, int64_t in, double sparsity, Pattern pat, uint32_t seed,
                   std::vector<int64_t> empty_rows = {}) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> val(-1.0f, 1.0f);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    Weight W{out, in, std::vector<float>(out * in), std::vector<float>(out)};
    for (int64_t o = 0; o < out; ++o) {
        W.b[o] = val(rng);
        for (int64_t g = 0; g < (in + 3) / 4; ++g) {
            bool keep_block = u(rng) >= sparsity;
            for (int64_t k = 4 * g; k < std::min(in, 4 * g + 4); ++k) {
                bool keep = pat == Pattern::blocks_1x4 ? keep_block : u(rng) >= sparsity;
                W.w[o * in + k] = keep ? val(rng) : 0.0f;
            }
        }
    }
    for (int64_t r : empty_rows)
        for (int64_t k = 0; k < in; ++k) W.w[r * in + k] = 0.0f;
    return W;
}

std::vector<float> random_acts(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

using Factory = std::function<std::unique_ptr<S8LinearKernel>(const LinearDesc&, const QuantOptions&)>;
struct Variant {
    std::string name;
    Factory make;
    Isa isa;  // built with max_isa capped to this
};

// Every int8 kernel at every ISA level this CPU runs.
std::vector<Variant> variants() {
    std::vector<Variant> v;
    v.push_back({"dense_s8", make_dense_s8, cpu_isa()});
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni})
        if (static_cast<int>(isa) <= static_cast<int>(cpu_isa()))
            v.push_back({std::string("sparse_s8@") + isa_name(isa), make_sparse_s8, isa});
    return v;
}

std::unique_ptr<S8LinearKernel> build(const Variant& v, const LinearDesc& d, const QuantOptions& o) {
    set_max_isa(v.isa);
    auto k = v.make(d, o);
    set_max_isa(cpu_isa());
    return k;
}

struct Shape {
    int64_t out, in;
};
// {24, 1100}: several K chunks of the sparse kernel (1024 inputs each) plus an in-tail.
const Shape kShapes[] = {{1, 4}, {5, 7}, {16, 64}, {33, 130}, {48, 67}, {20, 3}, {24, 1100}};
const int64_t kTokens[] = {1, 2, 15, 16, 17, 33, 128};
const double kSparsities[] = {0.0, 0.5, 0.9, 1.0};

TEST(S8Kernels, AccumulatorsBitExact) {
    uint32_t seed = 1;
    for (const Shape& s : kShapes)
        for (double sp : kSparsities)
            for (Pattern pat : {Pattern::unstructured, Pattern::blocks_1x4}) {
                Weight W = make_weight(s.out, s.in, sp, pat, seed++, {0, s.out / 2});
                LinearDesc d = W.desc();
                auto ref = make_linear_s8_ref(d, {});
                const int64_t in_pad = ref->weights().in_pad;
                std::vector<std::unique_ptr<S8LinearKernel>> ks;
                for (const Variant& v : variants()) ks.push_back(build(v, d, {}));
                for (int64_t tokens : kTokens) {
                    std::mt19937 rng(seed++);
                    std::uniform_int_distribution<int> q(-127, 127);
                    std::vector<int8_t> x(tokens * in_pad, 0);
                    for (int64_t t = 0; t < tokens; ++t)
                        for (int64_t k = 0; k < s.in; ++k) x[t * in_pad + k] = static_cast<int8_t>(q(rng));
                    std::vector<int32_t> expect(tokens * s.out), got(tokens * s.out);
                    ref->accumulate(x.data(), expect.data(), tokens);
                    for (size_t i = 0; i < ks.size(); ++i) {
                        std::fill(got.begin(), got.end(), 12345);
                        ks[i]->accumulate(x.data(), got.data(), tokens);
                        ASSERT_EQ(got, expect) << ks[i]->name() << " out=" << s.out << " in=" << s.in
                                               << " sparsity=" << sp << " tokens=" << tokens;
                    }
                }
            }
}

// Largest magnitudes everywhere: u8 = 255 against +-127 weights is where vpmaddubsw would
// saturate (2 * 255 * 127 > 32767); every core must stay exact.
TEST(S8Kernels, NoSaturationAtExtremes) {
    const int64_t out = 4, in = 256, tokens = 17;
    Weight W{out, in, std::vector<float>(out * in), std::vector<float>(out, 0.0f)};
    for (int64_t o = 0; o < out; ++o)
        for (int64_t k = 0; k < in; ++k) W.w[o * in + k] = (o % 2 == 0 || k % 3 == 0) ? 1.0f : -1.0f;
    LinearDesc d = W.desc();
    auto ref = make_linear_s8_ref(d, {});
    std::vector<int8_t> x(tokens * in);
    for (int64_t i = 0; i < tokens * in; ++i) x[i] = (i / in) % 2 ? 127 : -127;
    std::vector<int32_t> expect(tokens * out), got(tokens * out);
    ref->accumulate(x.data(), expect.data(), tokens);
    EXPECT_EQ(expect[1 * out + 0], 127 * 127 * in);
    for (const Variant& v : variants()) {
        auto k = build(v, d, {});
        k->accumulate(x.data(), got.data(), tokens);
        EXPECT_EQ(got, expect) << k->name();
    }
}

// Bound on |y_int8 - y_f32| for one output: with x = sx*qx + ex, w = sw*qw + ew, |ex| <= sx/2,
// |ew| <= sw/2:  |y - y_q| <= sum_k |w_k| sx/2 + |x_k| sw/2 + sx sw/4, plus float rounding of
// the epilogue and of the reference (relative 1e-5 of sum |x w| + |b|); either GELU is
// 1.13-Lipschitz.
double quant_bound(const float* x, const float* w, int64_t in, float sx, float sw, float b, bool gelu) {
    double e = 0, mag = std::fabs(b);
    for (int64_t k = 0; k < in; ++k) {
        e += std::fabs(w[k]) * sx / 2 + std::fabs(x[k]) * sw / 2 + sx * sw / 4.0;
        mag += std::fabs(x[k] * w[k]);
    }
    e += 1e-5 * mag + 1e-6;
    return gelu ? 1.13 * e : e;
}

TEST(S8Kernels, OutputsVsReferences) {
    uint32_t seed = 100;
    const QuantOptions modes[] = {{ActScale::per_token, 0}, {ActScale::per_tensor, 0}, {ActScale::fixed, 0}};
    for (const Shape& s : {Shape{33, 130}, Shape{64, 67}, Shape{16, 768}})
        for (double sp : {0.0, 0.9})
            for (Activation act : {Activation::none, Activation::gelu, Activation::gelu_tanh})
                for (int mode = 0; mode < 3; ++mode)
                    for (int64_t tokens : {1, 17, 70, 200}) {  // 200: several token chunks and tiles
                        Weight W = make_weight(s.out, s.in, sp, Pattern::unstructured, seed++, {1});
                        LinearDesc d = W.desc(act);
                        auto x = random_acts(tokens * s.in, seed++);
                        auto res = random_acts(tokens * s.out, seed++);
                        QuantOptions opts = modes[mode];
                        float xmax = 0;
                        for (float v : x) xmax = std::max(xmax, std::fabs(v));
                        if (opts.act_scale == ActScale::fixed) opts.fixed_scale = xmax / 127;  // calibrated
                        auto ref = make_linear_s8_ref(d, opts);
                        auto f32 = make_linear_ref(d);
                        std::vector<float> y_ref(tokens * s.out), y_f32(tokens * s.out), y(tokens * s.out);
                        ref->run(x.data(), y_ref.data(), tokens, res.data());
                        f32->run(x.data(), y_f32.data(), tokens, res.data());
                        // Activation scales as the kernels compute them.
                        std::vector<float> sx(tokens), inv(tokens);
                        activation_scales(x.data(), tokens, s.in, opts, sx.data(), inv.data());
                        const QuantizedWeights& qw = ref->weights();
                        for (int64_t t = 0; t < tokens; ++t)
                            for (int64_t o = 0; o < s.out; ++o) {
                                double bound =
                                    quant_bound(x.data() + t * s.in, W.w.data() + o * s.in, s.in,
                                                sx[t], qw.scale[o], W.b[o], is_gelu(act));
                                ASSERT_LE(std::fabs(y_ref[t * s.out + o] - y_f32[t * s.out + o]),
                                          bound)
                                    << "t=" << t << " o=" << o << " mode=" << mode << " "
                                    << test::act_name(act);
                            }
                        for (const Variant& v : variants()) {
                            auto k = build(v, d, opts);
                            set_max_isa(v.isa);  // the epilogue of that ISA too
                            k->run(x.data(), y.data(), tokens, res.data());
                            set_max_isa(cpu_isa());
                            for (int64_t i = 0; i < tokens * s.out; ++i) {
                                // Same integer core and epilogue math; only GELU may differ
                                // (dispatched vs exact; the vector GELUs are within
                                // 1e-6 max(1,|x|) of exact, see fused_test and the piecewise
                                // GELU test below).
                                float tol =
                                    is_gelu(act)
                                        ? 1e-5f * (1 + std::fabs(y_ref[i]) + std::fabs(res[i]))
                                        : 0.0f;
                                ASSERT_NEAR(y[i], y_ref[i], tol)
                                    << k->name() << " i=" << i << " tokens=" << tokens
                                    << " mode=" << mode << " " << test::act_name(act);
                            }
                        }
                    }
}

TEST(S8Kernels, BlockStatsAndNames) {
    Weight blocked = make_weight(8, 30, 0.8, Pattern::blocks_1x4, 7);
    Weight unstr = make_weight(8, 32, 0.9, Pattern::unstructured, 8);
    BlockStats a = block_stats_s8(blocked.desc()), b = block_stats_s8(unstr.desc());
    EXPECT_TRUE(a.blocked);
    EXPECT_FALSE(b.blocked);
    EXPECT_GT(b.blocks, 0);
    EXPECT_LT(b.fill(), 0.5);
    EXPECT_NE(make_sparse_s8(blocked.desc(), {})->name().find("spmm_s8_1x4_"), std::string::npos);
    EXPECT_NE(make_sparse_s8(unstr.desc(), {})->name().find("spmm_s8_1x4g_"), std::string::npos);

    // Counts against a plain count per group, on widths with tail groups of 1-3 inputs, and a
    // blocked weight whose only mixed group is a row's tail group.
    auto plain = [](const Weight& W) {
        BlockStats st;
        st.blocked = true;
        for (int64_t o = 0; o < W.out; ++o)
            for (int64_t k0 = 0; k0 < W.in; k0 += 4) {
                int nz = 0, n = 0;
                for (int64_t k = k0; k < std::min(k0 + 4, W.in); ++k, ++n) nz += W.w[o * W.in + k] != 0.0f;
                st.nonzeros += nz;
                st.blocks += nz > 0;
                if (nz > 0 && nz < n) st.blocked = false;
            }
        return st;
    };
    uint32_t seed = 40;
    for (int64_t in : {1, 2, 3, 4, 5, 30, 31, 64, 67})
        for (Pattern pat : {Pattern::blocks_1x4, Pattern::unstructured}) {
            const Weight W = make_weight(9, in, 0.6, pat, seed++);
            const BlockStats got = block_stats_s8(W.desc()), want = plain(W);
            EXPECT_EQ(got.blocks, want.blocks) << in;
            EXPECT_EQ(got.nonzeros, want.nonzeros) << in;
            EXPECT_EQ(got.blocked, want.blocked) << in;
        }
    Weight tail = make_weight(4, 31, 0.5, Pattern::blocks_1x4, 99);
    for (int64_t k = 28; k < 31; ++k) tail.w[2 * 31 + k] = 0.5f;  // row 2's tail group: full
    EXPECT_TRUE(block_stats_s8(tail.desc()).blocked);
    tail.w[2 * 31 + 29] = 0.0f;                                    // now mixed
    EXPECT_FALSE(block_stats_s8(tail.desc()).blocked);
}

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// Per-token vs per-tensor dynamic activation scales on activations whose tokens differ in
// magnitude (as across a BERT batch): per-token must be closer to f32. Prints both errors.
TEST(S8Kernels, PerTokenScalesBeatPerTensor) {
    const int64_t out = 64, in = 256, tokens = 32;
    Weight W = make_weight(out, in, 0.0, Pattern::unstructured, 5);
    LinearDesc d = W.desc();
    auto x = random_acts(tokens * in, 6);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t k = 0; k < in; ++k) x[t * in + k] *= std::pow(10.0f, (t % 5) / 2.0f - 1.0f);  // 0.1x..10x
    std::vector<float> y32(tokens * out), y(tokens * out);
    make_linear_ref(d)->run(x.data(), y32.data(), tokens, nullptr);
    double err[2];
    for (int m = 0; m < 2; ++m) {
        QuantOptions o{m == 0 ? ActScale::per_token : ActScale::per_tensor, 0};
        make_sparse_s8(d, o)->run(x.data(), y.data(), tokens, nullptr);
        double num = 0, den = 0;
        for (int64_t i = 0; i < tokens * out; ++i) {
            num += (y[i] - y32[i]) * (y[i] - y32[i]);
            den += y32[i] * y32[i];
        }
        err[m] = std::sqrt(num / den);
    }
    std::printf("relative L2 error vs f32: per-token %.2e, per-tensor %.2e\n", err[0], err[1]);
    EXPECT_LT(err[0], 0.02);
    EXPECT_LT(err[0], err[1]);
}

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// The planner's cost model orders the int8 kernels as measured on BERT FFN1 (3072 x 768, 128
// tokens): sparse wins at 90% 1x4 sparsity, dense wins on a dense matrix.
TEST(S8Kernels, CostEstimatesOrderKernels) {
    const int64_t out = 3072, in = 768, tokens = 128, all_blocks = out * in / 4;
    const double dense = estimate_dense_s8_ns(out, in, tokens);
    EXPECT_GT(dense, 0);
    EXPECT_LT(estimate_sparse_s8_ns(out, in, all_blocks / 10, tokens), dense);
    EXPECT_GT(estimate_sparse_s8_ns(out, in, all_blocks, tokens), dense);
    EXPECT_LT(estimate_sparse_s8_ns(out, in, all_blocks / 20, tokens),
              estimate_sparse_s8_ns(out, in, all_blocks / 10, tokens));
}

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// Inputs beyond what int32 accumulation of u8 x s8 products can hold are refused, not wrapped.
TEST(S8Kernels, RejectsReductionsThatOverflowInt32) {
    const int64_t in = 70000;
    std::vector<float> w(in, 1.0f);
    LinearDesc d;
    d.weight = w.data();
    d.out = 1;
    d.in = in;
    d.name = "huge";
    EXPECT_THROW(make_sparse_s8(d, {}), Error);
    EXPECT_THROW(make_dense_s8(d, {}), Error);
    d.in = 66000;
    EXPECT_NO_THROW(make_linear_s8_ref(d, {}));
}

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// The chained sparse int8 FFN (s8_run_chain) against the two kernels run one after the other:
// second's quantized input (int8 values and per-token scales) is identical, hence so are its
// int32 accumulators, and the outputs are bit-identical. Tails of the 64-token tiles, 1 and 2
// threads (token-tile split and row split), every ISA cap (below AVX-512 the chain declines and
// the caller runs the pair unchained), per-token and static scales on the second kernel.
// The second kernel's activation scales in the chain tests, by mode: 0 dynamic per token,
// 1 static at max|h| / 100 (some values saturate), 2 per tensor (the chains decline it).
QuantOptions second_options(int mode, const std::vector<float>& h) {
    QuantOptions o;
    if (mode == 1) {
        float hmax = 0;
        for (float v : h) hmax = std::max(hmax, std::fabs(v));
        o = {ActScale::fixed, hmax / 100};
    } else if (mode == 2) {
        o.act_scale = ActScale::per_tensor;
    }
    return o;
}

TEST(S8Kernels, ChainIsBitExactVsUnchained) {
    struct Pair {
        int64_t hidden, inter;
        double sparsity;
        Pattern pat;
        Activation act;  // first's GELU form
    };
    // {20, 70}: widths not multiples of 4; {48, 1100}: several K chunks in FFN2, > 64 rows.
    const Pair pairs[] = {{32, 64, 0.9, Pattern::blocks_1x4, Activation::gelu},
                          {20, 70, 0.5, Pattern::unstructured, Activation::gelu_tanh},
                          {48, 1100, 0.9, Pattern::blocks_1x4, Activation::gelu_tanh}};
    const int saved_threads = num_threads();
    uint32_t seed = 300;
    int chained = 0;
    for (const Pair& p : pairs) {
        Weight W1 = make_weight(p.inter, p.hidden, p.sparsity, p.pat, seed++, {3});
        Weight W2 = make_weight(p.hidden, p.inter, p.sparsity, p.pat, seed++, {1});
        for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni}) {
            if (static_cast<int>(isa) > static_cast<int>(cpu_isa())) continue;
            for (int mode = 0; mode < 3; ++mode)  // second: per-token, static (first: per-tensor), per-tensor
                for (int64_t tokens : {1, 17, 64, 65, 130}) {
                    auto x = random_acts(tokens * p.hidden, seed++);
                    auto res = random_acts(tokens * p.hidden, seed++);
                    set_max_isa(isa);
                    // mode 1 also gives the first kernel per-tensor scales.
                    QuantOptions o1;
                    if (mode == 1) o1.act_scale = ActScale::per_tensor;
                    auto k1 = make_sparse_s8(W1.desc(p.act), o1);
                    std::vector<float> h(tokens * p.inter);
                    k1->run(x.data(), h.data(), tokens, nullptr);
                    const QuantOptions o2 = second_options(mode, h);
                    auto k2 = make_sparse_s8(W2.desc(), o2);
                    const int64_t in_pad = k2->weights().in_pad;
                    std::vector<float> sx(tokens), inv(tokens);
                    activation_scales(h.data(), tokens, p.inter, o2, sx.data(), inv.data());
                    std::vector<int8_t> q(tokens * in_pad);
                    quantize_activations(h.data(), tokens, p.inter, in_pad, inv.data(), q.data());
                    const bool expect_chain = static_cast<int>(isa) >= static_cast<int>(Isa::avx512) && mode != 2;
                    for (int threads : {1, 2}) {
                        set_num_threads(threads);
                        std::vector<float> want(tokens * p.hidden), got(tokens * p.hidden, -1.0f);
                        k2->run(h.data(), want.data(), tokens, res.data());
                        S8ChainTrace trace;
                        const bool ran = s8_run_chain(*k1, *k2, x.data(), got.data(), tokens, res.data(), &trace);
                        const std::string where =
                            std::string(k1->name()) + " " + test::act_name(p.act) +
                            " hidden=" + std::to_string(p.hidden) +
                            " inter=" + std::to_string(p.inter) + " mode=" + std::to_string(mode) +
                            " tokens=" + std::to_string(tokens) +
                            " threads=" + std::to_string(threads);
                        ASSERT_EQ(ran, expect_chain) << where;
                        if (!ran) {
                            EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](float v) { return v == -1.0f; }));
                            continue;
                        }
                        ++chained;
                        ASSERT_EQ(trace.scales, sx) << where;
                        ASSERT_EQ(trace.q, q) << where;
                        std::vector<int32_t> acc_chain(tokens * p.hidden), acc(tokens * p.hidden);
                        k2->accumulate(trace.q.data(), acc_chain.data(), tokens);
                        k2->accumulate(q.data(), acc.data(), tokens);
                        ASSERT_EQ(acc_chain, acc) << where;
                        for (int64_t i = 0; i < tokens * p.hidden; ++i)
                            ASSERT_EQ(got[i], want[i]) << where << " i=" << i;  // bit-identical
                    }
                    set_max_isa(cpu_isa());
                }
        }
    }
    set_num_threads(saved_threads);
    if (has_isa(Isa::avx512)) EXPECT_GT(chained, 0);
}

// run_by_units (the encoder's head-aligned QKV split): every thread computes its units' rows of
// every section for all tokens, into the unit-major layout dst[u][t][s * per + f]; each value is
// bit-identical to run()'s row (s * units + u) * per + f (the same sums and epilogue per
// element), and every slot is written, on 1-5 threads, token counts in one or several tiles,
// units that do not divide among the threads (3 threads, 4 units), more threads than units, and
// unit widths (per) below, across and above the 64-row chunks. Shapes without an exact units
// split, and the dense kernel, decline without writing.
TEST(S8Kernels, RunByUnitsEqualsRun) {
    const int saved_threads = num_threads();
    uint32_t seed = 900;
    struct Case {
        int64_t sections, units, per, in;
    };
    for (const Case c :
         {Case{3, 4, 16, 64}, Case{3, 2, 5, 33}, Case{1, 3, 70, 40}, Case{3, 2, 64, 24}}) {
        const int64_t out = c.sections * c.units * c.per;
        Weight W = make_weight(out, c.in, 0.7, Pattern::blocks_1x4, seed++, {2});
        for (Isa isa : {Isa::avx2, Isa::avx512, Isa::avx512_vnni}) {
            if (static_cast<int>(isa) > static_cast<int>(cpu_isa())) continue;
            set_max_isa(isa);
            auto k = make_sparse_s8(W.desc(), {});
            set_max_isa(cpu_isa());
            for (int64_t tokens : {1, 17, 64, 130, 200})
                for (int threads : {1, 2, 3, 5}) {
                    auto x = random_acts(tokens * c.in, seed++);
                    set_num_threads(threads);
                    std::vector<float> want(tokens * out), got(tokens * out, std::nanf(""));
                    k->run(x.data(), want.data(), tokens, nullptr);
                    ASSERT_TRUE(k->run_by_units(x.data(), got.data(), tokens, c.sections, c.units));
                    for (int64_t u = 0; u < c.units; ++u)
                        for (int64_t t = 0; t < tokens; ++t)
                            for (int64_t sec = 0; sec < c.sections; ++sec)
                                for (int64_t f = 0; f < c.per; ++f) {
                                    const float g = got[(u * tokens + t) * c.sections * c.per +
                                                        sec * c.per + f];
                                    const float w = want[t * out + (sec * c.units + u) * c.per + f];
                                    ASSERT_EQ(g, w)
                                        << k->name() << " out=" << out << " tokens=" << tokens
                                        << " threads=" << threads << " unit " << u << " token " << t
                                        << " section " << sec << " f " << f;
                                }
                }
            std::vector<float> x = random_acts(16 * c.in, seed++), y(16 * out, -1.0f);
            EXPECT_FALSE(k->run_by_units(x.data(), y.data(), 16, c.sections, c.units * c.per + 1));
            EXPECT_FALSE(k->run_by_units(x.data(), y.data(), 16, 0, c.units));
            EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == -1.0f; }));
        }
    }
    Weight D = make_weight(12, 16, 0.0, Pattern::unstructured, seed++);
    std::vector<float> x = random_acts(8 * 16, seed++), y(8 * 12, -1.0f);
    EXPECT_FALSE(make_dense_s8(D.desc(), {})->run_by_units(x.data(), y.data(), 8, 3, 2));
    EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == -1.0f; }));
    set_num_threads(saved_threads);
}

// The chained dense int8 FFN (dense_s8_run_chain through s8_run_chain) against the two kernels
// run one after the other: second's s8 input and per-token scales identical, outputs
// bit-identical. Token counts across several 128-token chunks with tails, 1 and 2 threads, the
// scalar and the AVX-512 epilogues, second with per-token and static scales (per-tensor declines),
// first with and without bias.
TEST(S8Kernels, DenseChainIsBitExactVsUnchained) {
    struct Pair {
        int64_t hidden, inter;
        Activation act;  // first's GELU form
    };
    const Pair pairs[] = {{32, 64, Activation::gelu},
                          {20, 70, Activation::gelu_tanh},
                          {48, 1100, Activation::gelu_tanh}};
    const int saved_threads = num_threads();
    uint32_t seed = 700;
    int chained = 0;
    for (const Pair& p : pairs) {
        Weight W1 = make_weight(p.inter, p.hidden, 0.0, Pattern::unstructured, seed++, {3});
        Weight W2 = make_weight(p.hidden, p.inter, 0.0, Pattern::unstructured, seed++, {1});
        for (Isa isa : {Isa::scalar, cpu_isa()})
            for (int mode = 0; mode < 3; ++mode)  // second: per-token, static (first: per-tensor, no bias), per-tensor
                for (int64_t tokens : {1, 17, 128, 300}) {
                    auto x = random_acts(tokens * p.hidden, seed++);
                    auto res = random_acts(tokens * p.hidden, seed++);
                    set_max_isa(isa);
                    QuantOptions o1;
                    if (mode == 1) o1.act_scale = ActScale::per_tensor;
                    auto k1 = make_dense_s8(W1.desc(p.act, mode != 1), o1);
                    std::vector<float> h(tokens * p.inter);
                    k1->run(x.data(), h.data(), tokens, nullptr);
                    const QuantOptions o2 = second_options(mode, h);
                    auto k2 = make_dense_s8(W2.desc(), o2);
                    const int64_t in_pad = k2->weights().in_pad;
                    std::vector<float> sx(tokens), inv(tokens);
                    activation_scales(h.data(), tokens, p.inter, o2, sx.data(), inv.data());
                    std::vector<int8_t> q(tokens * in_pad);
                    ref::quantize_activations(h.data(), tokens, p.inter, in_pad, inv.data(), q.data());
                    for (int threads : {1, 2}) {
                        set_num_threads(threads);
                        std::vector<float> want(tokens * p.hidden), got(tokens * p.hidden, -1.0f);
                        k2->run(h.data(), want.data(), tokens, res.data());
                        S8ChainTrace trace;
                        const bool ran = s8_run_chain(*k1, *k2, x.data(), got.data(), tokens, res.data(), &trace);
                        const std::string where =
                            std::string(test::act_name(p.act)) +
                            " hidden=" + std::to_string(p.hidden) +
                            " inter=" + std::to_string(p.inter) + " isa=" + isa_name(isa) +
                            " mode=" + std::to_string(mode) + " tokens=" + std::to_string(tokens) +
                            " threads=" + std::to_string(threads);
                        ASSERT_EQ(ran, mode != 2) << where;
                        if (!ran) {
                            EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](float v) { return v == -1.0f; }));
                            continue;
                        }
                        ++chained;
                        ASSERT_EQ(trace.scales, sx) << where;
                        ASSERT_EQ(trace.q, q) << where;
                        for (int64_t i = 0; i < tokens * p.hidden; ++i)
                            ASSERT_EQ(got[i], want[i]) << where << " i=" << i;  // bit-identical
                    }
                    set_max_isa(cpu_isa());
                }
    }
    set_num_threads(saved_threads);
    EXPECT_GT(chained, 0);
}

// Weights over 1 MB run in 512-token chunks (smaller ones in 128): results per token do not
// depend on the chunking, so one call on 600 tokens equals calls on pieces of at most 100, and
// the chained pair equals the unchained one across the chunk edge; 1 and 2 threads.
TEST(S8Kernels, DenseLargeChunksBitExact) {
    const int64_t hidden = 1024, inter = 1100, tokens = 600;
    Weight W1 = make_weight(inter, hidden, 0.0, Pattern::unstructured, 800);
    Weight W2 = make_weight(hidden, inter, 0.0, Pattern::unstructured, 801);
    auto k1 = make_dense_s8(W1.desc(Activation::gelu), {});
    auto k2 = make_dense_s8(W2.desc(), {});
    auto x = random_acts(tokens * hidden, 802);
    auto res = random_acts(tokens * hidden, 803);
    const int saved_threads = num_threads();
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        std::vector<float> h(tokens * inter), h_pieces(tokens * inter, -1.0f);
        k1->run(x.data(), h.data(), tokens, nullptr);
        for (int64_t t0 = 0; t0 < tokens; t0 += 100)
            k1->run(x.data() + t0 * hidden, h_pieces.data() + t0 * inter, std::min<int64_t>(100, tokens - t0),
                    nullptr);
        ASSERT_EQ(h, h_pieces) << "threads=" << threads;
        std::vector<float> want(tokens * hidden), got(tokens * hidden, -1.0f);
        k2->run(h.data(), want.data(), tokens, res.data());
        ASSERT_TRUE(s8_run_chain(*k1, *k2, x.data(), got.data(), tokens, res.data()));
        ASSERT_EQ(got, want) << "threads=" << threads;
    }
    set_num_threads(saved_threads);
}

// Pairs that do not chain are left alone: other kernel types and mismatched shapes.
TEST(S8Kernels, ChainDeclinesOtherPairs) {
    Weight W1 = make_weight(64, 32, 0.9, Pattern::blocks_1x4, 1);
    Weight W2 = make_weight(32, 64, 0.9, Pattern::blocks_1x4, 2);
    Weight W3 = make_weight(32, 60, 0.9, Pattern::blocks_1x4, 3);
    auto s1 = make_sparse_s8(W1.desc(Activation::gelu), {});
    auto s2 = make_sparse_s8(W2.desc(), {});
    auto s3 = make_sparse_s8(W3.desc(), {});
    auto d2 = make_dense_s8(W2.desc(), {});
    auto r2 = make_linear_s8_ref(W2.desc(), {});
    std::vector<float> x(4 * 32, 0.5f), y(4 * 32, 7.0f);
    EXPECT_FALSE(s8_run_chain(*s1, *d2, x.data(), y.data(), 4));
    EXPECT_FALSE(s8_run_chain(*s1, *r2, x.data(), y.data(), 4));
    EXPECT_FALSE(s8_run_chain(*s1, *s3, x.data(), y.data(), 4));  // 64 outputs into 60 inputs
    auto d1 = make_dense_s8(W1.desc(Activation::gelu), {});
    auto d3 = make_dense_s8(W3.desc(), {});
    EXPECT_FALSE(s8_run_chain(*d1, *s2, x.data(), y.data(), 4));
    EXPECT_FALSE(s8_run_chain(*d1, *r2, x.data(), y.data(), 4));
    EXPECT_FALSE(s8_run_chain(*d1, *d3, x.data(), y.data(), 4));
    EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == 7.0f; }));
    EXPECT_EQ(s8_run_chain(*s1, *s2, x.data(), y.data(), 4), has_isa(Isa::avx512));
}

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// The AVX-512 epilogues' piecewise GELU (int8 epilogues, sparse f32 unpack and JIT; one table per
// form) against the exact GELU of each form (double): within 1e-6 absolute everywhere (the
// interval edges, the cut at 6, tiny and huge inputs), NaN propagates; the two tables differ.
TEST(S8Kernels, PiecewiseGeluWithin1e6OfExact) {
    if (!has_isa(Isa::avx512)) GTEST_SKIP() << "no AVX-512";
    std::vector<float> x;
    for (int i = -240000; i <= 240000; ++i) x.push_back(i * 5e-5f);  // [-12, 12]
    for (int j = 0; j <= 32; ++j)
        for (float e : {-1e-6f, 0.0f, 1e-6f}) {
            x.push_back(j * (6.0f / 32) + e);
            x.push_back(-(j * (6.0f / 32) + e));
        }
    for (float v : {5.9999995f, -5.9999995f, 1e-30f, -1e-30f, 0.0f, -0.0f, 1e30f, -1e30f, INFINITY}) x.push_back(v);
    std::vector<float> y_erf(x.size());
    for (Activation act : {Activation::gelu, Activation::gelu_tanh}) {
        double (*const exact_of)(double) =
            act == Activation::gelu ? test::gelu_erf_exact : test::gelu_tanh_exact;
        std::vector<float> y(x.size());
        s8::gelu_pieces_avx512(x.data(), y.data(), static_cast<int64_t>(x.size()), act);
        double worst = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            const double xd = x[i];
            const double exact = std::isinf(xd) ? xd : exact_of(xd);
            const double err =
                std::isinf(xd) ? (y[i] == exact ? 0.0 : 1.0) : std::fabs(y[i] - exact);
            ASSERT_LE(err, 1e-6) << test::act_name(act) << " x=" << x[i] << " got " << y[i];
            if (std::fabs(xd) < 12) worst = std::max(worst, err);
        }
        std::printf("piecewise GELU (%s): max abs error %.2e on [-12, 12]\n", test::act_name(act),
                    worst);
        float nan = std::nanf(""), out = 0;
        s8::gelu_pieces_avx512(&nan, &out, 1, act);
        EXPECT_TRUE(std::isnan(out)) << test::act_name(act);
        if (act == Activation::gelu) {
            y_erf = y;
        } else {
            float apart = 0;  // the tanh table is not the erf one: the forms differ by up to 4.7e-4
            for (size_t i = 0; i < x.size(); ++i)
                if (std::isfinite(y[i])) apart = std::max(apart, std::fabs(y[i] - y_erf[i]));
            EXPECT_GT(apart, 4e-4f);
        }
    }
}

}  // namespace
}  // namespace sparq


namespace sparq {
namespace {
// The JIT core alone against the scalar core at every tile width it supports (8 vectors included,
// which SparseS8 does not use today): rows of 0..13 blocks (every remainder of the 4-block loop,
// empty rows), extreme values, both the initialising and the accumulating (later K chunk) mode.
TEST(S8Kernels, JitCoreMatchesScalarOnEveryBlockCount) {
    if (!has_isa(Isa::avx512_vnni)) GTEST_SKIP() << "no AVX512-VNNI";
    std::mt19937 rng(11);
    const int64_t groups = 40, rows = 60;
    for (int vecs : {1, 2, 4, 8}) {
        const int width = 16 * vecs;
        const jit::SpmmS8Vnni core(vecs);
        std::vector<uint8_t> tile(groups * width * 4);
        for (uint8_t& u : tile) u = static_cast<uint8_t>(rng() % 4 == 0 ? 255 : rng());
        std::vector<jit::S8Block> blocks;
        std::vector<int32_t> row_ptr{0}, comp(rows);
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t n = r % 14;
            for (int64_t b = 0; b < n; ++b) {
                uint32_t w = rng();
                if (r % 7 == 3) w = 0x81818181u;  // -127 everywhere
                blocks.push_back({static_cast<int32_t>(rng() % groups * 64), static_cast<int32_t>(w)});
            }
            row_ptr.push_back(static_cast<int32_t>(blocks.size()));
            comp[r] = static_cast<int32_t>(rng() % 100000);
        }
        for (int64_t accumulate : {0, 1}) {
            std::vector<int32_t> expect(rows * width), got(rows * width);
            for (size_t i = 0; i < expect.size(); ++i) expect[i] = got[i] = static_cast<int32_t>(rng() % 1000);
            const jit::SpmmS8Args a{tile.data(), blocks.data(), row_ptr.data(), comp.data(), expect.data(), rows,
                                    accumulate};
            s8::spmm_s8_scalar(a, vecs);
            jit::SpmmS8Args b = a;
            b.dst = got.data();
            core(b);
            ASSERT_EQ(got, expect) << "vecs=" << vecs << " accumulate=" << accumulate;
        }
    }
}

}  // namespace
}  // namespace sparq
