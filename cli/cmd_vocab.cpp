// sparq vocab build --corpus FILE [--corpus FILE...] --size N --out vocab.txt [--lowercase|--cased]
#include <cstdio>
#include <fstream>
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"
#include "tokenizer/vocab_trainer.hpp"

namespace sparq::cli {

namespace {
struct VocabArgs {
    std::vector<std::string> corpora;
    std::string out;
    size_t size = 0, min_frequency = 2;
    bool cased = false, lowercase = false;
};

// Every line of every corpus file (trailing '\r' dropped), checked to be valid UTF-8.
std::vector<std::string> read_corpora(const std::vector<std::string>& files) {
    std::vector<std::string> texts;
    for (const auto& path : files) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw Error("cannot open corpus file '" + path + "'");
        std::string line;
        size_t n = 0;
        while (std::getline(in, line)) {
            ++n;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            check_utf8(line, path + " line " + std::to_string(n));
            texts.push_back(std::move(line));
        }
        if (in.bad()) throw Error("cannot read corpus file '" + path + "'");
    }
    return texts;
}

void run_vocab_build(const VocabArgs& a) {
    auto texts = read_corpora(a.corpora);
    TokenizerOptions opts;
    opts.do_lower_case = !a.cased;
    auto tokens = train_wordpiece_vocab(texts, a.size, opts, a.min_frequency);
    write_vocab_file(a.out, tokens);
    std::printf("wrote %zu tokens to %s (%zu lines of text, %s)\n", tokens.size(), a.out.c_str(), texts.size(),
                a.cased ? "cased" : "lower-cased");
}
}  // namespace

void add_vocab(CLI::App& app) {
    auto* vocab = app.add_subcommand("vocab", "Build a WordPiece vocabulary (vocab build ...)");
    vocab->require_subcommand(1);
    auto a = std::make_shared<VocabArgs>();
    auto* sub = vocab->add_subcommand("build", "Train a WordPiece vocab.txt from text files");
    sub->footer("Trains a WordPiece vocabulary from corpus files (one text per line) with the same\n"
        "normalization and word splitting as sparq's tokenizer: [PAD] [UNK] [CLS] [SEP] [MASK], every\n"
        "character seen, then the most frequent merges until --size tokens. Pair the vocab.txt with a\n"
        "tokenizer_config.json {\"do_lower_case\": true|false} matching --lowercase/--cased.");
    sub->add_option("--corpus", a->corpora, "Text file, one text per line (repeatable)")->required();
    sub->add_option("--size", a->size, "Target vocabulary size (tokens, specials included)")
        ->required()
        ->check(CLI::Range(size_t(6), size_t(1) << 24));
    sub->add_option("--out,-o", a->out, "Output vocab.txt path")->required();
    sub->add_option("--min-frequency", a->min_frequency, "Stop merging below this pair frequency (default 2)")
        ->check(CLI::Range(size_t(1), size_t(1) << 40));
    auto* lower = sub->add_flag("--lowercase", a->lowercase, "Lower-case and strip accents (default)");
    auto* cased = sub->add_flag("--cased", a->cased, "Keep case and accents");
    lower->excludes(cased);
    sub->callback([a] { run_vocab_build(*a); });
}

}  // namespace sparq::cli
