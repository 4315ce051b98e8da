#pragma once
// JIT generator of the sparse f32 row kernel (AVX-512 zmm or AVX2 ymm).
//
// One call computes, for `rows` consecutive output rows of one K chunk and one token group,
//   y[r][0 .. nv*lanes) (+)= sum_k vals[k] * x[offs[k] .. + nv*lanes)   for k in [row_ptr[r], row_ptr[r+1])
// with x the packed feature-major activations of the group (offs[k] = column * group bytes) and y
// a feature-major tile with a row stride of `y_stride` bytes. Each nonzero is one broadcast and nv
// FMAs with a memory operand; two nonzeros are interleaved into two accumulator sets to cover the
// FMA latency. The token-vector count nv and strides are baked into the code; the sparsity
// pattern is data (int32 byte offsets + values in nonzero order), so code size stays ~300 bytes
// whatever the matrix.
#include <cstdint>
#include <memory>

#include "cpu/isa.hpp"
#include "jit/generator.hpp"

namespace sparq::jit {

struct SpmmArgs {
    const float* x;          // packed activations of one token group, [in][group]
    float* y;                // first output row of the tile, [rows][y_stride bytes]
    const int32_t* row_ptr;  // rows + 1 positions into offs/vals
    const int32_t* offs;     // byte offset into x of each nonzero's activation row
    const float* vals;       // nonzero values
    int64_t rows;            // rows to compute
    int64_t accumulate;      // 0: y = sum, 1: y += sum (rows without nonzeros left untouched)
};

class SpmmF32Gen : public Generator {
public:
    // isa: avx512 (zmm, 16 lanes) or avx2 (ymm, 8 lanes); nv: token vectors (1..6 avx512, 1..6
    // avx2); y_stride: bytes between consecutive rows of y.
    SpmmF32Gen(Isa isa, int nv, int64_t y_stride);
    void operator()(const SpmmArgs& a) const { call(&a); }
};

// Generated once per (isa, nv, y_stride) and shared (thread-safe).
std::shared_ptr<const SpmmF32Gen> spmm_f32_kernel(Isa isa, int nv, int64_t y_stride);

}  // namespace sparq::jit
