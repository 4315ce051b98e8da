// sparq eval MODEL --data FILE [--format F] [--text-col C] [--pair-col C] [--label-col C]
//                  [--header|--no-header] [--limit N] [--batch-size N] [--kernels ..] [--precision ..]
//                  [--json] [--predictions FILE]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"
#include "tools/eval/dataset.hpp"
#include "tools/eval/evaluate.hpp"

namespace sparq::cli {

namespace {
// --similarity's values: auto, then the functions a directory's similarity_fn_name may name.
std::vector<std::string> similarity_choices() {
    std::vector<std::string> c{"auto"};
    for (std::string_view f : SentenceEmbeddingConfig::kSimilarityFunctions) c.emplace_back(f);
    return c;
}

struct EvalArgs {
    std::string model, data, format, text_col, pair_col, label_col,
        kernels = "auto", precision = "f32", attention = "auto", predictions, similarity = "auto";
    size_t limit = 0, batch_size = 32, max_length = 0;
    int threads = 0;
    bool json = false, header = true;
};

nlohmann::ordered_json metric_json(double v) {
    if (!std::isfinite(v)) return nullptr;
    return std::round(v * 1e6) / 1e6;
}

void run_eval(const EvalArgs& a, std::optional<bool> header) {
    tools::eval::ReadOptions ro;
    ro.format = a.format;
    ro.text_col = a.text_col;
    ro.pair_col = a.pair_col;
    ro.label_col = a.label_col;
    ro.header = header;
    ro.limit = a.limit;
    tools::eval::Dataset ds = tools::eval::read_dataset(a.data, ro);

    std::unique_ptr<std::ofstream> pred_out;
    if (!a.predictions.empty()) {
        std::error_code ec;
        if (std::filesystem::equivalent(a.predictions, a.data, ec))
            throw UsageError("--predictions '" + a.predictions +
                             "' is the dataset file; choose another path");
        pred_out = std::make_unique<std::ofstream>(a.predictions, std::ios::binary | std::ios::trunc);
        if (!*pred_out) throw Error("cannot write predictions file '" + a.predictions + "'");
    }
    setup_threads(a.threads);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    auto model = load_model(a.model, lo);
    require_tokenizer(*model, a.model);

    tools::eval::EvalOptions eo;
    eo.batch_size = a.batch_size;
    // Embedding models (similarity evaluation): a sentence-transformers directory's pooling and
    // max_seq_length, as sparq embed.
    const SentenceEmbeddingConfig st = SentenceEmbeddingConfig::from_dir(a.model);
    eo.pooling = st.pooling;
    eo.similarity = tools::eval::similarity_fn(a.similarity, st, st.pooling);
    eo.max_length = a.max_length ? a.max_length : st.max_length;
    int64_t done = 0;
    Progress progress("eval", static_cast<int64_t>(ds.examples.size()));
    eo.progress = [&](int64_t n) {
        progress.advance(n - done);
        done = n;
    };
    tools::eval::EvalResult r = tools::eval::evaluate(*model, ds, eo);
    const double per_s = r.seconds > 0 ? r.examples / r.seconds : 0;

    if (pred_out) {
        for (const auto& p : r.predictions) {
            nlohmann::ordered_json j;
            j["index"] = p.index;
            j["line"] = p.line;
            if (r.regression) {
                j["gold"] = p.gold_value;
                j["predicted"] = json_float(static_cast<float>(p.predicted_value));
            } else {
                j["gold"] = p.gold;
                j["predicted"] = p.predicted;
            }
            j["score"] = json_float(p.score);
            *pred_out << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
        }
        pred_out->flush();
        if (!*pred_out) throw Error("error writing predictions file '" + a.predictions + "'");
    }
    if (a.json) {
        nlohmann::ordered_json j;
        j["model"] = a.model;
        j["data"] = a.data;
        j["format"] = r.format;
        j["examples"] = r.examples;
        j["task"] = r.similarity ? "similarity" : r.regression ? "regression" : "classification";
        if (r.similarity) j["similarity"] = eo.similarity;
        for (const auto& [name, v] : r.metrics) j[name] = metric_json(v);
        j["main_metric"] = r.main_metric;
        j["kernels"] = a.kernels;
        j["precision"] = model->precision();
        j["seconds"] = std::round(r.seconds * 1e4) / 1e4;
        j["examples_per_s"] = std::round(per_s * 100) / 100;
        print_json_line(j);
        return;
    }
    std::printf("model      %s\n", a.model.c_str());
    std::printf("data       %s (%s, %lld examples%s)\n", a.data.c_str(), r.format.c_str(), (long long)r.examples,
                ds.has_pair() ? ", pairs" : "");
    if (r.similarity)
        std::printf("method     %s similarity of the pair's sentence embeddings (%s pooling)\n",
                    eo.similarity.c_str(), pooling_name(eo.pooling));
    for (const auto& [name, v] : r.metrics) {
        if (!std::isfinite(v))
            std::printf("%-10s undefined\n", name.c_str());
        else if (name == "accuracy")
            std::printf("%-10s %.4f (%lld/%lld)\n", name.c_str(), v, (long long)std::llround(v * r.examples),
                        (long long)r.examples);
        else
            std::printf("%-10s %.4f\n", name.c_str(), v);
    }
    std::printf("throughput %.1f examples/s (%.2f s, kernels %s, precision %s)\n", per_s, r.seconds, a.kernels.c_str(),
                model->precision().c_str());
}
}  // namespace

void add_eval(CLI::App& app) {
    auto a = std::make_shared<EvalArgs>();
    auto* sub = app.add_subcommand("eval", "Accuracy (F1, MCC, Pearson/Spearman) of a model on a labelled dataset");
    std::string formats;
    for (const auto& f : tools::eval::format_names()) formats += (formats.empty() ? "" : ", ") + f;
    sub->footer(
        "Predict every example of a labelled file and score the predictions.\nFormats: " + formats +
        " (detected from the file\nname when --format is omitted). Textual labels go through the\n"
        "model's id2label (case-insensitive); numeric labels are label ids; regression models\n"
        "(num_labels 1) read a numeric score. An encoder without a head (an embedding model) on\n"
        "scored pairs (STS-B) is scored by the similarity of the two texts' embeddings\n"
        "(Spearman first; pooling from a sentence-transformers directory, else mean; cosine, or\n"
        "the directory's similarity_fn_name, dot for SPLADE; --similarity overrides).\n"
        "Columns of --format tsv are 0-based indices or header\n"
        "names. Prints a summary, or one JSON object with --json; --predictions writes JSON lines\n"
        "{\"index\",\"line\",\"gold\",\"predicted\",\"score\"}.");
    sub->add_option("model", a->model, "Model directory")->required();
    sub->add_option("--data,-d", a->data, "Labelled dataset file")->required();
    sub->add_option("--format", a->format, "Dataset format (default: from the file name)")
        ->check(CLI::IsMember(tools::eval::format_names()));
    sub->add_option("--text-col", a->text_col, "Text column (index or header name)");
    sub->add_option("--pair-col", a->pair_col, "Second-segment column (pair tasks)");
    sub->add_option("--label-col", a->label_col, "Label column");
    auto* hdr = sub->add_flag("--header,!--no-header", a->header, "The file has (or has not) a header line");
    sub->add_option("--limit", a->limit, "Evaluate only the first N examples")->check(CLI::Range(size_t(1), size_t(1) << 40));
    sub->add_option("--batch-size", a->batch_size, "Examples per packed batch (default 32)")
        ->check(CLI::Range(size_t(1), size_t(1) << 20));
    sub->add_option("--max-length", a->max_length, "Truncate to N tokens (default: the model's maximum)")
        ->check(CLI::Range(size_t(2), size_t(1) << 20));
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    sub->add_flag("--json", a->json, "Print one JSON object");
    sub->add_option("--similarity", a->similarity,
                    "Embedding models: auto | cosine | dot | euclidean | manhattan (auto: the "
                    "directory's similarity_fn_name, else dot for SPLADE and cosine otherwise)")
        ->check(CLI::IsMember(similarity_choices()));
    sub->add_option("--predictions", a->predictions, "Write per-example predictions here (JSON lines)");
    add_threads_option(sub, a->threads);
    sub->callback([a, hdr] {
        std::optional<bool> header;
        if (hdr->count() > 0) header = a->header;
        run_eval(*a, header);
    });
}

}  // namespace sparq::cli
