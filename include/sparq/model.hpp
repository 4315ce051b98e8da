#pragma once
// A BERT-architecture encoder loaded from a Hugging Face model directory, with its task head.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sparq/tokenizer.hpp"

namespace sparq {

// multiple_choice: one logit per (prompt, choice) sequence from a sequence-level head with one
// output (Hugging Face's ...ForMultipleChoice), compared across a question's choices by softmax.
enum class Task {
    base,
    sequence_classification,
    token_classification,
    question_answering,
    multiple_choice
};

// Activation after a head's dense layer (the classification heads' first layer, sentence-
// transformers Dense modules): identity, tanh, ReLU, GELU (erf form) or the logistic sigmoid.
enum class HeadActivation { identity, tanh, relu, gelu, sigmoid };

struct ModelConfig {
    std::string model_type = "bert";
    // The architecture family model_type belongs to: model_type itself, except "roberta" for
    // "xlm-roberta" (XLM-R is RoBERTa's architecture with a SentencePiece vocabulary) and
    // "deberta" for "deberta-v2" (DeBERTa v2 and v3) and "deberta" (v1).
    std::string family = "bert";
    // RoBERTa's conventions, shared by XLM-R and MPNet: positions from pad_token_id + 1, pairs as
    // `<s> a </s></s> b </s>` with one token type, the masked-LM head named lm_head.*.
    bool roberta_style() const { return family == "roberta" || model_type == "mpnet"; }
    bool deberta() const { return family == "deberta"; }
    // DeBERTa v1 (model_type "deberta"): Q, K and V in one in_proj (head-interleaved rows),
    // q_bias / v_bias, its own position projections pos_proj / pos_q_proj.
    bool deberta_v1() const { return model_type == "deberta"; }
    // Whether the sequence-classification head is dense + activation + out_proj on the first
    // token (RoBERTa, XLM-R, MPNet, ELECTRA) rather than BERT's pooler + classifier.
    bool dense_classifier_head() const { return roberta_style() || model_type == "electra"; }
    // Whether the task's head reads one pooled vector per sequence (the pooler's slot, then the
    // classifier): sequence classification and multiple choice.
    bool sequence_head() const {
        return task == Task::sequence_classification || task == Task::multiple_choice;
    }
    std::vector<std::string> architectures;
    Task task = Task::base;
    int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, intermediate_size = 0;
    int64_t max_position_embeddings = 512, type_vocab_size = 2, pad_token_id = 0;
    int64_t num_labels = 2;
    float layer_norm_eps = 1e-12f;
    std::string hidden_act = "gelu";
    std::string problem_type;               // "regression", "single_label_classification", ...
    std::map<int64_t, std::string> id2label;  // empty: LABEL_i
    // First position id of a sequence: 0 for BERT; pad_token_id + 1 for RoBERTa, whose tokens
    // sit at pad + 1, pad + 2, ... (Hugging Face create_position_ids_from_input_ids).
    int64_t position_offset = 0;
    // Whether token-type (segment) embeddings exist (false for DistilBERT: type ids add nothing).
    bool token_types = true;
    // The activation after the sequence-classification head's first dense layer (the pooler's
    // slot): tanh (BERT's pooler, RoBERTa's classifier.dense), ReLU (DistilBERT's
    // pre_classifier) or GELU (ELECTRA's classifier.dense).
    using PoolerAct = HeadActivation;
    PoolerAct pooler_act = PoolerAct::tanh;
    // Width of the embedding tables (ELECTRA's embedding_size; 0: hidden_size). When it differs
    // from hidden_size, embeddings_project maps the normalized embeddings to hidden_size.
    int64_t embedding_size = 0;
    int64_t embedding_width() const { return embedding_size > 0 ? embedding_size : hidden_size; }
    // Whether the embeddings are projected to hidden_size (ELECTRA's embeddings_project when
    // narrower; ALBERT's embedding_hidden_mapping_in always).
    bool embedding_projection() const {
        return embedding_width() != hidden_size || albert_groups > 0;
    }
    // MPNet's relative position bias: buckets of the encoder's relative_attention_bias table
    // shared by all layers ([buckets][heads], T5-style bidirectional buckets up to distance 128,
    // added to every head's attention scores); 0: none (every other family).
    int64_t relative_attention_buckets = 0;
    // DeBERTa-v2/v3's disentangled attention (model_type "deberta-v2", relative_attention true):
    // every layer adds to its scores the content-to-position term q_i . pk[idx(i - j)] (c2p)
    // and the position-to-content term k_j . pq[idx(i - j)] (p2c), where pk / pq are the layer's
    // key / query projections of the encoder's rel_embeddings (LayerNorm'ed with
    // encoder.LayerNorm when layer_norm), idx(r) = clamp(bucket(r) + span, 0, 2 span - 1) and
    // bucket is Hugging Face's make_log_bucket_position (buckets > 0) or the identity; scores
    // are scaled by 1 / sqrt(head_dim * (1 + c2p + p2c)).
    struct Disentangled {
        bool on = false;
        bool c2p = false, p2c = false, layer_norm = false;
        // The position projections are the layer's own (v1's pos_proj without a bias and
        // pos_q_proj; v2's pos_key_proj / pos_query_proj when share_att_key is false), not its
        // key / query ones.
        bool own_pos_proj = false;
        // 1 + the pos_att_type terms, with or without relative_attention: every DeBERTa
        // attention scales its scores by 1 / sqrt(head_dim * scale_factor).
        int64_t scale_factor = 1;
        int64_t span = 0;          // position_buckets, else max_relative_positions
        int64_t buckets = 0;       // position_buckets (0: no log buckets)
        int64_t max_position = 0;  // max_relative_positions (or max_position_embeddings)
    } disentangled;
    // Whether the embeddings add absolute position embeddings (false for DeBERTa-v3:
    // position_biased_input false; ModernBERT).
    bool position_embeddings = true;
    // ModernBERT (model_type "modernbert"): pre-norm layers (no LayerNorm before layer 0's
    // attention; a final LayerNorm after the last layer), Q, K and V in one Wqkv, rotary
    // positions (rotate-half, base global_theta or local_theta), layer i attending globally when
    // i % global_every == 0 and else to keys within |i - j| <= window, a gated MLP (Wi's first
    // half through the activation times its second half), biases and LayerNorm betas only where
    // the config asks for them; the task heads' dense + activation + LayerNorm ("head") on the
    // [CLS] row or the mean of the tokens (mean_pooling).
    // NomicBERT (model_type "nomic_bert") runs on the same machinery with post_norm: BERT's
    // post-norm layers (LayerNorm after each residual add, the embeddings' LayerNorm, no final
    // norm), every layer global, the gate's activation SiLU (silu, "swiglu") or GELU. So do GTE
    // and JinaBERT (alibi: no rotary positions; every head adds -slope * |i - j| to its scores).
    struct Modern {
        bool on = false;
        bool post_norm = false, silu = false, alibi = false;
        int64_t global_every = 1, window = 0;
        double global_theta = 160000.0, local_theta = 10000.0;
        // GTE's fixed NTK scaling (rope_scaling type ntk): the inverse frequencies of base
        // theta (already times the factor) divided by factor^(2/d); 1: none.
        double rope_ntk_factor = 1.0;
        bool norm_bias = false, attention_bias = false, mlp_bias = false, mlp_out_bias = false;
        bool classifier_bias = false, decoder_bias = true, mean_pooling = false;
        bool local(int64_t layer) const { return on && layer % global_every != 0; }
    } modern;
    // ModernBERT's machinery (rotary positions, Wqkv, the gated MLP): ModernBERT and NomicBERT.
    bool modernbert() const { return modern.on; }
    bool nomic() const { return model_type == "nomic_bert"; }
    // ModernBERT's prediction head (head.dense + activation + head.norm) before its task heads
    // (the post-norm families have BERT's heads).
    bool modern_head() const { return modern.on && !modern.post_norm; }
    bool gte() const { return model_type == "new"; }
    // JinaBERT: model_type "bert" with position_embedding_type "alibi" (read as "jina_bert"), and
    // its qk-post-norm variant (jina-embeddings-v2-base-code, read as "jina_bert_qk"): LayerNorms
    // on Q and K over the hidden size, the attention block's own LayerNorm then layer_norm_1 over
    // the layer input plus it, the MLP mlp.down_layer(up * gelu(gate)) of mlp.up_gated_layer's
    // halves (up first).
    bool jina() const { return model_type == "jina_bert" || jina_qk(); }
    bool jina_qk() const { return model_type == "jina_bert_qk"; }
    // ALBERT's cross-layer sharing: num_hidden_layers applications of num_hidden_groups groups
    // of inner_group_num layers each; application i runs group i * groups / num_layers (Hugging
    // Face's int(i / (num_hidden_layers / num_hidden_groups))), all of its inner layers in order.
    // 0 groups: no sharing (every other family).
    int64_t albert_groups = 0, albert_inner = 1;
    // Layers with their own weights (ALBERT: groups * inner; else num_layers), and the order the
    // encoder applies them in (num_layers * inner entries).
    int64_t distinct_layers() const {
        return albert_groups > 0 ? albert_groups * albert_inner : num_layers;
    }
    std::vector<int64_t> layer_order() const;
    // hidden_act is the tanh approximation of GELU ("gelu_new", "gelu_fast",
    // "gelu_pytorch_tanh", ALBERT's default) rather than the erf form ("gelu").
    bool gelu_tanh() const { return hidden_act != "gelu"; }
    // Longest sequence the position table holds: max_position_embeddings - position_offset.
    int64_t max_tokens() const { return max_position_embeddings - position_offset; }
    // Parses config.json; throws sparq::Error naming the field that is missing or wrong.
    static ModelConfig from_file(const std::string& path);
    std::string label(int64_t id) const;
};

struct LoadOptions {
    int threads = 0;  // > 0: compute threads (set process-wide); 0: leave the current setting
                      // (the CLI, Python module and server apply core/cpu_limits.hpp's default)
    std::string kernels = "auto";    // auto | dense | sparse  (weight-kernel choice)
    std::string precision = "f32";   // f32 | int8
    std::string attention = "auto";  // auto | f32 | int8  (attention matmuls; see docs/int8.md)
};

// Packed batch: all sequences' tokens back to back, no padding.
struct PackedBatch {
    std::vector<int32_t> input_ids, token_type_ids;
    std::vector<int64_t> offsets;  // size n_seq + 1; sequence s is tokens [offsets[s], offsets[s+1])
    int64_t num_sequences() const { return static_cast<int64_t>(offsets.size()) - 1; }
    int64_t num_tokens() const { return offsets.empty() ? 0 : offsets.back(); }
    static PackedBatch from(const std::vector<Encoding>& encodings);
};

// Output hidden states, packed like the batch: [num_tokens][hidden].
struct HiddenStates {
    std::vector<float> data;
    std::vector<int64_t> offsets;
    int64_t hidden = 0;
    const float* token(int64_t seq, int64_t pos) const {
        return data.data() + (offsets[seq] + pos) * hidden;
    }
};

// Sentence embedding from the last hidden states: mean over the tokens, the first ([CLS])
// token, every token (none), or the element-wise max over the tokens; or SPLADE's sparse
// vocabulary weights (masked-LM models): the masked-LM head's logits at every token, through
// log(1 + relu(x)), max over the tokens (sentence-transformers' SpladePooling; a directory's
// SpladePooling module may say sum, or log1p_relu's second log1p).
enum class Pooling { mean, cls, none, max, splade };
// "mean", "cls", "none", "max", "splade" and back; nullopt for another name.
std::optional<Pooling> pooling_from_name(std::string_view name);
const char* pooling_name(Pooling p);
// The nonzero entries (id, weight) of a SPLADE vector, largest first (ties: smaller id first), at
// most top_k of them (0: all).
std::vector<std::pair<int32_t, float>> sparse_entries(const std::vector<float>& v,
                                                      size_t top_k = 0);

// How a sentence-transformers directory turns hidden states into its embedding: modules.json's
// Pooling module (its config.json: cls, mean or max) and Normalize module (L2), and
// sentence_bert_config.json's max_seq_length. A plain Hugging Face directory has none of these
// files and gets mean pooling, no normalization, the model's length. Modules sparq does not run
// (Dense, ...) or pooling modes it does not compute are refused with sparq::Error, never skipped.
struct SentenceEmbeddingConfig {
    bool present = false;  // modules.json found
    Pooling pooling = Pooling::mean;
    bool normalize = false;
    size_t max_length = 0;  // 0: the model's maximum
    // config_sentence_transformers.json's "prompts" (name -> text put before the input) and
    // "default_prompt_name" ("" none); the Pooling config's "include_prompt" (false: the prompt's
    // tokens, and the [CLS] before them, are left out of mean / max pooling).
    std::map<std::string, std::string> prompts;
    std::string default_prompt_name;
    // config_sentence_transformers.json's "similarity_fn_name" (cosine, dot, euclidean,
    // manhattan; "" when absent): how the model's embeddings are compared (eval's STS-B score).
    std::string similarity;
    // The names similarity_fn_name may take (sentence-transformers' SimilarityFunction).
    static constexpr std::string_view kSimilarityFunctions[] = {"cosine", "dot", "euclidean",
                                                                "manhattan"};
    static bool is_similarity_function(std::string_view name);
    bool include_prompt = true;
    // Dense modules (sentence_transformers.models.Dense) between Pooling and Normalize, in order:
    // y = activation(W x + b), W [out][in] in their folder's weights file ("linear.weight",
    // "linear.bias"). Model::load reads them and Model::embed applies them after pooling.
    struct Dense {
        std::string dir;
        int64_t in = 0, out = 0;
        bool bias = true;
        using Act = HeadActivation;
        Act act = Act::identity;
    };
    std::vector<Dense> dense;
    // A SparseEncoder directory's SpladePooling module (sentence_transformers.sparse_encoder,
    // its config.json): pooling_strategy max (default) or sum over the tokens, and
    // activation_function relu (log(1 + relu(x)), default) or log1p_relu (log(1 + log(1 +
    // relu(x)))). from_dir checks it and sets pooling splade; Model::load reads its settings
    // (splade_module), so Pooling::splade follows the directory.
    struct Splade {
        bool sum = false, log1p_relu = false;
    };
    static SentenceEmbeddingConfig from_dir(const std::string& dir);
    // Only the SpladePooling module of `dir`'s modules.json (nullopt without one).
    static std::optional<Splade> splade_module(const std::string& dir);
    // Only the Dense modules of `dir`'s modules.json (none without one); throws sparq::Error for
    // a Dense module sparq cannot run (its activation, its config), not for other modules.
    static std::vector<Dense> dense_modules(const std::string& dir);
    // The prompt to put before every text, as SentenceTransformer.encode picks it: `prompt` when
    // given, else prompts[name] (sparq::Error if there is no such prompt), else the default
    // prompt, else "".
    std::string resolve_prompt(const std::optional<std::string>& prompt,
                               const std::optional<std::string>& name) const;
    // Tokens at the start of each sequence that pooling leaves out for `prompt`: 0 when the
    // prompt is included (or empty), else its tokenization's length minus one (sentence-
    // transformers' prompt_length: [CLS] + the prompt's tokens).
    int64_t pooling_skip(const Tokenizer& tok, const std::string& prompt) const;
    // The directory holding the model files: `dir`, or the subdirectory modules.json names for its
    // Transformer module when `dir` itself has no config.json (the older sentence-transformers
    // layout, e.g. "0_Transformer/"). Model::load follows it.
    static std::string model_dir(const std::string& dir);
};

struct Classification {
    int64_t label_id = 0;
    std::string label;
    std::vector<float> scores;  // softmax probabilities (or raw value for regression)
    std::vector<float> logits;
};

struct TokenTag {
    std::vector<int64_t> label_ids;  // per token
    std::vector<std::vector<float>> logits;
};

// The masked-LM head's best tokens for one mask token of a sequence.
struct MaskFill {
    int64_t sequence = 0, position = 0;          // which sequence of the batch, which token
    std::vector<std::pair<int32_t, float>> top;  // (token id, probability), most probable first
};

struct Span {
    int64_t start = 0, end = 0;  // token positions, inclusive
    float score = 0;             // start_logit + end_logit
    std::vector<float> start_logits, end_logits;
};

// A padded batch as Hugging Face feeds it: row-major [batch][seq] int64 arrays.
struct PaddedInput {
    const int64_t* input_ids = nullptr;
    const int64_t* attention_mask = nullptr;  // null: every position is a real token
    const int64_t* token_type_ids = nullptr;  // null: all zeros
    int64_t batch = 0, seq = 0;
};

// Packs each row's real tokens (attention_mask == 1). The ones of a row must be a prefix of it;
// throws sparq::Error naming the row otherwise, or for ids that do not fit in int32.
PackedBatch pack_padded(const PaddedInput& input);

// Scatters packed hidden states back to [batch][seq][hidden] (batch = number of sequences);
// positions past a sequence's length are zeros. Throws sparq::Error if a sequence is longer
// than seq.
std::vector<float> unpack_padded(const HiddenStates& states, int64_t seq);

// Softmax over one question's choice logits (what ...ForMultipleChoice's logits mean).
std::vector<float> choice_probabilities(const std::vector<float>& logits);

class Model {
public:
    // Loads config.json + model.safetensors (+ tokenizer) from `dir`, validates every tensor.
    static std::unique_ptr<Model> load(const std::string& dir, const LoadOptions& opts = {});
    virtual ~Model() = default;

