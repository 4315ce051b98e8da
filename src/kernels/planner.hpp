#pragma once
// Per-matrix weight-kernel choice at load time: dense vs sparse, f32 vs int8, tile shape.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kernels/linear.hpp"

namespace sparq {

// The speeds behind the f32 planner's dense-vs-sparse cost model, per token:
//   dense  = 2 * out * in / dense_gflops
//   sparse = 2 * nnz / sparse_gflops + out * ns_per_output + in * ns_per_input
struct SpmmRates {
    double dense_gflops = 0, sparse_gflops = 0, ns_per_output = 0, ns_per_input = 0;
    std::string source;  // where they come from, e.g. "measured on this CPU"
};

// The built-in rates (a 2-vCPU Xeon with two FMA units per core; bench/spmm_bench).
SpmmRates builtin_spmm_rates();
// SPARQ_SPMM_RATES's text "dense_gflops,sparse_gflops,ns_per_output,ns_per_input" (the first two
// finite and > 0, the others finite and >= 0, nothing else); throws sparq::Error naming it.
SpmmRates parse_spmm_rates(const std::string& text);

// The rates the planner uses for a non-trivial f32 decision: measured once per process on first
// use (one thread; dense and sparse f32 kernels on a 768x768 matrix at 50% and 95% zeros, 128
// tokens, best of 8 interleaved runs), because the crossover differs by CPU (a Xeon with
// two FMA units: ~51-56%; a Zen 4 core, whose dense rate is half: sparse already 1.35-1.47x
// faster at 50%). The measurement is cached on disk per CPU model (planner.cpp: ~/.cache/sparq,
// $SPARQ_CACHE_DIR, SPARQ_CACHE_DIR=none for no cache), so a machine plans alike from run to
// run. SPARQ_SPMM_RATES="dense,sparse,ns_out,ns_in" sets them; SPARQ_NO_CALIBRATION=1, or no
// sparse JIT kernel on this CPU, keeps the built-in ones.
const SpmmRates& spmm_rates();

struct PlanOptions {
    std::string kernels = "auto";   // auto | dense | sparse
    std::string precision = "f32";  // f32 | int8
    // Attention matmuls: auto (int8 iff precision int8 and AVX512-VNNI) | f32 | int8 (Encoder).
    std::string attention = "auto";
    // int8: calibrated static activation scales by weight name (LinearDesc::name); a weight not
    // in the map (or a null map) quantizes its activations dynamically per token.
    const std::map<std::string, float>* act_scales = nullptr;
    // Optional decorator applied to every built kernel (e.g. calibration observers).
    std::function<std::unique_ptr<LinearKernel>(std::unique_ptr<LinearKernel>, const LinearDesc&)>
        wrap;
    // f32 cost model (null: spmm_rates() for matrices of at least 64K weights and 25% zeros,
    // the built-in rates for the others, whose choice they settle alike).
    const SpmmRates* rates = nullptr;
};

struct PlannedLinear {
    std::unique_ptr<LinearKernel> kernel;
    double sparsity = 0;  // share of exact zeros in the weight
    std::string why;      // one line: why this kernel was chosen
    bool on_spmm_rates = false;  // decided on spmm_rates() (the why names their source)
};

// Chooses and builds the kernel for one weight matrix. Throws sparq::Error on a bad option.
PlannedLinear plan_linear(const LinearDesc& desc, const PlanOptions& opts);

// Share of exact zeros in a [rows][cols] matrix.
double sparsity_of(const float* w, int64_t rows, int64_t cols);

}  // namespace sparq
