// Planner: forced modes, automatic dense/sparse choice around the crossover, bad options.
#include "kernels/planner.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "cpu/isa.hpp"
#include "kernels/spmm/spmm.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

std::vector<float> pruned(int64_t out, int64_t in, double sparsity) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> w(out * in);
    for (auto& x : w) x = u(rng) < sparsity ? 0.0f : u(rng) + 0.1f;
    return w;
}

LinearDesc desc_of(const std::vector<float>& w, int64_t out, int64_t in) {
    LinearDesc d;
    d.weight = w.data();
    d.out = out;
    d.in = in;
    d.name = "encoder.layer.0.intermediate.dense.weight";
    return d;
}

// Every spmm_rates() of this test binary measures into a fresh cache directory (set before any
// test runs: the rates are computed once per process), removed when the process exits.
std::string rates_dir() {
    struct Dir {
        std::string path;
        ~Dir() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    };
    static const Dir dir = [] {
        Dir d{::testing::TempDir() + "sparq_rates_" + std::to_string(::getpid())};
        setenv("SPARQ_CACHE_DIR", d.path.c_str(), 1);
        return d;
    }();
    return dir.path;
}
const std::string kRatesDir = rates_dir();

bool is_sparse(const PlannedLinear& p) { return p.kernel->name().rfind("spmm_", 0) == 0; }

TEST(Planner, AutoPicksDenseWhenDenseAndSparseWhenPruned) {
    std::vector<float> w0 = pruned(768, 3072, 0.0), w95 = pruned(768, 3072, 0.95);
    PlannedLinear p0 = plan_linear(desc_of(w0, 768, 3072), {});
    EXPECT_FALSE(is_sparse(p0)) << p0.why;
    EXPECT_NEAR(p0.sparsity, 0.0, 1e-9);
    EXPECT_EQ(p0.why.rfind("dense", 0), 0u) << p0.why;
    PlannedLinear p95 = plan_linear(desc_of(w95, 768, 3072), {});
    EXPECT_TRUE(is_sparse(p95)) << p95.why;
    EXPECT_NEAR(p95.sparsity, 0.95, 0.01);
    EXPECT_EQ(p95.why.rfind("sparse: 9", 0), 0u) << p95.why;
    EXPECT_NE(p95.why.find("crossover"), std::string::npos) << p95.why;
    EXPECT_EQ(p95.kernel->out(), 768);
    EXPECT_EQ(p95.kernel->in(), 3072);
}

// On the built-in (Xeon) rates, 30% and 50% zeros stay dense; on rates where the sparse kernel
// is relatively faster (as on a Zen 4 core, whose dense rate is half the Xeon's), 50% goes
// sparse, 30% still not.
TEST(Planner, AutoFollowsTheRates) {
    if (spmm_best_variant(768, 768).isa == Isa::scalar) GTEST_SKIP() << "no sparse JIT kernel";
    const SpmmRates builtin = builtin_spmm_rates();
    SpmmRates fast = builtin;
    fast.dense_gflops = 110;
    fast.sparse_gflops = 90;
    fast.ns_per_output = 0.17;
    fast.ns_per_input = 0.4;
    fast.source = "test";
    for (double s : {0.3, 0.5}) {
        std::vector<float> w = pruned(768, 768, s);
        PlanOptions o;
        o.rates = &builtin;
        PlannedLinear p = plan_linear(desc_of(w, 768, 768), o);
        EXPECT_FALSE(is_sparse(p)) << p.why;
        o.rates = &fast;
        PlannedLinear q = plan_linear(desc_of(w, 768, 768), o);
        EXPECT_EQ(is_sparse(q), s == 0.5) << q.why;
        EXPECT_NE(q.why.find("; rates test"), std::string::npos) << q.why;
    }
}

// SPARQ_SPMM_RATES: four numbers and nothing else, the speeds positive and finite, the
// overheads finite and not negative; anything else is one error naming the variable.
TEST(Planner, ParsesRatesFromTheEnvironment) {
    const SpmmRates r = parse_spmm_rates("190,125.5,0.5,0");
    EXPECT_EQ(r.dense_gflops, 190);
    EXPECT_EQ(r.sparse_gflops, 125.5);
    EXPECT_EQ(r.ns_per_output, 0.5);
    EXPECT_EQ(r.ns_per_input, 0);
    EXPECT_EQ(r.source, "SPARQ_SPMM_RATES");
    for (const char* bad : {"", "abc", "190,125,0.5", "190,125,0.5,0,1", "190,125,0.5,0x",
                            "190;125;0.5;0", "0,125,0.5,0", "190,-1,0.5,0", "190,125,-0.5,0",
                            "inf,125,0.5,0", "190,125,nan,0", "190,125,inf,0", "190,,0.5,0"}) {
        try {
            parse_spmm_rates(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("SPARQ_SPMM_RATES='" + std::string(bad) + "'"),
                      std::string::npos)
                << e.what();
        }
    }
}

