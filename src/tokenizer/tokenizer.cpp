#include "sparq/tokenizer.hpp"

#include <algorithm>
#include <cctype>

#include "sparq/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace sparq {
namespace {

void check_utf8(std::string_view text, const char* what) {
    if (text.size() > UINT32_MAX)
        throw Error(std::string("input ") + what + " of " + std::to_string(text.size()) +
                    " bytes is too long, expected at most 4 GiB");
    const size_t bad = tok::find_invalid_utf8(text);
    if (bad != tok::utf8_valid)
        throw Error(std::string("invalid UTF-8 in input ") + what + " at byte " +
                    std::to_string(bad));
}

// Start of the whitespace run that ends at end (not before begin), in valid UTF-8.
size_t skip_whitespace_back(std::string_view text, size_t begin, size_t end) {
    while (end > begin) {
        size_t p = end - 1;
        while (p > begin && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
        size_t q = p;
        if (!tok::is_whitespace(tok::decode_utf8(text, q))) break;
        end = p;
    }
    return end;
}

// End of the whitespace run that starts at begin, in valid UTF-8.
size_t skip_whitespace(std::string_view text, size_t begin) {
    while (begin < text.size()) {
        size_t q = begin;
        if (!tok::is_whitespace(tok::decode_utf8(text, q))) break;
        begin = q;
    }
    return begin;
}

struct Scratch {
    tok::NormalizeScratch norm;
    tok::Words words;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
};

}  // namespace

void Tokenizer::Impl::finalize() {
    norm.lowercase = opts.do_lower_case;
    norm.strip_accents = opts.strip_accents.value_or(opts.do_lower_case);
    norm.handle_chinese_chars = opts.tokenize_chinese_chars;
    norm.clean_text = opts.clean_text;
    std::fill(std::begin(added_first_byte), std::end(added_first_byte), false);
    added.erase(
        std::remove_if(added.begin(), added.end(), [](const auto& a) { return a.first.empty(); }),
        added.end());
    for (const auto& a : added) {
        const auto first = static_cast<unsigned char>(a.first[0]);
        added_first_byte[first] = true;
        if (albert.on) added_first_byte[static_cast<unsigned char>(std::toupper(first))] = true;
    }
    wordpiece.unk_id = unk;
    normalized_added.clear();
    for (const auto& [content, id] : added_after_normalization) {
        tok::NormalizedAddedToken a{tok::normalize_text(content, norm), id};
        if (!a.text.empty()) normalized_added.push_back(std::move(a));
    }
}

// ALBERT lowercases the text around its special tokens before splitting them out, so one without
// capitals (<unk>, <pad>) is found in any case ("<UNK>"); [CLS] and [MASK] only as written.
bool Tokenizer::Impl::lowercase_match(std::string_view text, size_t pos,
                                      const std::string& content) const {
    if (!albert.on || !albert.lowercase || pos + content.size() > text.size()) return false;
    for (size_t i = 0; i < content.size(); ++i) {
        const unsigned char t = static_cast<unsigned char>(text[pos + i]);
        const unsigned char c = static_cast<unsigned char>(content[i]);
        if (std::isupper(c) || std::tolower(t) != c) return false;
    }
    return true;
}

void Tokenizer::Impl::tokenize_ids(std::string_view text, std::vector<int32_t>& ids,
                                   std::vector<std::pair<uint32_t, uint32_t>>& offsets) const {
    thread_local Scratch s;
    auto encode_segment = [&](size_t begin, size_t end) {
        if (begin >= end) return;
        if (kind == ModelKind::bpe) return bpe_segment(text, begin, end, ids, offsets);
        if (kind == ModelKind::sentencepiece) return spm_segment(text, begin, end, ids, offsets);
        s.words.clear();
        tok::split_words(text.substr(begin, end - begin), static_cast<uint32_t>(begin), norm,
                         s.norm, s.words, normalized_added);
        for (size_t w = 0; w < s.words.count(); ++w) {
            const uint32_t wb = s.words.word_begin(w);
            if (s.words.word_id[w] >= 0) {  // a normalized added token
                const uint32_t we = s.words.word_end[w];
                ids.push_back(s.words.word_id[w]);
                offsets.emplace_back(
                    *std::min_element(&s.words.src_begin[wb], &s.words.src_begin[we - 1] + 1),
                    *std::max_element(&s.words.src_end[wb], &s.words.src_end[we - 1] + 1));
                continue;
            }
            s.ranges.clear();
            const size_t first = ids.size();
            tok::wordpiece_encode(vocab, wordpiece, s.words.word(w), ids, s.ranges);
            for (size_t k = 0; k < ids.size() - first; ++k) {
                const auto [rb, re] = s.ranges[k];
                // min/max: canonical reordering may move a mark before its predecessor's bytes.
                const uint32_t* sb = s.words.src_begin.data() + wb;
                const uint32_t* se = s.words.src_end.data() + wb;
                offsets.emplace_back(std::min(sb[rb], sb[re - 1]), std::max(se[rb], se[re - 1]));
            }
        }
    };
    size_t seg_begin = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        if (!added_first_byte[static_cast<unsigned char>(text[pos])]) {
            ++pos;
            continue;
        }
        // Leftmost-longest match among the added tokens, as HF's AddedVocabulary.
        size_t best_len = 0;
        int32_t best_id = -1;
        for (const auto& [content, id] : added) {
            if (content.size() > best_len && (text.compare(pos, content.size(), content) == 0 ||
                                              lowercase_match(text, pos, content))) {
                best_len = content.size();
                best_id = id;
            }
        }
        if (best_len == 0) {
            ++pos;
            continue;
        }
        size_t start = pos, stop = pos + best_len;
        if (kind != ModelKind::wordpiece) {
            auto has = [&](const std::vector<int32_t>& v) {
                return std::find(v.begin(), v.end(), best_id) != v.end();
            };
            if (has(lstrip_ids)) start = skip_whitespace_back(text, seg_begin, start);
            if (has(rstrip_ids)) stop = skip_whitespace(text, stop);
        }
        encode_segment(seg_begin, start);
        ids.push_back(best_id);
        offsets.emplace_back(static_cast<uint32_t>(start), static_cast<uint32_t>(stop));
        pos = stop;
        seg_begin = pos;
    }
    encode_segment(seg_begin, text.size());
}

