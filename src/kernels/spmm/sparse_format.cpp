#include "kernels/spmm/sparse_format.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

#include "sparq/error.hpp"

namespace sparq {

CsrMatrix csr_from_dense(const float* w, int64_t rows, int64_t cols) {
    if (rows * cols > std::numeric_limits<int32_t>::max())
        throw Error("sparse weight too large: " + std::to_string(rows) + "x" +
                    std::to_string(cols) + " exceeds 2^31 elements");
    CsrMatrix m;
    m.rows = rows;
    m.cols = cols;
    m.row_ptr.resize(rows + 1);
    m.row_ptr[0] = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = w + r * cols;
        for (int64_t c = 0; c < cols; ++c)
            if (row[c] != 0.0f) {
                m.col_idx.push_back(static_cast<int32_t>(c));
                m.values.push_back(row[c]);
            }
        m.row_ptr[r + 1] = static_cast<int32_t>(m.values.size());
    }
    return m;
}

BlockedCsr block_columns(const CsrMatrix& csr, int64_t chunk) {
    BlockedCsr b;
    b.rows = csr.rows;
    b.cols = csr.cols;
    b.chunk = (chunk <= 0 || chunk > csr.cols) ? std::max<int64_t>(csr.cols, 1) : chunk;
    b.chunks = std::max<int64_t>((csr.cols + b.chunk - 1) / b.chunk, 1);
    b.row_ptr.resize(b.chunks * (b.rows + 1));
    b.col_idx.reserve(csr.nnz());
    b.values.reserve(csr.nnz());
    // Per row, the cursor of the next nonzero not yet emitted (columns are sorted within a row).
    std::vector<int32_t> cursor(csr.row_ptr.begin(), csr.row_ptr.end() - 1);
    for (int64_t c = 0; c < b.chunks; ++c) {
        int32_t* rp = b.row_ptr.data() + c * (b.rows + 1);
        int64_t col_end = std::min((c + 1) * b.chunk, b.cols);
        for (int64_t r = 0; r < b.rows; ++r) {
            rp[r] = static_cast<int32_t>(b.values.size());
            int32_t k = cursor[r];
            for (; k < csr.row_ptr[r + 1] && csr.col_idx[k] < col_end; ++k) {
                b.col_idx.push_back(csr.col_idx[k]);
                b.values.push_back(csr.values[k]);
            }
            cursor[r] = k;
        }
        rp[b.rows] = static_cast<int32_t>(b.values.size());
    }
    assert(b.nnz() == csr.nnz());
    return b;
}

std::vector<int64_t> partition_rows(const int32_t* row_ptr, int64_t rows, int parts, int64_t align,
                                    int64_t row_cost) {
    assert(parts >= 1 && align >= 1);
    std::vector<int64_t> bounds(parts + 1, rows);
    bounds[0] = 0;
    auto cost = [&](int64_t r) { return (row_ptr[r] - row_ptr[0]) + row_cost * r; };
    int64_t total = cost(rows);
    for (int p = 1; p < parts; ++p) {
        int64_t target = (total * p + parts / 2) / parts;
        // First row whose prefix cost reaches the target, rounded to the nearest aligned row.
        int64_t lo = 0, hi = rows;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (cost(mid) < target)
                lo = mid + 1;
            else
                hi = mid;
        }
        int64_t r = std::min((lo + align / 2) / align * align, rows);
        bounds[p] = std::max(r, bounds[p - 1]);
    }
    return bounds;
}

uint64_t content_hash(const float* w, int64_t n) {
    // FNV-1a over 32-bit words with a final avalanche (splitmix64): ~1 ns per float.
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, w + i, sizeof bits);
        h = (h ^ bits) * 1099511628211ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

}  // namespace sparq
