#pragma once
// Task heads on top of the encoder's packed hidden states [num_tokens][hidden].
#include <cstdint>
#include <vector>

#include "sparq/model.hpp"

namespace sparq {

// Rows of the [CLS] token (position 0) of every sequence: [n_seq][hidden].
std::vector<float> gather_cls(const float* hidden, const std::vector<int64_t>& offsets, int64_t h);

// In place tanh over n values.
void tanh_inplace(float* data, int64_t n);

// In place activation of rows x cols values.
void apply_head_activation(float* data, int64_t rows, int64_t cols, HeadActivation act);

// In place v / max(|v|, 1e-12) (torch.nn.functional.normalize).
void l2_normalize(float* v, int64_t n);

// Mean over each sequence's tokens, or its [CLS] row, or all its token rows back to back
// (Pooling::none); optional L2 normalisation of every returned vector of `h` values. Mean and
// max leave out the first `skip` tokens of each sequence (all of them: a zero vector).
std::vector<std::vector<float>> pool_sequences(const float* hidden,
                                               const std::vector<int64_t>& offsets, int64_t h,
                                               Pooling pooling, bool normalize, int64_t skip = 0);

// Softmax (or sigmoid for multi-label, raw values for regression) of one row of logits.
Classification classification_from_logits(const float* logits, int64_t num_labels,
                                          const ModelConfig& cfg);

// Best answer span of one sequence from per-token start/end logits: start <= end,
// end - start < max_answer_len, both in the second segment (token type 1) when present, never
// position 0 ([CLS]), the last position ([SEP]) or a token whose id is in `special_ids`.
Span best_span(const float* start_logits, const float* end_logits, const int32_t* type_ids,
               const int32_t* ids, int64_t len, int64_t max_answer_len,
               const std::vector<int32_t>& special_ids);

}  // namespace sparq