void Tokenizer::Impl::bpe_segment(std::string_view text, size_t begin, size_t end,
                                  std::vector<int32_t>& ids,
                                  std::vector<std::pair<uint32_t, uint32_t>>& offsets) const {
    thread_local std::vector<std::pair<uint32_t, uint32_t>> pieces, ranges;
    thread_local std::string word;
    thread_local std::vector<std::pair<uint32_t, uint32_t>> src;  // text range of each word byte
    thread_local std::string normalized;  // the segment after NFC (byte_level.nfc)
    thread_local std::vector<std::pair<uint32_t, uint32_t>> normalized_src;
    std::string_view seg = text.substr(begin, end - begin);
    const bool nfc = byte_level.nfc && std::any_of(seg.begin(), seg.end(), [](char ch) {
                         return static_cast<unsigned char>(ch) >= 0x80;  // ASCII is NFC
                     });
    if (nfc) {
        tok::nfc_with_sources(seg, static_cast<uint32_t>(begin), normalized, normalized_src);
        seg = normalized;
    }
    const bool prefix = byte_level.add_prefix_space && seg[0] != ' ';
    // Character range of every byte of the segment (after NFC: of its source cluster); a
    // prepended space maps to the first character, as HF's NormalizedString::prepend.
    auto char_range = [&](size_t p) {
        if (nfc) return normalized_src[p];
        size_t b = p;
        while (b > 0 && (static_cast<unsigned char>(seg[b]) & 0xC0) == 0x80) --b;
        size_t e = b + 1;
        while (e < seg.size() && (static_cast<unsigned char>(seg[e]) & 0xC0) == 0x80) ++e;
        return std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(begin + b),
                                             static_cast<uint32_t>(begin + e));
    };
    pieces.clear();
    tok::gpt2_split(seg, pieces);
    for (size_t k = 0; k < pieces.size(); ++k) {
        const auto [pb, pe] = pieces[k];
        word.clear();
        src.clear();
        if (k == 0 && prefix) {
            word.push_back(' ');
            src.push_back(char_range(0));
        }
        for (uint32_t p = pb; p < pe; ++p) {
            word.push_back(seg[p]);
            src.push_back(char_range(p));
        }
        ranges.clear();
        const size_t first = ids.size();
        bpe.encode(word, ids, ranges);
        for (size_t t = 0; t < ids.size() - first; ++t) {
            const auto [rb, re] = ranges[t];
            std::pair<uint32_t, uint32_t> off(src[rb].first, src[re - 1].second);
            if (byte_level.trim_offsets) {
                // tokenizers byte_level.rs process_offsets, on bytes: each 'Ġ' is one byte.
                size_t lead = 0, trail = 0;
                while (rb + lead < re && word[rb + lead] == ' ') ++lead;
                while (re - trail > rb && word[re - 1 - trail] == ' ') ++trail;
                const bool is_first = first + t == 0 || off.first == 0;
                if (lead == 1 && is_first && byte_level.add_prefix_space) lead = 0;
                if (lead > 0)
                    off.first =
                        std::min<uint32_t>(off.first + static_cast<uint32_t>(lead), off.second);
                if (trail > 0 && off.second >= trail)
                    off.second =
                        std::max<uint32_t>(off.second - static_cast<uint32_t>(trail), off.first);
            }
            offsets.push_back(off);
        }
    }
}

