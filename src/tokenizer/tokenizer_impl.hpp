#pragma once
// Internal state of sparq::Tokenizer, shared by the loaders (tokenizer_json.cpp) and the
// encoder (tokenizer.cpp).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sparq/tokenizer.hpp"
#include "tokenizer/basic_tokenizer.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/vocab.hpp"
#include "tokenizer/wordpiece.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace sparq {

// One element of a post-processing template: a special token or one of the input texts.
struct TemplateItem {
    int sequence = -1;  // 0 = text a, 1 = text b, -1 = special token `id`
    int32_t id = -1;
    int32_t type_id = 0;
};

// Which subword model tokenize_ids runs.
enum class ModelKind { wordpiece, bpe, sentencepiece };

// Byte-level BPE settings (HF ByteLevel pre-tokenizer and post-processor).
struct ByteLevelConfig {
    bool add_prefix_space = false;  // prepend ' ' to each text segment not starting with one
    bool trim_offsets = false;      // drop the 'Ġ' spaces at token edges from the offsets
    bool nfc = false;               // an NFC normalizer first (GPT-NeoX's, ModernBERT's)
};

struct Tokenizer::Impl {
    ModelKind kind = ModelKind::wordpiece;
    TokenizerOptions opts;
    tok::NormalizerConfig norm;
    tok::Vocab vocab;
    tok::WordPieceConfig wordpiece;
    tok::BpeModel bpe;
    ByteLevelConfig byte_level;
    // SentencePiece model (ModelKind::sentencepiece, tokenizer/sentencepiece.cpp).
    std::shared_ptr<const sentencepiece::SentencePieceProcessor> spm;
    int32_t spm_id_offset = 1;  // sparq id of SentencePiece id i: i + offset (XLM-R 1, DeBERTa 0)
    // The model for the segments after the first of a text, when it differs: a tokenizer.json
    // Metaspace with prepend_scheme "first" prepends "▁" only at the start of the text.
    std::shared_ptr<const sentencepiece::SentencePieceProcessor> spm_later;
    // AlbertTokenizer's text preprocessing before SentencePiece (remove_space, `` and '' as ",
    // NFKD without combining marks unless keep_accents, lowercase) and its split of a piece
    // ending in digit + comma; special tokens without capitals (<unk>, <pad>) also match in any
    // case (HF lowercases the text around the special tokens first).
    struct Albert {
        bool on = false, remove_space = true, keep_accents = false, lowercase = true;
    } albert;
    // Tokens matched verbatim in the input before normalization (HF added/special tokens).
    std::vector<std::pair<std::string, int32_t>> added;
    // Added tokens with "normalized": true, matched in the normalized text; finalize() derives
    // normalized_added from them.
    std::vector<std::pair<std::string, int32_t>> added_after_normalization;
    std::vector<tok::NormalizedAddedToken> normalized_added;
    bool added_first_byte[256] = {};
    // Added tokens that also take the whitespace before (lstrip) / after (rstrip) them, as HF's
    // AddedToken flags; honoured for BPE and SentencePiece models only (RoBERTa's and XLM-R's
    // <mask> is lstrip).
    std::vector<int32_t> lstrip_ids, rstrip_ids;
    std::vector<TemplateItem> single_template;
    std::vector<TemplateItem> pair_template;
    int32_t cls = -1, sep = -1, pad = -1, unk = -1, mask = -1;
    // The file(s) it was read from (names without the directory) and, for SentencePiece read
    // from a tokenizer.json, "Unigram": description()'s parts.
    std::string source, model_name;

