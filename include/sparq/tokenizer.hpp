#pragma once
// BERT WordPiece tokenizer with Hugging Face semantics (BertTokenizer / BertTokenizerFast).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sparq {

// One tokenized input: [CLS] a [SEP] (b [SEP]) with segment ids.
struct Encoding {
    std::vector<int32_t> ids;
    std::vector<int32_t> type_ids;
    std::vector<std::string> tokens;
    size_t size() const { return ids.size(); }
};

struct TokenizerOptions {
    bool do_lower_case = true;         // lower-case and strip accents
    bool tokenize_chinese_chars = true;
    std::optional<bool> strip_accents;  // unset: follows do_lower_case (as HF)
    size_t max_length = 512;            // including special tokens
};

class Tokenizer {
public:
    // Reads tokenizer.json (WordPiece model) or vocab.txt (+ tokenizer_config.json) from a model
    // directory; throws sparq::Error if neither is usable.
    static Tokenizer from_dir(const std::string& dir);
    // From a vocab.txt file with explicit options.
    static Tokenizer from_vocab_file(const std::string& path, const TokenizerOptions& opts);

    // Tokenizes one text or a pair, adds special tokens, truncates to max_length
    // (longest-first for pairs). Throws sparq::Error on invalid UTF-8.
    Encoding encode(std::string_view text, std::optional<std::string_view> pair = std::nullopt,
                    std::optional<size_t> max_length = std::nullopt) const;
    // Word pieces without special tokens or truncation.
    std::vector<std::string> tokenize(std::string_view text) const;

    int32_t token_to_id(const std::string& token) const;  // -1 if absent
    const std::string& id_to_token(int32_t id) const;
    size_t vocab_size() const;
    const TokenizerOptions& options() const;
    int32_t cls_id() const;
    int32_t sep_id() const;
    int32_t pad_id() const;
    int32_t unk_id() const;

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace sparq
