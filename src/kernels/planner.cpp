// Weight-kernel planner: per matrix, dense f32 (oneDNN) or sparse f32 (JIT) from a cost model
// calibrated with bench/spmm_bench on this machine; int8 kernels register here as they land.
//
// Cost model, per token (both kernels are linear in the token count T; the plan is made once at
// load time, so it cannot depend on T):
//   dense  = 2 * out * in / kDenseGflops
//   sparse = 2 * nnz / kSparseGflops + out * kSparseNsPerOutput + in * kSparseNsPerInput
// The sparse fixed part is the packing of the activations, the transpose + epilogue back to
// token-major, and the per-row/per-K-chunk overhead of the row kernel (accumulator load/store,
// loop exit); it is what caps the speedup at high sparsity. The crossover sparsity is where
// sparse is kSparseMargin times faster.
#include "kernels/planner.hpp"

#include <cstdio>

#include "cpu/isa.hpp"
#include "kernels/spmm/spmm.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

// Calibration: bench/spmm_bench BM_SparseVsDense, 1 thread, T = 128, magnitude-pruned Gaussian
// weights, medians of 15 interleaved runs (thread CPU time), spmm_f32_4x16_k128_avx512:
//   shape (out x in)   dense ms   sparse ms at 50 / 80 / 90 / 95 % zeros
//   768 x 768          0.766      0.588 / 0.281 / 0.165 / 0.118
//   2304 x 768         2.303      1.999 / 0.847 / 0.480 / 0.323
//   3072 x 768         3.265      2.785 / 1.185 / 0.677 / 0.451
//   768 x 3072         3.246      2.452 / 1.149 / 0.688 / 0.473
// Per shape, a line through 50% and 95% gives a marginal 115-145 GFLOP/s over nonzeros and a
// fixed ~0.5-2.1 us per token, fitted (conservatively) as 0.3 ns per output + 0.7 ns per input
// (the per-input term also carries the per-K-chunk row overhead, which grows with `in`).
// Resulting crossovers (sparse 1.25x faster than dense): 768x768 55%, 3072x768 51%, 768x3072 54%;
// without the margin (sparse == dense): 42-46%.
constexpr double kDenseGflops = 190.0;      // oneDNN f32 matmul, one core
constexpr double kSparseGflops = 125.0;     // JIT row kernel, over nonzeros, marginal rate
constexpr double kSparseNsPerOutput = 0.3;  // per output feature per token (transpose+epilogue)
constexpr double kSparseNsPerInput = 0.7;   // per input feature per token (packing, K-chunks)
// Auto picks sparse only when estimated at least this much faster: the model is a straight line
// through noisy medians, and near the crossover dense is the safe choice.
constexpr double kSparseMargin = 1.25;

struct Estimate {
    double dense_ns, sparse_ns, crossover;  // ns per token; crossover: sparsity of the switch
};

Estimate spmm_cost_model(int64_t out, int64_t in, int64_t nnz) {
    Estimate e;
    e.dense_ns = 2.0 * out * in / kDenseGflops;
    double fixed = out * kSparseNsPerOutput + in * kSparseNsPerInput;
    e.sparse_ns = 2.0 * nnz / kSparseGflops + fixed;
    // dense = kSparseMargin * (2 * (1 - s) * out * in / kSparseGflops + fixed)  =>  s
    double density = (e.dense_ns / kSparseMargin - fixed) * kSparseGflops / (2.0 * out * in);
    e.crossover = density <= 0 ? 1.0 : (density >= 1 ? 0.0 : 1.0 - density);
    return e;
}

template <typename... Args>
std::string format(const char* fmt, Args... args) {
    char buf[200];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}

}  // namespace

double sparsity_of(const float* w, int64_t rows, int64_t cols) {
    int64_t n = rows * cols, zeros = 0;
    for (int64_t i = 0; i < n; ++i) zeros += (w[i] == 0.0f);
    return n ? static_cast<double>(zeros) / n : 0.0;
}

PlannedLinear plan_linear(const LinearDesc& desc, const PlanOptions& opts) {
    if (opts.kernels != "auto" && opts.kernels != "dense" && opts.kernels != "sparse")
        throw Error("unknown kernel choice '" + opts.kernels +
                    "' (expected auto, dense or sparse)");
    if (opts.precision != "f32" && opts.precision != "int8")
        throw Error("unknown precision '" + opts.precision + "' (expected f32 or int8)");
    if (!desc.weight || desc.out <= 0 || desc.in <= 0)
        throw Error("weight '" + desc.name + "': expected a non-empty [out][in] matrix, got " +
                    std::to_string(desc.out) + "x" + std::to_string(desc.in));
    PlannedLinear p;
    p.sparsity = sparsity_of(desc.weight, desc.out, desc.in);
    const int64_t nnz =
        desc.out * desc.in - static_cast<int64_t>(p.sparsity * desc.out * desc.in + 0.5);
    Estimate e = spmm_cost_model(desc.out, desc.in, nnz);
    const double speedup = e.dense_ns / e.sparse_ns;
    const double pct = 100.0 * p.sparsity, cross = 100.0 * e.crossover;
    bool sparse;
    if (opts.kernels == "sparse") {
        sparse = true;
        p.why = format("sparse (forced): %.1f%% zeros, est %.2fx vs dense (crossover %.0f%%)", pct,
                       speedup, cross);
    } else if (opts.kernels == "dense") {
        sparse = false;
        p.why = format("dense (forced): %.1f%% zeros, est sparse %.2fx (crossover %.0f%%)", pct,
                       speedup, cross);
    } else if (spmm_best_variant(desc.out, desc.in).isa == Isa::scalar) {
        sparse = false;  // the scalar sparse fallback is a reference, not a fast path
        p.why =
            format("dense: %.1f%% zeros, but no sparse JIT kernel on this CPU (needs AVX2)", pct);
    } else {
        sparse = speedup >= kSparseMargin;
        if (sparse)
            p.why = format("sparse: %.1f%% zeros, est %.1fx faster than dense (crossover %.0f%%)",
                           pct, speedup, cross);
        else if (e.crossover >= 1.0)
            p.why = format(
                "dense: %.1f%% zeros, sparse does not pay off at this size (est "
                "sparse %.2fx)",
                pct, speedup);
        else
            p.why = format(
                "dense: %.1f%% zeros, below the sparse crossover %.0f%% (est sparse "
                "%.2fx)",
                pct, cross, speedup);
    }
    if (sparse) {
        p.kernel = make_sparse_f32(desc);
        p.why += std::string(" [") + p.kernel->name() + "]";
    } else {
        p.kernel = make_dense_f32(desc);
    }
    return p;
}

}  // namespace sparq
