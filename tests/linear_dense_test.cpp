// Dense f32 oneDNN weight kernel vs the scalar reference (kernels/ref) on many shapes and
// epilogues. Tolerance: |got - ref| <= 1e-4 * (1 + max |ref|) — f32 accumulation over up to K=771
// products of O(1) values against a double-accumulated reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/threading.hpp"
#include "kernels/gemm/dense_f32.hpp"
#include "kernels/linear.hpp"
#include "test_util.hpp"

namespace sparq {
namespace {

// |x| with NaN counted as infinitely wrong (std::max would silently drop a NaN).
inline float abs_err(float x) { return std::isnan(x) ? INFINITY : std::fabs(x); }

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

float max_abs(const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

struct Case {
    int64_t tokens, in, out;
};

void check_kernel(const DenseF32Options* opts, int threads) {
    set_num_threads(threads);
    const Case cases[] = {{1, 16, 16},    {2, 17, 33},    {15, 64, 48},   {16, 100, 37},
                          {17, 31, 200},  {128, 128, 96}, {200, 77, 130}, {3, 771, 5},
                          {128, 24, 300}, {1, 1, 1}};
    uint32_t seed = 1;
    for (const auto& c : cases)
        for (int with_bias = 0; with_bias < 2; ++with_bias)
            for (Activation act : {Activation::none, Activation::gelu, Activation::gelu_tanh})
                for (int with_res = 0; with_res < 2; ++with_res) {
                    auto w = random_vec(c.out * c.in, seed++, 0.5f);
                    auto b = random_vec(c.out, seed++);
                    auto x = random_vec(c.tokens * c.in, seed++);
                    auto r = random_vec(c.tokens * c.out, seed++);
                    LinearDesc d;
                    d.weight = w.data();
                    d.bias = with_bias ? b.data() : nullptr;
                    d.out = c.out;
                    d.in = c.in;
                    d.act = act;
                    d.name = "test";
                    auto ref = make_linear_ref(d);
                    auto k = opts ? make_dense_f32_variant(d, *opts) : make_dense_f32(d);
                    EXPECT_EQ(k->name(), "dense_f32_onednn");
                    EXPECT_EQ(k->out(), c.out);
                    EXPECT_EQ(k->in(), c.in);
                    std::vector<float> want(c.tokens * c.out), got(c.tokens * c.out, 7.0f);
                    const float* res = with_res ? r.data() : nullptr;
                    ref->run(x.data(), want.data(), c.tokens, res);
                    k->run(x.data(), got.data(), c.tokens, res);
                    float tol = 1e-4f * (1.0f + max_abs(want));
                    float worst = 0;
                    for (size_t i = 0; i < want.size(); ++i)
                        worst = std::max(worst, abs_err(want[i] - got[i]));
                    EXPECT_LE(worst, tol) << "T=" << c.tokens << " K=" << c.in << " N=" << c.out
                                          << " bias=" << with_bias << " act=" << test::act_name(act)
                                          << " res=" << with_res;
                    if (with_res) {  // in place: dst aliases residual
                        std::vector<float> inplace = r;
                        k->run(x.data(), inplace.data(), c.tokens, inplace.data());
                        float w2 = 0;
                        for (size_t i = 0; i < want.size(); ++i)
                            w2 = std::max(w2, abs_err(want[i] - inplace[i]));
                        EXPECT_LE(w2, tol) << "in place, T=" << c.tokens;
                    }
                    // Same kernel again at another token count (cached primitives per T).
                    int64_t t2 = std::max<int64_t>(1, c.tokens / 2);
                    std::vector<float> want2(t2 * c.out), got2(t2 * c.out);
                    ref->run(x.data(), want2.data(), t2, res);
                    k->run(x.data(), got2.data(), t2, res);
                    float w3 = 0;
                    for (size_t i = 0; i < want2.size(); ++i)
                        w3 = std::max(w3, abs_err(want2[i] - got2[i]));
                    EXPECT_LE(w3, tol) << "second T=" << t2;
                }
    set_num_threads(0);
}

TEST(LinearDense, MatchesReferenceOneThread) { check_kernel(nullptr, 1); }
TEST(LinearDense, MatchesReferenceTwoThreads) { check_kernel(nullptr, 2); }

TEST(LinearDense, VariantsMatchReference) {
    for (int packed = 0; packed < 2; ++packed)
        for (int runtime = 0; runtime < 2; ++runtime)
            for (int binary = 0; binary < 2; ++binary) {
                DenseF32Options o{packed != 0, runtime != 0, binary != 0};
                SCOPED_TRACE("packed=" + std::to_string(packed) + " runtime=" +
                             std::to_string(runtime) + " binary=" + std::to_string(binary));
                check_kernel(&o, 1);
            }
}

TEST(LinearDense, RejectsEmptyWeight) {
    LinearDesc d;
    d.name = "x";
    EXPECT_ANY_THROW(make_dense_f32(d));
}

// The scalar activations every reference uses (activate) against their definitions in double
// over [-10, 10] and at special values, and at values of PyTorch's F.gelu (approximate="none" /
// "tanh"): within 1e-6 * max(1, |x|).
TEST(LinearRef, ActivationsMatchTheirDefinitions) {
    for (int i = -200000; i <= 200000; ++i) {
        const float x = static_cast<float>(i * 5e-5);
        EXPECT_EQ(activate(x, Activation::none), x);
        const double tol = 1e-6 * std::max(1.0, std::fabs(double(x)));
        ASSERT_NEAR(activate(x, Activation::gelu), test::gelu_erf_exact(x), tol) << x;
        ASSERT_NEAR(activate(x, Activation::gelu_tanh), test::gelu_tanh_exact(x), tol) << x;
    }
    EXPECT_NEAR(activate(1.0f, Activation::gelu), 0.8413447460685429, 5e-7);
    EXPECT_NEAR(activate(1.0f, Activation::gelu_tanh), 0.8411919906082768, 5e-7);
    EXPECT_NEAR(activate(-3.0f, Activation::gelu_tanh), -0.0036373920817729943, 5e-7);
    for (Activation act : {Activation::gelu, Activation::gelu_tanh}) {
        EXPECT_EQ(activate(1e30f, act), 1e30f) << test::act_name(act);
        EXPECT_EQ(activate(INFINITY, act), INFINITY) << test::act_name(act);
        EXPECT_EQ(activate(-1e30f, act), 0.0f) << test::act_name(act);
        EXPECT_TRUE(std::isnan(activate(NAN, act))) << test::act_name(act);
    }
}

// With an identity weight the kernel's sums are exactly x + b, so the dense kernel's epilogue
// activation is checked tightly against the reference: 2e-6 * (1 + |y|), well below the
// largest difference of the two GELU forms (4.7e-4 near |x| = 2.7), which the random-weight
// tolerance above would not resolve.
TEST(LinearDense, GeluFormsOnIdentityWeight) {
    const int64_t n = 64, tokens = 33;
    std::vector<float> w(n * n, 0.0f);
    for (int64_t i = 0; i < n; ++i) w[i * n + i] = 1.0f;
    const auto b = random_vec(n, 5, 0.5f), x = random_vec(tokens * n, 6, 5.0f);
    std::vector<float> by_act[3];
    for (Activation act : {Activation::none, Activation::gelu, Activation::gelu_tanh})
        for (int threads : {1, 2}) {
            set_num_threads(threads);
            LinearDesc d{w.data(), b.data(), n, n, act, "identity"};
            std::vector<float> want(tokens * n), got(tokens * n, NAN);
            make_linear_ref(d)->run(x.data(), want.data(), tokens);
            make_dense_f32(d)->run(x.data(), got.data(), tokens);
            float worst = 0;
            for (size_t i = 0; i < want.size(); ++i)
                worst = std::max(worst, abs_err(got[i] - want[i]) / (1.0f + std::fabs(want[i])));
            EXPECT_LE(worst, 2e-6f) << test::act_name(act) << " threads=" << threads;
            if (threads == 1)
                std::printf("[ dense_f32 %-9s] max error / (1 + |y|) %.3g\n", test::act_name(act),
                            worst);
            by_act[static_cast<int>(act)] = want;
        }
    float apart = 0;  // the two forms' references differ far more than that tolerance
    for (size_t i = 0; i < by_act[1].size(); ++i)
        apart = std::max(apart, std::fabs(by_act[1][i] - by_act[2][i]));
    EXPECT_GT(apart, 1e-4f);
    set_num_threads(0);
}

}  // namespace
}  // namespace sparq
