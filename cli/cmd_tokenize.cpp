// sparq tokenize MODEL [TEXT...] [--file F] [--pair TEXT] [--max-length N]
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "common.hpp"
#include "sparq/error.hpp"
#include "sparq/tokenizer.hpp"

namespace sparq::cli {

namespace {
struct TokenizeArgs {
    std::string model, file, pair;
    std::vector<std::string> texts;
    size_t max_length = 0;
};

// Tokens the model's positions hold, from DIR/config.json: ModelConfig::max_tokens() when sparq
// can run the config (so RoBERTa's pad + 1 offset applies, as in the commands that run the
// model), else its bare max_position_embeddings if usable (a tokenizer-only directory, or a
// config sparq cannot run, still tokenizes).
std::optional<size_t> config_positions(const std::string& dir) {
    const std::filesystem::path path = std::filesystem::path(dir) / "config.json";
    try {
        return static_cast<size_t>(std::max<int64_t>(ModelConfig::from_file(path.string()).max_tokens(), 2));
    } catch (const Error&) {
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    auto it = j.is_object() ? j.find("max_position_embeddings") : j.end();
    if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() < 2) return std::nullopt;
    return static_cast<size_t>(it->get<uint64_t>());
}

void run_tokenize(const TokenizeArgs& a, bool has_pair) {
    require_model_dir(a.model);
    const std::string dir = SentenceEmbeddingConfig::model_dir(a.model);  // ST: 0_Transformer/
    Tokenizer tok = Tokenizer::from_dir(dir);
    if (has_pair) check_utf8(a.pair, "--pair");
    auto texts = read_texts(a.texts, a.file);
    // The truncation length of the commands that run the model (Model::max_length).
    size_t max_len = a.max_length ? a.max_length : tok.options().max_length;
    if (auto positions = config_positions(dir)) max_len = std::min(max_len, *positions);
    Progress progress("tokenize", static_cast<int64_t>(texts.size()), 1000);
    for (const auto& t : texts) {
        std::optional<std::string_view> pair;
        if (has_pair) pair = a.pair;
        Encoding e = tok.encode(t, pair, max_len);
        nlohmann::ordered_json j;
        j["text"] = t;
        if (has_pair) j["pair"] = a.pair;
        j["tokens"] = e.tokens;
        j["ids"] = e.ids;
        j["type_ids"] = e.type_ids;
        print_json_line(j);
        progress.advance();
    }
}
}  // namespace

void add_tokenize(CLI::App& app) {
    auto a = std::make_shared<TokenizeArgs>();
    auto* sub =
        app.add_subcommand("tokenize", "Tokenize texts (JSON lines: tokens, ids, type_ids)");
    sub->footer(
        "Tokenize texts with a model's tokenizer; one JSON line per text:\n"
        "{\"text\",\"tokens\",\"ids\",\"type_ids\"}. Texts come from arguments, --file (one per\n"
        "line) or stdin. Texts longer than the maximum length are truncated (longest-first for\n"
        "pairs), special tokens included.");
    sub->add_option("model", a->model,
                    "Model directory (tokenizer.json, vocab.txt, vocab.json + merges.txt or a "
                    "SentencePiece .model)")
        ->required();
    add_texts_option(sub, a->texts, "Texts to tokenize (default: --file or stdin)");
    sub->add_option("--file,-f", a->file, "Read texts from this file, one per line");
    auto* pair = sub->add_option("--pair", a->pair, "Second segment, paired with every text");
    sub->add_option("--max-length", a->max_length,
                    "Truncate to N tokens including [CLS]/[SEP] (default: the tokenizer's, 512; capped by "
                    "config.json max_position_embeddings)")
        ->check(CLI::Range(size_t(2), size_t(1) << 20));
    sub->callback([a, pair] { run_tokenize(*a, pair->count() > 0); });
}

}  // namespace sparq::cli
