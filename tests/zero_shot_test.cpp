// Zero-shot classification's shared logic (tools/zero_shot.hpp): the NLI label ids as HF's
// pipeline picks them, the template checks, only-first truncation of the (text, hypothesis)
// pairs, and the scores against values computed by hand.
#include "tools/zero_shot.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "sparq/tokenizer.hpp"
#include "test_util.hpp"

namespace sparq {
namespace {

using tools::NliLabelIds;

ModelConfig classifier(std::map<int64_t, std::string> labels) {
    ModelConfig c;
    c.task = Task::sequence_classification;
    c.num_labels = static_cast<int64_t>(labels.size());
    c.id2label = std::move(labels);
    return c;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

Classification logits(std::vector<float> l) {
    Classification c;
    c.logits = std::move(l);
    return c;
}

// Entailment: the first label (by id) starting with "entail", any case; contradiction: the last
// label when entailment is label 0, else label 0 (HF: contradiction_id = -1 if entailment_id == 0
// else 0).
TEST(ZeroShot, LabelIdsAsThePipeline) {
    auto ids = tools::zero_shot_label_ids(
        classifier({{0, "CONTRADICTION"}, {1, "NEUTRAL"}, {2, "ENTAILMENT"}}));
    EXPECT_EQ(ids.entailment, 2);
    EXPECT_EQ(ids.contradiction, 0);
    ids = tools::zero_shot_label_ids(
        classifier({{0, "entailment"}, {1, "neutral"}, {2, "contradiction"}}));
    EXPECT_EQ(ids.entailment, 0);
    EXPECT_EQ(ids.contradiction, 2);
    ids = tools::zero_shot_label_ids(
        classifier({{0, "contradiction"}, {1, "Entailed"}, {2, "neutral"}}));
    EXPECT_EQ(ids.entailment, 1);
    EXPECT_EQ(ids.contradiction, 0);
    ids = tools::zero_shot_label_ids(classifier({{0, "entailment"}, {1, "not_entailment"}}));
    EXPECT_EQ(ids.entailment, 0);
    EXPECT_EQ(ids.contradiction, 1);
    ids = tools::zero_shot_label_ids(classifier({{0, "x"}, {1, "entail_a"}, {2, "entail_b"}}));
    EXPECT_EQ(ids.entailment, 1);

    std::string msg = error_of([] {
        tools::zero_shot_label_ids(classifier({{0, "negative"}, {1, "positive"}}));
    });
    EXPECT_NE(msg.find("entailment label"), std::string::npos) << msg;
    EXPECT_NE(msg.find("negative, positive"), std::string::npos) << msg;
    ModelConfig unnamed;
    unnamed.task = Task::sequence_classification;
    unnamed.num_labels = 3;
    msg = error_of([&] { tools::zero_shot_label_ids(unnamed); });
    EXPECT_NE(msg.find("LABEL_0, LABEL_1, LABEL_2"), std::string::npos) << msg;
    msg = error_of([] { tools::zero_shot_label_ids(classifier({{0, "entailment"}})); });
    EXPECT_NE(msg.find("at least two labels"), std::string::npos) << msg;
    ModelConfig base;
    msg = error_of([&] { tools::zero_shot_label_ids(base); });
    EXPECT_NE(msg.find("task is base"), std::string::npos) << msg;
}

TEST(ZeroShot, TemplateAndLabels) {
    EXPECT_EQ(tools::zero_shot_hypothesis(tools::kZeroShotTemplate, "sports"),
              "This example is sports.");
    EXPECT_EQ(tools::zero_shot_hypothesis("{} it is", "a {b}"), "a {b} it is");
    EXPECT_NO_THROW(tools::zero_shot_check({"a", "a", "b"}, "{}"));  // duplicates kept, as HF
    EXPECT_NE(
        error_of([] { tools::zero_shot_check({}, "{}"); }).find("at least one candidate label"),
        std::string::npos);
    EXPECT_NE(error_of([] {
                  tools::zero_shot_check({"a", ""}, "{}");
              }).find("label 2 of 2 is empty"),
              std::string::npos);
    EXPECT_NE(error_of([] { tools::zero_shot_check({"a"}, "no slot"); }).find("exactly once"),
              std::string::npos);
    EXPECT_NE(error_of([] { tools::zero_shot_check({"a"}, "{} and {}"); }).find("exactly once"),
              std::string::npos);
}

// Scores of three labels whose pairs gave these logits (labels contradiction, neutral,
// entailment), computed by hand:
//   single-label: softmax of the entailment logits (2, 0, -1) = e^2 / (e^2 + 1 + e^-1), ...
//   multi-label: 1 / (1 + e^(contradiction - entailment)) = 1 / (1 + e^-1), 1/2, 1 / (1 + e^4).
TEST(ZeroShot, ScoresByHand) {
    const NliLabelIds ids{2, 0};
    const std::vector<Classification> pairs = {logits({1, 0, 2}), logits({0, 0, 0}),
                                               logits({3, 0, -1})};
    const auto single = tools::zero_shot_scores(ids, pairs, false);
    ASSERT_EQ(single.size(), 3u);
    EXPECT_NEAR(single[0], 0.8437947344813395, 1e-7);
    EXPECT_NEAR(single[1], 0.11419519938459446, 1e-7);
    EXPECT_NEAR(single[2], 0.04201006613406605, 1e-7);
    const auto multi = tools::zero_shot_scores(ids, pairs, true);
    ASSERT_EQ(multi.size(), 3u);
    EXPECT_NEAR(multi[0], 0.7310585786300049, 1e-7);
    EXPECT_NEAR(multi[1], 0.5, 1e-7);
    EXPECT_NEAR(multi[2], 0.01798620996209156, 1e-7);
    // One label: entailment against contradiction even without multi_label (HF).
    const auto one = tools::zero_shot_scores(ids, std::span(pairs).first(1), false);
    ASSERT_EQ(one.size(), 1u);
    EXPECT_NEAR(one[0], 0.7310585786300049, 1e-7);
    // Large logits do not overflow the softmax.
    const auto big = tools::zero_shot_scores(
        ids, std::vector{logits({0, 0, 1000.5f}), logits({0, 0, 999.75f})}, false);
    EXPECT_NEAR(big[0], 0.679178699175393, 1e-6);
    EXPECT_NEAR(big[1], 0.320821300824607, 1e-6);
    // Two-label NLI model with entailment label 0: contradiction is the last label.
    const auto two =
        tools::zero_shot_scores(NliLabelIds{0, 1}, std::vector{logits({0.5f, 1.5f})}, true);
    EXPECT_NEAR(two[0], 0.2689414213699951, 1e-7);  // 1 / (1 + e^(1.5 - 0.5))
}

TEST(ZeroShot, JsonSortsLabels) {
    const std::string text = "a text";
    const auto j = tools::zero_shot_json({"a", "b", "c"}, {0.25f, 0.5f, 0.25f}, &text);
    EXPECT_EQ(j.dump(), R"({"sequence":"a text","labels":["b","a","c"],"scores":[0.5,0.25,0.25]})");
    EXPECT_EQ(tools::zero_shot_json({"a"}, {1.0f}, nullptr).dump(),
              R"({"labels":["a"],"scores":[1.0]})");
    const NliLabelIds ids{2, 0};
    const std::vector<Classification> pairs = {logits({1, 0, 2}), logits({0, 0, 0}),
                                               logits({0, 0, 5}), logits({0, 0, 1})};
    const auto results = tools::zero_shot_results(ids, {"t1", "t2"}, {"x", "y"}, pairs, false);
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0]["sequence"], "t1");
    EXPECT_EQ(results[0]["labels"], nlohmann::ordered_json({"x", "y"}));
    EXPECT_EQ(results[1]["labels"], nlohmann::ordered_json({"x", "y"}));
    EXPECT_NEAR(results[1]["scores"][0].get<double>(), 1 / (1 + std::exp(-4.0)), 1e-7);
    EXPECT_THROW(tools::zero_shot_results(ids, {"t1"}, {"x", "y"}, pairs, false), Error);
}

// The pairs are text-major and cut in the text only (HF's truncation="only_first"): the
// hypothesis stays whole; one that leaves no room for the text is an error naming it.
TEST(ZeroShot, EncodingsTruncateOnlyTheText) {
    const Tokenizer tok = Tokenizer::from_dir((test::fixtures_dir() / "tiny_cls").string());
    const std::vector<std::string> texts = {"the movie was great and i liked it a lot", "paris"};
    const std::vector<std::string> labels = {"good", "bad"};
    const auto full = tools::zero_shot_encodings(tok, texts, labels, "it is {} .", 512);
    ASSERT_EQ(full.size(), 4u);
    EXPECT_EQ(full[1].ids, tok.encode(texts[0], "it is bad .").ids);
    EXPECT_EQ(full[2].ids, tok.encode(texts[1], "it is good .").ids);
    const size_t hyp = tok.tokenize("it is good .").size();  // 4 tokens
    const size_t max_len = hyp + 3 + 2;                      // two tokens of the text remain
    const auto cut = tools::zero_shot_encodings(tok, texts, labels, "it is {} .", max_len);
    for (size_t k = 0; k < 4; ++k) EXPECT_LE(cut[k].size(), max_len) << k;
    std::vector<int32_t> want = {full[0].ids[0], full[0].ids[1], full[0].ids[2]};  // [CLS] + 2
    const size_t first_sep = full[0].size() - hyp - 2;
    want.insert(want.end(), full[0].ids.begin() + static_cast<long>(first_sep), full[0].ids.end());
    EXPECT_EQ(cut[0].ids, want);
    // longest_first would have cut the hypothesis too here
    EXPECT_NE(tok.encode(texts[0], "it is good .", max_len).ids, want);
    EXPECT_EQ(cut[3].ids, full[3].ids);  // "paris" fits
    const std::string msg =
        error_of([&] { tools::zero_shot_encodings(tok, texts, labels, "it is {} .", hyp + 3); });
    EXPECT_NE(msg.find("hypothesis \"it is good .\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("leaves no room for the first text"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sparq
