#include "tokenizer/vocab_trainer.hpp"

#include <algorithm>
#include <cstdint>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "sparq/error.hpp"
#include "tokenizer/basic_tokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace sparq {
namespace {

constexpr size_t k_max_word_chars = 100;
constexpr std::string_view k_prefix = "##";

using Pair = uint64_t;  // (left id << 32) | right id
Pair make_pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
}
int32_t left_of(Pair p) { return static_cast<int32_t>(p >> 32); }
int32_t right_of(Pair p) { return static_cast<int32_t>(p & 0xFFFFFFFFu); }

struct Word {
    std::vector<int32_t> pieces;
    int64_t count = 0;
};

class Trainer {
  public:
    Trainer(std::vector<std::string> tokens, std::vector<Word> words, size_t min_frequency)
        : tokens_(std::move(tokens)),
          words_(std::move(words)),
          min_frequency_(static_cast<int64_t>(min_frequency)) {
        for (size_t i = 0; i < tokens_.size(); ++i)
            ids_.emplace(tokens_[i], static_cast<int32_t>(i));
        seen_.assign(words_.size(), -1);
        for (size_t w = 0; w < words_.size(); ++w) add_pairs(static_cast<int32_t>(w), +1);
        for (const auto& [p, c] : counts_) heap_.push({c, merged(p), p});
    }

    std::vector<std::string> run(size_t vocab_size) {
        int64_t round = 0;
        while (tokens_.size() < vocab_size && !heap_.empty()) {
            const Entry top = heap_.top();
            heap_.pop();
            auto it = counts_.find(top.pair);
            if (it == counts_.end() || it->second != top.count) continue;  // stale entry
            if (top.count < min_frequency_) break;
            merge(top.pair, top.text, round++);
        }
        return std::move(tokens_);
    }

  private:
    struct Entry {
        int64_t count;
        std::string text;
        Pair pair;
        // Max-heap on count; ties go to the lexicographically smaller merged string.
        bool operator<(const Entry& o) const {
            return count != o.count ? count < o.count : text > o.text;
        }
    };

    std::string merged(Pair p) const {
        const std::string& r = tokens_[right_of(p)];
        return tokens_[left_of(p)] + r.substr(k_prefix.size());
    }

    // Adds (sign = +1) or removes (-1) the pairs of word w from the counts.
    void add_pairs(int32_t w, int sign) {
        const Word& word = words_[w];
        for (size_t i = 0; i + 1 < word.pieces.size(); ++i) {
            const Pair p = make_pair_key(word.pieces[i], word.pieces[i + 1]);
            int64_t& c = counts_[p];
            c += sign * word.count;
            touched_.push_back(p);
            if (sign > 0) where_[p].push_back(w);
        }
    }

    void merge(Pair p, const std::string& text, int64_t round) {
        int32_t id;
        if (auto it = ids_.find(text); it != ids_.end()) {
            id = it->second;
        } else {
            id = static_cast<int32_t>(tokens_.size());
            tokens_.push_back(text);
            ids_.emplace(text, id);
        }
        const int32_t a = left_of(p), b = right_of(p);
        std::vector<int32_t> affected = std::move(where_[p]);
        where_.erase(p);
        touched_.clear();
        for (int32_t w : affected) {
            if (seen_[w] == round) continue;
            seen_[w] = round;
            Word& word = words_[w];
            bool has = false;
            for (size_t i = 0; i + 1 < word.pieces.size() && !has; ++i)
                has = word.pieces[i] == a && word.pieces[i + 1] == b;
            if (!has) continue;
            add_pairs(w, -1);
            std::vector<int32_t> out;
            out.reserve(word.pieces.size());
            for (size_t i = 0; i < word.pieces.size(); ++i) {
                if (i + 1 < word.pieces.size() && word.pieces[i] == a && word.pieces[i + 1] == b) {
                    out.push_back(id);
                    ++i;
                } else {
                    out.push_back(word.pieces[i]);
                }
            }
            word.pieces = std::move(out);
            add_pairs(w, +1);
        }
        counts_.erase(p);
        std::sort(touched_.begin(), touched_.end());
        touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
        for (Pair t : touched_) {
            auto it = counts_.find(t);
            if (it == counts_.end()) continue;
            if (it->second <= 0) {
                counts_.erase(it);
                where_.erase(t);
            } else {
                heap_.push({it->second, merged(t), t});
            }
        }
    }

