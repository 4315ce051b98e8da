// Every fused element-wise variant against the scalar reference, on many shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/fused.hpp"

using namespace sparq;

namespace {
std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}
const int64_t kCols[] = {1, 7, 15, 16, 17, 31, 64, 100, 128, 384, 768, 1000};
const int64_t kRows[] = {1, 3, 13};
}  // namespace

TEST(Fused, LayerNormMatchesReference) {
    int n = 0;
    const FusedOps* v = fused_variants(&n);
    for (int k = 0; k < n; ++k) {
        if (!has_isa(v[k].isa)) continue;
        for (int64_t rows : kRows)
            for (int64_t cols : kCols) {
                auto x = randv(rows * cols, 1, 3.0f), r = randv(rows * cols, 2);
                auto g = randv(cols, 3), b = randv(cols, 4);
                std::vector<float> want(rows * cols), got(rows * cols);
                ref::layer_norm(x.data(), r.data(), g.data(), b.data(), want.data(), rows, cols, 1e-12f);
                v[k].layer_norm(x.data(), r.data(), g.data(), b.data(), got.data(), rows, cols, 1e-12f);
                for (size_t i = 0; i < got.size(); ++i)
                    ASSERT_NEAR(got[i], want[i], 1e-4) << isa_name(v[k].isa) << " cols=" << cols;
            }
    }
}
