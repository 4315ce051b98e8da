#include "tools/matrix_stats.hpp"

#include <regex>

namespace sparq::tools {

MatrixStats matrix_stats(const float* w, int64_t rows, int64_t cols) {
    MatrixStats s;
    s.rows = rows;
    s.cols = cols;
    for (int64_t i = 0; i < rows * cols; ++i) s.zeros += (w[i] == 0.0f);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c + 4 <= cols; c += 4) {
            const float* p = w + r * cols + c;
            ++s.blocks_1x4;
            s.zero_blocks_1x4 += (p[0] == 0.0f && p[1] == 0.0f && p[2] == 0.0f && p[3] == 0.0f);
        }
    for (int64_t r = 0; r + 4 <= rows; r += 4)
        for (int64_t c = 0; c < cols; ++c) {
            const float* p = w + r * cols + c;
            ++s.blocks_4x1;
            s.zero_blocks_4x1 +=
                (p[0] == 0.0f && p[cols] == 0.0f && p[2 * cols] == 0.0f && p[3 * cols] == 0.0f);
        }
    return s;
}

bool is_encoder_linear_weight(const std::string& name) {
    // BERT / RoBERTa names (MPNet's attention.attn.{q,k,v,o}, DeBERTa's query_proj and v1's
    // in_proj, ... among
    // them), then DistilBERT's (transformer.layer.N.attention.q_lin, ffn.lin1, ...), then
    // ALBERT's (encoder.albert_layer_groups.G.albert_layers.J.attention.query, ffn, ...), then
    // ModernBERT's (layers.N.attn.Wqkv, attn.Wo, mlp.Wi, mlp.Wo), NomicBERT's, GTE's (qkv_proj,
    // o_proj, mlp.up_gate_proj, mlp.down_proj) and JinaBERT's (mlp.gated_layers, mlp.wo).
    static const std::regex re(
        R"((^|\.)encoder\.layer\.\d+\.(attention\.self\.(query|key|value|in)(_proj)?|attention\.output\.dense|attention\.attn\.[qkvo]|intermediate\.dense|output\.dense)\.weight$|(^|\.)transformer\.layer\.\d+\.(attention\.(q_lin|k_lin|v_lin|out_lin)|ffn\.lin[12])\.weight$|(^|\.)encoder\.albert_layer_groups\.\d+\.albert_layers\.\d+\.(attention\.(query|key|value|dense)|ffn|ffn_output)\.weight$|(^|\.)layers\.\d+\.(attn\.(Wqkv|Wo)|mlp\.(Wi|Wo))\.weight$|(^|\.)encoder\.layers\.\d+\.(attn\.(Wqkv|out_proj)|mlp\.fc(11|12|2))\.weight$|(^|\.)encoder\.layer\.\d+\.(attention\.(qkv_proj|o_proj)|mlp\.(up_gate_proj|down_proj|gated_layers|wo|up_gated_layer|down_layer))\.weight$)");
    return std::regex_search(name, re);
}

bool is_embedding_weight(const std::string& name) {
    static const std::regex re(
        R"((^|\.)embeddings\.((word|position|token_type)_embeddings|tok_embeddings)\.weight$)");
    return std::regex_search(name, re);
}

bool is_head_weight(const std::string& name) {
    static const std::regex re(
        R"((^|\.)pooler(\.dense)?\.weight$|^(classifier|qa_outputs|pre_classifier|head\.dense)(\.[\w.]+)?\.weight$)");
    return std::regex_search(name, re);
}

}  // namespace sparq::tools
