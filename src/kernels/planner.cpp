// Weight-kernel planner: per matrix, dense f32 (oneDNN) or sparse f32 (JIT) from a cost model
// whose speeds are measured on the CPU it runs on (spmm_rates); int8 kernels register here as
// they land.
//
// Cost model, per token (both kernels are linear in the token count T; the plan is made once at
// load time, so it cannot depend on T):
//   dense  = 2 * out * in / dense_gflops
//   sparse = 2 * nnz / sparse_gflops + out * ns_per_output + in * ns_per_input
// The sparse fixed part is the packing of the activations, the transpose + epilogue back to
// token-major, and the per-row/per-K-chunk overhead of the row kernel (accumulator load/store,
// loop exit); it is what caps the speedup at high sparsity. The crossover sparsity is where
// sparse is kSparseMargin times faster.
#include "kernels/planner.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <vector>

#include "core/json_depth.hpp"
#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "kernels/planner_int8.hpp"
#include "kernels/spmm/spmm.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

// Built-in rates, from bench/spmm_bench BM_SparseVsDense on the 2-vCPU Xeon (run 8: 1 thread,
// T = 128, magnitude-pruned Gaussian weights, medians of 15 interleaved runs (thread CPU time),
// spmm_f32_4x16_k128_avx512):
//   shape (out x in)   dense ms   sparse ms at 50 / 80 / 90 / 95 % zeros
//   768 x 768          0.766      0.588 / 0.281 / 0.165 / 0.118
//   2304 x 768         2.303      1.999 / 0.847 / 0.480 / 0.323
//   3072 x 768         3.265      2.785 / 1.185 / 0.677 / 0.451
//   768 x 3072         3.246      2.452 / 1.149 / 0.688 / 0.473
// Per shape, a line through 50% and 95% gives a marginal 115-145 GFLOP/s over nonzeros and a
// fixed ~0.5-2.1 us per token, fitted (conservatively) as 0.3 ns per output + 0.7 ns per input
// (the per-input term also carries the per-K-chunk row overhead, which grows with `in`).
// Resulting crossovers (sparse 1.25x faster than dense): 768x768 55%, 3072x768 51%, 768x3072 54%;
// without the margin (sparse == dense): 42-46%.
constexpr double kDenseGflops = 190.0;      // oneDNN f32 matmul, one core
constexpr double kSparseGflops = 125.0;     // JIT row kernel, over nonzeros, marginal rate
constexpr double kSparseNsPerOutput = 0.3;  // per output feature per token (transpose+epilogue)
constexpr double kSparseNsPerInput = 0.7;   // per input feature per token (packing, K-chunks)
// Auto picks sparse only when estimated at least this much faster: the model is a straight line
// through noisy timings, and near the crossover dense is the safe choice.
constexpr double kSparseMargin = 1.25;
// Smaller matrices (or ones with few zeros) are decided on the built-in rates: fixed costs or
// the nonzero count settle them, and they should not pay for a measurement.
constexpr int64_t kMeasuredFrom = 1 << 16;
constexpr double kMeasuredSparsity = 0.25;  // below: dense on any rates seen (crossovers 40-56%)

struct Estimate {
    double dense_ns, sparse_ns, crossover;  // ns per token; crossover: sparsity of the switch
};

Estimate spmm_cost_model(const SpmmRates& r, int64_t out, int64_t in, int64_t nnz) {
    Estimate e;
    e.dense_ns = 2.0 * out * in / r.dense_gflops;
    double fixed = out * r.ns_per_output + in * r.ns_per_input;
    e.sparse_ns = 2.0 * nnz / r.sparse_gflops + fixed;
    // dense = kSparseMargin * (2 * (1 - s) * out * in / sparse + fixed)  =>  s
    double density = (e.dense_ns / kSparseMargin - fixed) * r.sparse_gflops / (2.0 * out * in);
    e.crossover = density <= 0 ? 1.0 : (density >= 1 ? 0.0 : 1.0 - density);
    return e;
}

