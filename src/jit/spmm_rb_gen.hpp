#pragma once
// JIT generator of the register-blocked sparse f32 kernel (AVX-512): the sparsity pattern of one
// weight matrix compiled into code, one token vector (16 tokens) at a time.
//
// Rows are cut into blocks of up to 30 consecutive rows whose sums stay in zmm0..29 for the
// whole K loop. For every input column k used by any row of the block, x[k] (the 16 tokens'
// activations of feature k) is loaded once into zmm30/31, then every row of the block with a
// nonzero at k gets one FMA whose weight is an embedded broadcast from memory:
//   vmovups zmm30, [x + k*64]; vfmadd231ps zmm_j, zmm30, [w + 4i]{1to16} ...
// So one 64-byte activation load serves all the block's nonzeros in that column (~3 at 90%
// zeros, ~1.5 at 95%), against one per FMA in the record kernel (spmm_gen.hpp), and the weight
// loads are 4-byte broadcasts, which the load ports serve alongside the FMAs. Column indices are
// displacements and row indices register numbers, so the code is ~7 bytes per nonzero plus ~10
// per (block, column): it is run for several token vectors back to back (`vectors`) so the block's
// code and weights come from L1 after the first.
// Measured (docs/benchmarks.md run 16, a Zen 4 core): 100-106 GFLOP/s over nonzeros on BERT-base's
// FFN1 at 90% with its code warm (86-94% of the FMA peak, the record kernel 61-66), but slower
// in the model at batch 1 (its ~10 bytes of code per nonzero, 86 MB for BERT-base, are fetched
// once per call): a variant for benchmarks, not the default.
//
// Layouts: token vector i's activations at x + i * x_step bytes, as [in][16] floats (feature k
// at k * 64 bytes; the sparse kernels' packed token groups of 16 tokens); its sums at y +
// i * y_step bytes, as [out][16] (row r at r * 64 bytes). With an epilogue (SpmmEpi) the sums
// get bias[row] (and GELU) before their store, in the same float operations as the separate
// pass (spmm_bias_act_rows), so results are equal bit for bit.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/buffer.hpp"
#include "jit/generator.hpp"
#include "jit/spmm_gen.hpp"
#include "kernels/spmm/sparse_format.hpp"

namespace sparq::jit {

struct SpmmRbArgs {
    const float* x;     // token vector 0's activations, [in][16]
    float* y;           // token vector 0's sums, [out][16]
    int64_t vectors;    // token vectors to run (>= 1)
    int64_t x_step;     // bytes between consecutive vectors' x
    int64_t y_step;     // bytes between consecutive vectors' y
    int64_t blocks;     // row blocks to run from `entry` (>= 1)
    const void* entry;  // code address of the first block, from entry()
    const float* w;     // the nonzeros in code order
    const float* bias;  // [out], with an epilogue
};

class SpmmRbGen : public Generator {
  public:
    static constexpr int kMaxRows = 30;  // accumulators per block (zmm0..29)

    // Compiles `csr` (rows x cols) in blocks of up to `block_rows` rows (<= kMaxRows), sized as
    // evenly as the row count allows.
    // chunk > 0: K-blocking, the columns in chunks of `chunk` (the rows' partial sums stored and
    // reloaded between chunks), so a chunk of the vectors' activations stays in L2.
    explicit SpmmRbGen(const CsrMatrix& csr, int block_rows = kMaxRows, SpmmEpi epi = SpmmEpi::none,
                       int64_t chunk = 0);

    int64_t blocks() const { return static_cast<int64_t>(block_row_.size()) - 1; }
    // First row of block b (b <= blocks(): block_row(blocks()) = rows).
    int64_t block_row(int64_t b) const { return block_row_[b]; }
    // The block that starts at row r (r a block boundary, or rows: blocks()).
    int64_t block_at(int64_t r) const {
        return std::lower_bound(block_row_.begin(), block_row_.end(), r) - block_row_.begin();
    }
    // Nonzeros before each block, [blocks() + 1] (partition_rows' row_ptr for thread balancing).
    const std::vector<int32_t>& block_nnz() const { return block_nnz_; }

    // Runs blocks [b0, b1) (rows [block_row(b0), block_row(b1))) over `vectors` token vectors
    // (bias: [out], for the epilogue).
    void run(const float* x, int64_t x_step, float* y, int64_t y_step, int64_t vectors, int64_t b0,
             int64_t b1, const float* bias = nullptr) const;

  private:
    int64_t chunk_ = 0, chunks_ = 1;
    std::vector<int64_t> block_row_;
    std::vector<int32_t> block_nnz_;
    std::vector<int64_t> entries_;                    // code offset of each (chunk, block)
    std::vector<float, HugePageAllocator<float>> w_;  // nonzeros in code order
    const uint8_t* base_ = nullptr;
};

}  // namespace sparq::jit