void truncate_lengths(size_t& len_a, size_t& len_b, bool has_pair, size_t budget,
                      PairTruncation rule) {
    if (!has_pair) {
        len_a = std::min(len_a, budget);
        return;
    }
    if (len_a + len_b <= budget) return;
    if (rule == PairTruncation::hf_fast) {
        // tokenizers/src/utils/truncation.rs, LongestFirst.
        size_t n1 = len_a, n2 = len_b;
        const bool swapped = n1 > n2;
        if (swapped) std::swap(n1, n2);
        n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
        if (n1 + n2 > budget) {
            n1 = budget / 2;
            n2 = n1 + budget % 2;
        }
        if (swapped) std::swap(n1, n2);
        len_a = std::min(len_a, n1);
        len_b = std::min(len_b, n2);
    } else {
        // transformers tokenization_utils_base.py truncate_sequences, LONGEST_FIRST.
        const size_t remove = len_a + len_b - budget;
        const size_t diff = len_a > len_b ? len_a - len_b : len_b - len_a;
        const size_t first_remove = std::min(diff, remove);
        const size_t second_remove = remove - first_remove;
        size_t remove_a, remove_b;
        if (len_a > len_b) {
            remove_a = first_remove + second_remove / 2;
            remove_b = second_remove - second_remove / 2;
        } else {
            remove_a = second_remove / 2;
            remove_b = first_remove + second_remove - second_remove / 2;
        }
        len_a -= std::min(len_a, remove_a);
        len_b -= std::min(len_b, remove_b);
    }
}

void set_roberta_templates(Tokenizer::Impl& impl, int32_t cls, int32_t sep) {
    impl.single_template = {{-1, cls, 0}, {0, -1, 0}, {-1, sep, 0}};
    impl.pair_template = {{-1, cls, 0}, {0, -1, 0}, {-1, sep, 0},
                          {-1, sep, 0}, {1, -1, 0}, {-1, sep, 0}};
}

