// The parallel-region trace (core/region_trace.hpp): off by default; once started, every thread
// of an instrumented region leaves one record (its own thread number, the label, begin <= end);
// stop() ends recording; the sparse int8 kernel's region is instrumented.
#include "core/region_trace.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/threading.hpp"
#include "kernels/s8/s8_kernels.hpp"

namespace sparq {
namespace {

std::map<std::pair<std::string, int>, int> count_by_label_thread() {
    std::map<std::pair<std::string, int>, int> n;
    for (const region_trace::Record& r : region_trace::records()) {
        EXPECT_LE(r.begin, r.end) << r.label;
        ++n[{r.label, r.thread}];
    }
    return n;
}

TEST(RegionTrace, RecordsEveryThreadOfInstrumentedRegions) {
    if (std::getenv("SPARQ_REGION_TRACE")) GTEST_SKIP() << "trace already on from the environment";
    const int saved = num_threads();
    // A 1x4 sparse int8 kernel (built before tracing), run below on two threads and 128 tokens:
    // one region, two tiles.
    const int64_t out = 32, in = 64, tokens = 128;
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> w(out * in), x(tokens * in), y(tokens * out);
    for (int64_t i = 0; i < out * in; ++i) w[i] = (i / 4) % 3 == 0 ? nd(rng) : 0.0f;
    for (float& v : x) v = nd(rng);
    LinearDesc d;
    d.weight = w.data();
    d.out = out;
    d.in = in;
    auto k = make_sparse_s8(d, {});

    EXPECT_FALSE(region_trace::enabled());
    parallel_ranges(100, 2, [](int64_t, int64_t) {});
    region_trace::start();
    EXPECT_TRUE(region_trace::enabled());
    EXPECT_TRUE(region_trace::records().empty());  // nothing recorded while off
    parallel_ranges(100, 2, [](int64_t, int64_t) {});
    parallel_ranges(1, 2, [](int64_t, int64_t) {});    // thread 1's share is empty: still recorded
    parallel_ranges(100, 1, [](int64_t, int64_t) {});  // one thread: no region, no record

    set_num_threads(2);
    k->run(x.data(), y.data(), tokens, nullptr);
    set_num_threads(saved);
    region_trace::stop();
    EXPECT_FALSE(region_trace::enabled());
    parallel_ranges(100, 2, [](int64_t, int64_t) {});  // after stop: not recorded

    const auto n = count_by_label_thread();
    EXPECT_EQ(n.at({"rows", 0}), 2);
    EXPECT_EQ(n.at({"rows", 1}), 2);
    EXPECT_EQ(n.at({"s8", 0}), 1);
    EXPECT_EQ(n.at({"s8", 1}), 1);
    EXPECT_EQ(region_trace::records().size(), 6u);
    region_trace::start();  // clears
    EXPECT_TRUE(region_trace::records().empty());
    region_trace::stop();
}

}  // namespace
}  // namespace sparq
