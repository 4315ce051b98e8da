#pragma once
// Multiple choice with Hugging Face's ...ForMultipleChoice models (fine-tuned on SWAG, RACE,
// ARC, COPA-style tasks): a question is an optional prompt and two or more choices; each choice is
// encoded as the pair (prompt, choice) — alone without a prompt —, the model gives every pair one
// logit and the softmax over the question's choices is their probability (the model's logits
// reshaped to [batch, num_choices], as Hugging Face does). One implementation for `sparq
// classify --prompt`, `sparq serve` (POST /classify on such a model) and the Python module.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sparq/model.hpp"

namespace sparq::tools {

// Throws sparq::Error unless the model is a multiple-choice model and there are at least two
// choices.
void multiple_choice_check(const ModelConfig& cfg, size_t choices);

// Every choice's encoding: (prompt, choice) truncated longest-first to max_length, or the choice
// alone when there is no prompt.
std::vector<Encoding> choice_encodings(const Tokenizer& tok,
                                       const std::optional<std::string>& prompt,
                                       const std::vector<std::string>& choices, size_t max_length);

// One question's result from its choices' logits: {"choice" (the most probable), "index",
// "score" (its probability), "scores" (every choice's probability, in the given order),
// "logits"}.
nlohmann::ordered_json choice_json(const std::vector<std::string>& choices,
                                   const std::vector<float>& logits);

}  // namespace sparq::tools