    std::vector<std::string> tokens_;
    std::unordered_map<std::string, int32_t> ids_;
    std::vector<Word> words_;
    int64_t min_frequency_;
    std::unordered_map<Pair, int64_t> counts_;
    std::unordered_map<Pair, std::vector<int32_t>> where_;
    std::vector<Pair> touched_;
    std::vector<int64_t> seen_;
    std::priority_queue<Entry> heap_;
};

}  // namespace

std::vector<std::string> train_wordpiece_vocab(const std::vector<std::string>& texts,
                                               size_t vocab_size, const TokenizerOptions& opts,
                                               size_t min_frequency) {
    tok::NormalizerConfig cfg;
    cfg.lowercase = opts.do_lower_case;
    cfg.strip_accents = opts.strip_accents.value_or(opts.do_lower_case);
    cfg.handle_chinese_chars = opts.tokenize_chinese_chars;
    cfg.clean_text = opts.clean_text;

    // 1. Word frequencies.
    std::unordered_map<std::string, int64_t> word_counts;
    tok::NormalizeScratch scratch;
    tok::Words words;
    for (size_t t = 0; t < texts.size(); ++t) {
        const size_t bad = tok::find_invalid_utf8(texts[t]);
        if (bad != tok::utf8_valid)
            throw Error("invalid UTF-8 in training text " + std::to_string(t) + " at byte " +
                        std::to_string(bad));
        words.clear();
        tok::split_words(texts[t], 0, cfg, scratch, words);
        for (size_t w = 0; w < words.count(); ++w) ++word_counts[std::string(words.word(w))];
    }

    // 2. Specials, then the alphabet in both forms.
    std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    std::vector<char32_t> alphabet;
    std::vector<std::pair<std::string, int64_t>> sorted_words(word_counts.begin(),
                                                              word_counts.end());
    std::sort(sorted_words.begin(), sorted_words.end());  // deterministic word order
    for (const auto& [w, c] : sorted_words) {
        if (tok::utf8_length(w) > k_max_word_chars) continue;
        for (size_t pos = 0; pos < w.size();) alphabet.push_back(tok::decode_utf8(w, pos));
    }
    std::sort(alphabet.begin(), alphabet.end());
    alphabet.erase(std::unique(alphabet.begin(), alphabet.end()), alphabet.end());
    std::unordered_map<char32_t, int32_t> initial_id, cont_id;
    for (char32_t c : alphabet) {
        std::string s;
        tok::append_utf8(s, c);
        initial_id[c] = static_cast<int32_t>(tokens.size());
        tokens.push_back(s);
    }
    for (char32_t c : alphabet) {
        std::string s(k_prefix);
        tok::append_utf8(s, c);
        cont_id[c] = static_cast<int32_t>(tokens.size());
        tokens.push_back(s);
    }

    // 3. BPE merges over the words split into characters.
    std::vector<Word> split;
    split.reserve(sorted_words.size());
    for (const auto& [w, c] : sorted_words) {
        if (tok::utf8_length(w) > k_max_word_chars) continue;
        Word word;
        word.count = c;
        for (size_t pos = 0; pos < w.size();) {
            const char32_t ch = tok::decode_utf8(w, pos);
            word.pieces.push_back(word.pieces.empty() ? initial_id[ch] : cont_id[ch]);
        }
        split.push_back(std::move(word));
    }
    return Trainer(std::move(tokens), std::move(split), std::max<size_t>(min_frequency, 1))
        .run(vocab_size);
}

}  // namespace sparq
