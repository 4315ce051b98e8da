#pragma once
// Tensor names of the supported model families (BERT, RoBERTa, DistilBERT, ELECTRA, MPNet) against
// BERT's names, which the rest of sparq uses ("canonical":
// "encoder.layer.3.attention.self.query.weight", without a "bert." prefix). BERT and RoBERTa name
// their encoder like BERT; DistilBERT names it "transformer.layer.N.attention.q_lin",
// "...ffn.lin1", "...sa_layer_norm" and so on; MPNet its attention
// "encoder.layer.N.attention.attn.{q,k,v,o}" and "...attention.LayerNorm"; DeBERTa-v2 its Q, K, V
// "encoder.layer.N.attention.self.{query,key,value}_proj"; ALBERT its distinct layers
// "encoder.albert_layer_groups.G.albert_layers.J.attention.{query,key,value,dense,LayerNorm}",
// "...ffn", "...ffn_output", "...full_layer_layer_norm" (canonical layer N = G * inner + J), its
// embedding projection "encoder.embedding_hidden_mapping_in" (ELECTRA's "embeddings_project")
// and its pooler "pooler" (BERT's "pooler.dense"); ModernBERT its layers "layers.N.attn.Wqkv"
// (Q, K and V in one; the loader splits the rows), "attn.Wo", "attn_norm", "mlp.Wi", "mlp.Wo",
// "mlp_norm", its embeddings "embeddings.tok_embeddings" / "embeddings.norm". (prune, quantize and
// inspect recognize the families' linear weights by pattern, tools/matrix_stats.cpp and
// quant/model_quant.cpp.)
#include <cstdint>
#include <optional>
#include <string>

namespace sparq {

// The prefix of the encoder's tensors in a *For* checkpoint: "bert.", "roberta.", "distilbert.",
// "electra.", "mpnet.", "deberta.", "albert." or "model." (model_type "bert", "roberta",
// "distilbert", "electra", "mpnet", "deberta" / "deberta-v2", "albert", "modernbert").
std::string family_prefix(const std::string& model_type);

// The family's name of a canonical encoder tensor name (no prefix added or removed).
// albert_inner: ALBERT's inner_group_num (the layers per group).
std::string native_encoder_name(const std::string& model_type, const std::string& canonical,
                                int64_t albert_inner = 1);

// How plan reports name a weight the planner knows by its canonical name: the family's own name,
// Q, K and V fused as the family's three names with their differing parts in braces:
// "<layer>.attention.{q,k,v}_lin.weight" for DistilBERT, "<layer>.attention.attn.{q,k,v}.weight"
// for MPNet, "<layer>.attention.self.{query,key,value}_proj.weight" for DeBERTa (BERT's
// "<layer>.attention.self.{query,key,value}.weight" elsewhere).
std::string plan_display_name(const std::string& model_type, const std::string& canonical,
                              int64_t albert_inner = 1);

}  // namespace sparq
