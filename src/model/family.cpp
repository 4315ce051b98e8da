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

// "<from>N.<module>.<leaf>" -> "<to>N.<renamed module>.<leaf>" by the table column `to_distil`;
// nullopt if `name` is not a layer tensor of the table.
std::optional<std::string> rename_layer(const std::string& name, const char* from, const char* to,
                                        bool to_distil) {
    if (!starts_with(name, from)) return std::nullopt;
    const size_t num = std::strlen(from), dot = name.find('.', num);
    if (dot == std::string::npos || dot == num) return std::nullopt;
    for (size_t i = num; i < dot; ++i)
        if (name[i] < '0' || name[i] > '9') return std::nullopt;
    const std::string rest = name.substr(dot + 1);
    for (const Rename& r : kDistilLayer) {
        const std::string src = to_distil ? r.bert : r.distil, dst = to_distil ? r.distil : r.bert;
        if (starts_with(rest, src + "."))
            return std::string(to) + name.substr(num, dot - num) + "." + dst +
                   rest.substr(src.size());
    }
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
    if (auto n = rename_layer(canonical, "encoder.layer.", "transformer.layer.", true)) return *n;
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

std::optional<std::string> canonical_encoder_name(const std::string& model_type,
                                                  const std::string& native) {
    std::string name = native;
    const std::string prefix = family_prefix(model_type);
    if (starts_with(name, prefix)) name = name.substr(prefix.size());
    if (model_type != "distilbert") return name;
    if (starts_with(name, "transformer.layer."))
        return rename_layer(name, "transformer.layer.", "encoder.layer.", false);
    if (starts_with(name, "embeddings.")) return name;
    return std::nullopt;
}

}  // namespace sparq
