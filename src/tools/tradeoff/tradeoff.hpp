#pragma once
// Accuracy vs speed of model variants (pruned copies, precisions): evaluate each on a dev set,
// time each at one shape, find the Pareto frontier, write CSV / JSON / SVG.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bench.hpp"
#include "tools/eval/dataset.hpp"
#include "tools/eval/evaluate.hpp"

namespace sparq::tools::tradeoff {

struct Point {
    std::string variant, path, precision;
    bool is_base = false;
    bool ok = false;
    std::string error;               // why the point is missing (load or run failure)
    double metric = 0, delta = 0;    // the task's main metric and metric − base metric
    double median_ms = 0, speedup = 0;  // speedup = base median / this median
    bool frontier = false;
    int64_t runs = 0;     // timed runs over all rounds
    double ext_load = -1; // mean CPU use of other processes during this point's timing, in cores
    std::string kernels;  // weight kernels the model's plan chose, e.g. "dense_f32_onednn x10"
    std::string label() const { return variant + " " + precision; }
};

// Indices of the points not dominated when maximizing both x and y (q dominates p if q >= p in
// both and > in one), ordered by increasing x (then decreasing y, then index). Equal points are all kept.
std::vector<size_t> pareto_frontier(const std::vector<double>& x, const std::vector<double>& y);

// Weight-kernel names (tokens like dense_f32_onednn, spmm_s8_1x4_vnni) counted in a plan report:
// "name xN" joined by ", ", in order of first appearance.
std::string summarize_kernels(const std::string& plan_report);

// Sets Point::frontier on the ok points (x = speedup, y = metric).
void mark_frontier(std::vector<Point>& points);

// Scatter chart of metric change (y, in points = ×100) vs speedup (x, log scale when the
// speedups span more than 3×): every ok point labelled, the frontier drawn as a line.
std::string render_svg(const std::vector<Point>& points, const std::string& metric_name, const std::string& title);

struct SweepOptions {
    std::string base;
    std::vector<std::string> variants;     // model directories
    std::vector<std::string> precisions;   // f32 | int8
    int64_t batch = 1, seq = 128;
    int threads = 0;
    eval::EvalOptions eval;
    RepRule rule;       // per model; target_s is split over the rounds, warm-up only in round 1
    int rounds = 3;     // interleaved timing rounds (every model once per round, base first)
    std::function<void(const std::string&)> log;  // one status line per step (may be empty)
};

struct SweepResult {
    std::string metric_name;
    double base_metric = 0;
    double base_ms_first = 0, base_ms_last = 0, base_ms = 0;  // base median in the first / last round / all
    int rounds = 0;
    std::vector<Point> points;  // base first, then variant × precision
};

// Loads and evaluates the dense f32 base and every variant × precision (all stay loaded), then
// times them interleaved: `rounds` rounds, each timing every model once, base first; medians over
// all of a model's runs. A variant that fails to load or run is recorded with its error, not
// thrown; a failing base throws.
SweepResult run_sweep(const SweepOptions& opts, const eval::Dataset& data);

std::string to_csv(const SweepResult& r);
nlohmann::ordered_json to_json(const SweepResult& r, const SweepOptions& opts, const eval::Dataset& data);

}  // namespace sparq::tools::tradeoff
