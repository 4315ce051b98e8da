#pragma once
// Byte-level BPE (GPT-2 / RoBERTa) with Hugging Face `tokenizers` semantics: the GPT-2 byte to
// unicode table, the GPT-2 pre-tokenization regex (hand-written over code points) and merges
// applied by rank.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace sparq::tok {

// GPT-2 bytes_to_unicode(): the code point that stands for each byte in byte-level tokens.
const std::array<char32_t, 256>& byte_to_unicode();

// Byte of a byte-level code point, -1 if c stands for no byte.
int unicode_to_byte(char32_t c);

// Splits valid UTF-8 text as the GPT-2 regex
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and appends the byte range [begin, end) of each piece to dst.
void gpt2_split(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& dst);

// One merge rule "a b" of a merges file, in rank order.
using MergeRule = std::pair<std::string, std::string>;

// Reads merges.txt (an optional "#version" first line, then "a b" per line); throws sparq::Error
// naming the file and line on a line that is not two space-separated tokens.
std::vector<MergeRule> read_merges_file(const std::string& path);

class BpeModel {
  public:
    // Indexes merges (rank = position) against vocab; throws sparq::Error naming `where` if a
    // merge or its result is not in the vocabulary. unk_id (-1: none) replaces bytes whose
    // single-byte token is missing, which are dropped when there is no unk token (as HF).
    void build(const Vocab& vocab, const std::vector<MergeRule>& merges, int32_t unk_id,
               const std::string& where);
    // Appends the ids of one pre-token (raw bytes) and the byte range [begin, end) of each in
    // `word`.
    void encode(std::string_view word, std::vector<int32_t>& ids,
                std::vector<std::pair<uint32_t, uint32_t>>& ranges) const;

  private:
    struct Merge {
        uint32_t rank;
        int32_t id;
    };
    static uint64_t key(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    std::unordered_map<uint64_t, Merge> merges_;
    std::array<int32_t, 256> byte_id_{};
};

// Maps the byte-level code points of token to their bytes and appends them to dst; a code point
// that stands for no byte is copied as UTF-8 (added tokens such as "<s>" pass unchanged).
void append_token_bytes(std::string_view token, std::string& dst);

// Rust String::from_utf8_lossy: each maximal invalid subsequence becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace sparq::tok
