#pragma once
// BertNormalizer + BertPreTokenizer: cleans, pads CJK ideographs, strips accents, lower-cases
// and splits text into words at whitespace and punctuation, exactly as Hugging Face does, while
// tracking for every output byte the byte range of the input character it came from.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sparq::tok {

struct NormalizerConfig {
    bool clean_text = true;
    bool handle_chinese_chars = true;
    bool strip_accents = true;
    bool lowercase = true;
};

// Words of one text, concatenated; reused across calls to avoid allocations.
struct Words {
    std::string chars;                // UTF-8 of all words back to back
    std::vector<uint32_t> word_end;   // end of word i in chars (word i starts at word_end[i-1])
    std::vector<uint32_t> src_begin;  // per byte of chars: input byte range of its character
    std::vector<uint32_t> src_end;
    std::vector<int32_t> word_id;  // id of a matched normalized added token, else -1
    size_t count() const { return word_end.size(); }
    std::string_view word(size_t i) const {
        const uint32_t b = i ? word_end[i - 1] : 0;
        return std::string_view(chars).substr(b, word_end[i] - b);
    }
    uint32_t word_begin(size_t i) const { return i ? word_end[i - 1] : 0; }
    void clear() {
        chars.clear();
        word_end.clear();
        src_begin.clear();
        src_end.clear();
        word_id.clear();
    }
};

// Scratch buffers of split_words: code points with the input byte range each came from, after
// decomposition (cps) and after the whole normalizer (norm).
struct NormalizeScratch {
    std::vector<char32_t> cps, norm;
    std::vector<uint32_t> cp_begin, cp_end, norm_begin, norm_end;
};

// An added token matched after normalization ("normalized": true in tokenizer.json): its
// normalized text and id.
struct NormalizedAddedToken {
    std::u32string text;
    int32_t id = -1;
};

// Appends the words of src (valid UTF-8) to out; input byte offsets are reported plus base.
// Occurrences of the added tokens in the normalized text become words of their own with
// word_id set (leftmost-longest match, as HF's AddedVocabulary).
void split_words(std::string_view src, uint32_t base, const NormalizerConfig& cfg,
                 NormalizeScratch& scratch, Words& out,
                 const std::vector<NormalizedAddedToken>& added = {});

// The normalized code points of src (valid UTF-8), as the normalizer step of split_words.
std::u32string normalize_text(std::string_view src, const NormalizerConfig& cfg);

}  // namespace sparq::tok
