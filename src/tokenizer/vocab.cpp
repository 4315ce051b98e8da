#include "tokenizer/vocab.hpp"

#include <algorithm>
#include <fstream>

#include "core/files.hpp"
#include "sparq/error.hpp"
#include "tokenizer/unicode.hpp"
#include "tokenizer/vocab_trainer.hpp"

namespace sparq::tok {

Vocab::Vocab(std::vector<std::string> tokens, std::string prefix)
    : tokens_(std::move(tokens)), prefix_(std::move(prefix)) {
    // Keys view the strings inside tokens_, whose element objects never move after this point
    // (moving the vector moves its buffer, not the strings).
    full_.reserve(tokens_.size());
    for (size_t id = 0; id < tokens_.size(); ++id) {
        const std::string& t = tokens_[id];
        if (t.empty()) continue;
        full_.insert_or_assign(std::string_view(t), static_cast<int32_t>(id));
        max_full_ = std::max(max_full_, t.size());
    }
    if (prefix_.empty()) {
        max_cont_ = max_full_;
        return;
    }
    for (size_t id = 0; id < tokens_.size(); ++id) {
        const std::string& t = tokens_[id];
        if (t.size() <= prefix_.size() || t.compare(0, prefix_.size(), prefix_) != 0) continue;
        std::string_view piece(t.data() + prefix_.size(), t.size() - prefix_.size());
        cont_map_.insert_or_assign(piece, static_cast<int32_t>(id));
        max_cont_ = std::max(max_cont_, piece.size());
    }
}

std::vector<std::string> read_vocab_file(const std::string& path) {
    require_regular_file(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open vocabulary file '" + path + "'");
    std::vector<std::string> tokens;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (const size_t bad = find_invalid_utf8(line); bad != utf8_valid)
            throw Error("vocabulary file '" + path + "' line " + std::to_string(tokens.size() + 1) +
                        ": invalid UTF-8 at byte " + std::to_string(bad + 1) +
                        " (expected UTF-8 tokens)");
        tokens.push_back(std::move(line));
    }
    if (in.bad()) throw Error("cannot read vocabulary file '" + path + "'");
    const bool any =
        std::any_of(tokens.begin(), tokens.end(), [](const std::string& t) { return !t.empty(); });
    if (!any) throw Error("vocabulary file '" + path + "' is empty, expected one token per line");
    return tokens;
}

}  // namespace sparq::tok

namespace sparq {

void write_vocab_file(const std::string& path, const std::vector<std::string>& tokens) {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw Error("cannot write vocabulary file '" + path + "'");
    for (size_t i = 0; i < tokens.size(); ++i) {
        const std::string& t = tokens[i];
        if (t.empty() || t.find_first_of("\r\n") != std::string::npos)
            throw Error("cannot write token " + std::to_string(i) + " to '" + path +
                        "': vocab.txt tokens must be non-empty and free of line breaks");
        out << t << '\n';
    }
    if (!out) throw Error("failed writing vocabulary file '" + path + "'");
}

}  // namespace sparq
