#include "model/family.hpp"

#include <algorithm>
#include <cstring>

namespace sparq {

namespace {

// Per-layer module names: BERT's, the family's.
struct Rename {
    const char* bert;
    const char* native;
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
// MPNet keeps BERT's layer prefix ("encoder.layer.N.") and FFN names; its attention differs.
constexpr Rename kMpnetLayer[] = {
    {"attention.self.query", "attention.attn.q"},
    {"attention.self.key", "attention.attn.k"},
    {"attention.self.value", "attention.attn.v"},
    {"attention.output.dense", "attention.attn.o"},
    {"attention.output.LayerNorm", "attention.LayerNorm"},
};

// DeBERTa-v2 names Q, K and V query_proj, key_proj, value_proj; the rest as BERT.
constexpr Rename kDebertaLayer[] = {
    {"attention.self.query", "attention.self.query_proj"},
    {"attention.self.key", "attention.self.key_proj"},
    {"attention.self.value", "attention.self.value_proj"},
};

// DeBERTa v1 holds Q, K and V in one in_proj (rows interleaved per head; the loader splits it),
// with q_bias and v_bias (K has no bias).
constexpr Rename kDebertaV1Layer[] = {
    {"attention.self.query.weight", "attention.self.in_proj.weight"},
    {"attention.self.key.weight", "attention.self.in_proj.weight"},
    {"attention.self.value.weight", "attention.self.in_proj.weight"},
    {"attention.self.query.bias", "attention.self.q_bias"},
    {"attention.self.value.bias", "attention.self.v_bias"},
};

// ALBERT's layer modules (under "encoder.albert_layer_groups.G.albert_layers.J.").
constexpr Rename kAlbertLayer[] = {
    {"attention.self.query", "attention.query"},
    {"attention.self.key", "attention.key"},
    {"attention.self.value", "attention.value"},
    {"attention.output.dense", "attention.dense"},
    {"attention.output.LayerNorm", "attention.LayerNorm"},
    {"intermediate.dense", "ffn"},
    {"output.dense", "ffn_output"},
    {"output.LayerNorm", "full_layer_layer_norm"},
};

// ModernBERT's layer modules (under "layers.N."): Q, K and V in one Wqkv (weight and bias; the
// loader splits its rows), attn_norm (the pre-attention LayerNorm) in the first LayerNorm's slot,
// mlp_norm in the second.
constexpr Rename kModernLayer[] = {
    {"attention.self.query", "attn.Wqkv"},
    {"attention.self.key", "attn.Wqkv"},
    {"attention.self.value", "attn.Wqkv"},
    {"attention.output.dense", "attn.Wo"},
    {"attention.output.LayerNorm", "attn_norm"},
    {"intermediate.dense", "mlp.Wi"},
    {"output.dense", "mlp.Wo"},
    {"output.LayerNorm", "mlp_norm"},
};

// NomicBERT's layer modules (under "encoder.layers.N."): Q, K and V in one Wqkv as ModernBERT's,
// norm1 / norm2 after the residual adds as BERT's LayerNorms, the gated MLP's fc11 (the value)
// and fc12 (the gate, under the canonical "intermediate.gate" only NomicBERT has), then fc2.
constexpr Rename kNomicLayer[] = {
    {"attention.self.query", "attn.Wqkv"},   {"attention.self.key", "attn.Wqkv"},
    {"attention.self.value", "attn.Wqkv"},   {"attention.output.dense", "attn.out_proj"},
    {"attention.output.LayerNorm", "norm1"}, {"intermediate.dense", "mlp.fc11"},
    {"intermediate.gate", "mlp.fc12"},       {"output.dense", "mlp.fc2"},
    {"output.LayerNorm", "norm2"},
};

// GTE's ("new") layer modules (BERT's "encoder.layer.N." prefix): Q, K and V in one qkv_proj,
// o_proj, attn_ln / mlp_ln after the residual adds, the gated MLP's up_gate_proj (up, then gate)
// and down_proj.
constexpr Rename kGteLayer[] = {
    {"attention.self.query", "attention.qkv_proj"},
    {"attention.self.key", "attention.qkv_proj"},
    {"attention.self.value", "attention.qkv_proj"},
    {"attention.output.dense", "attention.o_proj"},
    {"attention.output.LayerNorm", "attn_ln"},
    {"intermediate.dense", "mlp.up_gate_proj"},
    {"output.dense", "mlp.down_proj"},
    {"output.LayerNorm", "mlp_ln"},
};

// JinaBERT's layer modules (BERT's prefix and attention): the gated MLP's gated_layers (the
// activated half first) and wo, its LayerNorm mlp.layernorm.
constexpr Rename kJinaLayer[] = {
    {"intermediate.dense", "mlp.gated_layers"},
    {"output.dense", "mlp.wo"},
    {"output.LayerNorm", "mlp.layernorm"},
};

// The qk-post-norm variant's: mlp.up_gated_layer (up, then the gate) and mlp.down_layer,
// layer_norm_2 after the MLP (layer_norm_1 and attention.self.layer_norm_q / layer_norm_k keep
// their names).
constexpr Rename kJinaQkLayer[] = {
    {"intermediate.dense", "mlp.up_gated_layer"},
    {"output.dense", "mlp.down_layer"},
    {"output.LayerNorm", "layer_norm_2"},
};

bool starts_with(const std::string& s, const std::string& p) {
    return s.compare(0, p.size(), p) == 0;
}

// "encoder.layer.N.<module>.<leaf>" -> "<layer prefix>N.<native module>.<leaf>" by `table`
// (an entry may also name a whole tensor, "<module>.<leaf>");
// nullopt if `name` is not a layer tensor of the table.
// layer_of maps the layer number N to the family's "<prefix>N." part.
template <size_t N, typename LayerOf>
std::optional<std::string> layer_name(const std::string& name, const Rename (&table)[N],
                                      LayerOf&& layer_of) {
    const std::string from = "encoder.layer.";
    if (!starts_with(name, from)) return std::nullopt;
    const size_t num = from.size(), dot = name.find('.', num);
    if (dot == std::string::npos || dot == num) return std::nullopt;
    for (size_t i = num; i < dot; ++i)
        if (name[i] < '0' || name[i] > '9') return std::nullopt;
    const std::string rest = name.substr(dot + 1);
    for (const Rename& r : table) {
        if (rest == r.bert) return layer_of(std::stoll(name.substr(num, dot - num))) + r.native;
        if (starts_with(rest, std::string(r.bert) + "."))
            return layer_of(std::stoll(name.substr(num, dot - num))) + r.native +
                   rest.substr(std::strlen(r.bert));
    }
    return std::nullopt;
}

// A "<prefix>N." layer numbering.
auto numbered(std::string prefix) {
    return [prefix = std::move(prefix)](int64_t n) { return prefix + std::to_string(n) + "."; };
}

}  // namespace

std::string family_prefix(const std::string& model_type) {
    if (model_type == "roberta" || model_type == "xlm-roberta") return "roberta.";
    if (model_type == "distilbert") return "distilbert.";
    if (model_type == "electra") return "electra.";
    if (model_type == "mpnet") return "mpnet.";
    if (model_type == "deberta-v2" || model_type == "deberta") return "deberta.";
    if (model_type == "albert") return "albert.";
    if (model_type == "modernbert") return "model.";
    if (model_type == "new") return "new.";
    return "bert.";
}

std::string native_encoder_name(const std::string& model_type, const std::string& canonical,
                                int64_t albert_inner) {
    std::optional<std::string> n;
    if (model_type == "distilbert")
        n = layer_name(canonical, kDistilLayer, numbered("transformer.layer."));
    if (model_type == "mpnet") n = layer_name(canonical, kMpnetLayer, numbered("encoder.layer."));
    if (model_type == "deberta-v2")
        n = layer_name(canonical, kDebertaLayer, numbered("encoder.layer."));
    if (model_type == "deberta")
        n = layer_name(canonical, kDebertaV1Layer, numbered("encoder.layer."));
    if (model_type == "albert") {
        n = layer_name(canonical, kAlbertLayer, [albert_inner](int64_t l) {
            return "encoder.albert_layer_groups." + std::to_string(l / albert_inner) +
                   ".albert_layers." + std::to_string(l % albert_inner) + ".";
        });
        for (const auto& [from, to] : {std::pair<std::string, std::string>{
                                           "embeddings_project.", "encoder.embedding_hidden_mapping_in."},
                                       {"pooler.dense.", "pooler."}})
            if (!n && starts_with(canonical, from)) n = to + canonical.substr(from.size());
    }
    if (model_type == "modernbert") {
        n = layer_name(canonical, kModernLayer, numbered("layers."));
        for (const auto& [from, to] :
             {std::pair<std::string, std::string>{"embeddings.word_embeddings.",
                                                  "embeddings.tok_embeddings."},
              {"embeddings.LayerNorm.", "embeddings.norm."}})
            if (!n && starts_with(canonical, from)) n = to + canonical.substr(from.size());
    }
    if (model_type == "new") n = layer_name(canonical, kGteLayer, numbered("encoder.layer."));
    if (model_type == "jina_bert")
        n = layer_name(canonical, kJinaLayer, numbered("encoder.layer."));
    if (model_type == "jina_bert_qk")
        n = layer_name(canonical, kJinaQkLayer, numbered("encoder.layer."));
    if (model_type == "nomic_bert") {
        n = layer_name(canonical, kNomicLayer, numbered("encoder.layers."));
        if (!n && starts_with(canonical, "embeddings.LayerNorm."))
            n = "emb_ln." + canonical.substr(std::strlen("embeddings.LayerNorm."));
    }
    return n ? *n : canonical;  // embeddings.*, the FFN of MPNet: the same names
}

std::string plan_display_name(const std::string& model_type, const std::string& canonical,
                              int64_t albert_inner) {
    // The fused QKV weight: the family's names of the three, their differing middles in braces
    // ("attention.self.{query,key,value}.weight", "transformer.layer.N.attention.{q,k,v}_lin
    // .weight", "attention.attn.{q,k,v}.weight", "attention.self.{query,key,value}_proj.weight").
    const std::string fused = "attention.self.{query,key,value}.weight";
    // NomicBERT's MLP input: its gate fc12 and fc11 planned as one matrix.
    if (model_type == "nomic_bert" && canonical.ends_with(".intermediate.dense.weight")) {
        const std::string n = native_encoder_name(model_type, canonical, albert_inner);
        return n.substr(0, n.size() - std::strlen("fc11.weight")) + "{fc12,fc11}.weight";
    }
    if (canonical.size() <= fused.size() || !canonical.ends_with(fused))
        return native_encoder_name(model_type, canonical, albert_inner);
    const std::string layer = canonical.substr(0, canonical.size() - fused.size());
    std::string n[3];
    const char* parts[3] = {"query", "key", "value"};
    for (int i = 0; i < 3; ++i)
        n[i] = native_encoder_name(model_type, layer + "attention.self." + parts[i] + ".weight",
                                   albert_inner);
    if (n[0] == n[1] && n[0] == n[2]) return n[0];  // one tensor (DeBERTa v1's in_proj)
    const size_t shortest = std::min({n[0].size(), n[1].size(), n[2].size()});
    size_t pre = 0, suf = 0;
    while (pre < shortest && n[0][pre] == n[1][pre] && n[0][pre] == n[2][pre]) ++pre;
    auto back = [&](int i) { return n[i][n[i].size() - 1 - suf]; };
    while (pre + suf < shortest && back(0) == back(1) && back(0) == back(2)) ++suf;
    auto middle = [&](int i) { return n[i].substr(pre, n[i].size() - pre - suf); };
    return n[0].substr(0, pre) + "{" + middle(0) + "," + middle(1) + "," + middle(2) + "}" +
           n[0].substr(n[0].size() - suf);
}

}  // namespace sparq
