#pragma once
// The Hugging Face tokenizer test vectors (../shared/data/tokenizer_tests/
// hf_tokenizer_test_vectors.json: models, each with a vocabulary name and cases {text,
// text_pair?, ids, tokens, decoded}) run through sparq tokenizers; shared by the WordPiece and
// the byte-level BPE suites.
#include <gtest/gtest.h>

#include <cstddef>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sparq/tokenizer.hpp"
#include "test_util.hpp"

namespace sparq::test {

// The tokens of an encoding without its special tokens (the vectors list content tokens only).
inline std::vector<std::string> content_tokens(const Encoding& e) {
    std::vector<std::string> out;
    for (size_t i = 0; i < e.size(); ++i)
        if (e.sequence_ids[i] >= 0) out.push_back(e.tokens[i]);
    return out;
}

struct VectorTally {
    size_t total = 0, passed = 0;
    std::string failures;  // one entry per failed case: expected and got
};

// Every case of every model whose vocabulary has a tokenizer in `toks`: a case passes when the
// ids, the content tokens and the decoded text all match; the same vocabulary loaded from a
// tokenizer.json (`json_toks`) must give the same ids. extra(model, vocab, case name, case json,
// encoding) adds a suite's own checks. Prints one line per model.
template <class Extra>
VectorTally run_hf_vectors(const nlohmann::json& root, const std::map<std::string, Tokenizer>& toks,
                           const std::map<std::string, Tokenizer>& json_toks, Extra&& extra) {
    VectorTally tally;
    for (const auto& model_item : root["models"].items()) {
        const std::string model = model_item.key();
        const nlohmann::json& m = model_item.value();
        const std::string vocab = m["vocab"];
        if (!toks.count(vocab)) continue;
        const Tokenizer& tok = toks.at(vocab);
        size_t model_pass = 0, model_total = 0;
        for (const auto& case_item : m["cases"].items()) {
            const std::string name = case_item.key();
            const nlohmann::json& c = case_item.value();
            ++model_total;
            const std::string text = c["text"];
            std::optional<std::string> pair;
            if (c.contains("text_pair")) pair = c["text_pair"].get<std::string>();
            const Encoding e = tok.encode(text, pair);
            const auto want_ids = c["ids"].get<std::vector<int32_t>>();
            const auto want_tokens = c["tokens"].get<std::vector<std::string>>();
            const std::vector<std::string> got_tokens = content_tokens(e);
            const std::string want_text = c["decoded"];
            const std::string got_text = tok.decode(e.ids);
            EXPECT_EQ(json_toks.at(vocab).encode(text, pair).ids, e.ids)
                << model << "/" << name << " via tokenizer.json";
            if (e.ids == want_ids && got_tokens == want_tokens && got_text == want_text) {
                ++model_pass;
            } else {
                tally.failures += model + "/" + name + ": expected ids " + show(want_ids) +
                                  " tokens " + show(want_tokens) + " decoded '" + want_text +
                                  "'\n    got ids " + show(e.ids) + " tokens " + show(got_tokens) +
                                  " decoded '" + got_text + "'\n";
            }
            extra(model, vocab, name, c, e);
        }
        std::cout << "[ vectors  ] " << model << " (" << vocab << "): " << model_pass << "/"
                  << model_total << " cases pass\n";
        tally.total += model_total;
        tally.passed += model_pass;
    }
    return tally;
}

}  // namespace sparq::test
