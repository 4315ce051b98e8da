// Planner: forced modes, automatic dense/sparse choice around the crossover, bad options.
#include "kernels/planner.hpp"

#include <gtest/gtest.h>

#include <random>
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

TEST(Planner, AutoStaysDenseUpToHalfSparsity) {
    for (double s : {0.3, 0.5}) {
        std::vector<float> w = pruned(768, 768, s);
        PlannedLinear p = plan_linear(desc_of(w, 768, 768), {});
        EXPECT_FALSE(is_sparse(p)) << p.why;
    }
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
