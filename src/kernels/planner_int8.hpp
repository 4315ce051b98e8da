#pragma once
// int8 half of the planner: called by plan_linear when PlanOptions::precision is "int8".
#include "kernels/planner.hpp"
#include "quant/quant.hpp"

namespace sparq {

// Dense int8, sparse int8 or f32 (too large a reduction for int32 accumulators, or int8 does not
// pay at this size) for one weight, honoring opts.kernels forcing (dense|sparse force int8).
PlannedLinear plan_linear_int8(const LinearDesc& desc, const PlanOptions& opts);

// The int8 kernels' activation mode for `desc`: a fixed scale if opts.act_scales holds one for
// desc.name, else dynamic per token. Throws sparq::Error for a non-positive or non-finite scale.
QuantOptions int8_quant_options(const LinearDesc& desc, const PlanOptions& opts);

}  // namespace sparq
