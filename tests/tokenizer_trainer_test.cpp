// WordPiece vocabulary trainer: hand-checked merges on tiny corpora, and a vocabulary built from
// real SST-2 sentences that tokenizes its own corpus without [UNK].
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include "sparq/error.hpp"
#include "sparq/tokenizer.hpp"
#include "test_util.hpp"
#include "tokenizer/vocab_trainer.hpp"

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;
using sparq::Tokenizer;
using sparq::TokenizerOptions;

namespace {

const Strings k_specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

Strings with_specials(const Strings& rest) {
    Strings v = k_specials;
    v.insert(v.end(), rest.begin(), rest.end());
    return v;
}

fs::path temp_file(const std::string& name) {
    static std::atomic<int> counter{0};
    return fs::temp_directory_path() / ("sparq_trainer_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter++) + "_" + name);
}

}  // namespace

TEST(WordPieceTrainer, MergesMostFrequentPairFirst) {
    // Words: ab x3, ac x1. Alphabet a b c in both forms; (a, ##b) occurs 3 times, (a, ##c) once.
    const Strings corpus = {"ab ab", "AB ac"};
    EXPECT_EQ(sparq::train_wordpiece_vocab(corpus, 100, {}),
              with_specials({"a", "b", "c", "##a", "##b", "##c", "ab"}));
    EXPECT_EQ(sparq::train_wordpiece_vocab(corpus, 100, {}, 1),
              with_specials({"a", "b", "c", "##a", "##b", "##c", "ab", "ac"}));
    // vocab_size bounds the merges.
    EXPECT_EQ(sparq::train_wordpiece_vocab(corpus, 11, {}, 1).size(), 11u);
    EXPECT_EQ(sparq::train_wordpiece_vocab(corpus, 12, {}, 1).back(), "ab");
    // The alphabet is kept even when it alone exceeds vocab_size.
    EXPECT_EQ(sparq::train_wordpiece_vocab(corpus, 3, {}).size(), 11u);
}

TEST(WordPieceTrainer, ContinuationMergesAndTies) {
    // "abc" x2, "xbc" x2: (##b, ##c) occurs 4 times and wins; then (a, ##bc) and (x, ##bc)
    // tie at 2 and merge in string order.
    const Strings corpus = {"abc xbc abc xbc"};
    EXPECT_EQ(
        sparq::train_wordpiece_vocab(corpus, 100, {}),
        with_specials({"a", "b", "c", "x", "##a", "##b", "##c", "##x", "##bc", "abc", "xbc"}));
    // Punctuation and case follow the tokenizer options: cased keeps "A" apart from "a".
    TokenizerOptions cased;
    cased.do_lower_case = false;
    EXPECT_EQ(sparq::train_wordpiece_vocab({"A a!"}, 100, cased),
              with_specials({"!", "A", "a", "##!", "##A", "##a"}));
}

TEST(WordPieceTrainer, Errors) {
    EXPECT_THROW(sparq::train_wordpiece_vocab({"ok", "bad\xFF"}, 100, {}), sparq::Error);
    const fs::path p = temp_file("bad.txt");
    EXPECT_THROW(sparq::write_vocab_file(p.string(), {"[UNK]", "a\nb"}), sparq::Error);
    EXPECT_THROW(sparq::write_vocab_file((p / "no_dir" / "x.txt").string(), {"a"}), sparq::Error);
    fs::remove(p);
}

TEST(WordPieceTrainer, RealCorpusTokenizesWithoutUnk) {
    SPARQ_REQUIRE_SHARED_DATA(data);
    std::ifstream in(data / "sst2" / "train.tsv");
    ASSERT_TRUE(in) << "sst2/train.tsv";
    Strings texts;
    std::string line;
    std::getline(in, line);
    while (texts.size() < 20000 && std::getline(in, line))
        texts.push_back(line.substr(0, line.rfind('\t')));
    const auto t0 = std::chrono::steady_clock::now();
    const Strings vocab = sparq::train_wordpiece_vocab(texts, 4000, {});
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(vocab.size(), 4000u);
    EXPECT_EQ(Strings(vocab.begin(), vocab.begin() + 5), k_specials);
    EXPECT_EQ(std::set<std::string>(vocab.begin(), vocab.end()).size(), vocab.size())
        << "duplicate tokens";

    const fs::path path = temp_file("vocab.txt");
    sparq::write_vocab_file(path.string(), vocab);
    const Tokenizer tok = Tokenizer::from_vocab_file(path.string(), {});
    fs::remove(path);
    ASSERT_EQ(tok.vocab_size(), vocab.size());
    for (size_t i = 0; i < vocab.size(); ++i)
        ASSERT_EQ(tok.token_to_id(vocab[i]), static_cast<int32_t>(i));

    size_t pieces = 0, unk = 0, words = 0;
    for (const auto& t : texts) {
        for (const auto& piece : tok.tokenize(t)) {
            ++pieces;
            unk += piece == "[UNK]";
            words += piece.rfind("##", 0) != 0;
        }
    }
    std::cout << "[ trainer  ] 20000 SST-2 sentences -> 4000 tokens in " << secs << " s; " << words
              << " words, " << pieces << " pieces ("
              << static_cast<double>(pieces) / static_cast<double>(words) << " per word), " << unk
              << " [UNK]\n";
    EXPECT_EQ(unk, 0u);
    // Characters alone would give 4.35 pieces per word on this corpus; 4000 merged pieces bring
    // it to 1.28 (bert-base-uncased, 30522 tokens, gives 1.12).
    EXPECT_LT(static_cast<double>(pieces) / static_cast<double>(words), 1.4);
    for (const char* w : {"the", "movie", "film", "good", "story"})
        EXPECT_EQ(tok.tokenize(w), Strings{w}) << w;
}
