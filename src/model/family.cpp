#include "model/family.hpp"

#include <cstring>

namespace sparq {

namespace {

// Per-layer module names: BERT's, DistilBERT's.
struct Rename {
    const char* bert;
    const char* distil;
};
constexpr Rename kDistilLayer[] = {
    {"attention.self.query", "attention.q_lin"},
    {"attention.self.key", "attention.k_lin"},
    {"attention.self.value", "attention.v_lin"},
    {"attention.output.dense", "attention.out_lin"},
    {"attention.output.LayerNorm", "sa_layer_norm"},
    {"intermediate.dense", "ffn.lin1"},
    {"output.dense", "ffn.lin2"},
    {"output.LayerNorm", "output_layer_norm"},
};

bool starts_with(const std::string& s, const std::string& p) {
    return s.compare(0, p.size(), p) == 0;
}

// "encoder.layer.N.<module>.<leaf>" -> "transformer.layer.N.<DistilBERT module>.<leaf>";
// nullopt if `name` is not a layer tensor of the table.
std::optional<std::string> distil_layer_name(const std::string& name) {
    const std::string from = "encoder.layer.";
    if (!starts_with(name, from)) return std::nullopt;
    const size_t num = from.size(), dot = name.find('.', num);
    if (dot == std::string::npos || dot == num) return std::nullopt;
    for (size_t i = num; i < dot; ++i)
        if (name[i] < '0' || name[i] > '9') return std::nullopt;
    const std::string rest = name.substr(dot + 1);
    for (const Rename& r : kDistilLayer)
        if (starts_with(rest, std::string(r.bert) + "."))
            return "transformer.layer." + name.substr(num, dot - num) + "." + r.distil +
                   rest.substr(std::strlen(r.bert));
    return std::nullopt;
}

}  // namespace

std::string family_prefix(const std::string& model_type) {
    if (model_type == "roberta") return "roberta.";
    if (model_type == "distilbert") return "distilbert.";
    if (model_type == "electra") return "electra.";
    return "bert.";
}

std::string native_encoder_name(const std::string& model_type, const std::string& canonical) {
    if (model_type != "distilbert") return canonical;
    if (auto n = distil_layer_name(canonical)) return *n;
    return canonical;  // embeddings.*: the same names
}

std::string plan_display_name(const std::string& model_type, const std::string& canonical) {
    const std::string fused = "attention.self.{query,key,value}.weight";
    if (model_type == "distilbert" && canonical.size() > fused.size() &&
        canonical.compare(canonical.size() - fused.size(), fused.size(), fused) == 0) {
        // "encoder.layer.N." + fused -> "transformer.layer.N.attention.{q,k,v}_lin.weight"
        const std::string layer = canonical.substr(0, canonical.size() - fused.size());
        const std::string probe =
            native_encoder_name(model_type, layer + "attention.self.query.weight");
        return probe.substr(0, probe.size() - std::string("q_lin.weight").size()) +
               "{q,k,v}_lin.weight";
    }
    return native_encoder_name(model_type, canonical);
}

}  // namespace sparq