// Rates the cost model can run on: finite, positive speeds, non-negative fixed costs (NaN fails).
bool usable(const SpmmRates& r) {
    return std::isfinite(r.dense_gflops) && std::isfinite(r.sparse_gflops) &&
           std::isfinite(r.ns_per_output) && std::isfinite(r.ns_per_input) && r.dense_gflops > 0 &&
           r.sparse_gflops > 0 && r.ns_per_output >= 0 && r.ns_per_input >= 0;
}

// Times the dense and sparse f32 kernels on this CPU (see spmm_rates); nullopt when a result
// is not a usable rate (a timing disturbed beyond reason).
std::optional<SpmmRates> measure_spmm_rates() {
    constexpr int64_t n = 768, tokens = 128;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> w(n * n), w50(n * n), w95(n * n), x(tokens * n), y(tokens * n);
    for (auto& v : w) v = nd(rng);
    for (auto& v : x) v = nd(rng);
    int64_t nnz50 = 0, nnz95 = 0;
    for (int64_t i = 0; i < n * n; ++i) {
        const float r = u(rng);
        w50[i] = r < 0.5f ? 0.0f : w[i];
        w95[i] = r < 0.95f ? 0.0f : w[i];
        nnz50 += w50[i] != 0.0f;
        nnz95 += w95[i] != 0.0f;
    }
    LinearDesc d{w.data(), nullptr, n, n, Activation::none, "calibration"};
    const int threads = num_threads();
    set_num_threads(1);
    auto dense = make_dense_f32(d);
    d.weight = w50.data();
    auto s50 = make_sparse_f32(d);
    d.weight = w95.data();
    auto s95 = make_sparse_f32(d);
    LinearKernel* kernels[] = {dense.get(), s50.get(), s95.get()};
    double best[3] = {1e30, 1e30, 1e30};
    for (int round = 0; round < 9; ++round)  // the first round warms up (not counted)
        for (int k = 0; k < 3; ++k) {
            const auto t0 = std::chrono::steady_clock::now();
            kernels[k]->run(x.data(), y.data(), tokens);
            const double ns =
                std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                    .count() /
                tokens;
            if (round > 0) best[k] = std::min(best[k], ns);
        }
    set_num_threads(threads);
    SpmmRates r;
    r.dense_gflops = 2.0 * n * n / best[0];
    const double per_nnz = (best[1] - best[2]) / static_cast<double>(nnz50 - nnz95);
    r.sparse_gflops = 2.0 / per_nnz;
    const double fixed = std::max(0.0, best[2] - per_nnz * nnz95);
    // Split as the built-in fit does (0.3 : 0.7 per output : per input feature).
    r.ns_per_output = fixed * 0.3 / n;
    r.ns_per_input = fixed * 0.7 / n;
    r.source = "measured on this CPU";
    if (!usable(r)) return std::nullopt;
    return r;
}

// The disk cache of measured rates: one JSON object per file, keyed by the CPU (/proc/cpuinfo's
// model name, family, model, stepping), the sparse variant and this format's version, so a
// machine's plans stay the same from run to run instead of following each measurement's noise.
// In $SPARQ_CACHE_DIR (or $XDG_CACHE_HOME/sparq, ~/.cache/sparq); SPARQ_CACHE_DIR=none turns
// it off. A cache that cannot be read or written is ignored.
std::string rates_cache_path() {
    const char* dir = std::getenv("SPARQ_CACHE_DIR");
    if (dir && std::string(dir) == "none") return "";
    std::string d;
    if (dir && *dir) {
        d = dir;
    } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
        d = std::string(x) + "/sparq";
    } else if (const char* h = std::getenv("HOME"); h && *h) {
        d = std::string(h) + "/.cache/sparq";
    } else {
        return "";
    }
    return d + "/spmm-rates.json";
}

std::string rates_cache_key() {
    std::string key = "v1";
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    int fields = 0;
    while (fields < 4 && std::getline(in, line))
        for (const char* f : {"model name", "cpu family", "model\t", "stepping"})
            if (line.rfind(f, 0) == 0) {
                const size_t colon = line.find(':');
                key += '|';  // (appended in two steps: GCC 12 warns -Wrestrict on "|" + substr)
                key.append(line, colon == std::string::npos ? 0 : colon + 1);
                ++fields;
            }
    return key + "|" + spmm_best_variant(768, 768).name;
}

