#pragma once
// Zero-shot text classification with an NLI model (a sequence classifier fine-tuned on natural
// language inference, e.g. roberta-large-mnli or cross-encoder/nli-distilroberta-base), as HF's
// pipeline("zero-shot-classification"): each (text, hypothesis) pair, the hypothesis being a
// template with a candidate label put in, goes through the classifier, and the entailment logits
// score the labels. One implementation for `sparq zero-shot`, `sparq serve` (POST /zero-shot)
// and the Python module.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sparq/model.hpp"

namespace sparq::tools {

// The pipeline's default hypothesis template.
inline constexpr std::string_view kZeroShotTemplate = "This example is {}.";

// The logits zero-shot classification reads: entailment and contradiction label ids.
struct NliLabelIds {
    int64_t entailment = 0, contradiction = 0;
};

// The entailment id is the first label (by id) whose name, lower-cased, starts with "entail";
// the contradiction id is the pipeline's: the last label when entailment is label 0, else label
// 0. Throws sparq::Error for a model that is not a sequence classifier with at least two labels,
// or that has no entailment label (the message names its labels): HF's pipeline warns and reads
// the last logit instead, which for any other classifier means nothing.
NliLabelIds zero_shot_label_ids(const ModelConfig& cfg);

// Throws sparq::Error unless there is at least one candidate label, none empty, and the template
// holds "{}" exactly once (HF's str.format needs one "{}" for its one argument). Duplicate labels
// are kept, as the pipeline keeps them.
void zero_shot_check(const std::vector<std::string>& labels, std::string_view hypothesis_template);

// The template with its "{}" replaced by the label (other braces are kept as they are).
std::string zero_shot_hypothesis(std::string_view hypothesis_template, std::string_view label);

// The (text, hypothesis) encodings of every text with every label, text-major (text t with label
// l at t * labels.size() + l). A pair longer than max_length loses tokens of the text only, as
// the pipeline's truncation="only_first"; a hypothesis that leaves no room for the text is a
// sparq::Error naming it.
std::vector<Encoding> zero_shot_encodings(const Tokenizer& tok,
                                          const std::vector<std::string>& texts,
                                          const std::vector<std::string>& labels,
                                          std::string_view hypothesis_template, size_t max_length);

// One text's label scores from its pairs' classifications (pairs[l]: the text with label l).
// Single-label (multi_label false and more than one label): the softmax of the pairs'
// entailment logits over the labels (they sum to 1). Multi-label, or one label: each label's
// softmax of [contradiction, entailment] logits, the entailment probability (independent).
std::vector<float> zero_shot_scores(const NliLabelIds& ids, std::span<const Classification> pairs,
                                    bool multi_label);

// The pipeline's result of one text: {"sequence" (when given), "labels", "scores"}, the labels
// by decreasing score (ties in the given order).
nlohmann::ordered_json zero_shot_json(const std::vector<std::string>& labels,
                                      const std::vector<float>& scores,
                                      const std::string* sequence);

// zero_shot_json of every text from the classifications of zero_shot_encodings(texts, labels):
// one object per text, in order.
std::vector<nlohmann::ordered_json> zero_shot_results(const NliLabelIds& ids,
                                                      const std::vector<std::string>& texts,
                                                      const std::vector<std::string>& labels,
                                                      const std::vector<Classification>& classes,
                                                      bool multi_label);

}  // namespace sparq::tools
