#pragma once
// Drift report between two models on the same texts (e.g. f32 vs int8): cosine similarity and
// max abs difference of last_hidden_state, pooled outputs and logits, share of changed predictions.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sparq/model.hpp"

namespace sparq::tools {

struct DriftStats {
    int64_t count = 0;        // vectors compared (one per sequence)
    double min_cosine = 1.0;  // over the vectors
    double mean_cosine = 0.0;
    double max_abs_diff = 0.0;
};

struct DriftReport {
    int64_t texts = 0, tokens = 0;
    DriftStats hidden, pooled, logits;     // pooled / logits: count 0 when the model has none
    int64_t predictions = 0, changed = 0;  // argmax labels (per sequence or per token) / spans
    bool random_ids = false;  // compared on random token ids (compare_models_random), not texts
};

// Built-in sample sentences for reports when the user gives no texts.
const std::vector<std::string>& sample_sentences();

// Runs both models on `texts` (tokenized with a's tokenizer, truncated to max_length); throws
// sparq::Error if a has no tokenizer or the models' hidden sizes / tasks / label counts differ.
DriftReport compare_models(const Model& a, const Model& b, const std::vector<std::string>& texts,
                           size_t max_length = 128);

// The same on `count` seeded random token sequences of `seq` tokens (tools::random_batch), for
// models without a tokenizer.
DriftReport compare_models_random(const Model& a, const Model& b, int64_t count, int64_t seq,
                                  uint64_t seed = 1);

// Human-readable lines (labels a and b name the two sides) and the JSON form.
std::string drift_text(const DriftReport& r, const std::string& a, const std::string& b);
nlohmann::ordered_json drift_json(const DriftReport& r, const std::string& a, const std::string& b);

}  // namespace sparq::tools