// The cache file's JSON, or an empty object when it is absent, not JSON, not an object or nested
// deeper than any cache sparq writes (copying or dumping such a value would recurse per level).
nlohmann::json read_cache(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return nlohmann::json::object();
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (json_depth(text) > kMaxJsonDepth) return nlohmann::json::object();
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    return j.is_object() ? j : nlohmann::json::object();
}

std::optional<SpmmRates> cached_rates(const std::string& path, const std::string& key) {
    try {
        const nlohmann::json all = read_cache(path);
        if (!all.contains(key)) return std::nullopt;
        const nlohmann::json& j = all.at(key);
        SpmmRates r;
        r.dense_gflops = j.at("dense_gflops").get<double>();
        r.sparse_gflops = j.at("sparse_gflops").get<double>();
        r.ns_per_output = j.at("ns_per_output").get<double>();
        r.ns_per_input = j.at("ns_per_input").get<double>();
        if (!usable(r)) return std::nullopt;
        r.source = "measured on this CPU, cached in " + path;
        return r;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void cache_rates(const std::string& path, const std::string& key, const SpmmRates& r) {
    try {
        namespace fs = std::filesystem;
        fs::create_directories(fs::path(path).parent_path());
        nlohmann::json all = read_cache(path);
        all[key] = {{"dense_gflops", r.dense_gflops},
                    {"sparse_gflops", r.sparse_gflops},
                    {"ns_per_output", r.ns_per_output},
                    {"ns_per_input", r.ns_per_input}};
        const std::string tmp = path + ".tmp" + std::to_string(::getpid());
        {
            std::ofstream out(tmp);
            out << all.dump(2) << "\n";
            if (!out) throw std::runtime_error("write failed");
        }
        fs::rename(tmp, path);  // atomic: concurrent processes see one file or the other
    } catch (const std::exception&) {
    }
}

template <typename... Args>
std::string format(const char* fmt, Args... args) {
    char buf[200];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}

}  // namespace

SpmmRates parse_spmm_rates(const std::string& text) {
    SpmmRates r;
    double* fields[4] = {&r.dense_gflops, &r.sparse_gflops, &r.ns_per_output, &r.ns_per_input};
    const char* p = text.c_str();
    bool ok = true;
    for (int i = 0; i < 4 && ok; ++i) {
        char* end = nullptr;
        *fields[i] = std::strtod(p, &end);
        ok = end != p && *end == (i < 3 ? ',' : '\0');
        p = end + (i < 3 && ok);
    }
    if (!ok || !usable(r))
        throw Error("SPARQ_SPMM_RATES='" + text +
                    "': expected four numbers 'dense_gflops,sparse_gflops,ns_per_output,"
                    "ns_per_input' (the first two > 0, the others >= 0)");
    r.source = "SPARQ_SPMM_RATES";
    return r;
}

SpmmRates builtin_spmm_rates() {
    SpmmRates r;
    r.dense_gflops = kDenseGflops;
    r.sparse_gflops = kSparseGflops;
    r.ns_per_output = kSparseNsPerOutput;
    r.ns_per_input = kSparseNsPerInput;
    r.source = "built-in";
    return r;
}

const SpmmRates& spmm_rates() {
    static const SpmmRates rates = [] {
        if (const char* env = std::getenv("SPARQ_SPMM_RATES"); env && *env)
            return parse_spmm_rates(env);
        if (std::getenv("SPARQ_NO_CALIBRATION") || spmm_best_variant(768, 768).isa == Isa::scalar)
            return builtin_spmm_rates();
        const std::string path = rates_cache_path(), key = rates_cache_key();
        if (!path.empty())
            if (auto c = cached_rates(path, key)) return *c;
        if (auto m = measure_spmm_rates()) {
            if (!path.empty()) cache_rates(path, key, *m);
            return *m;
        }
        SpmmRates r = builtin_spmm_rates();
        r.source = "built-in (the measurement was unusable)";
        return r;
    }();
    return rates;
}

double sparsity_of(const float* w, int64_t rows, int64_t cols) {
    int64_t n = rows * cols, zeros = 0;
    for (int64_t i = 0; i < n; ++i) zeros += (w[i] == 0.0f);
    return n ? static_cast<double>(zeros) / n : 0.0;
}

PlannedLinear plan_linear(const LinearDesc& desc, const PlanOptions& opts) {
    if (opts.kernels != "auto" && opts.kernels != "dense" && opts.kernels != "sparse")
        throw Error("unknown kernel choice '" + opts.kernels +
                    "' (expected auto, dense or sparse)");
    if (opts.precision != "f32" && opts.precision != "int8")
        throw Error("unknown precision '" + opts.precision + "' (expected f32 or int8)");
    if (!desc.weight || desc.out <= 0 || desc.in <= 0)
        throw Error("weight '" + desc.name + "': expected a non-empty [out][in] matrix, got " +
                    std::to_string(desc.out) + "x" + std::to_string(desc.in));
    if (opts.wrap) {  // plan without the decorator, then decorate
        PlanOptions inner = opts;
        inner.wrap = nullptr;
        PlannedLinear w = plan_linear(desc, inner);
        w.kernel = opts.wrap(std::move(w.kernel), desc);
        return w;
    }
    if (opts.precision == "int8") return plan_linear_int8(desc, opts);
    PlannedLinear p;
    p.sparsity = sparsity_of(desc.weight, desc.out, desc.in);
    const int64_t nnz =
        desc.out * desc.in - static_cast<int64_t>(p.sparsity * desc.out * desc.in + 0.5);
    const bool decided_by_rates = opts.kernels == "auto" && p.sparsity >= kMeasuredSparsity &&
                                  desc.out * desc.in >= kMeasuredFrom &&
                                  spmm_best_variant(desc.out, desc.in).isa != Isa::scalar;
    const SpmmRates builtin = builtin_spmm_rates();
    const SpmmRates& rates = opts.rates ? *opts.rates : decided_by_rates ? spmm_rates() : builtin;
    Estimate e = spmm_cost_model(rates, desc.out, desc.in, nnz);
    const double speedup = e.dense_ns / e.sparse_ns;
    const double pct = 100.0 * p.sparsity, cross = 100.0 * e.crossover;
    bool sparse;
    if (opts.kernels == "sparse") {
        sparse = true;
        p.why = format("sparse (forced): %.1f%% zeros, est %.2fx vs dense (crossover %.0f%%)", pct,
                       speedup, cross);
    } else if (opts.kernels == "dense") {
        sparse = false;
        p.why = format("dense (forced): %.1f%% zeros, est sparse %.2fx (crossover %.0f%%)", pct,
                       speedup, cross);
    } else if (spmm_best_variant(desc.out, desc.in).isa == Isa::scalar) {
        sparse = false;  // the scalar sparse fallback is a reference, not a fast path
        p.why =
            format("dense: %.1f%% zeros, but no sparse JIT kernel on this CPU (needs AVX2)", pct);
    } else {
        sparse = speedup >= kSparseMargin;
        if (sparse)
            p.why = format("sparse: %.1f%% zeros, est %.1fx faster than dense (crossover %.0f%%)",
                           pct, speedup, cross);
        else if (e.crossover >= 1.0)
            p.why = format(
                "dense: %.1f%% zeros, sparse does not pay off at this size (est "
                "sparse %.2fx)",
                pct, speedup);
        else
            p.why = format(
                "dense: %.1f%% zeros, below the sparse crossover %.0f%% (est sparse "
                "%.2fx)",
                pct, cross, speedup);
    }
    if (&rates != &builtin && opts.kernels == "auto") p.why += "; rates " + rates.source;
    p.on_spmm_rates = !opts.rates && decided_by_rates;
    if (sparse) {
        p.kernel = make_sparse_f32(desc);
        p.why += std::string(" [") + p.kernel->name() + "]";
    } else {
        p.kernel = make_dense_f32(desc);
    }
    return p;
}

}  // namespace sparq