    // Derives norm from opts and indexes the added tokens; call once after filling the fields.
    void finalize();
    // Subword ids of text (valid UTF-8) and their byte ranges in text, without templates.
    void tokenize_ids(std::string_view text, std::vector<int32_t>& ids,
                      std::vector<std::pair<uint32_t, uint32_t>>& offsets) const;
    // Byte-level BPE ids of one segment [begin, end) of text between added tokens.
    void bpe_segment(std::string_view text, size_t begin, size_t end, std::vector<int32_t>& ids,
                     std::vector<std::pair<uint32_t, uint32_t>>& offsets) const;
    // Whether text at pos holds the added token `content` in another case, as ALBERT allows.
    bool lowercase_match(std::string_view text, size_t pos, const std::string& content) const;
    // The same for AlbertTokenizer (albert.on; sentencepiece.cpp).
    void albert_segment(std::string_view text, size_t begin, size_t end, std::vector<int32_t>& ids,
                        std::vector<std::pair<uint32_t, uint32_t>>& offsets) const;
    // SentencePiece ids of one segment [begin, end) of text between added tokens.
    void spm_segment(std::string_view text, size_t begin, size_t end, std::vector<int32_t>& ids,
                     std::vector<std::pair<uint32_t, uint32_t>>& offsets) const;
};

// Whose ids and templates a SentencePiece model gets: XLMRobertaTokenizer's (fairseq specials,
// piece i at i + 1, <s> A </s></s> B </s>) or DebertaV2Tokenizer's (piece i at i, [MASK] added
// last unless a piece, [CLS] A [SEP] B [SEP] with type ids 0 / 1) or AlbertTokenizer's (piece i
// at i, <pad> <unk> [CLS] [SEP] [MASK] pieces of the model, BERT's templates, Impl::Albert).
enum class SpmIds { xlm_roberta, deberta, albert };
// A SentencePiece model file (sentencepiece.bpe.model, spm.model); throws sparq::Error if the
// file is not a SentencePiece model (or, for DeBERTa, lacks its special pieces).
std::unique_ptr<Tokenizer::Impl> impl_from_sentencepiece(const std::string& path, SpmIds ids);

// A tokenizer.json Unigram model (Hugging Face's conversion of a SentencePiece model) for
// libsentencepiece (tokenizer/unigram.cpp): the pieces in id order with their scores and kinds
// (SentencePiece's piece types), the Precompiled normalizer's character map (bytes; empty: none)
// and whether runs of whitespace are squeezed and the ends stripped.
struct UnigramSpec {
    enum class Kind : uint8_t { normal = 1, unknown = 2, control = 3, byte = 6 };
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<Kind> kinds;
    std::string charsmap;
    bool remove_extra_whitespaces = false, byte_fallback = false;
};
// The SentencePiece model of u, "▁" prepended to each text when add_dummy_prefix; throws
// sparq::Error naming `where` if libsentencepiece refuses it.
std::shared_ptr<sentencepiece::SentencePieceProcessor> spm_from_unigram(const UnigramSpec& u,
                                                                        bool add_dummy_prefix,
                                                                        const std::string& where);
// Whether a SentencePiece precompiled character map can be read without leaving its bytes
// (libsentencepiece does not check; unigram.cpp). check_model_charsmap: the same for the map in a
// serialized ModelProto (a .model file), throwing sparq::Error naming `where`.
bool charsmap_is_sound(std::string_view blob);
void check_model_charsmap(std::string_view model_proto, const std::string& where);
// The bytes of standard base64 text (padding optional); throws sparq::Error naming `what`.
std::string base64_decode(std::string_view s, const std::string& what);

// Applies HF longest_first truncation so that len_a + len_b <= budget (len_b unused if !has_pair).
void truncate_lengths(size_t& len_a, size_t& len_b, bool has_pair, size_t budget,
                      PairTruncation rule);

// RoBERTa templates: <s> A </s> and <s> A </s></s> B </s>, all type ids 0.
void set_roberta_templates(Tokenizer::Impl& impl, int32_t cls, int32_t sep);

// BERT templates: [CLS] A [SEP] and [CLS] A [SEP] B [SEP] with type ids 0 / 1.
void set_bert_templates(Tokenizer::Impl& impl, int32_t cls, int32_t sep);

}  // namespace sparq
