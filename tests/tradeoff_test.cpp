// sparq tradeoff library: Pareto frontier on hand-made point sets, SVG/CSV output, and a sweep
// over tiny_cls with its pruned copy (tiny_sparse) and a broken variant.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "test_util.hpp"
#include "tools/tradeoff/tradeoff.hpp"

using namespace sparq;
using namespace sparq::tools::tradeoff;

TEST(Pareto, NonDominatedPoints) {
    //                 0    1    2    3    4    5    6
    std::vector<double> x = {1.0, 2.0, 3.0, 1.5, 3.0, 0.5, 2.0};
    std::vector<double> y = {0.9, 0.8, 0.5, 0.7, 0.4, 0.95, 0.8};
    // 3 dominated by 0 and 1; 4 by 2 (same x, lower y); 1 and 6 equal: both kept.
    auto f = pareto_frontier(x, y);
    EXPECT_EQ(f, (std::vector<size_t>{5, 0, 1, 6, 2}));
    EXPECT_TRUE(pareto_frontier({}, {}).empty());
    EXPECT_EQ(pareto_frontier({1}, {1}), (std::vector<size_t>{0}));
    // Brute force on a grid of random-ish points: frontier == points no other point dominates.
    std::vector<double> gx, gy;
    for (int i = 0; i < 60; ++i) {
        gx.push_back((i * 37) % 11);
        gy.push_back((i * 53) % 13);
    }
    auto g = pareto_frontier(gx, gy);
    std::vector<size_t> want;
    for (size_t i = 0; i < gx.size(); ++i) {
        bool dom = false;
        for (size_t j = 0; j < gx.size(); ++j)
            dom |= gx[j] >= gx[i] && gy[j] >= gy[i] && (gx[j] > gx[i] || gy[j] > gy[i]);
        if (!dom) want.push_back(i);
    }
    std::vector<size_t> got = g;
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want);
    for (size_t k = 1; k < g.size(); ++k) {  // increasing x, decreasing y along the frontier
        EXPECT_LE(gx[g[k - 1]], gx[g[k]]);
        EXPECT_GE(gy[g[k - 1]], gy[g[k]]);
    }
}

namespace {
Point pt(const std::string& v, const std::string& prec, double metric, double speedup, bool ok = true) {
    Point p;
    p.variant = v;
    p.precision = prec;
    p.metric = metric;
    p.delta = metric - 0.9;
    p.speedup = speedup;
    p.median_ms = 10 / speedup;
    p.ok = ok;
    if (!ok) p.error = "boom";
    return p;
}
}  // namespace

TEST(Pareto, MarkFrontierSkipsFailedPoints) {
    std::vector<Point> pts = {pt("base", "f32", 0.9, 1.0), pt("p50", "f32", 0.88, 1.8), pt("p90", "f32", 0.7, 1.5),
                              pt("p95", "int8", 0.99, 9.0, false)};
    mark_frontier(pts);
    EXPECT_TRUE(pts[0].frontier);
    EXPECT_TRUE(pts[1].frontier);
    EXPECT_FALSE(pts[2].frontier);
    EXPECT_FALSE(pts[3].frontier);
}

TEST(Svg, LabelsFrontierAndEscaping) {
    std::vector<Point> pts = {pt("base", "f32", 0.9, 1.0), pt("a<b&c", "f32", 0.88, 1.8), pt("p90", "int8", 0.7, 12.0),
                              pt("bad", "int8", 0, 0, false)};
    pts[0].is_base = true;
    mark_frontier(pts);
    std::string s = render_svg(pts, "accuracy", "title \"x\"");
    EXPECT_EQ(s.rfind("<?xml", 0), 0u);
    EXPECT_NE(s.find("a&lt;b&amp;c f32"), std::string::npos);
    EXPECT_EQ(s.find("a<b"), std::string::npos);
    EXPECT_NE(s.find("p90 int8"), std::string::npos);
    EXPECT_NE(s.find("<polyline class=\"frontier\""), std::string::npos);
    EXPECT_NE(s.find("(log scale)"), std::string::npos);  // 1x .. 12x
    EXPECT_NE(s.find("1 variant(s) failed"), std::string::npos);
    EXPECT_EQ(s.find(">bad int8<"), std::string::npos);
    EXPECT_NE(s.find("</svg>"), std::string::npos);
}

TEST(Sweep, SummarizeKernels) {
    EXPECT_EQ(summarize_kernels("a [96x32] dense_f32_onednn (why)\nb spmm_s8_1x4_vnni x\nc dense_f32_onednn\n"
                                "dense_f32_onednn: (not a name) dense_F32\n"),
              "dense_f32_onednn x2, spmm_s8_1x4_vnni x1");
    EXPECT_EQ(summarize_kernels(""), "");
}

TEST(Sweep, TinyClsWithPrunedVariant) {
    const auto fix = sparq::test::fixtures_dir();
    tools::eval::Dataset ds;
    ds.path = "mem";
    ds.format = "tsv";
    const char* texts[] = {"the movie was great !", "i did not like this film at all .", "who wrote the book ?",
                           "she thought the old city was wonderful ."};
    for (int i = 0; i < 4; ++i) ds.examples.push_back({texts[i], std::nullopt, i % 2 ? "positive" : "negative", i + 1});
    SweepOptions o;
    o.base = (fix / "tiny_cls").string();
    o.variants = {(fix / "tiny_sparse").string(), (fix / "no_such_model").string()};
    o.precisions = {"f32"};
    o.batch = 2;
    o.seq = 16;
    o.threads = 1;
    o.rule.warmup_s = 0;
    o.rule.warmup_min = o.rule.warmup_max = 1;
    o.rule.min_reps = o.rule.max_reps = 3;
    o.rule.target_s = 0;
    o.rounds = 2;
    std::vector<std::string> log;
    o.log = [&](const std::string& s) { log.push_back(s); };
    SweepResult r = run_sweep(o, ds);
    ASSERT_EQ(r.points.size(), 3u);
    EXPECT_EQ(r.metric_name, "accuracy");
    EXPECT_TRUE(r.points[0].is_base);
    EXPECT_TRUE(r.points[0].ok);
    EXPECT_DOUBLE_EQ(r.points[0].delta, 0);
    EXPECT_GT(r.base_ms_first, 0);
    EXPECT_GT(r.base_ms_last, 0);
    EXPECT_NEAR(r.points[0].speedup, 1.0, 1e-12);
    EXPECT_EQ(r.rounds, 2);
    EXPECT_EQ(r.points[0].runs, 6);  // 3 per round
    EXPECT_EQ(r.points[1].runs, 6);
    EXPECT_EQ(r.points[2].runs, 0);
    EXPECT_EQ(r.points[1].variant, "tiny_sparse");
    EXPECT_TRUE(r.points[1].ok);
    EXPECT_GT(r.points[1].speedup, 0);
    EXPECT_DOUBLE_EQ(r.points[1].delta, r.points[1].metric - r.base_metric);
    EXPECT_NE(r.points[0].kernels.find(" x"), std::string::npos) << r.points[0].kernels;
    EXPECT_FALSE(r.points[2].ok);
    EXPECT_NE(r.points[2].error.find("does not exist"), std::string::npos) << r.points[2].error;
    EXPECT_FALSE(r.points[2].frontier);
    EXPECT_TRUE(r.points[0].frontier || r.points[1].frontier);
    std::string csv = to_csv(r);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
    auto j = to_json(r, o, ds);
    EXPECT_EQ(j["points"].size(), 3u);
    EXPECT_EQ(j["points"][2]["ok"], false);
    EXPECT_GE(log.size(), 4u);
}