// spmm_rates() measures this CPU once (here into a fresh cache directory) and stores the result
// under the CPU's key; the rates are usable (finite, positive) and the plans of matrices with
// enough weights and zeros name them.
TEST(Planner, MeasuresRatesOnceAndCachesThem) {
    if (spmm_best_variant(768, 768).isa == Isa::scalar) GTEST_SKIP() << "no sparse JIT kernel";
    if (std::getenv("SPARQ_SPMM_RATES") || std::getenv("SPARQ_NO_CALIBRATION"))
        GTEST_SKIP() << "rates set by the environment";
    const std::string dir = rates_dir();
    const SpmmRates& r = spmm_rates();
    EXPECT_EQ(&r, &spmm_rates());  // once per process
    for (double v : {r.dense_gflops, r.sparse_gflops}) EXPECT_TRUE(std::isfinite(v) && v > 0) << v;
    for (double v : {r.ns_per_output, r.ns_per_input}) EXPECT_TRUE(std::isfinite(v) && v >= 0) << v;
    EXPECT_EQ(r.source, "measured on this CPU");
    std::ifstream in(dir + "/spmm-rates.json");
    ASSERT_TRUE(in) << "no cache file in " << dir;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("\"dense_gflops\""), std::string::npos) << text;
    EXPECT_NE(text.find(spmm_best_variant(768, 768).name), std::string::npos) << text;
    std::vector<float> w = pruned(768, 768, 0.6);
    PlannedLinear p = plan_linear(desc_of(w, 768, 768), {});
    EXPECT_NE(p.why.find("; rates measured on this CPU"), std::string::npos) << p.why;
    std::vector<float> small = pruned(64, 64, 0.6);  // too small to measure for
    PlannedLinear q = plan_linear(desc_of(small, 64, 64), {});
    EXPECT_EQ(q.why.find("; rates"), std::string::npos) << q.why;
    std::filesystem::remove_all(dir);  // the rates stay in this process
}

TEST(Planner, ForcedModes) {
    std::vector<float> w = pruned(64, 48, 0.5);
    PlanOptions o;
    o.kernels = "sparse";
    PlannedLinear s = plan_linear(desc_of(w, 64, 48), o);
    EXPECT_TRUE(is_sparse(s)) << s.why;
    EXPECT_EQ(s.why.rfind("sparse (forced)", 0), 0u) << s.why;
    o.kernels = "dense";
    PlannedLinear d = plan_linear(desc_of(pruned(64, 48, 0.99), 64, 48), o);
    EXPECT_FALSE(is_sparse(d)) << d.why;
    // Both compute the same layer.
    std::vector<float> x(3 * 48, 0.25f), ys(3 * 64), yd(3 * 64);
    PlannedLinear d2 = plan_linear(desc_of(w, 64, 48), o);
    s.kernel->run(x.data(), ys.data(), 3);
    d2.kernel->run(x.data(), yd.data(), 3);
    for (size_t i = 0; i < ys.size(); ++i) EXPECT_NEAR(ys[i], yd[i], 1e-4f);
}

TEST(Planner, AutoStaysDenseWithoutJitIsa) {
    std::vector<float> w = pruned(64, 64, 0.95);
    set_max_isa(Isa::scalar);
    PlannedLinear p = plan_linear(desc_of(w, 64, 64), {});
    set_max_isa(cpu_isa());
    EXPECT_FALSE(is_sparse(p)) << p.why;
    EXPECT_NE(p.why.find("AVX2"), std::string::npos) << p.why;
}

TEST(Planner, BadOptionsThrow) {
    std::vector<float> w = pruned(8, 8, 0.5);
    PlanOptions o;
    o.kernels = "fast";
    EXPECT_THROW(plan_linear(desc_of(w, 8, 8), o), Error);
    o.kernels = "auto";
    o.precision = "f16";
    EXPECT_THROW(plan_linear(desc_of(w, 8, 8), o), Error);
    LinearDesc empty;
    EXPECT_THROW(plan_linear(empty, {}), Error);
}

}  // namespace
}  // namespace sparq
