// int8 half of the weight-kernel planner (plan_linear with precision "int8"): per matrix, dense
// int8 (oneDNN s8 matmul), sparse int8 (1x4-block JIT) or f32 when int8 does not pay or is unsafe.
//
// Costs are the int8 branch's single-core estimates (estimate_dense_s8_ns / estimate_sparse_s8_ns,
// fitted on bench/s8_bench.cpp) at a typical T = 128 tokens, compared with the f32 dense model
// of planner.cpp (2 * out * in / 190 GFLOP/s per token). Margins as in the f32 planner: a cheaper
// variant is chosen only when estimated at least kMargin times faster than the safe default.
#include "kernels/planner_int8.hpp"

#include <cstdio>

#include "kernels/s8/s8_kernels.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

constexpr int64_t kPlanTokens = 128;       // token count the plan is made for
constexpr double kDenseF32Gflops = 190.0;  // planner.cpp's oneDNN f32 rate, one core
constexpr double kMargin = 1.25;
// int32 accumulation of u8 (s8 + 128) x s8 products: in_pad * 255 * 127 must stay below 2^31
// (the int8 kernels refuse larger reductions; the planner falls back to f32 instead).
constexpr int64_t kMaxS8In = (int64_t{1} << 31) / (255 * 127) / 4 * 4;

template <typename... Args>
std::string format(const char* fmt, Args... args) {
    char buf[240];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}

}  // namespace

QuantOptions int8_quant_options(const LinearDesc& desc, const PlanOptions& opts) {
    QuantOptions q;
    if (opts.act_scales) {
        auto it = opts.act_scales->find(desc.name);
        if (it != opts.act_scales->end()) {
            if (!(it->second > 0.0f) || !(it->second < 1e30f))
                throw Error("weight '" + desc.name +
                            "': expected a positive finite static activation scale, found " +
                            std::to_string(it->second));
            q.act_scale = ActScale::fixed;
            q.fixed_scale = it->second;
        }
    }
    return q;
}

PlannedLinear plan_linear_int8(const LinearDesc& desc, const PlanOptions& opts) {
    PlannedLinear p;
    p.sparsity = sparsity_of(desc.weight, desc.out, desc.in);
    const double pct = 100.0 * p.sparsity;
    if (desc.in > kMaxS8In) {
        p.kernel = make_dense_f32(desc);
        p.why = format("f32: %lld inputs overflow int8's int32 accumulators (at most %lld)",
                       static_cast<long long>(desc.in), static_cast<long long>(kMaxS8In));
        return p;
    }
    const QuantOptions q = int8_quant_options(desc, opts);
    const BlockStats st = block_stats_s8(desc);
    const int64_t groups = desc.out * ((desc.in + 3) / 4);
    const double block_pct = groups ? 100.0 * st.blocks / groups : 0.0;
    const double f32_ns = 2.0 * desc.out * desc.in * kPlanTokens / kDenseF32Gflops;
    const double dense_ns = estimate_dense_s8_ns(desc.out, desc.in, kPlanTokens);
    const double sparse_ns = estimate_sparse_s8_ns(desc.out, desc.in, st.blocks, kPlanTokens);
    const double vs_dense = dense_ns / sparse_ns;
    const char* fmt_name = st.blocked ? "1x4" : "grouped-by-4";
    const char* mode = q.act_scale == ActScale::fixed ? ", static act scale" : "";
    enum { f32, dense, sparse } choice;
    if (opts.kernels == "dense") {
        choice = dense;
        p.why = format("dense int8 (forced): %.1f%% zeros, est sparse int8 %.2fx%s", pct, vs_dense,
                       mode);
    } else if (opts.kernels == "sparse") {
        choice = sparse;
        p.why = format(
            "sparse int8 %s (forced): %.1f%% zeros, blocks %.1f%%, est %.2fx vs dense int8%s",
            fmt_name, pct, block_pct, vs_dense, mode);
    } else {
        const double best_ns = std::min(dense_ns, sparse_ns * kMargin);
        if (f32_ns < best_ns * kMargin) {
            choice = f32;
            p.why = format(
                "f32: int8 does not pay at this size (est dense int8 %.2fx, sparse int8 "
                "%.2fx vs f32)",
                f32_ns / dense_ns, f32_ns / sparse_ns);
        } else if (vs_dense >= kMargin) {
            choice = sparse;
            p.why = format("sparse int8 %s: %.1f%% zeros, blocks %.1f%%, est %.1fx vs dense int8%s",
                           fmt_name, pct, block_pct, vs_dense, mode);
        } else {
            choice = dense;
            p.why = format(
                "dense int8: %.1f%% zeros, blocks %.1f%% (est sparse int8 %.2fx), est "
                "%.1fx vs f32%s",
                pct, block_pct, vs_dense, f32_ns / dense_ns, mode);
        }
    }
    if (choice == f32)
        p.kernel = make_dense_f32(desc);
    else if (choice == dense)
        p.kernel = make_dense_s8(desc, q);
    else {
        p.kernel = make_sparse_s8(desc, q);
        p.why += " [" + p.kernel->name() + "]";
    }
    return p;
}

}  // namespace sparq
