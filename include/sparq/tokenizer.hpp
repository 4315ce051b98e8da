#pragma once
// BERT WordPiece tokenizer with Hugging Face semantics (BertTokenizer / BertTokenizerFast).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sparq {

// One tokenized input: [CLS] a [SEP] (b [SEP]) with segment ids.
struct Encoding {
    std::vector<int32_t> ids;
    std::vector<int32_t> type_ids;
    std::vector<std::string> tokens;
    // Byte range [first, second) of each token in the text it came from ((0, 0) for special
    // tokens added by the template); sequence_ids tells which text (0 = a, 1 = b, -1 = special).
    std::vector<std::pair<uint32_t, uint32_t>> offsets;
    std::vector<int8_t> sequence_ids;
    size_t size() const { return ids.size(); }
};

// How longest_first shares max_length between the two texts of a pair when both must be cut.
// hf_fast (Rust `tokenizers`, BertTokenizerFast, the default of AutoTokenizer): each side gets
// half of the budget and an odd extra token goes to the longer text (to b when equal);
// hf_slow (Python BertTokenizer): tokens are removed one at a time from the longer text, from b
// when equal, so an odd extra token stays with a.
enum class PairTruncation { hf_fast, hf_slow };

struct TokenizerOptions {
    bool do_lower_case = true;         // lower-case and strip accents
    bool tokenize_chinese_chars = true;
    std::optional<bool> strip_accents;  // unset: follows do_lower_case (as HF)
    size_t max_length = 512;            // including special tokens
    bool clean_text = true;             // drop control characters, map whitespace to ' '
    PairTruncation pair_truncation = PairTruncation::hf_fast;
};

class Tokenizer {
public:
    // Reads tokenizer.json (WordPiece model) or vocab.txt (+ tokenizer_config.json) from a model
    // directory; throws sparq::Error if neither is usable.
    static Tokenizer from_dir(const std::string& dir);
    // From a vocab.txt file with explicit options.
    static Tokenizer from_vocab_file(const std::string& path, const TokenizerOptions& opts);
    // From a tokenizer.json file; max_length from its "truncation" block, else 512.
    static Tokenizer from_tokenizer_json(const std::string& path);

    // Tokenizes one text or a pair, adds special tokens, truncates to max_length
    // (longest-first for pairs). Throws sparq::Error on invalid UTF-8.
    Encoding encode(std::string_view text, std::optional<std::string_view> pair = std::nullopt,
                    std::optional<size_t> max_length = std::nullopt) const;
    // encode() for each text (or each (texts[i], pairs[i]) when pairs is not empty).
    std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                       const std::vector<std::string>& pairs = {},
                                       std::optional<size_t> max_length = std::nullopt) const;
    // Word pieces without special tokens or truncation.
    std::vector<std::string> tokenize(std::string_view text) const;

    int32_t token_to_id(const std::string& token) const;  // -1 if absent
    const std::string& id_to_token(int32_t id) const;     // throws sparq::Error if out of range
    size_t vocab_size() const;
    const TokenizerOptions& options() const;
    int32_t cls_id() const;
    int32_t sep_id() const;
    int32_t pad_id() const;   // -1 if the vocabulary has no pad token
    int32_t unk_id() const;
    int32_t mask_id() const;  // -1 if the vocabulary has no mask token

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    struct Impl;

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace sparq
