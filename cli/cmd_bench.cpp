// sparq bench MODEL --batch B --seq S [--threads T] [--warmup N|--warmup-s S] [--reps N|--target-s
// S]
//                   [--kernels ..] [--precision ..] [--json]
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "common.hpp"
#include "core/cpu_limits.hpp"
#include "core/threading.hpp"
#include "model/encoder.hpp"
#include "model/model.hpp"
#include "sparq/error.hpp"
#include "tools/bench.hpp"

namespace sparq::cli {

namespace {
std::vector<std::pair<std::string, double>> profile_stages(const EncoderProfile& p) {
    return {{"embeddings", p.embeddings}, {"qkv", p.qkv},           {"attention", p.attention},
            {"attn_out", p.attn_out},     {"intermediate", p.intermediate},
            {"output", p.output},         {"layer_norm", p.layer_norm}};
}

struct BenchArgs {
    std::string model, kernels = "auto", precision = "f32", attention = "auto";
    int64_t batch = 1, seq = 128, warmup = 0, reps = 0;
    double warmup_s = 0.5, target_s = 2.0;
    uint64_t seed = 1234;
    int threads = 0;
    bool json = false, profile = false;
};

void run_bench(const BenchArgs& a, bool warmup_count, bool reps_count) {
    setup_threads(a.threads);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    auto model = load_model(a.model, lo);
    const ModelConfig& cfg = model->config();
    if (a.seq > cfg.max_tokens())
        throw UsageError("--seq " + std::to_string(a.seq) + " exceeds the model's " +
                         std::to_string(cfg.max_tokens()) + " positions (max_position_embeddings " +
                         std::to_string(cfg.max_position_embeddings) + ")");
    PackedBatch batch = tools::random_batch(*model, a.batch, a.seq, a.seed);
    tools::RepRule rule;
    if (warmup_count) {
        rule.warmup_min = rule.warmup_max = a.warmup;
        rule.warmup_s = 0;
    } else {
        rule.warmup_s = a.warmup_s;
    }
    if (reps_count) {
        rule.min_reps = rule.max_reps = a.reps;
    } else {
        rule.min_reps = 5;
        rule.max_reps = 100000;
        rule.target_s = a.target_s;
    }
    Encoder* enc = encoder_of(*model);
    bool profiled = false;
    auto start_profile = [&] {
        if (!a.profile || !enc) return;
        enc->reset_profile();
        enc->set_profiling(true, /*cpu_clock=*/num_threads() == 1);
        profiled = true;
    };
    // Profiling starts after the first (cold) run via the rule's `first` hook.
    tools::Timing t = tools::time_runs([&] { (void)model->encode(batch); }, rule, start_profile);
    EncoderProfile prof;
    if (profiled) {
        enc->set_profiling(false);
        prof = enc->profile();
    }
    const double seq_s = a.batch * 1000.0 / t.median_ms;
    const double gflops = tools::encoder_flops(cfg.num_layers, cfg.hidden_size,
                                               cfg.intermediate_size, a.batch, a.seq) /
                          (t.median_ms * 1e6);
    const int threads = num_threads();
    if (a.json) {
        nlohmann::ordered_json j;
        j["engine"] = "sparq";
        j["model"] = a.model;
        j["kernels"] = a.kernels;
        j["precision"] = model->precision();
        j["attention"] = a.attention;
        j["batch"] = a.batch;
        j["seq"] = a.seq;
        j["threads"] = threads;
        auto r = [](double v, double scale) { return std::round(v * scale) / scale; };
        j["median_ms"] = r(t.median_ms, 1e4);
        j["p10_ms"] = r(t.p10_ms, 1e4);
        j["p90_ms"] = r(t.p90_ms, 1e4);
        j["min_ms"] = r(t.min_ms, 1e4);
        j["reps"] = t.ms.size();
        j["warmup"] = t.warmup;
        j["throughput_seq_s"] = r(seq_s, 1e3);
        j["tokens_s"] = r(seq_s * a.seq, 1e1);
        j["gflops"] = r(gflops, 1e3);
        if (t.ext_load >= 0) j["ext_load"] = r(t.ext_load, 1e2);
        if (profiled && prof.calls > 0) {
            nlohmann::ordered_json p;
            for (const auto& [name, sec] : profile_stages(prof))
                p[name + "_ms"] = r(sec / prof.calls * 1e3, 1e4);
            j["profile"] = p;
        }
        print_json_line(j);
        return;
    }
    std::printf("model      %s (%lld layers, hidden %lld)\n", a.model.c_str(),
                (long long)cfg.num_layers, (long long)cfg.hidden_size);
    const std::string thread_note = a.threads > 0 ? "" : " (default: " + cpu_limits().why + ")";
    std::printf(
        "setup      batch %lld x seq %lld, threads %d%s, kernels %s, precision %s, attention %s\n",
        (long long)a.batch, (long long)a.seq, threads, thread_note.c_str(), a.kernels.c_str(),
        model->precision().c_str(), a.attention.c_str());
    std::printf("runs       %lld warm-up, %zu timed\n", (long long)t.warmup, t.ms.size());
    std::printf("latency    median %.3f ms   p10 %.3f ms   p90 %.3f ms   min %.3f ms\n",
                t.median_ms, t.p10_ms, t.p90_ms, t.min_ms);
    std::printf("throughput %.2f sequences/s, %.0f tokens/s, %.2f GFLOP/s (dense-equivalent)\n",
                seq_s, seq_s * a.seq, gflops);
    if (t.ext_load >= 0)
        std::printf("ext_load   %.2f cores used by other processes during timing%s\n", t.ext_load,
                    t.ext_load > 0.2 ? "  (noisy: other processes were busy)" : "");
    if (profiled && prof.calls > 0) {
        const double total = prof.total();
        std::printf("profile    per forward, %s over %lld runs:\n",
                    num_threads() == 1 ? "CPU time" : "wall time", (long long)prof.calls);
        for (const auto& [name, sec] : profile_stages(prof))
            std::printf("  %-13s %9.3f ms  %5.1f%%\n", name.c_str(), sec / prof.calls * 1e3,
                        total > 0 ? 100.0 * sec / total : 0.0);
        std::printf("  %-13s %9.3f ms\n", "total", total / prof.calls * 1e3);
    }
}
}  // namespace

void add_bench(CLI::App& app) {
    auto a = std::make_shared<BenchArgs>();
    auto* sub =
        app.add_subcommand("bench", "Time the encoder on random token ids (latency, sequences/s)");
    sub->footer(
        "Time the encoder on seeded random token ids ([CLS] ... [SEP], token types 0 then 1):\n"
        "warm-up (>= 2 runs and --warmup-s, or exactly --warmup N), then timed runs (>= 5 and\n"
        "--target-s seconds, or exactly --reps N). Prints median/p10/p90 latency, sequences/s and\n"
        "dense-equivalent GFLOP/s, or one JSON object with --json.");
    sub->add_option("model", a->model, "Model directory")->required();
    sub->add_option("--batch,-b", a->batch, "Sequences per batch")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
    sub->add_option("--seq,-s", a->seq, "Tokens per sequence")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
    auto* wn = sub->add_option("--warmup", a->warmup, "Exactly N warm-up runs")
                   ->check(CLI::Range(int64_t(0), int64_t(1) << 30));
    auto* ws =
        sub->add_option("--warmup-s", a->warmup_s, "Warm-up for at least S seconds (default 0.5)")
            ->check(number_range(0.0, 3600.0));
    wn->excludes(ws);
    auto* rn = sub->add_option("--reps", a->reps, "Exactly N timed runs")
                   ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    auto* ts = sub->add_option("--target-s", a->target_s, "Time for at least S seconds (default 2)")
                   ->check(number_range(0.0, 3600.0));
    rn->excludes(ts);
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    sub->add_option("--seed", a->seed, "Seed of the random token ids");
    sub->add_flag("--json", a->json, "Print one JSON object");
    sub->add_flag("--profile", a->profile,
                  "Also print the time per encoder stage (CPU time with 1 thread, else wall)");
    add_threads_option(sub, a->threads);
    sub->callback([a, wn, rn] { run_bench(*a, wn->count() > 0, rn->count() > 0); });
}

}  // namespace sparq::cli
