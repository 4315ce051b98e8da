#pragma once
// Unicode helpers for the BERT tokenizer: UTF-8 validation/decoding and the character classes
// of Hugging Face's BertNormalizer / BertPreTokenizer (Rust `tokenizers` definitions), backed by
// utf8proc for categories, canonical decomposition and case mapping.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sparq::tok {

inline constexpr size_t utf8_valid = static_cast<size_t>(-1);

// Byte index of the first byte of the first invalid UTF-8 sequence in src (overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences are invalid), else utf8_valid.
size_t find_invalid_utf8(std::string_view src);

// Decodes the code point starting at src[pos] of valid UTF-8 and advances pos past it.
inline char32_t decode_utf8(std::string_view src, size_t& pos) {
    const auto b0 = static_cast<unsigned char>(src[pos]);
    if (b0 < 0x80) {
        ++pos;
        return b0;
    }
    auto cont = [&](size_t i) {
        return static_cast<char32_t>(static_cast<unsigned char>(src[pos + i]) & 0x3F);
    };
    char32_t c;
    if (b0 < 0xE0) {
        c = (static_cast<char32_t>(b0 & 0x1F) << 6) | cont(1);
        pos += 2;
    } else if (b0 < 0xF0) {
        c = (static_cast<char32_t>(b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2);
        pos += 3;
    } else {
        c = (static_cast<char32_t>(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
        pos += 4;
    }
    return c;
}

// Appends the UTF-8 encoding of the valid code point c to dst.
inline void append_utf8(std::string& dst, char32_t c) {
    if (c < 0x80) {
        dst.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        dst.push_back(static_cast<char>(0xC0 | (c >> 6)));
        dst.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        dst.push_back(static_cast<char>(0xE0 | (c >> 12)));
        dst.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        dst.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        dst.push_back(static_cast<char>(0xF0 | (c >> 18)));
        dst.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        dst.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        dst.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

// Number of code points in valid UTF-8.
inline size_t utf8_length(std::string_view src) {
    size_t n = 0;
    for (char ch : src) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    return n;
}

// Rust char::is_whitespace (Unicode White_Space) plus \t \n \r.
bool is_whitespace(char32_t c);
// Any "other" category (Cc Cf Cs Co Cn) except \t \n \r, as BertNormalizer's clean_text.
bool is_control(char32_t c);
// ASCII punctuation (33-47, 58-64, 91-96, 123-126) or a Unicode P* category.
bool is_punctuation(char32_t c);
// CJK ideograph ranges of HF `_is_chinese_char`.
bool is_chinese_char(char32_t c);
// Unicode category Mn (nonspacing mark), dropped by strip_accents.
bool is_nonspacing_mark(char32_t c);
// Canonical combining class.
int combining_class(char32_t c);
// Writes the canonical (NFD) decomposition of c to dst (capacity 8); returns its length.
size_t decompose_canonical(char32_t c, char32_t* dst);
// Lower-case mapping of c as Rust char::to_lowercase; writes 1 or 2 code points to dst.
size_t to_lower(char32_t c, char32_t* dst);
// NFC of src (valid UTF-8) into out, with src's byte range (offset by `base`) of every byte of
// out in `from`: each extended grapheme cluster is composed on its own (canonical composition
// stays inside one) and all of its output bytes map to the whole cluster.
void nfc_with_sources(std::string_view src, uint32_t base, std::string& out,
                      std::vector<std::pair<uint32_t, uint32_t>>& from);

}  // namespace sparq::tok
