#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include "sparq/error.hpp"
#include "tools/bench.hpp"
#include "tools/tradeoff/tradeoff.hpp"

namespace sparq::tools::tradeoff {

namespace {

std::string name_of(const std::string& dir) {
    std::filesystem::path p(dir);
    if (p.filename().empty()) p = p.parent_path();
    return p.filename().string();
}

// A loaded model waiting for its timing rounds.
struct Candidate {
    size_t point = 0;  // index into SweepResult::points
    std::unique_ptr<Model> model;
    PackedBatch batch;
    std::vector<double> ms, first_ms, last_ms;
    double ext_load = 0;
    int ext_n = 0;
};

// Loads `dir`, evaluates it and prepares its timing batch.
Candidate load_and_evaluate(const std::string& dir, const LoadOptions& lo, const SweepOptions& o,
                            const eval::Dataset& data, Point& p, std::string& metric_name) {
    if (!std::filesystem::is_directory(dir)) throw Error("model directory '" + dir + "' does not exist");
    Candidate c;
    c.model = Model::load(dir, lo);
    if (o.seq > c.model->config().max_position_embeddings)
        throw Error("--seq " + std::to_string(o.seq) + " exceeds the model's max_position_embeddings (" +
                    std::to_string(c.model->config().max_position_embeddings) + ")");
    p.kernels = summarize_kernels(c.model->plan_report());
    eval::EvalResult r = eval::evaluate(*c.model, data, o.eval);
    if (!metric_name.empty() && r.main_metric != metric_name)
        throw Error("task differs from the base model's (main metric " + r.main_metric + ", base " + metric_name + ")");
    metric_name = r.main_metric;
    p.metric = r.main_value();
    if (!std::isfinite(p.metric)) throw Error(metric_name + " is undefined for this model's predictions");
    c.batch = random_batch(*c.model, o.batch, o.seq, 1234);
    return c;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : quantile(v, 0.5);
}

}  // namespace

std::string summarize_kernels(const std::string& plan_report) {
    std::vector<std::pair<std::string, int>> counts;
    std::istringstream in(plan_report);
    std::string tok;
    while (in >> tok) {
        const bool kernel_name = (tok.rfind("dense_", 0) == 0 || tok.rfind("spmm_", 0) == 0 ||
                                  tok.rfind("sparse_", 0) == 0 || tok.rfind("gemm_", 0) == 0) &&
                                 tok.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
        if (!kernel_name) continue;
        auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == tok; });
        if (it == counts.end())
            counts.emplace_back(tok, 1);
        else
            ++it->second;
    }
    std::string out;
    for (const auto& [name, n] : counts) out += (out.empty() ? "" : ", ") + name + " x" + std::to_string(n);
    return out;
}

SweepResult run_sweep(const SweepOptions& o, const eval::Dataset& data) {
    auto log = [&](const std::string& s) {
        if (o.log) o.log(s);
    };
    SweepResult r;
    std::vector<Candidate> cands;

    LoadOptions base_lo;
    base_lo.threads = o.threads;
    base_lo.kernels = "dense";
    base_lo.precision = "f32";
    Point bp;
    bp.variant = name_of(o.base);
    bp.path = o.base;
    bp.precision = "f32";
    bp.is_base = true;
    log(bp.label() + " (base, dense f32): loading and evaluating");
    cands.push_back(load_and_evaluate(o.base, base_lo, o, data, bp, r.metric_name));
    bp.ok = true;
    r.base_metric = bp.metric;
    r.points.push_back(bp);

    for (const std::string& dir : o.variants) {
        for (const std::string& prec : o.precisions) {
            Point p;
            p.variant = name_of(dir);
            p.path = dir;
            p.precision = prec;
            log(p.label() + ": loading and evaluating");
            try {
                LoadOptions lo;
                lo.threads = o.threads;
                lo.kernels = "auto";
                lo.precision = prec;
                Candidate c = load_and_evaluate(dir, lo, o, data, p, r.metric_name);
                c.point = r.points.size();
                cands.push_back(std::move(c));
                p.ok = true;
            } catch (const std::exception& e) {
                p.error = e.what();
                log(p.label() + ": skipped: " + p.error);
            }
            r.points.push_back(p);
        }
    }

    // Interleaved timing: every round times every model once, base first.
    const int rounds = std::max(1, o.rounds);
    for (int round = 0; round < rounds; ++round) {
        log("timing round " + std::to_string(round + 1) + " of " + std::to_string(rounds));
        for (Candidate& c : cands) {
            RepRule rule = o.rule;
            rule.target_s = o.rule.target_s / rounds;
            if (round > 0) {
                rule.warmup_s = 0;
                rule.warmup_min = rule.warmup_max = 1;
            }
            Timing t = time_runs([&] { (void)c.model->encode(c.batch); }, rule);
            c.ms.insert(c.ms.end(), t.ms.begin(), t.ms.end());
            if (round == 0) c.first_ms = t.ms;
            if (round == rounds - 1) c.last_ms = t.ms;
            if (t.ext_load >= 0) {
                c.ext_load += t.ext_load;
                ++c.ext_n;
            }
        }
    }
    r.base_ms = median(cands[0].ms);
    r.base_ms_first = median(cands[0].first_ms);
    r.base_ms_last = median(cands[0].last_ms);
    r.rounds = rounds;
    for (const Candidate& c : cands) {
        Point& p = r.points[c.point];
        p.median_ms = median(c.ms);
        p.runs = static_cast<int64_t>(c.ms.size());
        p.ext_load = c.ext_n ? c.ext_load / c.ext_n : -1;
        p.delta = p.metric - r.base_metric;
        p.speedup = r.base_ms / p.median_ms;
    }
    mark_frontier(r.points);
    return r;
}

