// sparq fill-mask MODEL [TEXT...] [--file F] [--top-k K]
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"
#include "tools/results.hpp"

namespace sparq::cli {

namespace {
struct FillMaskArgs {
    std::string model, file, kernels = "auto", precision = "f32", attention = "auto";
    std::vector<std::string> texts;
    size_t top_k = 5, batch_size = 32, max_length = 0;
    int threads = 0;
};

void run_fill_mask(const FillMaskArgs& a) {
    setup_threads(a.threads);
    auto texts = read_texts(a.texts, a.file);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    auto model = load_model(a.model, lo);
    const Tokenizer& tok = require_tokenizer(*model, a.model);
    const size_t max_len = model->max_length(a.max_length);
    Progress progress("fill-mask", static_cast<int64_t>(texts.size()));
    for (size_t i = 0; i < texts.size(); i += a.batch_size) {
        const size_t n = std::min(a.batch_size, texts.size() - i);
        std::vector<Encoding> encs;
        for (size_t k = 0; k < n; ++k)
            encs.push_back(tok.encode(texts[i + k], std::nullopt, max_len));
        const PackedBatch batch = PackedBatch::from(encs);
        std::vector<nlohmann::ordered_json> masks =
            tools::fill_mask_json(tok, encs, model->fill_mask(batch, a.top_k));
        for (size_t k = 0; k < n; ++k) {
            if (masks[k].empty())
                throw Error("text " + std::to_string(i + k + 1) + " has no mask token (" +
                            tok.id_to_token(tok.mask_id()) + ")");
            nlohmann::ordered_json j;
            j["text"] = texts[i + k];
            j["masks"] = std::move(masks[k]);
            print_json_line(j);
        }
        progress.advance(static_cast<int64_t>(n));
    }
}
}  // namespace

void add_fill_mask(CLI::App& app) {
    auto a = std::make_shared<FillMaskArgs>();
    auto* sub =
        app.add_subcommand("fill-mask", "Most likely tokens for masked positions (JSON lines)");
    sub->footer(
        "Masked-token prediction with a checkpoint's masked-LM head (BertForMaskedLM,\n"
        "BertForPreTraining, RobertaForMaskedLM, XLMRobertaForMaskedLM, DistilBertForMaskedLM,\n"
        "MPNetForMaskedLM, ElectraForMaskedLM), as Hugging Face's\n"
        "fill-mask pipeline: one JSON line per text {\"text\",\"masks\":[{\"position\",\n"
        "\"predictions\":[{\"token\",\"token_str\",\"score\",\"sequence\"}]}]}, one entry per "
        "mask\n"
        "token ([MASK] or <mask>) of the text, the --top-k most probable tokens first.");
    sub->add_option("model", a->model, "Model directory")->required();
    add_texts_option(sub, a->texts, "Texts with mask tokens (default: --file or stdin)");
    sub->add_option("--file,-f", a->file, "Read texts from this file, one per line");
    sub->add_option("--top-k", a->top_k, "Predictions per mask (default 5)")
        ->check(CLI::Range(size_t{1}, size_t{1} << 20));
    add_batch_options(sub, a->batch_size, a->max_length);
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_fill_mask(*a); });
}

}  // namespace sparq::cli