void set_bert_templates(Tokenizer::Impl& impl, int32_t cls, int32_t sep) {
    impl.single_template = {{-1, cls, 0}, {0, -1, 0}, {-1, sep, 0}};
    impl.pair_template = {{-1, cls, 0}, {0, -1, 0}, {-1, sep, 0}, {1, -1, 1}, {-1, sep, 1}};
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {

// Token ids and offsets of one text, and the part [begin, end) that goes into an encoding.
struct Slice {
    std::vector<int32_t> ids;
    std::vector<std::pair<uint32_t, uint32_t>> offsets;
    size_t begin = 0, end = 0;
};

size_t count_specials(const std::vector<TemplateItem>& tmpl) {
    return static_cast<size_t>(std::count_if(tmpl.begin(), tmpl.end(),
                                             [](const TemplateItem& t) { return t.sequence < 0; }));
}

// Fills the template with the slices of the texts.
Encoding assemble(const Tokenizer::Impl& im, const std::vector<TemplateItem>& tmpl,
                  const Slice* slices) {
    Encoding enc;
    size_t total = 0;
    for (const TemplateItem& item : tmpl)
        total += item.sequence < 0 ? 1 : slices[item.sequence].end - slices[item.sequence].begin;
    enc.ids.reserve(total);
    enc.type_ids.reserve(total);
    enc.tokens.reserve(total);
    enc.offsets.reserve(total);
    enc.sequence_ids.reserve(total);
    for (const TemplateItem& item : tmpl) {
        if (item.sequence < 0) {
            enc.ids.push_back(item.id);
            enc.type_ids.push_back(item.type_id);
            enc.offsets.emplace_back(0, 0);
            enc.sequence_ids.push_back(-1);
            continue;
        }
        const Slice& sl = slices[item.sequence];
        for (size_t i = sl.begin; i < sl.end; ++i) {
            enc.ids.push_back(sl.ids[i]);
            enc.type_ids.push_back(item.type_id);
            enc.offsets.push_back(sl.offsets[i]);
            enc.sequence_ids.push_back(static_cast<int8_t>(item.sequence));
        }
    }
    for (int32_t id : enc.ids) enc.tokens.push_back(im.vocab.token(id));
    return enc;
}

}  // namespace

Encoding Tokenizer::encode(std::string_view text, std::optional<std::string_view> pair,
                           std::optional<size_t> max_length, Truncation truncation) const {
    check_utf8(text, "text");
    if (pair) check_utf8(*pair, "text pair");
    const Impl& im = *impl_;
    const auto& tmpl = pair ? im.pair_template : im.single_template;
    const size_t n_special = count_specials(tmpl);
    const size_t max_len = max_length.value_or(im.opts.max_length);
    if (max_len < n_special)
        throw Error("max_length " + std::to_string(max_len) + " is too small: the " +
                    (pair ? "pair" : "single") + " template alone adds " +
                    std::to_string(n_special) + " special tokens");

    Slice slices[2];
    im.tokenize_ids(text, slices[0].ids, slices[0].offsets);
    if (pair) im.tokenize_ids(*pair, slices[1].ids, slices[1].offsets);
    slices[0].end = slices[0].ids.size();
    slices[1].end = slices[1].ids.size();
    const size_t budget = max_len - n_special;
    if (pair && truncation == Truncation::only_first) {
        // tokenizers/src/utils/truncation.rs, OnlyFirst: the first text loses what is too much,
        // and must keep at least one token.
        if (slices[0].end + slices[1].end > budget) {
            if (slices[1].end >= budget)
                throw Error("max_length " + std::to_string(max_len) +
                            " leaves no room for the first text of the pair: the second has " +
                            std::to_string(slices[1].end) + " tokens and the template adds " +
                            std::to_string(n_special));
            slices[0].end = budget - slices[1].end;
        }
    } else {
        truncate_lengths(slices[0].end, slices[1].end, pair.has_value(), budget,
                         im.opts.pair_truncation);
    }
    return assemble(im, tmpl, slices);
}

std::vector<Encoding> Tokenizer::encode_windows(std::string_view text, std::string_view pair,
                                                size_t max_length, size_t stride) const {
    check_utf8(text, "text");
    check_utf8(pair, "text pair");
    const Impl& im = *impl_;
    const size_t n_special = count_specials(im.pair_template);
    Slice slices[2];
    im.tokenize_ids(text, slices[0].ids, slices[0].offsets);
    im.tokenize_ids(pair, slices[1].ids, slices[1].offsets);
    const size_t len_a = slices[0].ids.size(), len_b = slices[1].ids.size();
    slices[0].end = len_a;
    if (len_a + len_b + n_special <= max_length) {
        slices[1].end = len_b;
        return {assemble(im, im.pair_template, slices)};
    }
    if (len_a + n_special >= max_length)
        throw Error("max_length " + std::to_string(max_length) +
                    " leaves no room for the text pair: " + "the text has " +
                    std::to_string(len_a) + " tokens and the template adds " +
                    std::to_string(n_special));
    // tokenizers Encoding::truncate: windows of `window` tokens starting every window - stride.
    const size_t window = max_length - n_special - len_a;
    if (stride >= window)
        throw Error("stride " + std::to_string(stride) + " must be smaller than the " +
                    std::to_string(window) + " text pair tokens that fit in each window");
    std::vector<Encoding> out;
    for (size_t start = 0;; start += window - stride) {
        slices[1].begin = start;
        slices[1].end = std::min(start + window, len_b);
        out.push_back(assemble(im, im.pair_template, slices));
        if (slices[1].end == len_b) break;
    }
    return out;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                              const std::vector<std::string>& pairs,
                                              std::optional<size_t> max_length) const {
    if (!pairs.empty() && pairs.size() != texts.size())
        throw Error("encode_batch: expected as many text pairs as texts (" +
                    std::to_string(texts.size()) + "), found " + std::to_string(pairs.size()));
    std::vector<Encoding> out;
    out.reserve(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
        if (pairs.empty())
            out.push_back(encode(texts[i], std::nullopt, max_length));
        else
            out.push_back(encode(texts[i], std::string_view(pairs[i]), max_length));
    }
    return out;
}

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out.append(to);
    }
    out.append(s, pos, std::string::npos);
    s = std::move(out);
}

}  // namespace

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens,
                              bool clean_up_tokenization_spaces) const {
    const Impl& im = *impl_;
    const std::string& prefix = im.vocab.prefix();
    auto skip = [&](int32_t id) {
        return skip_special_tokens && std::any_of(im.added.begin(), im.added.end(),
                                                  [&](const auto& a) { return a.second == id; });
    };
    std::string out;
    if (im.kind == ModelKind::sentencepiece) {
        // XLMRobertaTokenizer.convert_tokens_to_string: pieces joined, "▁" as spaces, stripped.
        for (int32_t id : ids)
            if (!skip(id)) out += id_to_token(id);
        replace_all(out, "\xe2\x96\x81", " ");
        const size_t b = out.find_first_not_of(' '), e = out.find_last_not_of(' ');
        out = b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
    } else if (im.kind == ModelKind::bpe) {
        // HF ByteLevel decoder: tokens map back to bytes, then lossy UTF-8.
        std::string bytes;
        for (int32_t id : ids) {
            const std::string& token = id_to_token(id);
            if (!skip(id)) tok::append_token_bytes(token, bytes);
        }
        out = tok::utf8_lossy(bytes);
    } else {
        bool first = true;
        for (int32_t id : ids) {
            const std::string& token = id_to_token(id);
            if (skip(id)) continue;
            if (!first && !prefix.empty() && token.compare(0, prefix.size(), prefix) == 0) {
                out.append(token, prefix.size(), std::string::npos);
            } else {
                if (!first) out.push_back(' ');
                out += token;
            }
            first = false;
        }
    }
    if (clean_up_tokenization_spaces) {
        // transformers PreTrainedTokenizerBase.clean_up_tokenization, in its order.
        for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{" .", "."},
                                       {" ?", "?"},
                                       {" !", "!"},
                                       {" ,", ","},
                                       {" ' ", "'"},
                                       {" n't", "n't"},
                                       {" 'm", "'m"},
                                       {" 's", "'s"},
                                       {" 've", "'ve"},
                                       {" 're", "'re"}})
            replace_all(out, from, to);
    }
    return out;
}

