#pragma once
// `sparq quantize`: writes an int8 model directory (see quant/model_quant.hpp and docs/int8.md)
// from a f32/f16/bf16 one, optionally with calibrated static activation scales.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sparq::tools {

struct QuantizeOptions {
    std::vector<std::string> calibration_texts;  // empty: dynamic per-token activations
    std::string method = "percentile";           // percentile | mse | max
    double percentile = 99.99;                   // of |x|, for method percentile
    bool per_tensor = false;                     // one weight scale per matrix (stored per row)
    int batch = 8;                               // calibration texts per forward
};

struct QuantizeResult {
    int64_t int8_tensors = 0, kept_tensors = 0;
    int64_t calibration_tokens = 0;
    std::map<std::string, float> act_scales;  // by module name (empty: dynamic)
};

// Clipping threshold of the |values| for method max | percentile (P of |x|) | mse (the clip c
// minimizing sum (x - Q_c(x))^2 over a grid of candidates, Q_c: symmetric int8 with scale c/127).
// Throws sparq::Error for an unknown method or a percentile outside (0, 100].
float calibrate_clip(std::vector<float> abs_values, const std::string& method, double percentile);

// Reads src_dir, writes dst_dir (created; must not hold a model already). Throws sparq::Error.
QuantizeResult quantize_model(const std::string& src_dir, const std::string& dst_dir,
                              const QuantizeOptions& opts);

}  // namespace sparq::tools
