// sparq classify MODEL [TEXT...] [--file F] [--pair TEXT] [--top-k K]
//                [--aggregation none|simple|first|average|max]   (token-classification models)
//                | MODEL --question Q --context C   (question-answering models)
//                | MODEL [--prompt P] CHOICE...     (multiple-choice models)
#include <algorithm>
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"
#include "tools/multiple_choice.hpp"
#include "tools/results.hpp"

namespace sparq::cli {

namespace {
struct ClassifyArgs {
    std::string model, file, pair, question, context, prompt,
        kernels = "auto", precision = "f32", attention = "auto", aggregation = "simple";
    std::vector<std::string> texts;
    size_t top_k = 0, batch_size = 32, max_length = 0, doc_stride = 0, max_answer_len = 15;
    int threads = 0;
};

void run_qa(const ClassifyArgs& a, const Model& model, const Tokenizer& tok, size_t max_len) {
    check_utf8(a.question, "--question");
    check_utf8(a.context, "--context");
    // A context longer than the model takes is read in overlapping windows (as HF's pipeline).
    const std::vector<Encoding> windows =
        tools::qa_windows(tok, a.question, a.context, max_len, a.doc_stride);
    nlohmann::ordered_json j;
    j["question"] = a.question;
    j["context"] = a.context;
    j.update(tools::best_answer_json(
        tok, windows,
        model.answer_spans(PackedBatch::from(windows), static_cast<int64_t>(a.max_answer_len)),
        a.context));
    print_json_line(j);
}

// One question: the choices (texts) with the prompt, one JSON line (tools::choice_json).
void run_choice(const ClassifyArgs& a, bool has_prompt, const Model& model, const Tokenizer& tok,
                size_t max_len) {
    if (has_prompt) check_utf8(a.prompt, "--prompt");
    const auto choices = read_texts(a.texts, a.file);
    tools::multiple_choice_check(model.config(), choices.size());
    const std::optional<std::string> prompt =
        has_prompt ? std::optional<std::string>(a.prompt) : std::nullopt;
    const std::vector<Encoding> encs = tools::choice_encodings(tok, prompt, choices, max_len);
    std::vector<float> logits;
    for (size_t i = 0; i < encs.size(); i += a.batch_size) {
        const size_t n = std::min(a.batch_size, encs.size() - i);
        const std::vector<Encoding> part(encs.begin() + i, encs.begin() + i + n);
        for (float x : model.choice_logits(PackedBatch::from(part))) logits.push_back(x);
    }
    nlohmann::ordered_json j;
    if (prompt) j["prompt"] = *prompt;
    j["choices"] = choices;
    j.update(tools::choice_json(choices, logits));
    print_json_line(j);
}

void run_classify(const ClassifyArgs& a, bool has_pair, bool has_qa, bool has_prompt) {
    setup_threads(a.threads);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    require_model_dir(a.model);
    auto model = load_model(a.model, lo);
    const ModelConfig& cfg = model->config();
    const std::string arch =
        cfg.architectures.empty() ? "no architectures in config.json" : cfg.architectures[0];
    const Tokenizer& tok = require_tokenizer(*model, a.model);
    const size_t max_len = model->max_length(a.max_length);

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
    if (cfg.task == Task::multiple_choice) {
        if (has_pair)
            throw UsageError(
                "multiple-choice model: give the choices as texts and the text "
                "they follow with --prompt (not --pair)");
        run_choice(a, has_prompt, *model, tok, max_len);
        return;
    }
    if (has_prompt)
        throw Error("model '" + a.model + "' has no multiple-choice head (" + arch +
                    "); --prompt needs a ...ForMultipleChoice model");
    if (has_pair) check_utf8(a.pair, "--pair");
    const tools::Aggregation aggregation = tools::aggregation_from_name(a.aggregation);
    auto texts = read_texts(a.texts, a.file);
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
                nlohmann::ordered_json j;
                j["text"] = texts[i + k];
                if (has_pair) j["pair"] = a.pair;
                j.update(tools::classification_json(cfg, res[k], a.top_k));
                print_json_line(j);
            }
        } else {
            auto tags = model->tag_tokens(batch);
            for (size_t k = 0; k < n; ++k) {
                nlohmann::ordered_json j;
                j["text"] = texts[i + k];
                if (has_pair) j["pair"] = a.pair;
                j["tokens"] = tools::token_tags_json(cfg, tok, encs[k], tags[k]);
                j["entities"] = tools::token_entities_json(cfg, tok, encs[k], tags[k], texts[i + k],
                                                           a.pair, aggregation);
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
        "{\"text\",\"tokens\":[{\"token\",\"label\",\"score\"}],\"entities\":[..]} (special tokens "
        "left\n"
        "out; entities as Hugging Face's pipeline with --aggregation: simple groups word pieces,\n"
        "first/average/max label whole words first, none lists the non-O tokens). Question\n"
        "answering: --question Q --context C gives "
        "{\"answer\",\"score\",\"probability\",\"start\",\n"
        "\"end\"} (score = start + end logit, probability = HF's pipeline score; the answer is\n"
        "the context's text under the span); a context longer than the maximum length is read\n"
        "in windows overlapping by --doc-stride tokens and the most probable span of all wins\n"
        "(\"window\", \"windows\" added). Multiple choice (...ForMultipleChoice models): the\n"
        "texts are one question's choices, each paired with --prompt P (alone without it); one\n"
        "line {\"prompt\",\"choices\",\"choice\",\"index\",\"score\",\"scores\",\"logits\"} with\n"
        "the softmax over the choices' logits, as Hugging Face's. Texts are truncated to the\n"
        "model's maximum length (pairs longest-first).");
    sub->add_option("model", a->model, "Model directory")->required();
    add_texts_option(sub, a->texts, "Texts (default: --file or stdin, one per line)");
    sub->add_option("--file,-f", a->file, "Read texts from this file, one per line");
    auto* pair = sub->add_option("--pair", a->pair, "Second segment, paired with every text");
    sub->add_option("--top-k", a->top_k,
                    "Keep the K most probable labels in \"scores\" (default: all)")
        ->check(CLI::Range(size_t(1), size_t(1) << 20));
    sub->add_option("--aggregation", a->aggregation,
                    "Token classification: how entities are built, as Hugging Face's "
                    "aggregation_strategy (default simple)")
        ->check(CLI::IsMember(tools::aggregation_names()));
    auto* q = sub->add_option("--question", a->question, "Question (question-answering models)");
    auto* c = sub->add_option("--context", a->context,
                              "Context holding the answer (question-answering models)");
    q->needs(c);
    c->needs(q);
    auto* prompt =
        sub->add_option("--prompt", a->prompt,
                        "Multiple-choice models: the text every choice (the texts) is paired with");
    prompt->excludes(q);
    sub->add_option("--doc-stride", a->doc_stride,
                    "Overlap of a long context's windows in tokens (default: min(128, half a "
                    "window))")
        ->check(CLI::Range(size_t{1}, size_t{1} << 20))
        ->needs(q);
    sub->add_option("--max-answer-len", a->max_answer_len,
                    "Longest answer in tokens (default 15, as Hugging Face's pipeline)")
        ->check(CLI::Range(size_t{1}, size_t{1} << 20))
        ->needs(q);
    add_batch_options(sub, a->batch_size, a->max_length);
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a, pair, q, prompt] {
        run_classify(*a, pair->count() > 0, q->count() > 0, prompt->count() > 0);
    });
}

}  // namespace sparq::cli
