#pragma once
// Per-matrix weight-kernel choice at load time: dense vs sparse, f32 vs int8, tile shape.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kernels/linear.hpp"

namespace sparq {

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
};

struct PlannedLinear {
    std::unique_ptr<LinearKernel> kernel;
    double sparsity = 0;  // share of exact zeros in the weight
    std::string why;      // one line: why this kernel was chosen
};

// Chooses and builds the kernel for one weight matrix. Throws sparq::Error on a bad option.
PlannedLinear plan_linear(const LinearDesc& desc, const PlanOptions& opts);

// Share of exact zeros in a [rows][cols] matrix.
double sparsity_of(const float* w, int64_t rows, int64_t cols);

}  // namespace sparq