namespace {
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) {
        if (c == '"') o += '"';
        o += (c == '\n' || c == '\r') ? ' ' : c;
    }
    return o + "\"";
}
std::string fmt(double v, int prec) {
    if (!std::isfinite(v)) return "";
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(prec);
    s << v;
    return s.str();
}
double rounded(double v, double scale) { return std::round(v * scale) / scale; }
}  // namespace

std::string to_csv(const SweepResult& r) {
    std::ostringstream s;
    s << "variant,precision,path,base,status,metric_name,metric,delta,median_ms,speedup,frontier,kernels,error\n";
    for (const Point& p : r.points) {
        s << csv_field(p.variant) << ',' << p.precision << ',' << csv_field(p.path) << ',' << (p.is_base ? 1 : 0) << ','
          << (p.ok ? "ok" : "failed") << ',' << r.metric_name << ',' << (p.ok ? fmt(p.metric, 6) : "") << ','
          << (p.ok ? fmt(p.delta, 6) : "") << ',' << (p.ok ? fmt(p.median_ms, 6) : "") << ','
          << (p.ok ? fmt(p.speedup, 4) : "") << ',' << (p.frontier ? 1 : 0) << ','
          << csv_field(p.kernels) << ',' << csv_field(p.error) << '\n';
    }
    return s.str();
}

nlohmann::ordered_json to_json(const SweepResult& r, const SweepOptions& o, const eval::Dataset& data) {
    nlohmann::ordered_json j;
    j["data"] = data.path;
    j["format"] = data.format;
    j["examples"] = data.examples.size();
    j["metric"] = r.metric_name;
    j["batch"] = o.batch;
    j["seq"] = o.seq;
    j["threads"] = o.threads;
    j["base"] = {{"path", o.base},
                 {"metric", rounded(r.base_metric, 1e6)},
                 {"median_ms_first", rounded(r.base_ms_first, 1e6)},
                 {"median_ms_last", rounded(r.base_ms_last, 1e6)},
                 {"median_ms", rounded(r.base_ms, 1e6)},
                 {"rounds", r.rounds}};
    nlohmann::ordered_json pts = nlohmann::ordered_json::array();
    for (const Point& p : r.points) {
        nlohmann::ordered_json q;
        q["variant"] = p.variant;
        q["precision"] = p.precision;
        q["path"] = p.path;
        q["base"] = p.is_base;
        q["ok"] = p.ok;
        if (p.ok) {
            q["metric"] = rounded(p.metric, 1e6);
            q["delta"] = rounded(p.delta, 1e6);
            q["median_ms"] = rounded(p.median_ms, 1e6);
            q["speedup"] = rounded(p.speedup, 1e6);
            q["frontier"] = p.frontier;
            q["kernels"] = p.kernels;
            q["runs"] = p.runs;
            if (p.ext_load >= 0) q["ext_load"] = rounded(p.ext_load, 1e2);
        } else {
            q["error"] = p.error;
        }
        pts.push_back(std::move(q));
    }
    j["points"] = std::move(pts);
    return j;
}

}  // namespace sparq::tools::tradeoff
