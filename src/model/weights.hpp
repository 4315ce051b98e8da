#pragma once
// Weights of a BERT-architecture model, looked up by their Hugging Face names, converted to f32
// and validated against config.json at load.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "sparq/model.hpp"

namespace sparq {

// A dense f32 tensor owned by the model (converted from F32/F16/BF16 at load).
struct Tensor {
    std::string name;  // Hugging Face name as found in the file
    std::vector<int64_t> shape;
    AlignedBuffer<float> data;  // f32 values (empty for an int8-held tensor, see q8)
    // Quantized directories' encoder linear weights stay as stored until a kernel is planned
    // from them: int8 [out][in] and per-row scales (w = q8 * q8_scale[row]), a quarter of the
    // f32 memory. f32_values() gives their values one matrix at a time.
    std::vector<int8_t> q8;
    std::vector<float> q8_scale;
    bool is_int8() const { return !q8.empty(); }
    bool empty() const { return shape.empty(); }
    int64_t numel() const {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        return shape.empty() ? 0 : n;
    }
};

// A tensor of zeros standing in for one a model does not have (no position or token-type table,
// a Dense module without a bias), named `name`.
Tensor zero_tensor(std::string name, std::vector<int64_t> shape);

// t's f32 values: t.data, or for an int8-held tensor q8 * scale written into `scratch`
// (resized to fit; valid until scratch changes).
const float* f32_values(const Tensor& t, AlignedBuffer<float>& scratch);
// The same values copied into dst (numel floats).
void copy_f32_values(const Tensor& t, float* dst);

struct LayerWeights {
    Tensor q_w, q_b, k_w, k_b, v_w, v_b;  // attention.self.{query,key,value}
    Tensor ao_w, ao_b, ln1_g, ln1_b;      // attention.output.{dense,LayerNorm}
    Tensor i_w, i_b;                      // intermediate.dense
    Tensor o_w, o_b, ln2_g, ln2_b;        // output.{dense,LayerNorm}
    // DeBERTa's own position projections of the relative embeddings (own_pos_proj): v1's
    // pos_proj (c2p; no bias: zeros) and pos_q_proj (p2c), v2's pos_key_proj / pos_query_proj;
    // empty otherwise (v2 with share_att_key uses the key / query projections).
    Tensor pos_k_w, pos_k_b, pos_q_w, pos_q_b;
    // JinaBERT's qk-post-norm variant: attention.self.layer_norm_q / layer_norm_k and
    // layer_norm_1 (empty otherwise).
    Tensor qn_g, qn_b, kn_g, kn_b, mid_g, mid_b;
};

struct BertWeights {
    Tensor word_emb, pos_emb, type_emb, emb_ln_g, emb_ln_b;  // pos_emb empty: none (DeBERTa)
    Tensor emb_proj_w, emb_proj_b;  // ELECTRA's embeddings_project [hidden][embedding] (or empty)
    std::vector<LayerWeights> layers;
    Tensor rel_bias;  // MPNet's encoder.relative_attention_bias.weight [buckets][heads] (or empty)
    // DeBERTa's encoder.rel_embeddings.weight [2 span][hidden] and encoder.LayerNorm (or empty).
    Tensor rel_emb, rel_ln_g, rel_ln_b;
    Tensor final_ln_g, final_ln_b;      // ModernBERT's final_norm (empty otherwise)
    Tensor pooler_w, pooler_b;          // optional (empty if absent)
    // ModernBERT's task heads: head.dense sits in the pooler's slot, then its activation, then
    // this LayerNorm (head.norm; empty otherwise).
    Tensor head_ln_g, head_ln_b;
    Tensor classifier_w, classifier_b;  // sequence/token classification head
    Tensor qa_w, qa_b;                  // qa_outputs [2][hidden]
    // Masked-LM head, when the checkpoint has one (BertForMaskedLM / BertForPreTraining,
    // RobertaForMaskedLM, DistilBertForMaskedLM, MPNetForMaskedLM, XLMRobertaForMaskedLM,
    // ElectraForMaskedLM): transform dense [w][h] + activation + LayerNorm, then the decoder
    // [vocab][w] (empty: tied to the word embeddings) + bias [vocab]; w = h, except ELECTRA's
    // generator, whose w is embedding_size.
    Tensor mlm_dense_w, mlm_dense_b, mlm_ln_g, mlm_ln_b, mlm_decoder_w, mlm_bias;
    // Quantized directories (config.json "quantization_config", see docs/int8.md): the encoder's
    // linear weights were stored as I8 + per-row "<name>_scale" and are held here int8
    // (Tensor::q8; f32_values dequantizes).
    bool quantized = false;
    // Calibrated static activation scales by planner weight name (empty: dynamic per token).
    std::map<std::string, float> act_scales;
    // sentence-transformers Dense modules applied after pooling (load_sentence_dense).
    struct Dense {
        SentenceEmbeddingConfig::Dense module;
        Tensor w, b;  // [out][in], [out] (zeros without a bias)
    };
    std::vector<Dense> sentence_dense;
    // A SparseEncoder directory's SpladePooling settings (SentenceEmbeddingConfig::splade_module).
    std::optional<SentenceEmbeddingConfig::Splade> splade;
};

// The weights file of a model directory: model.safetensors, else pytorch_model.bin (torch.save's
// zip format, read in place without running its pickle: model/torch_zip.hpp), else a sharded
// checkpoint's model.safetensors.index.json / pytorch_model.bin.index.json (SafeTensorsFile
// reads the shards it names as one file); throws sparq::Error naming what is missing.
std::string weights_file(const std::string& dir);

// Reads DIR's weights file (weights_file), finds tensors with or without the "bert." prefix,
// validates presence and shape of everything `cfg` needs (throws sparq::Error naming the tensor,
// the expected and the found shape).
BertWeights load_bert_weights(const std::string& dir, const ModelConfig& cfg);

// The Dense modules of the sentence-transformers directory `root` (SentenceEmbeddingConfig::
// dense_modules) with their weights ("linear.weight", "linear.bias" in each module folder's
// weights file), checked to chain from `hidden` (throws sparq::Error).
std::vector<BertWeights::Dense> load_sentence_dense(const std::string& root, int64_t hidden);

}  // namespace sparq
