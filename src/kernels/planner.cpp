// Weight-kernel planner. Today: dense f32 (oneDNN) for every matrix; the sparse and int8 kernels
// register here as they land.
#include "kernels/planner.hpp"

#include "sparq/error.hpp"

namespace sparq {

double sparsity_of(const float* w, int64_t rows, int64_t cols) {
    int64_t n = rows * cols, zeros = 0;
    for (int64_t i = 0; i < n; ++i) zeros += (w[i] == 0.0f);
    return n ? static_cast<double>(zeros) / n : 0.0;
}

PlannedLinear plan_linear(const LinearDesc& desc, const PlanOptions& opts) {
    if (opts.kernels != "auto" && opts.kernels != "dense" && opts.kernels != "sparse")
        throw Error("unknown kernel choice '" + opts.kernels + "' (expected auto, dense or sparse)");
    if (opts.precision != "f32" && opts.precision != "int8")
        throw Error("unknown precision '" + opts.precision + "' (expected f32 or int8)");
    PlannedLinear p;
    p.sparsity = sparsity_of(desc.weight, desc.out, desc.in);
    p.kernel = make_dense_f32(desc);
    p.why = "dense f32: only kernel available";
    return p;
}

}  // namespace sparq
