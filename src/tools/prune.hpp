#pragma once
// Magnitude pruning of a Hugging Face BERT-family model directory (library code behind
// `sparq prune`). Weights are zeroed in place in the safetensors bytes: dtype, header and every
// untouched tensor stay byte-identical to the input.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tools/st_file.hpp"

namespace sparq::tools {

enum class PruneScope { per_matrix, global };
enum class PrunePattern { unstructured, block_1x4, block_4x1 };

struct PruneOptions {
    double sparsity = 0;  // share of zeros per matrix (per_matrix) or over the pool (global)
    PruneScope scope = PruneScope::per_matrix;
    PrunePattern pattern = PrunePattern::unstructured;
    // (regex searched in the tensor name, sparsity): the first match sets that matrix's
    // sparsity, and takes it out of the global pool. RE2 syntax, matched in linear time (a
    // backtracking engine took minutes on patterns like '(.*)*(.*)*X').
    std::vector<std::pair<std::string, double>> overrides;
    bool include_embeddings = false;  // also prune word/position/token_type embeddings
    bool include_heads = false;       // also prune pooler/classifier/qa_outputs weights
    bool force = false;               // allow a non-empty output directory
};

struct PrunedMatrix {
    std::string name, dtype;
    int64_t rows = 0, cols = 0;
    double target = 0;  // requested sparsity (global: the pool's)
    bool global = false;
    double before = 0, after = 0;  // share of exact zeros
    int64_t zeros_after = 0;
};

struct PruneReport {
    std::vector<PrunedMatrix> matrices;
    int64_t total = 0, zeros_before = 0, zeros_after = 0;  // over the pruned matrices
};

// "per-matrix"|"global" and "unstructured"|"1x4"|"4x1"; throw sparq::Error otherwise.
PruneScope parse_prune_scope(const std::string& s);
PrunePattern parse_prune_pattern(const std::string& s);

// Units to prune, smallest score first: returns a keep-mask per unit (1 keep, 0 prune) where
// exactly `n_prune` units with the smallest scores are pruned; ties go to the lower index.
std::vector<uint8_t> smallest_units(const std::vector<float>& scores, int64_t n_prune);

// Unit scores of a [rows][cols] matrix: |w| (unstructured) or the L2 norm of each block
// (1x4: row-major over rows x cols/4; 4x1: row-major over rows/4 x cols).
std::vector<float> unit_scores(const float* w, int64_t rows, int64_t cols, PrunePattern p);

// Prunes the selected matrices of an in-memory safetensors file.
// Empty when `re` is a valid override pattern (RE2 syntax), else a one-line reason.
std::string override_regex_error(const std::string& re);

PruneReport prune_tensors(StFile& file, const PruneOptions& opts);

// Prunes MODEL_DIR/model.safetensors into OUT_DIR (created), copying config.json and the
// tokenizer files. Refuses OUT_DIR == MODEL_DIR and a non-empty OUT_DIR unless opts.force.
PruneReport prune_model_dir(const std::string& model_dir, const std::string& out_dir,
                            const PruneOptions& opts);

}  // namespace sparq::tools