    virtual const ModelConfig& config() const = 0;
    // Null if the directory has no tokenizer files.
    virtual const Tokenizer* tokenizer() const = 0;

    // Encoder forward on a packed batch: last_hidden_state for every real token.
    virtual HiddenStates encode(const PackedBatch& batch) const = 0;
    // Pooler output tanh(W·h_cls + b) per sequence (models with a pooler); for DistilBERT and
    // ELECTRA sequence classifiers the input of their last layer (relu(pre_classifier(h_cls)),
    // gelu(classifier.dense(h_cls))).
    virtual std::vector<std::vector<float>> pooled(const PackedBatch& batch) const = 0;
    // skip_first: tokens at the start of each sequence that mean / max pooling leave out (a
    // prompt not included in pooling, SentenceEmbeddingConfig::pooling_skip).
    virtual std::vector<std::vector<float>> embed(const PackedBatch& batch, Pooling pooling,
                                                  bool normalize, int64_t skip_first = 0) const = 0;
    // Size of embed's vectors: hidden_size, or the last sentence-transformers Dense module's
    // out_features.
    virtual int64_t embedding_size() const = 0;
    virtual std::vector<Classification> classify(const PackedBatch& batch) const = 0;
    // Multiple-choice models: the logit of every sequence of the batch (each a prompt paired with
    // one choice; choice_probabilities turns a question's logits into Hugging Face's softmax).
    virtual std::vector<float> choice_logits(const PackedBatch& batch) const = 0;
    virtual std::vector<TokenTag> tag_tokens(const PackedBatch& batch) const = 0;
    // Best span with start <= end, end - start < max_answer_len (default 15, Hugging Face's
    // question-answering pipeline's), restricted to the second segment (token_type 1) when the
    // input is a pair.
    virtual std::vector<Span> answer_spans(const PackedBatch& batch,
                                           int64_t max_answer_len = 15) const = 0;
    // Masked-token prediction (models whose checkpoint kept the masked-LM head: BertForMaskedLM,
    // BertForPreTraining, RobertaForMaskedLM, DistilBertForMaskedLM): for every token of the batch
    // whose id is the tokenizer's mask token, the top_k vocabulary entries by softmax probability
    // (Hugging Face's fill-mask pipeline). Throws sparq::Error without the head or a mask token.
    virtual std::vector<MaskFill> fill_mask(const PackedBatch& batch, size_t top_k = 5) const = 0;
    // Per weight matrix: name, shape, sparsity, chosen kernel, why.
    virtual std::string plan_report() const = 0;
    // Truncation length of texts (special tokens included): `requested` if non-zero, else the
    // tokenizer's model_max_length (512 without a tokenizer), capped by the positions the model
    // has (ModelConfig::max_tokens(), at least 2). The one rule of every command, serve and Python.
    size_t max_length(size_t requested = 0) const;
    // The precision the encoder was planned with: LoadOptions::precision, or "int8" for a
    // directory with int8 weights (sparq quantize output) whatever was requested.
    virtual const std::string& precision() const = 0;

    // encode() on a padded batch: last_hidden_state as [batch][seq][hidden], zeros at padding.
    std::vector<float> encode_padded(const PaddedInput& input) const {
        return unpack_padded(encode(pack_padded(input)), input.seq);
    }
};

}  // namespace sparq
