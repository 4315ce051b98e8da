// sparq classify MODEL [TEXT...] [--file F] [--pair TEXT] [--top-k K]
//                | MODEL --question Q --context C   (question-answering models)
#include <algorithm>
#include <cmath>
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"

namespace sparq::cli {

namespace {
struct ClassifyArgs {
    std::string model, file, pair, question, context, kernels = "auto", precision = "f32",
                                                      attention = "auto";
    std::vector<std::string> texts;
    size_t top_k = 0, batch_size = 32, max_length = 0;
    int threads = 0;
};

std::vector<float> softmax(const std::vector<float>& x) {
    std::vector<float> p(x.size());
    if (x.empty()) return p;
    float m = *std::max_element(x.begin(), x.end()), sum = 0;
    for (size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp(x[i] - m);
    for (auto& v : p) v /= sum;
    return p;
}

// Word pieces back to text: "##" pieces join the previous piece, others are space-separated.
std::string detokenize(const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& p : pieces) {
        if (p.rfind("##", 0) == 0 && !out.empty())
            out += p.substr(2);
        else
            out += (out.empty() ? "" : " ") + p;
    }
    return out;
}

bool is_special(const Tokenizer& tok, int32_t id) {
    return id == tok.cls_id() || id == tok.sep_id() || id == tok.pad_id();
}

void run_qa(const ClassifyArgs& a, const Model& model, const Tokenizer& tok, size_t max_len) {
    check_utf8(a.question, "--question");
    check_utf8(a.context, "--context");
    Encoding e = tok.encode(a.question, std::string_view(a.context), max_len);
    PackedBatch batch = PackedBatch::from({e});
    Span s = model.answer_spans(batch).at(0);
    std::vector<std::string> pieces;
    for (int64_t i = s.start; i <= s.end && i < static_cast<int64_t>(e.size()); ++i)
        if (!is_special(tok, e.ids[i])) pieces.push_back(e.tokens[i]);
    nlohmann::ordered_json j;
    j["question"] = a.question;
    j["context"] = a.context;
    j["answer"] = detokenize(pieces);
    j["score"] = json_float(s.score);
    j["start"] = s.start;
    j["end"] = s.end;
    print_json_line(j);
}

void run_classify(const ClassifyArgs& a, bool has_pair, bool has_qa) {
    setup_threads(a.threads);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    require_model_dir(a.model);
    auto model = load_model(a.model, lo);
    const ModelConfig& cfg = model->config();
    const std::string arch =
        cfg.architectures.empty() ? "no architectures in config.json" : cfg.architectures[0];
    const Tokenizer& tok = require_tokenizer(*model, a.model);
    const size_t max_len = effective_max_length(*model, tok, a.max_length);

    if (cfg.task == Task::base)
        throw Error("model '" + a.model + "' has no classification or question-answering head (" +
                    arch + "); use sparq embed for its hidden states");
    if (cfg.task == Task::question_answering) {
        if (!has_qa) throw UsageError("question-answering model: give --question Q --context C");
        run_qa(a, *model, tok, max_len);
        return;
    }
    if (has_qa)
        throw Error("model '" + a.model + "' has no question-answering head (" + arch +
                    "); --question/--context need a ...ForQuestionAnswering model");
    if (has_pair) check_utf8(a.pair, "--pair");
    auto texts = read_texts(a.texts, a.file);
    const bool regression = cfg.problem_type == "regression" || cfg.num_labels == 1;
    Progress progress("classify", static_cast<int64_t>(texts.size()));
    for (size_t i = 0; i < texts.size(); i += a.batch_size) {
        const size_t n = std::min(a.batch_size, texts.size() - i);
        std::vector<Encoding> encs;
        for (size_t k = 0; k < n; ++k)
            encs.push_back(tok.encode(
                texts[i + k], has_pair ? std::optional<std::string_view>(a.pair) : std::nullopt,
                max_len));
        PackedBatch batch = PackedBatch::from(encs);
        if (cfg.task == Task::sequence_classification) {
            auto res = model->classify(batch);
            for (size_t k = 0; k < n; ++k) {
                const Classification& c = res[k];
                nlohmann::ordered_json j;
                j["text"] = texts[i + k];
                if (has_pair) j["pair"] = a.pair;
                if (regression) {
                    j["score"] = json_float(c.scores.empty() ? 0.0f : c.scores[0]);
                } else {
                    j["label"] = c.label;
                    j["score"] = json_float(c.scores.at(c.label_id));
                    std::vector<size_t> order(c.scores.size());
                    for (size_t l = 0; l < order.size(); ++l) order[l] = l;
                    std::stable_sort(order.begin(), order.end(),
                                     [&](size_t x, size_t y) { return c.scores[x] > c.scores[y]; });
                    if (a.top_k && a.top_k < order.size()) order.resize(a.top_k);
                    nlohmann::ordered_json scores;
                    for (size_t l : order)
                        scores[cfg.label(static_cast<int64_t>(l))] = json_float(c.scores[l]);
                    j["scores"] = std::move(scores);
                }
                print_json_line(j);
            }
        } else {
            auto tags = model->tag_tokens(batch);
            for (size_t k = 0; k < n; ++k) {
                nlohmann::ordered_json toks = nlohmann::ordered_json::array();
                for (size_t t = 0; t < encs[k].size(); ++t) {
                    if (is_special(tok, encs[k].ids[t])) continue;
                    auto p = softmax(tags[k].logits.at(t));
                    int64_t lab = tags[k].label_ids.at(t);
                    toks.push_back({{"token", encs[k].tokens[t]},
                                    {"label", cfg.label(lab)},
                                    {"score", json_float(p.at(static_cast<size_t>(lab)))}});
                }
                nlohmann::ordered_json j;
                j["text"] = texts[i + k];
                if (has_pair) j["pair"] = a.pair;
                j["tokens"] = std::move(toks);
                print_json_line(j);
            }
        }
        progress.advance(static_cast<int64_t>(n));
    }
}
}  // namespace

void add_classify(CLI::App& app) {
    auto a = std::make_shared<ClassifyArgs>();
    auto* sub = app.add_subcommand(
        "classify", "Sequence/token classification or question answering (JSON lines)");
    sub->footer(
        "Run a model's task head. Sequence classification: one JSON line per text\n"
        "{\"text\",\"label\",\"score\",\"scores\":{label:probability}}. Token classification:\n"
        "{\"text\",\"tokens\":[{\"token\",\"label\",\"score\"}]} (special tokens left out). "
        "Question\n"
        "answering: --question Q --context C gives {\"answer\",\"score\",\"start\",\"end\"} (score "
        "=\n"
        "start + end logit; answer text rebuilt from word pieces, best effort). Texts are\n"
        "truncated to the model's maximum length.");
    sub->add_option("model", a->model, "Model directory")->required();
    sub->add_option("texts", a->texts, "Texts (default: --file or stdin, one per line)");
    sub->add_option("--file,-f", a->file, "Read texts from this file, one per line");
    auto* pair = sub->add_option("--pair", a->pair, "Second segment, paired with every text");
    sub->add_option("--top-k", a->top_k,
                    "Keep the K most probable labels in \"scores\" (default: all)")
        ->check(CLI::Range(size_t(1), size_t(1) << 20));
    auto* q = sub->add_option("--question", a->question, "Question (question-answering models)");
    auto* c = sub->add_option("--context", a->context,
                              "Context holding the answer (question-answering models)");
    q->needs(c);
    c->needs(q);
    sub->add_option("--batch-size", a->batch_size, "Texts per packed batch (default 32)")
        ->check(CLI::Range(size_t(1), size_t(1) << 20));
    sub->add_option("--max-length", a->max_length,
                    "Truncate to N tokens (default: the model's maximum)")
        ->check(CLI::Range(size_t(2), size_t(1) << 20));
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a, pair, q] { run_classify(*a, pair->count() > 0, q->count() > 0); });
}

}  // namespace sparq::cli
