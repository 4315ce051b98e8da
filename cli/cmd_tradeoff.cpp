// sparq tradeoff --base MODEL --variants DIR... [--precisions f32,int8] --data FILE [--format F]
//                --batch B --seq S [--threads T] [--out PREFIX] [--limit N] [--target-s S]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <unistd.h>

#include "common.hpp"
#include "core/threading.hpp"
#include "sparq/error.hpp"
#include "tools/eval/dataset.hpp"
#include "tools/tradeoff/tradeoff.hpp"

namespace sparq::cli {

namespace {
struct TradeoffArgs {
    std::string base, data, format, out = "tradeoff";
    std::vector<std::string> variants, precisions = {"f32"};
    int64_t batch = 1, seq = 128;
    size_t limit = 0, batch_size = 32;
    double target_s = 1.0, warmup_s = 0.3;
    int threads = 0, rounds = 3;
};

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot write '" + path + "'");
    f << text;
    f.flush();
    if (!f) throw Error("error writing '" + path + "'");
}

void run_tradeoff(const TradeoffArgs& a) {
    for (const auto& p : a.precisions)
        if (p != "f32" && p != "int8") throw UsageError("--precisions: unknown precision '" + p + "' (expected f32 or int8)");
    require_model_dir(a.base);
    for (const char* ext : {".csv", ".json", ".svg"}) {
        std::error_code ec;
        if (std::filesystem::equivalent(a.out + ext, a.data, ec))
            throw UsageError("--out '" + a.out + "' would overwrite the dataset '" + a.data +
                             "'; choose another prefix");
    }
    tools::eval::ReadOptions ro;
    ro.format = a.format;
    ro.limit = a.limit;
    tools::eval::Dataset ds = tools::eval::read_dataset(a.data, ro);
    setup_threads(a.threads);

    tools::tradeoff::SweepOptions o;
    o.base = a.base;
    o.variants = a.variants;
    o.precisions = a.precisions;
    o.batch = a.batch;
    o.seq = a.seq;
    o.threads = num_threads();
    o.eval.batch_size = a.batch_size;
    {  // embedding models (similarity evaluation): the base directory's sentence-transformers
       // pooling
        const SentenceEmbeddingConfig st = SentenceEmbeddingConfig::from_dir(a.base);
        o.eval.pooling = st.pooling;
        o.eval.similarity = tools::eval::similarity_fn("", st, st.pooling);
        o.eval.max_length = st.max_length;
    }
    o.rule.warmup_s = a.warmup_s;
    o.rule.min_reps = 5;
    o.rule.max_reps = 100000;
    o.rule.target_s = a.target_s;
    o.rounds = a.rounds;
    const bool tty = ::isatty(STDERR_FILENO);
    o.log = [tty](const std::string& s) {
        if (tty) std::fprintf(stderr, "%s\n", s.c_str());
    };
    tools::tradeoff::SweepResult r = tools::tradeoff::run_sweep(o, ds);

    write_file(a.out + ".csv", tools::tradeoff::to_csv(r));
    write_file(a.out + ".json", tools::tradeoff::to_json(r, o, ds).dump(2) + "\n");
    const std::string title = r.metric_name + " vs speed on " + ds.path + " (" + std::to_string(ds.examples.size()) +
                              " examples), batch " + std::to_string(a.batch) + " x seq " + std::to_string(a.seq) +
                              ", " + std::to_string(o.threads) + " thread(s)";
    write_file(a.out + ".svg", tools::tradeoff::render_svg(r.points, r.metric_name, title));

    std::printf("data     %s (%s, %zu examples), metric %s\n", ds.path.c_str(), ds.format.c_str(), ds.examples.size(),
                r.metric_name.c_str());
    std::printf("timing   batch %lld x seq %lld, %d thread(s), %d interleaved rounds; base median %.3f ms in the first "
                "round, %.3f ms in the last\n",
                (long long)a.batch, (long long)a.seq, o.threads, r.rounds, r.base_ms_first, r.base_ms_last);
    if (r.points[0].ext_load > 0.2)
        std::printf("noise    other processes used %.2f cores during the base's timing: speedups are noisy\n",
                    r.points[0].ext_load);
    std::printf("%-24s %-5s %10s %9s %11s %8s %8s  %s\n", "variant", "prec", r.metric_name.c_str(), "change",
                "median_ms", "speedup", "frontier", "kernels");
    for (const auto& p : r.points) {
        if (!p.ok) {
            std::printf("%-24s %-5s  failed: %s\n", p.variant.c_str(), p.precision.c_str(), p.error.c_str());
            continue;
        }
        std::printf("%-24s %-5s %10.4f %+9.4f %11.3f %7.2fx %8s  %s\n",
                    (p.variant + (p.is_base ? " (base)" : "")).c_str(), p.precision.c_str(), p.metric, p.delta,
                    p.median_ms, p.speedup, p.frontier ? "*" : "", p.kernels.c_str());
    }
    std::printf("wrote    %s.csv %s.json %s.svg\n", a.out.c_str(), a.out.c_str(), a.out.c_str());
}
}  // namespace

void add_tradeoff(CLI::App& app) {
    auto a = std::make_shared<TradeoffArgs>();
    auto* sub = app.add_subcommand("tradeoff", "Accuracy vs speed of model variants: table, CSV/JSON, SVG chart");
    sub->footer("For the dense f32 base and every variant x precision: evaluate on the dataset (the\n"
        "task's main metric: accuracy, MCC for CoLA, Pearson for regression) and time the encoder on\n"
        "seeded random ids at --batch x --seq (like sparq bench). All models stay loaded and are timed\n"
        "interleaved in --rounds rounds (base first in each); speedup = base median / variant median\n"
        "over all runs. A variant that fails to load or run is\n"
        "recorded with its error and skipped. Writes PREFIX.csv, PREFIX.json and PREFIX.svg\n"
        "(metric change vs speedup, Pareto frontier drawn as a line).");
    sub->add_option("--base", a->base, "Dense base model directory")->required();
    sub->add_option("--variants", a->variants, "Variant model directories (e.g. from sparq prune)")->required();
    sub->add_option("--precisions", a->precisions, "Comma-separated precisions (default f32)")->delimiter(',');
    sub->add_option("--data,-d", a->data, "Labelled dataset file")->required();
    sub->add_option("--format", a->format, "Dataset format (default: from the file name)")
        ->check(CLI::IsMember(tools::eval::format_names()));
    sub->add_option("--limit", a->limit, "Evaluate only the first N examples")->check(CLI::Range(size_t(1), size_t(1) << 40));
    sub->add_option("--batch,-b", a->batch, "Sequences per timed batch")->check(CLI::Range(int64_t(1), int64_t(1) << 16));
    sub->add_option("--seq,-s", a->seq, "Tokens per timed sequence")->check(CLI::Range(int64_t(1), int64_t(1) << 16));
    sub->add_option("--out,-o", a->out, "Output prefix (default 'tradeoff')");
    sub->add_option("--rounds", a->rounds, "Interleaved timing rounds (default 3)")->check(CLI::Range(1, 1000));
    sub->add_option("--target-s", a->target_s, "Time each model for at least S seconds in all (default 1)")
        ->check(number_range(0.0, 3600.0));
    sub->add_option("--warmup-s", a->warmup_s, "Warm-up per model in seconds (default 0.3)")->check(number_range(0.0, 3600.0));
    sub->add_option("--batch-size", a->batch_size, "Examples per packed batch when evaluating (default 32)")
        ->check(CLI::Range(size_t(1), size_t(1) << 20));
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_tradeoff(*a); });
}

}  // namespace sparq::cli
