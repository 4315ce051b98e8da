#pragma once
// WordPiece vocabulary: id -> token table and string_view-keyed hash maps for allocation-free
// lookups of word-initial pieces and of continuation pieces (stored without their "##" prefix).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sparq::tok {

class Vocab {
  public:
    Vocab() = default;
    // tokens[id] is the token of id ("" marks an unused id). A token listed twice maps to its
    // last id, as HF's load_vocab does. prefix is the continuing-subword prefix ("##").
    Vocab(std::vector<std::string> tokens, std::string prefix);

    Vocab(Vocab&&) noexcept = default;
    Vocab& operator=(Vocab&&) noexcept = default;
    Vocab(const Vocab&) = delete;
    Vocab& operator=(const Vocab&) = delete;

    int32_t find(std::string_view token) const {  // -1 if absent
        auto it = full_.find(token);
        return it == full_.end() ? -1 : it->second;
    }
    // Id of prefix + piece, -1 if absent.
    int32_t find_continuation(std::string_view piece) const {
        const Map& m = prefix_.empty() ? full_ : cont_map_;
        auto it = m.find(piece);
        return it == m.end() ? -1 : it->second;
    }
    const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
    size_t size() const { return tokens_.size(); }
    const std::string& prefix() const { return prefix_; }
    size_t max_token_bytes() const { return max_full_; }
    size_t max_continuation_bytes() const { return max_cont_; }

  private:
    using Map = std::unordered_map<std::string_view, int32_t>;
    std::vector<std::string> tokens_;
    std::string prefix_;
    Map full_;
    Map cont_map_;
    size_t max_full_ = 0;
    size_t max_cont_ = 0;
};

// Reads a vocab.txt (one token per line, id = line number); throws sparq::Error if the file is
// missing or holds no token.
std::vector<std::string> read_vocab_file(const std::string& path);

}  // namespace sparq::tok
