#pragma once
// Dense f32 weight kernel on oneDNN matmul, with the variants the benchmark compares.
#include <memory>

#include "kernels/linear.hpp"

namespace sparq {

struct DenseF32Options {
    bool packed_weights = true;    // reorder W once into the matmul's preferred (blocked) layout
    bool runtime_tokens = false;   // one primitive with M = DNNL_RUNTIME_DIM_VAL (else one per T)
    bool binary_residual = false;  // residual as binary_add post-op (else copy + sum post-op);
                                   // not with runtime_tokens or in place (those use sum)
};

// make_dense_f32 with explicit variant choices (make_dense_f32 uses the defaults above).
std::unique_ptr<LinearKernel> make_dense_f32_variant(const LinearDesc& desc,
                                                     const DenseF32Options& opts);

}  // namespace sparq
