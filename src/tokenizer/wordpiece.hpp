#pragma once
// Greedy longest-match-first WordPiece (HF `tokenizers` WordPiece model).
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace sparq::tok {

struct WordPieceConfig {
    int32_t unk_id = -1;
    size_t max_input_chars_per_word = 100;
};

// Appends the ids of the pieces of word (valid UTF-8, non-empty) and their byte ranges within
// word. A word longer than max_input_chars_per_word code points, or one that cannot be split
// entirely into vocabulary pieces, becomes a single unk_id covering the whole word.
void wordpiece_encode(const Vocab& vocab, const WordPieceConfig& cfg, std::string_view word,
                      std::vector<int32_t>& ids,
                      std::vector<std::pair<uint32_t, uint32_t>>& ranges);

}  // namespace sparq::tok
