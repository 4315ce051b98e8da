#pragma once
// JSON of model results, one format for `sparq classify` / `sparq embed` (JSON lines) and
// `sparq serve` (HTTP responses).
#include <cstdint>
#include <string>
#include <string_view>
#include <nlohmann/json.hpp>

#include "sparq/model.hpp"

namespace sparq::tools {

// A float as the JSON number with the shortest decimal that round-trips the float.
double json_float(float f);
nlohmann::ordered_json json_floats(const float* p, int64_t n);

// "base", "sequence-classification", "token-classification" or "question-answering".
std::string task_name(Task t);

// Whether the model's sequence head is a regression (problem_type "regression" or one label).
bool is_regression(const ModelConfig& cfg);

// One text's sequence classification: {"label", "score", "scores": {label: probability}} with
// the scores in decreasing order (only the top_k most probable when top_k > 0), or {"score"}
// for regression models.
nlohmann::ordered_json classification_json(const ModelConfig& cfg, const Classification& c,
                                           size_t top_k);

// One text's token classification: [{"token", "label", "score"}] for every token of `e` that is
// not a special token ([CLS], [SEP], padding).
nlohmann::ordered_json token_tags_json(const ModelConfig& cfg, const Tokenizer& tok,
                                       const Encoding& e, const TokenTag& tags);

// Question answering on e = encode(question, context): {"answer", "score", "start", "end"}
// (score = start + end logit). The answer is the context's own text between the span's first
// and last token (their byte offsets), so casing, accents and spacing are the user's; for a span
// that is not inside the context it is rebuilt from the word pieces, best effort.
nlohmann::ordered_json answer_json(const Tokenizer& tok, const Encoding& e, const Span& s,
                                   std::string_view context);

}  // namespace sparq::tools
