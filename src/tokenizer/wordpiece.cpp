#include "tokenizer/wordpiece.hpp"

#include <algorithm>

#include "tokenizer/unicode.hpp"

namespace sparq::tok {

void wordpiece_encode(const Vocab& vocab, const WordPieceConfig& cfg, std::string_view word,
                      std::vector<int32_t>& ids,
                      std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
    const size_t n = word.size();
    const size_t first_id = ids.size();
    const size_t first_range = ranges.size();
    auto unk = [&] {
        ids.resize(first_id);
        ranges.resize(first_range);
        ids.push_back(cfg.unk_id);
        ranges.emplace_back(0, static_cast<uint32_t>(n));
    };
    // Byte length >= code point count, so only long words need counting.
    if (n > cfg.max_input_chars_per_word && utf8_length(word) > cfg.max_input_chars_per_word) {
        unk();
        return;
    }
    auto is_cont_byte = [&](size_t i) {
        return (static_cast<unsigned char>(word[i]) & 0xC0) == 0x80;
    };
    size_t start = 0;
    while (start < n) {
        const size_t limit = start == 0 ? vocab.max_token_bytes() : vocab.max_continuation_bytes();
        size_t end = std::min(n, start + limit);
        while (end < n && end > start && is_cont_byte(end)) --end;  // back to a character boundary
        int32_t id = -1;
        while (end > start) {
            const std::string_view piece = word.substr(start, end - start);
            id = start == 0 ? vocab.find(piece) : vocab.find_continuation(piece);
            if (id >= 0) break;
            do {
                --end;
            } while (end > start && is_cont_byte(end));
        }
        if (id < 0) {
            unk();
            return;
        }
        ids.push_back(id);
        ranges.emplace_back(static_cast<uint32_t>(start), static_cast<uint32_t>(end));
        start = end;
    }
}

}  // namespace sparq::tok
