#pragma once
// Zero statistics of one weight matrix, for `sparq inspect` and `sparq prune` reports.
#include <cstdint>
#include <string>
#include <vector>

namespace sparq::tools {

struct MatrixStats {
    int64_t rows = 0, cols = 0, zeros = 0;
    int64_t blocks_1x4 = 0, zero_blocks_1x4 = 0;  // 1 row x 4 consecutive columns, full blocks only
    int64_t blocks_4x1 = 0, zero_blocks_4x1 = 0;  // 4 consecutive rows x 1 column, full blocks only
    double sparsity() const { return rows * cols != 0 ? double(zeros) / double(rows * cols) : 0.0; }
    double zero_block_share_1x4() const {
        return blocks_1x4 ? double(zero_blocks_1x4) / blocks_1x4 : 0.0;
    }
    double zero_block_share_4x1() const {
        return blocks_4x1 ? double(zero_blocks_4x1) / blocks_4x1 : 0.0;
    }
};

// Counts exact zeros and all-zero 1x4 / 4x1 blocks of a row-major [rows][cols] matrix.
MatrixStats matrix_stats(const float* w, int64_t rows, int64_t cols);

// Encoder linear weight of a BERT-family layer (Q, K, V, attention output, FFN in/out), by its
// Hugging Face name, with or without a model prefix ("bert.", "roberta.", ...).
bool is_encoder_linear_weight(const std::string& name);
bool is_embedding_weight(const std::string& name);  // word/position/token_type embeddings
bool is_head_weight(const std::string& name);       // pooler, classifier, qa_outputs weights

}  // namespace sparq::tools
