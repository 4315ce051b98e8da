// sparq rerank MODEL --query Q [DOC...] [--file F] [--top-k K] [--raw]
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"
#include "tools/results.hpp"

namespace sparq::cli {

namespace {
struct RerankArgs {
    std::string model, query, file, kernels = "auto", precision = "f32", attention = "auto";
    std::vector<std::string> docs;
    size_t top_k = 0, batch_size = 32, max_length = 0;
    bool raw = false;
    int threads = 0;
};

void run_rerank(const RerankArgs& a) {
    setup_threads(a.threads);
    const auto docs = read_texts(a.docs, a.file);
    check_utf8(a.query, "--query");
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    auto model = load_model(a.model, lo);
    tools::rerank_check(model->config());
    const Tokenizer& tok = require_tokenizer(*model, a.model);
    const size_t max_len = model->max_length(a.max_length);
    std::vector<float> scores;
    Progress progress("rerank", static_cast<int64_t>(docs.size()));
    for (size_t i = 0; i < docs.size(); i += a.batch_size) {
        const size_t n = std::min(a.batch_size, docs.size() - i);
        std::vector<Encoding> encs;
        for (size_t k = 0; k < n; ++k) encs.push_back(tok.encode(a.query, docs[i + k], max_len));
        for (const Classification& c : model->classify(PackedBatch::from(encs)))
            scores.push_back(tools::rerank_score(model->config(), c, a.raw));
        progress.advance(static_cast<int64_t>(n));
    }
    progress.clear();
    size_t rank = 0;
    for (auto& j : tools::rerank_json(scores, &docs, a.top_k)) {
        nlohmann::ordered_json line;
        line["rank"] = ++rank;
        line.update(j);
        print_json_line(line);
    }
}
}  // namespace

void add_rerank(CLI::App& app) {
    auto a = std::make_shared<RerankArgs>();
    auto* sub = app.add_subcommand(
        "rerank", "Rank documents by relevance to a query with a cross-encoder (JSON lines)");
    sub->footer(
        "Scores every (query, document) pair with a cross-encoder (a sequence classifier with\n"
        "1 or 2 labels, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2 or BAAI/bge-reranker-base), as\n"
        "sentence-transformers' CrossEncoder: sigmoid of the logit for one label (--raw: the\n"
        "logit), the probability of label 1 for two (--raw: its log-odds). One JSON line per\n"
        "document, most relevant first: {\"rank\",\"index\" (0-based, input order),\"score\",\n"
        "\"text\"}. Pairs longer than the model are truncated longest-first.");
    sub->add_option("model", a->model, "Model directory")->required();
    sub->add_option("--query,-q", a->query, "The query the documents are ranked for")->required();
    add_texts_option(sub, a->docs, "Documents (default: --file or stdin, one per line)");
    sub->add_option("--file,-f", a->file, "Read documents from this file, one per line");
    sub->add_option("--top-k", a->top_k, "Print only the K most relevant documents (default: all)")
        ->check(CLI::Range(size_t{1}, size_t{1} << 30));
    sub->add_flag("--raw", a->raw, "Scores without the sigmoid / softmax");
    add_batch_options(sub, a->batch_size, a->max_length);
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_rerank(*a); });
}

}  // namespace sparq::cli
