#pragma once
// JIT generator of the sparse f32 row kernel (AVX-512 zmm or AVX2 ymm).
//
// One call runs `pairs` row-pair records {begin, end, ya, yb} of one K chunk and one token group:
//   for k in [begin, end) step 2:  y_a += vals[k] * x[offs[k]],  y_b += vals[k+1] * x[offs[k+1]]
// where y_a/y_b are the nv*lanes floats at byte offsets ya/yb of y, and x[off] the nv*lanes
// floats at byte offset off of the group's packed feature-major activations (off = column *
// group * 4). The nonzeros of two rows are interleaved (the shorter row padded with zero weights)
// so each row has its own accumulator set, with no per-row reduction or odd tail; records of a
// row panel are ordered by nonzero count, so paired rows have near-equal counts and the loop-exit
// branch sees runs of equal trip counts. The sparsity pattern is data (int32 byte offsets +
// values in nonzero order), so the code is ~250 bytes whatever the matrix; nv and the register
// width are baked in.
#include <cstdint>
#include <memory>

#include "cpu/isa.hpp"
#include "jit/generator.hpp"

namespace sparq::jit {

struct SpmmArgs {
    const float* x;          // packed activations of one token group, [in][group]
    float* y;                // output tile, feature-major
    const int32_t* rec;      // pairs x {begin, end, ya, yb} (end - begin even)
    const int32_t* offs;     // byte offset into x of each nonzero's activation row
    const float* vals;       // nonzero values
    int64_t pairs;           // records to run
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
