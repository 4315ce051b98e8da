#pragma once
// Quantized BERT model directories (written by `sparq quantize`, read by Model::load): which
// tensors are int8, how they are named, and the config.json "quantization_config" entry.
// Scheme: the encoder's linear weights (attention Q/K/V/output, intermediate, output) are stored
// as I8 [out][in] (symmetric, per output row, values in [-127, 127]) with an F32 [out] tensor
// "<name>_scale" (w ≈ q * scale); everything else keeps its dtype. Activations are quantized
// dynamically per token, or with calibrated static per-tensor scales listed in the config.
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace sparq {

constexpr const char* kQuantMethod = "sparq_int8";

// True for the encoder linear weights the scheme stores as int8, e.g.
// "bert.encoder.layer.3.intermediate.dense.weight" (with or without the "bert." prefix) or
// DistilBERT's "distilbert.transformer.layer.3.ffn.lin1.weight".
bool is_int8_linear_weight(const std::string& name);

// Name of the per-row scale tensor of an int8 weight.
inline std::string scale_tensor_name(const std::string& weight) { return weight + "_scale"; }

// The planner's weight name for a linear module (no "bert." prefix, no ".weight"):
// Q, K and V share the fused "encoder.layer.N.attention.self.{query,key,value}.weight".
std::string plan_name_of_module(const std::string& module);

struct QuantizationConfig {
    bool present = false;
    // Static activation scales by linear module name (HF name without "bert." and ".weight").
    std::map<std::string, float> act_scales;
    std::string calibration;  // method description, informative
};

// Parses config.json's "quantization_config" (absent: present == false). Throws sparq::Error
// naming the field for an unknown quant_method, bits != 8 or a bad activation scale.
QuantizationConfig parse_quantization_config(const nlohmann::json& config,
                                             const std::string& where);

// The same, as written into config.json.
nlohmann::ordered_json quantization_config_json(const QuantizationConfig& q);

// Static scales keyed by planner weight name; throws sparq::Error if Q, K and V of a layer
// have different scales or only some of them have one, or a module is not an int8 linear.
std::map<std::string, float> plan_act_scales(const QuantizationConfig& q);

}  // namespace sparq
