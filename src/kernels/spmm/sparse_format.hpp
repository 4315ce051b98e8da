#pragma once
// Sparse weight formats shared by the sparse kernels (f32 and int8): CSR built from a dense
// [rows][cols] matrix, its K-blocked (column-chunked) form, and the nonzero-balanced split of rows
// across threads.
#include <cstdint>
#include <vector>

namespace sparq {

// Compressed sparse rows of a [rows][cols] matrix: the nonzeros of row r are
// [row_ptr[r], row_ptr[r+1]) in col_idx/values, in increasing column order.
struct CsrMatrix {
    int64_t rows = 0, cols = 0;
    std::vector<int32_t> row_ptr;  // [rows + 1]
    std::vector<int32_t> col_idx;  // [nnz]
    std::vector<float> values;     // [nnz]
    int64_t nnz() const { return static_cast<int64_t>(values.size()); }
};

// CSR of the exact nonzeros of a row-major [rows][cols] matrix.
CsrMatrix csr_from_dense(const float* w, int64_t rows, int64_t cols);

// CSR split into column chunks of `chunk` columns (the last may be shorter): chunk c holds the
// nonzeros with c*chunk <= col < (c+1)*chunk; its row r is [row_ptr[c*(rows+1)+r],
// row_ptr[c*(rows+1)+r+1]) in col_idx/values. Positions are global over all chunks.
struct BlockedCsr {
    int64_t rows = 0, cols = 0, chunk = 0, chunks = 0;
    std::vector<int32_t> row_ptr;  // [chunks][rows + 1]
    std::vector<int32_t> col_idx;  // [nnz], chunk-major then row-major
    std::vector<float> values;     // [nnz]
    int64_t nnz() const { return static_cast<int64_t>(values.size()); }
};

// Chunks `csr` by columns; chunk <= 0 means one chunk of all columns.
BlockedCsr block_columns(const CsrMatrix& csr, int64_t chunk);

// Splits rows [0, rows) into `parts` contiguous ranges of near-equal cost, where row r costs
// (row_ptr[r+1] - row_ptr[r]) + row_cost. Inner bounds are multiples of `align`. Returns
// parts + 1 bounds, bounds[0] = 0 and bounds[parts] = rows (ranges may be empty).
std::vector<int64_t> partition_rows(const int32_t* row_ptr, int64_t rows, int parts,
                                    int64_t align = 1, int64_t row_cost = 0);

// 64-bit hash of the bit patterns of `n` floats (identifies a weight matrix's content).
uint64_t content_hash(const float* w, int64_t n);

}  // namespace sparq
