#pragma once
// JIT generator of the sparse f32 row kernel (AVX-512 zmm or AVX2 ymm).
//
// One call computes, for `rows` row records {begin, end, y_off} of one K chunk and one token group,
//   y_row[0 .. nv*lanes) (+)= sum_k vals[k] * x[offs[k] .. + nv*lanes)   for k in [begin, end)
// with y_row = y + y_off bytes, x the packed feature-major activations of the group (offs[k] =
// column * group bytes). The planner-side code orders the records of a row panel by nonzero count
// so the loop-exit branch sees runs of equal trip counts (predictable) instead of random ones. Each nonzero is one broadcast and nv
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
    float* y;                // output tile, feature-major
    const int32_t* rec;      // rows x {begin, end, y byte offset} (ends - begins even)
    const int32_t* offs;     // byte offset into x of each nonzero's activation row
    const float* vals;       // nonzero values
    int64_t rows;            // rows to compute
    int64_t accumulate;      // 0: y = sum, 1: y += sum
};

class SpmmF32Gen : public Generator {
public:
    // isa: avx512 (zmm, 16 lanes) or avx2 (ymm, 8 lanes); nv: token vectors (1..8 zmm, 1..7 ymm).
    SpmmF32Gen(Isa isa, int nv);
    void operator()(const SpmmArgs& a) const { call(&a); }
};

// Generated once per (isa, nv) and shared (thread-safe).
std::shared_ptr<const SpmmF32Gen> spmm_f32_kernel(Isa isa, int nv);

}  // namespace sparq::jit
