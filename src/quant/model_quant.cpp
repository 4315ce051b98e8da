// Quantized model directories: names and the quantization_config entry (see model_quant.hpp).
#include "quant/model_quant.hpp"

#include <cmath>
#include <regex>

#include "sparq/error.hpp"

namespace sparq {

namespace {
const std::regex& linear_module_re() {
    static const std::regex re(
        R"((bert\.|roberta\.|electra\.|mpnet\.|deberta\.)?encoder\.layer\.\d+\.(attention\.self\.(query|key|value|in)(_proj)?|attention\.output\.dense|attention\.attn\.[qkvo]|intermediate\.dense|output\.dense)|(distilbert\.)?transformer\.layer\.\d+\.(attention\.(q_lin|k_lin|v_lin|out_lin)|ffn\.lin[12])|(albert\.)?encoder\.albert_layer_groups\.\d+\.albert_layers\.\d+\.(attention\.(query|key|value|dense)|ffn|ffn_output)|(model\.)?layers\.\d+\.(attn\.(Wqkv|Wo)|mlp\.(Wi|Wo))|(bert\.)?encoder\.layers\.\d+\.(attn\.(Wqkv|out_proj)|mlp\.fc(11|12|2))|(new\.|bert\.)?encoder\.layer\.\d+\.(attention\.(qkv_proj|o_proj)|mlp\.(up_gate_proj|down_proj|gated_layers|wo|up_gated_layer|down_layer)))");
    return re;
}
}  // namespace

bool is_int8_linear_weight(const std::string& name) {
    const std::string suffix = ".weight";
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix))
        return false;
    return std::regex_match(name.substr(0, name.size() - suffix.size()), linear_module_re());
}

std::string plan_name_of_module(const std::string& module) {
    for (const char* qkv : {"query", "key", "value"}) {
        const std::string tail = std::string("attention.self.") + qkv;
        if (module.size() > tail.size() &&
            module.compare(module.size() - tail.size(), tail.size(), tail) == 0)
            return module.substr(0, module.size() - tail.size()) +
                   "attention.self.{query,key,value}.weight";
    }
    return module + ".weight";
}

QuantizationConfig parse_quantization_config(const nlohmann::json& config,
                                             const std::string& where) {
    QuantizationConfig q;
    if (!config.is_object() || !config.contains("quantization_config")) return q;
    const auto& j = config["quantization_config"];
    const std::string w = where + ": quantization_config";
    if (!j.is_object()) throw Error(w + ": expected an object");
    q.present = true;
    if (!j.contains("quant_method") || j["quant_method"] != kQuantMethod)
        throw Error(w + ".quant_method: expected \"" + kQuantMethod + "\", found " +
                    (j.contains("quant_method") ? j["quant_method"].dump() : "nothing"));
    if (j.contains("bits") && j["bits"] != 8)
        throw Error(w + ".bits: expected 8, found " + j["bits"].dump());
    if (j.contains("calibration") && j["calibration"].is_string()) q.calibration = j["calibration"];
    if (j.contains("activation_scales")) {
        const auto& s = j["activation_scales"];
        if (!s.is_object()) throw Error(w + ".activation_scales: expected an object");
        for (auto it = s.begin(); it != s.end(); ++it) {
            if (!std::regex_match(it.key(), linear_module_re()))
                throw Error(w + ".activation_scales: '" + it.key() +
                            "' is not an encoder linear module");
            if (!it.value().is_number())
                throw Error(w + ".activation_scales." + it.key() + ": expected a number");
            const float v = it.value().get<float>();
            if (!(v > 0.0f) || !std::isfinite(v))
                throw Error(w + ".activation_scales." + it.key() +
                            ": expected a positive finite scale, found " + it.value().dump());
            std::string key = it.key();
            for (const char* family : {"bert.", "roberta.", "electra."})
                if (key.rfind(family, 0) == 0) key = key.substr(std::string(family).size());
            q.act_scales[key] = v;
        }
    }
    return q;
}

nlohmann::ordered_json quantization_config_json(const QuantizationConfig& q) {
    nlohmann::ordered_json j;
    j["quant_method"] = kQuantMethod;
    j["bits"] = 8;
    j["weights"] = "int8 symmetric per output channel: I8 [out][in] + F32 <name>_scale [out]";
    j["weight_tensors"] = "encoder linear layers (attention q/k/v/output, intermediate, output)";
    j["kept_f32"] = "embeddings, LayerNorm, biases, pooler, classifier/qa heads";
    if (q.act_scales.empty()) {
        j["activations"] = "int8 symmetric, dynamic per token";
    } else {
        j["activations"] = "int8 symmetric, static per tensor (calibrated)";
        if (!q.calibration.empty()) j["calibration"] = q.calibration;
        nlohmann::ordered_json s = nlohmann::ordered_json::object();
        for (const auto& [k, v] : q.act_scales) s[k] = v;
        j["activation_scales"] = s;
    }
    return j;
}

std::map<std::string, float> plan_act_scales(const QuantizationConfig& q) {
    std::map<std::string, float> out;
    std::map<std::string, int> count;
    for (const auto& [module, v] : q.act_scales) {
        const std::string p = plan_name_of_module(module);
        auto [it, fresh] = out.emplace(p, v);
        if (!fresh && it->second != v)
            throw Error("quantization_config.activation_scales: " + module +
                        " differs from the other projections of " + p +
                        " (query, key and value share one input)");
        ++count[p];
    }
    for (const auto& [p, n] : count)
        if (p.find("{query,key,value}") != std::string::npos && n != 3)
            throw Error(
                "quantization_config.activation_scales: expected query, key and value "
                "scales for " +
                p + ", found " + std::to_string(n));
    return out;
}

}  // namespace sparq
