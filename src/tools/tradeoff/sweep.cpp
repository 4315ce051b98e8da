#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include "sparq/error.hpp"
#include "tools/tradeoff/tradeoff.hpp"

namespace sparq::tools::tradeoff {

namespace {

// Seeded random packed batch like `sparq bench`: [CLS] random ids [SEP], token types 0 then 1.
PackedBatch random_batch(const Model& m, int64_t batch, int64_t seq) {
    const ModelConfig& cfg = m.config();
    const Tokenizer* tok = m.tokenizer();
    const int32_t cls = tok ? tok->cls_id() : 101, sep = tok ? tok->sep_id() : 102;
    const int32_t lo = static_cast<int32_t>(std::min<int64_t>(1000, cfg.vocab_size / 2));
    std::mt19937_64 rng(1234);
    std::uniform_int_distribution<int32_t> id(lo, static_cast<int32_t>(cfg.vocab_size - 1));
    PackedBatch b;
    b.offsets.push_back(0);
    for (int64_t s = 0; s < batch; ++s) {
        for (int64_t t = 0; t < seq; ++t) {
            int32_t v = id(rng);
            if (t == 0 && cls >= 0 && cls < cfg.vocab_size) v = cls;
            if (t == seq - 1 && seq > 1 && sep >= 0 && sep < cfg.vocab_size) v = sep;
            b.input_ids.push_back(v);
            b.token_type_ids.push_back(cfg.type_vocab_size > 1 && t >= seq / 2 ? 1 : 0);
        }
        b.offsets.push_back(b.offsets.back() + seq);
    }
    return b;
}

std::string name_of(const std::string& dir) {
    std::filesystem::path p(dir);
    if (p.filename().empty()) p = p.parent_path();
    return p.filename().string();
}

struct Measured {
    double metric = 0, median_ms = 0;
    std::string kernels;
};

Measured measure(const std::string& dir, const LoadOptions& lo, const SweepOptions& o, const eval::Dataset& data,
                 bool evaluate_too, const std::string& main_metric_check, std::string* metric_name) {
    if (!std::filesystem::is_directory(dir)) throw Error("model directory '" + dir + "' does not exist");
    auto model = Model::load(dir, lo);
    if (o.seq > model->config().max_position_embeddings)
        throw Error("--seq " + std::to_string(o.seq) + " exceeds the model's max_position_embeddings (" +
                    std::to_string(model->config().max_position_embeddings) + ")");
    Measured m;
    m.kernels = summarize_kernels(model->plan_report());
    if (evaluate_too) {
        eval::EvalResult r = eval::evaluate(*model, data, o.eval);
        if (!main_metric_check.empty() && r.main_metric != main_metric_check)
            throw Error("task differs from the base model's (main metric " + r.main_metric + ", base " +
                        main_metric_check + ")");
        if (metric_name) *metric_name = r.main_metric;
        m.metric = r.main_value();
    }
    PackedBatch batch = random_batch(*model, o.batch, o.seq);
    m.median_ms = time_runs([&] { (void)model->encode(batch); }, o.rule).median_ms;
    return m;
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
    LoadOptions base_lo;
    base_lo.threads = o.threads;
    base_lo.kernels = "dense";
    base_lo.precision = "f32";

    log("base " + o.base + " (dense f32): evaluating and timing");
    Measured base = measure(o.base, base_lo, o, data, true, "", &r.metric_name);
    r.base_metric = base.metric;
    r.base_ms_first = base.median_ms;
    Point bp;
    bp.kernels = base.kernels;
    bp.variant = name_of(o.base);
    bp.path = o.base;
    bp.precision = "f32";
    bp.is_base = true;
    bp.ok = true;
    bp.metric = base.metric;
    r.points.push_back(bp);

    for (const std::string& dir : o.variants) {
        for (const std::string& prec : o.precisions) {
            Point p;
            p.variant = name_of(dir);
            p.path = dir;
            p.precision = prec;
            log(p.label() + ": evaluating and timing");
            try {
                LoadOptions lo;
                lo.threads = o.threads;
                lo.kernels = "auto";
                lo.precision = prec;
                Measured m = measure(dir, lo, o, data, true, r.metric_name, nullptr);
                p.ok = std::isfinite(m.metric);
                if (!p.ok) p.error = r.metric_name + " is undefined for this variant's predictions";
                p.metric = m.metric;
                p.median_ms = m.median_ms;
                p.kernels = m.kernels;
            } catch (const std::exception& e) {
                p.ok = false;
                p.error = e.what();
                log(p.label() + ": skipped: " + p.error);
            }
            r.points.push_back(p);
        }
    }
    log("base " + o.base + " (dense f32): timing again");
    r.base_ms_last = measure(o.base, base_lo, o, data, false, "", nullptr).median_ms;
    r.base_ms = (r.base_ms_first + r.base_ms_last) / 2;
    r.points[0].median_ms = r.base_ms;
    for (Point& p : r.points) {
        if (!p.ok) continue;
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
                 {"median_ms", rounded(r.base_ms, 1e6)}};
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
        } else {
            q["error"] = p.error;
        }
        pts.push_back(std::move(q));
    }
    j["points"] = std::move(pts);
    return j;
}

}  // namespace sparq::tools::tradeoff
