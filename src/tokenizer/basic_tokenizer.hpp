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
    }
};

// Scratch buffers of split_words.
struct NormalizeScratch {
    std::vector<char32_t> cps;
    std::vector<uint32_t> cp_begin;
    std::vector<uint32_t> cp_end;
};

// Appends the words of src (valid UTF-8) to out; input byte offsets are reported plus base.
void split_words(std::string_view src, uint32_t base, const NormalizerConfig& cfg,
                 NormalizeScratch& scratch, Words& out);

}  // namespace sparq::tok
