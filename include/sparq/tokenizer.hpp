#pragma once
// BERT WordPiece and byte-level BPE (RoBERTa, GPT-2) tokenizers with Hugging Face semantics
// (BertTokenizerFast, RobertaTokenizerFast, GPT2TokenizerFast), and SentencePiece vocabularies
// (XLM-R) as XLMRobertaTokenizer.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sparq {

// One tokenized input: [CLS] a [SEP] (b [SEP]) with segment ids (RoBERTa: <s> a </s>(</s> b </s>)).
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

// How longest_first shares max_length between the two texts of a pair. Both rules cut only the
// longer text while the shorter one fits in half of the budget; when both must be cut they get
// half each, and they differ only in who keeps an odd extra token:
// hf_fast (Rust `tokenizers`, BertTokenizerFast, what AutoTokenizer gives): the longer text
// (b when equal); hf_slow (Python BertTokenizer, removing one token at a time from the longer
// text, from b on ties): always a.
enum class PairTruncation { hf_fast, hf_slow };

// Which text of a pair encode() shortens when the pair is longer than max_length: longest_first
// (HF truncation=True; shared as PairTruncation says) or only_first (HF truncation="only_first":
// the first text alone, as HF's zero-shot pipeline keeps the hypothesis whole).
enum class Truncation { longest_first, only_first };

struct TokenizerOptions {
    bool do_lower_case = true;  // lower-case and strip accents
    bool tokenize_chinese_chars = true;
    std::optional<bool> strip_accents;  // unset: follows do_lower_case (as HF)
    size_t max_length = 512;            // including special tokens
    bool clean_text = true;             // drop control characters, map whitespace to ' '
    PairTruncation pair_truncation = PairTruncation::hf_fast;
};

// Matches HF BertTokenizerFast / RobertaTokenizerFast / GPT2TokenizerFast token for token, with
// these known corner-case limits: Unicode tables are utf8proc's (Unicode 15), so code points
// assigned after the model's tokenizer version may be classified differently; the single_word
// flag of added tokens is ignored, and lstrip/rstrip are honoured for BPE models only.
// Const methods are safe to call from several threads at once.
class Tokenizer {
  public:
    // Reads sentencepiece.bpe.model (XLM-R: SentencePiece through libsentencepiece, with
    // XLMRobertaTokenizer's ids and templates), else tokenizer.json (WordPiece or byte-level BPE
    // model), else vocab.txt, else vocab.json + merges.txt (each + tokenizer_config.json /
    // special_tokens_map.json) from a model directory; throws sparq::Error if none is usable.
    // vocab.json vocabularies with the cls and sep tokens (<s>, </s>) get RoBERTa's template,
    // others (GPT-2) no special tokens.
    static Tokenizer from_dir(const std::string& dir);
    // True if dir holds the files from_dir reads (tokenizer.json, vocab.txt, or vocab.json and
    // merges.txt); for callers that treat the tokenizer as optional.
    static bool files_exist(const std::string& dir);
    // From a vocab.txt file with explicit options.
    static Tokenizer from_vocab_file(const std::string& path, const TokenizerOptions& opts);
    // From a tokenizer.json file; max_length from its "truncation" block, else 512.
    static Tokenizer from_tokenizer_json(const std::string& path);

    // Tokenizes one text or a pair, adds special tokens, truncates to max_length
    // (longest-first for pairs, or only the first text). Throws sparq::Error on invalid UTF-8,
    // and with only_first when the second text and the special tokens leave no room for a token
    // of the first (where HF's fast tokenizer fails with "sequence to truncate too short").
    Encoding encode(std::string_view text, std::optional<std::string_view> pair = std::nullopt,
                    std::optional<size_t> max_length = std::nullopt,
                    Truncation truncation = Truncation::longest_first) const;
    // Question-answering windows, as HF tokenizer(text, pair, truncation="only_second",
    // max_length, stride, return_overflowing_tokens=True) with a fast tokenizer: pair is cut
    // into windows of max_length - (template) - (tokens of text) tokens, each starting `stride`
    // tokens before the previous one ended, and each encoded with the whole text. Offsets
    // point into text / pair. Throws sparq::Error if text leaves no room or stride is too big.
    std::vector<Encoding> encode_windows(std::string_view text, std::string_view pair,
                                         size_t max_length, size_t stride) const;
    // encode() for each text (or each (texts[i], pairs[i]) when pairs is not empty).
    std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                       const std::vector<std::string>& pairs = {},
                                       std::optional<size_t> max_length = std::nullopt) const;
    // Text of ids as HF decode(): tokens joined by spaces, "##" pieces glued to the previous
    // token (byte-level BPE: tokens mapped back to bytes, invalid UTF-8 as U+FFFD), then HF's
    // clean_up_tokenization (" ." -> ".", " n't" -> "n't", ...). Throws sparq::Error on an id
    // outside the vocabulary.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false,
                       bool clean_up_tokenization_spaces = true) const;
    // Word pieces (BPE: byte-level tokens such as "Ġare") without special tokens or truncation.
    std::vector<std::string> tokenize(std::string_view text) const;

    int32_t token_to_id(const std::string& token) const;  // -1 if absent
    const std::string& id_to_token(int32_t id) const;     // throws sparq::Error if out of range
    size_t vocab_size() const;
    const TokenizerOptions& options() const;
    int32_t cls_id() const;  // RoBERTa: <s>; -1 if the tokenizer has none (GPT-2)
    int32_t sep_id() const;  // RoBERTa: </s>; -1 if none
    int32_t pad_id() const;  // -1 if the vocabulary has no pad token
    int32_t unk_id() const;
    int32_t mask_id() const;  // -1 if the vocabulary has no mask token
    // The model's continuing-subword prefix: "##" for WordPiece (BERT, DistilBERT, ELECTRA,
    // MPNet), "" for byte-level BPE and SentencePiece, whose word pieces do not mark continuation.
    const std::string& continuing_subword_prefix() const;
    // What was loaded, for `sparq inspect`, serve's /info and Python's config: the subword model,
    // the file it came from, its size and its own truncation length (the model may cut shorter),
    // e.g. "SentencePiece Unigram (tokenizer.json), 250002 tokens, model_max_length 512".
    std::string description() const;

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    struct Impl;

  private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace sparq