std::vector<std::string> Tokenizer::tokenize(std::string_view text) const {
    check_utf8(text, "text");
    std::vector<int32_t> ids;
    std::vector<std::pair<uint32_t, uint32_t>> offsets;
    impl_->tokenize_ids(text, ids, offsets);
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (int32_t id : ids) out.push_back(impl_->vocab.token(id));
    return out;
}

int32_t Tokenizer::token_to_id(const std::string& token) const { return impl_->vocab.find(token); }

const std::string& Tokenizer::id_to_token(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= impl_->vocab.size())
        throw Error("token id " + std::to_string(id) + " is out of range, expected 0.." +
                    std::to_string(impl_->vocab.size() - 1));
    return impl_->vocab.token(id);
}

size_t Tokenizer::vocab_size() const { return impl_->vocab.size(); }
const TokenizerOptions& Tokenizer::options() const { return impl_->opts; }

std::string Tokenizer::description() const {
    const Impl& im = *impl_;
    std::string d = im.kind == ModelKind::wordpiece ? "WordPiece"
                    : im.kind == ModelKind::bpe     ? "byte-level BPE"
                                                    : "SentencePiece";
    if (!im.model_name.empty()) d += " " + im.model_name;
    if (!im.source.empty()) d += " (" + im.source + ")";
    return d + ", " + std::to_string(im.vocab.size()) + " tokens, model_max_length " +
           std::to_string(im.opts.max_length);
}
int32_t Tokenizer::cls_id() const { return impl_->cls; }
int32_t Tokenizer::sep_id() const { return impl_->sep; }
int32_t Tokenizer::pad_id() const { return impl_->pad; }
int32_t Tokenizer::unk_id() const { return impl_->unk; }
int32_t Tokenizer::mask_id() const { return impl_->mask; }
const std::string& Tokenizer::continuing_subword_prefix() const { return impl_->vocab.prefix(); }

}  // namespace sparq
