#pragma once
// The BERT model (encoder + task heads) behind sparq::Model, constructible from weights already
// in memory (tests, benchmarks) as well as from a directory (Model::load).
#include <memory>
#include <optional>

#include "model/encoder.hpp"
#include "model/weights.hpp"
#include "sparq/model.hpp"

namespace sparq {

// Builds the model from a config and its weights (consumed); plans every linear layer with
// opts.kernels / opts.precision. Throws sparq::Error on missing head weights or bad shapes.
std::unique_ptr<Model> make_bert_model(const ModelConfig& cfg, BertWeights weights,
                                       const LoadOptions& opts,
                                       std::optional<Tokenizer> tokenizer = std::nullopt);

// The encoder of a model built by make_bert_model / Model::load (for profiling), else null.
Encoder* encoder_of(const Model& model);

}  // namespace sparq
