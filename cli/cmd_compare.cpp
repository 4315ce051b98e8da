// sparq compare A B [TEXT...|--file F] [--precision-a P] [--precision-b P] [--json]
#include <algorithm>
#include <cstdio>
#include <memory>

#include "common.hpp"
#include "tools/drift.hpp"

namespace sparq::cli {

namespace {
struct CompareArgs {
    std::string a, b, file, precision_a = "f32", precision_b = "int8", kernels = "auto",
                            attention_a = "auto", attention_b = "auto";
    std::vector<std::string> texts;
    bool json = false;
    int threads = 0;
    size_t max_length = 128;
};

void run_compare(const CompareArgs& c) {
    require_model_dir(c.a);
    require_model_dir(c.b);
    setup_threads(c.threads);
    std::vector<std::string> texts =
        c.texts.empty() && c.file.empty() ? tools::sample_sentences() : read_texts(c.texts, c.file);
    if (texts.empty()) throw UsageError("expected at least one text");
    const LoadOptions la = load_options(c.threads, c.kernels, c.precision_a, c.attention_a);
    const LoadOptions lb = load_options(c.threads, c.kernels, c.precision_b, c.attention_b);
    auto ma = load_model(c.a, la);
    auto mb = load_model(c.b, lb);
    // No tokenizer and no texts given: the sample count in random token sequences.
    const bool random = !ma->tokenizer() && c.texts.empty() && c.file.empty();
    tools::DriftReport d =
        random ? tools::compare_models_random(*ma, *mb, static_cast<int64_t>(texts.size()),
                                              static_cast<int64_t>(std::min<size_t>(c.max_length, 64)))
               : tools::compare_models(*ma, *mb, texts, c.max_length);
    auto name = [](const std::string& dir, const std::string& precision, const std::string& att) {
        return dir + " (" + precision + (att == "auto" ? "" : ", attention " + att) + ")";
    };
    const std::string na = name(c.a, c.precision_a, c.attention_a),
                      nb = name(c.b, c.precision_b, c.attention_b);
    if (c.json)
        print_json_line(tools::drift_json(d, na, nb));
    else
        std::fputs(tools::drift_text(d, na, nb).c_str(), stdout);
}
}  // namespace

void add_compare(CLI::App& app) {
    auto c = std::make_shared<CompareArgs>();
    auto* sub = app.add_subcommand("compare", "Drift between two models (or precisions) on texts");
    sub->footer(
        "Runs A and B on the texts (arguments, --file, or built-in sample sentences) and prints\n"
        "cosine similarity and max |difference| of last_hidden_state, pooled outputs and logits,\n"
        "and the share of changed predictions. A and B may be the same directory with different\n"
        "precisions. A quantized directory always runs its int8 weights (precision is ignored).\n"
        "When A has no tokenizer and no texts are given, the models run on as many seeded random\n"
        "token sequences (64 tokens) instead of the sample sentences.");
    sub->add_option("a", c->a, "Model directory A")->required();
    sub->add_option("b", c->b, "Model directory B")->required();
    add_texts_option(sub, c->texts, "Texts to compare on");
    sub->add_option("--file,-f", c->file, "Texts, one per line");
    sub->add_option("--precision-a", c->precision_a, "f32 | int8")
        ->check(CLI::IsMember({"f32", "int8"}));
    sub->add_option("--precision-b", c->precision_b, "f32 | int8")
        ->check(CLI::IsMember({"f32", "int8"}));
    add_attention_option(sub, c->attention_a, "--attention-a");
    add_attention_option(sub, c->attention_b, "--attention-b");
    sub->add_option("--kernels", c->kernels, "auto | dense | sparse")
        ->check(CLI::IsMember({"auto", "dense", "sparse"}));
    sub->add_option("--max-length", c->max_length, "Tokens per text (truncation)")
        ->check(CLI::Range(2, 512));
    sub->add_flag("--json", c->json, "One JSON object on stdout");
    add_threads_option(sub, c->threads);
    sub->callback([c] { run_compare(*c); });
}

}  // namespace sparq::cli
