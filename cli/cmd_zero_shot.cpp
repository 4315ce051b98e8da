// sparq zero-shot MODEL --labels L1,L2,... [--template T] [--multi-label] [TEXT...] [--file F]
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"
#include "tools/zero_shot.hpp"

namespace sparq::cli {

namespace {
struct ZeroShotArgs {
    std::string model, labels, file, kernels = "auto", precision = "f32", attention = "auto";
    std::string hypothesis_template{tools::kZeroShotTemplate};
    std::vector<std::string> texts;
    size_t batch_size = 32, max_length = 0;
    bool multi_label = false;
    int threads = 0;
};

// "a, b,c" -> {"a", "b", "c"} (split at commas, blanks around each label dropped, as the
// pipeline parses a string of labels); an empty or blank string gives no labels.
std::vector<std::string> split_labels(const std::string& s) {
    auto trim = [](std::string t) {
        const char* blank = " \t\n\r\f\v";
        const size_t b = t.find_first_not_of(blank);
        if (b == std::string::npos) return std::string();
        return t.substr(b, t.find_last_not_of(blank) - b + 1);
    };
    std::vector<std::string> out;
    if (trim(s).empty()) return out;
    for (size_t from = 0;;) {
        const size_t comma = s.find(',', from);
        out.push_back(trim(s.substr(from, comma - from)));
        if (comma == std::string::npos) return out;
        from = comma + 1;
    }
}

void run_zero_shot(const ZeroShotArgs& a) {
    setup_threads(a.threads);
    check_utf8(a.labels, "--labels");
    check_utf8(a.hypothesis_template, "--template");
    const std::vector<std::string> labels = split_labels(a.labels);
    try {
        tools::zero_shot_check(labels, a.hypothesis_template);
    } catch (const Error& e) {
        throw UsageError(e.what());  // a bad command line: exit code 2
    }
    const auto texts = read_texts(a.texts, a.file);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    auto model = load_model(a.model, lo);
    const tools::NliLabelIds ids = tools::zero_shot_label_ids(model->config());
    const Tokenizer& tok = require_tokenizer(*model, a.model);
    const size_t max_len = model->max_length(a.max_length);
    // Whole texts at a time, about batch_size pairs (at least one text) per forward pass.
    const size_t per_chunk = std::max<size_t>(1, a.batch_size / labels.size());
    Progress progress("zero-shot", static_cast<int64_t>(texts.size()));
    for (size_t i = 0; i < texts.size(); i += per_chunk) {
        const std::vector<std::string> chunk(texts.begin() + i,
                                             texts.begin() + std::min(texts.size(), i + per_chunk));
        const auto encs =
            tools::zero_shot_encodings(tok, chunk, labels, a.hypothesis_template, max_len);
        std::vector<Classification> classes;
        for (size_t k = 0; k < encs.size(); k += a.batch_size) {
            const std::vector<Encoding> part(
                encs.begin() + k, encs.begin() + std::min(encs.size(), k + a.batch_size));
            for (Classification& c : model->classify(PackedBatch::from(part)))
                classes.push_back(std::move(c));
        }
        size_t index = i;
        for (auto& j : tools::zero_shot_results(ids, chunk, labels, classes, a.multi_label)) {
            nlohmann::ordered_json line;
            line["index"] = index++;
            line.update(j);
            print_json_line(line);
        }
        progress.advance(static_cast<int64_t>(chunk.size()));
    }
    progress.clear();
}
}  // namespace

void add_zero_shot(CLI::App& app) {
    auto a = std::make_shared<ZeroShotArgs>();
    auto* sub = app.add_subcommand(
        "zero-shot", "Zero-shot classification into given labels with an NLI model (JSON lines)");
    sub->footer(
        "As Hugging Face's zero-shot-classification pipeline: every (text, hypothesis) pair,\n"
        "the hypothesis being --template with {} replaced by a label, goes through an NLI\n"
        "classifier (a label whose name starts with \"entail\" is required; the contradiction\n"
        "label is the last one if entailment is label 0, else label 0). Scores: the softmax of\n"
        "the labels' entailment logits (they sum to 1); with --multi-label or a single label,\n"
        "each label's probability of entailment against contradiction. One JSON line per text:\n"
        "{\"index\" (0-based),\"sequence\" (the text),\"labels\" (most likely first),\"scores\"}.\n"
        "Pairs longer than the model lose tokens of the text only (truncation only_first).");
    sub->add_option("model", a->model, "NLI model directory (e.g. roberta-large-mnli)")->required();
    sub->add_option("--labels,-l", a->labels,
                    "Candidate labels, comma-separated (blanks around each are dropped)")
        ->required();
    sub->add_option("--template,-t", a->hypothesis_template,
                    "Hypothesis with {} where the label goes (default \"This example is {}.\")");
    sub->add_flag("--multi-label", a->multi_label,
                  "Score each label on its own (entailment vs contradiction), not summing to 1");
    add_texts_option(sub, a->texts, "Texts to classify (default: --file or stdin, one per line)");
    sub->add_option("--file,-f", a->file, "Read texts from this file, one per line");
    add_batch_options(sub, a->batch_size, a->max_length);
    sub->get_option("--batch-size")
        ->description("(text, label) pairs per packed batch (default 32)");
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_zero_shot(*a); });
}

}  // namespace sparq::cli
