#pragma once
// Runs a sequence-classification (or regression) model over a labelled dataset and scores it; or
// an encoder without a head (a sentence-embedding model) over a pair dataset with numeric scores
// (STS-B), by the cosine similarity of the two texts' embeddings.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sparq/model.hpp"
#include "tools/eval/dataset.hpp"

namespace sparq::tools::eval {

struct EvalOptions {
    size_t batch_size = 32;
    size_t max_length = 0;                     // 0: the tokenizer's, capped by max_position_embeddings
    std::function<void(int64_t)> progress;    // called with the examples done after each batch
    // Embedding models: how to pool (a sentence-transformers directory's Pooling module, see
    // SentenceEmbeddingConfig; normalization does not change a cosine).
    Pooling pooling = Pooling::mean;
    // How a pair's embeddings are compared: "cosine", "dot", "euclidean" or "manhattan" (the
    // negative distance, as sentence-transformers' pairwise similarities), or "" for the model's
    // default (similarity_fn): cosine, dot for SPLADE (SparseEncoder's default).
    std::string similarity;
};

// The similarity eval uses: `requested` if set, else the directory's similarity_fn_name, else
// dot for SPLADE pooling and cosine for the others.
std::string similarity_fn(const std::string& requested, const SentenceEmbeddingConfig& st,
                          Pooling pooling);

struct Prediction {
    int64_t index = 0, line = 0;      // 0-based example index, 1-based file line
    std::string gold, predicted;      // label names (classification)
    double gold_value = 0, predicted_value = 0;  // regression
    int64_t gold_id = 0, predicted_id = 0;
    float score = 0;                  // probability of the predicted label, or the regression output
};

struct EvalResult {
    std::string format;
    int64_t examples = 0;
    bool regression = false;
    bool similarity = false;  // an embedding model scored by cosine similarity (regression too)
    std::vector<std::pair<std::string, double>> metrics;  // in display order; NaN: undefined
    std::string main_metric;                              // the task's headline metric
    double seconds = 0;                                   // tokenization + inference
    std::vector<Prediction> predictions;
    double metric(const std::string& name) const;         // NaN if absent
    double main_value() const { return metric(main_metric); }
};

// Gold label ids through the model's id2label (case-insensitive names), else numeric ids.
// Throws sparq::Error naming the label, its file:line and the model's labels if unknown.
std::vector<int64_t> map_labels(const ModelConfig& cfg, const Dataset& ds);

// Label id whose F1 is reported: a label named like a positive class ("positive", "spam", ...),
// else id 1.
int64_t positive_label(const ModelConfig& cfg);

// Predicts every example (batches of opts.batch_size, packed) and computes the metrics:
// classification: accuracy, (binary) f1, mcc; regression: pearson, spearman. A model without a
// head (Task::base) on a dataset of pairs with numeric gold scores predicts the cosine similarity
// of the two texts' sentence embeddings (opts.pooling) and reports pearson and spearman, spearman
// first (sentence-transformers' EmbeddingSimilarityEvaluator). Throws sparq::Error for other
// models or datasets, or without a tokenizer.
EvalResult evaluate(const Model& model, const Dataset& ds, const EvalOptions& opts = {});

}  // namespace sparq::tools::eval
