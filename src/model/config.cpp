// ModelConfig::from_file: strict reader of a Hugging Face BERT config.json.
//
// Architecture -> Task: BertForSequenceClassification, BertForTokenClassification and
// BertForQuestionAnswering select their head. BertModel, BertForMaskedLM, BertForPreTraining,
// BertLMHeadModel and BertForNextSentencePrediction load as Task::base (the encoder; their
// pre-training heads are ignored). A missing/empty "architectures" is Task::base. Any other
// architecture of a model_type "bert" config (e.g. BertForPreTrainingX) also loads as Task::base,
// with a warning on stderr, since the encoder weights are still BERT's. model_type "roberta",
// "xlm-roberta" (RoBERTa's architecture), "distilbert", "electra" and "mpnet" load the same way
// (DistilBERT's config names its sizes dim / n_layers / n_heads / hidden_dim / activation and has
// no token types; ELECTRA may have an embedding_size below hidden_size; MPNet has no token types,
// RoBERTa's positions and a relative position bias; DeBERTa-v2/v3 ("deberta-v2") and v1
// ("deberta") their disentangled attention and often neither position nor token-type
// embeddings); any other model_type is
// rejected; a config without model_type is taken as BERT (old checkpoints).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/files.hpp"
#include "core/json_depth.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"

namespace sparq {

namespace {

using nlohmann::json;

// Largest integer field read (a size, a count, an id): far above any model's, and low enough that
// sizes computed from one (2 * span, 4 * window, pad_token_id + 1, ...) cannot overflow.
constexpr int64_t kMaxInteger = int64_t{1} << 40;
// ALBERT runs its shared layers num_hidden_layers * inner_group_num times (models: 12 to 24).
constexpr int64_t kMaxAlbertLayerRuns = 4096;
// Longest max_position_embeddings of a model without a position table (rotary, ALiBi, DeBERTa's
// relative positions), whose length no tensor bounds: the encoder sizes its rotary / bias /
// bucket tables by it (2^18 tokens: 67 MB of rotary tables at head size 64).
constexpr int64_t kMaxTablelessPositions = int64_t{1} << 18;

std::string describe(const json& j) {
    std::string v = j.dump();
    if (v.size() > 40) v = v.substr(0, 37) + "...";
    return std::string(j.type_name()) + " " + v;
}

class Reader {
  public:
    Reader(const std::string& path, const json& j) : path_(path), j_(j) {}

    [[noreturn]] void fail(const std::string& what) const { throw Error(path_ + ": " + what); }

    // Whether the field is present as JSON null (which some options read differently from absent).
    bool null(const char* key) const {
        auto it = j_.find(key);
        return it != j_.end() && it->is_null();
    }

    // The field, or null if absent or JSON null.
    const json* get(const char* key) const {
        auto it = j_.find(key);
        return it == j_.end() || it->is_null() ? nullptr : &*it;
    }

    int64_t integer(const char* key, std::optional<int64_t> fallback, int64_t min_value) const {
        const json* v = get(key);
        if (!v) {
            if (!fallback) fail(std::string("missing required field '") + key + "'");
            return *fallback;
        }
        if (!v->is_number_integer())
            fail(std::string("field '") + key + "' must be an integer, found " + describe(*v));
        if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(kMaxInteger))
            fail(std::string("field '") + key + "' is out of range: " + v->dump() +
                 " (at most 2^40)");
        int64_t x = v->get<int64_t>();
        if (x < min_value)
            fail(std::string("field '") + key + "' must be >= " + std::to_string(min_value) +
                 ", found " + std::to_string(x));
        return x;
    }

    double number(const char* key, double fallback) const {
        const json* v = get(key);
        if (!v) return fallback;
        if (!v->is_number())
            fail(std::string("field '") + key + "' must be a number, found " + describe(*v));
        return v->get<double>();
    }

    std::optional<bool> boolean(const char* key) const {
        const json* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_boolean())
            fail(std::string("field '") + key + "' must be true or false, found " + describe(*v));
        return v->get<bool>();
    }

    std::optional<std::string> string(const char* key) const {
        const json* v = get(key);
        if (!v) return std::nullopt;
        if (!v->is_string())
            fail(std::string("field '") + key + "' must be a string, found " + describe(*v));
        return v->get<std::string>();
    }

  private:
    const std::string& path_;
    const json& j_;
};

struct ArchTask {
    const char* name;
    Task task;
};
constexpr ArchTask kArchitectures[] = {
    {"BertModel", Task::base},
    {"BertForMaskedLM", Task::base},
    {"BertForPreTraining", Task::base},
    {"BertLMHeadModel", Task::base},
    {"BertForNextSentencePrediction", Task::base},
    {"BertForSequenceClassification", Task::sequence_classification},
    {"BertForTokenClassification", Task::token_classification},
    {"BertForQuestionAnswering", Task::question_answering},
    {"RobertaModel", Task::base},
    {"RobertaForMaskedLM", Task::base},
    {"RobertaForCausalLM", Task::base},
    {"RobertaForSequenceClassification", Task::sequence_classification},
    {"RobertaForTokenClassification", Task::token_classification},
    {"RobertaForQuestionAnswering", Task::question_answering},
    {"DistilBertModel", Task::base},
    {"DistilBertForMaskedLM", Task::base},
    {"DistilBertForSequenceClassification", Task::sequence_classification},
    {"DistilBertForTokenClassification", Task::token_classification},
    {"DistilBertForQuestionAnswering", Task::question_answering},
    {"ElectraModel", Task::base},
    {"ElectraForPreTraining", Task::base},
    {"ElectraForMaskedLM", Task::base},
    {"ElectraForSequenceClassification", Task::sequence_classification},
    {"ElectraForTokenClassification", Task::token_classification},
    {"ElectraForQuestionAnswering", Task::question_answering},
    {"XLMRobertaModel", Task::base},
    {"XLMRobertaForMaskedLM", Task::base},
    {"XLMRobertaForCausalLM", Task::base},
    {"XLMRobertaForSequenceClassification", Task::sequence_classification},
    {"XLMRobertaForTokenClassification", Task::token_classification},
    {"XLMRobertaForQuestionAnswering", Task::question_answering},
    {"MPNetModel", Task::base},
    {"MPNetForMaskedLM", Task::base},
    {"MPNetForSequenceClassification", Task::sequence_classification},
    {"MPNetForTokenClassification", Task::token_classification},
    {"MPNetForQuestionAnswering", Task::question_answering},
    {"AlbertModel", Task::base},
    {"AlbertForMaskedLM", Task::base},
    {"AlbertForPreTraining", Task::base},
    {"AlbertForSequenceClassification", Task::sequence_classification},
    {"AlbertForTokenClassification", Task::token_classification},
    {"AlbertForQuestionAnswering", Task::question_answering},
    {"DebertaModel", Task::base},
    {"DebertaForMaskedLM", Task::base},
    {"DebertaForSequenceClassification", Task::sequence_classification},
    {"DebertaForTokenClassification", Task::token_classification},
    {"DebertaForQuestionAnswering", Task::question_answering},
    {"DebertaV2Model", Task::base},
    {"DebertaV2ForMaskedLM", Task::base},
    {"DebertaV2ForSequenceClassification", Task::sequence_classification},
    {"DebertaV2ForTokenClassification", Task::token_classification},
    {"DebertaV2ForQuestionAnswering", Task::question_answering},
    {"ModernBertModel", Task::base},
    {"ModernBertForMaskedLM", Task::base},
    {"ModernBertForSequenceClassification", Task::sequence_classification},
    {"ModernBertForTokenClassification", Task::token_classification},
    {"ModernBertForQuestionAnswering", Task::question_answering},
    {"NomicBertModel", Task::base},
    {"NewModel", Task::base},
    {"NewForSequenceClassification", Task::sequence_classification},
    {"JinaBertModel", Task::base},
    {"JinaBertForMaskedLM", Task::base},
    {"JinaBertForSequenceClassification", Task::sequence_classification},
    // Multiple choice (the families Hugging Face has the head for: not DeBERTa v1).
    {"BertForMultipleChoice", Task::multiple_choice},
    {"RobertaForMultipleChoice", Task::multiple_choice},
    {"DistilBertForMultipleChoice", Task::multiple_choice},
    {"ElectraForMultipleChoice", Task::multiple_choice},
    {"XLMRobertaForMultipleChoice", Task::multiple_choice},
    {"MPNetForMultipleChoice", Task::multiple_choice},
    {"AlbertForMultipleChoice", Task::multiple_choice},
    {"DebertaV2ForMultipleChoice", Task::multiple_choice},
    {"ModernBertForMultipleChoice", Task::multiple_choice},
};

// The non-empty parts of s between '|' ("p2c|c2p", "layer_norm|...").
std::vector<std::string> bar_parts(const std::string& s) {
    std::vector<std::string> parts;
    for (size_t b = 0, e; b <= s.size(); b = e + 1) {
        e = s.find('|', b);
        if (e == std::string::npos) e = s.size();
        if (e > b) parts.push_back(s.substr(b, e - b));
    }
    return parts;
}

// DeBERTa-v2's options beyond BERT's (HF DebertaV2Config and the getattr defaults of
// DisentangledSelfAttention / DebertaV2Encoder); what sparq does not compute is refused.
void read_deberta(const Reader& r, ModelConfig& c) {
    c.type_vocab_size = r.integer("type_vocab_size", 0, 0);
    c.token_types = c.type_vocab_size > 0;
    c.position_embeddings = r.boolean("position_biased_input").value_or(true);
    c.pooler_act = ModelConfig::PoolerAct::gelu;  // ContextPooler's pooler_hidden_act default
    if (auto act = r.string("pooler_hidden_act")) {
        if (*act == "tanh")
            c.pooler_act = ModelConfig::PoolerAct::tanh;
        else if (*act != "gelu")
            r.fail("pooler_hidden_act '" + *act + "' is not supported (\"gelu\" or \"tanh\")");
    }
    if (r.get("pooler_hidden_size") &&
        r.integer("pooler_hidden_size", std::nullopt, 1) != c.hidden_size)
        r.fail("pooler_hidden_size other than hidden_size is not supported");
    if (r.get("embedding_size") && r.integer("embedding_size", std::nullopt, 1) != c.hidden_size)
        r.fail("embedding_size other than hidden_size (embed_proj) is not supported");
    if (r.integer("conv_kernel_size", 0, 0) > 0)
        r.fail("conv_kernel_size > 0 (DeBERTa-v2's convolution layer) is not supported");
    if (r.get("attention_head_size") &&
        (c.hidden_size % c.num_heads != 0 ||
         r.integer("attention_head_size", std::nullopt, 1) != c.hidden_size / c.num_heads))
        r.fail("attention_head_size other than hidden_size / num_attention_heads is not supported");
    if (c.deberta_v1() && r.boolean("talking_head").value_or(false))
        r.fail("talking_head true (DeBERTa v1's head-mixing projections) is not supported");
    ModelConfig::Disentangled& d = c.disentangled;
    d.on = r.boolean("relative_attention").value_or(false);
    const json* pat = r.get("pos_att_type");
    std::vector<std::string> types;
    if (pat && pat->is_string()) {  // old configs: "p2c|c2p"
        types = bar_parts(pat->get<std::string>());
    } else if (pat && pat->is_array()) {
        for (const auto& x : *pat) {
            if (!x.is_string())
                r.fail("field 'pos_att_type' must hold strings, found " + describe(x));
            types.push_back(x.get<std::string>());
        }
    } else if (pat) {
        r.fail("field 'pos_att_type' must be a list or a string, found " + describe(*pat));
    }
    bool c2p = false, p2c = false;
    for (const std::string& t : types) {
        std::string low = t;
        for (char& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (low == "c2p")
            c2p = true;
        else if (low == "p2c")
            p2c = true;
        else
            r.fail("pos_att_type '" + t + "' is not supported (\"c2p\" and \"p2c\")");
    }
    // Hugging Face scales the scores by 1 / sqrt(head_dim * (1 + the pos_att_type terms)) even
    // when relative_attention is off (then nothing else of pos_att_type applies).
    d.scale_factor = 1 + int(c2p) + int(p2c);
    if (!d.on) return;
    d.c2p = c2p;
    d.p2c = p2c;
    int64_t max_rel = r.integer("max_relative_positions", -1, INT64_MIN);
    if (max_rel < 1) max_rel = c.max_position_embeddings;
    if (c.deberta_v1()) {
        // v1 (modeling_deberta.py): its own position projections, no log buckets, no LayerNorm
        // of the relative embeddings (none of v2's options are read). Its span is
        // min(sequence length, max_relative_positions) over the centre rows of the table, which
        // gives the same scores as v2's fixed span of max_relative_positions over its first rows
        // (|i - j| < length never reaches the clamp below the length).
        d.own_pos_proj = true;
        d.max_position = d.span = max_rel;
        return;
    }
    // share_att_key false (Hugging Face's default): the layer's own pos_key_proj / pos_query_proj.
    d.own_pos_proj = !r.boolean("share_att_key").value_or(false);
    const int64_t buckets = r.integer("position_buckets", -1, INT64_MIN);
    d.buckets = buckets > 0 ? buckets : 0;
    d.max_position = max_rel;
    d.span = buckets > 0 ? buckets : max_rel;
    if (d.buckets > 0 && d.max_position - 1 <= d.buckets / 2)
        r.fail("position_buckets " + std::to_string(buckets) +
               " needs max_relative_positions above " + std::to_string(buckets / 2 + 1));
    if (auto n = r.string("norm_rel_ebd")) {
        for (const std::string& part : bar_parts(*n)) {
            if (part == "layer_norm")
                d.layer_norm = true;
            else if (part != "none")
                r.fail("norm_rel_ebd '" + *n + "' is not supported (\"layer_norm\" or \"none\")");
        }
    }
}

// ElectraForMultipleChoice's SequenceSummary (ElectraConfig's defaults): the first token, the
// summary Linear(hidden, hidden), GELU. The other forms are refused.
void read_electra_summary(const Reader& r) {
    if (const std::string t = r.string("summary_type").value_or("first"); t != "first")
        r.fail("summary_type '" + t + "' is not supported (\"first\")");
    if (!r.boolean("summary_use_proj").value_or(true))
        r.fail("summary_use_proj false is not supported (the summary projection is expected)");
    if (r.boolean("summary_proj_to_labels").value_or(false))
        r.fail("summary_proj_to_labels true is not supported");
    // null is Hugging Face's no activation; absent is ElectraConfig's "gelu".
    const json* a = r.get("summary_activation");
    if (r.null("summary_activation") || (a && !(a->is_string() && *a == "gelu")))
        r.fail("summary_activation " + (a ? a->dump() : std::string("null")) +
               " is not supported (\"gelu\")");
}

// A rotary base read from `key` (`fallback` when absent or null): a finite number above 1.
double rope_base(const Reader& r, const char* key, double fallback) {
    const double theta = r.number(key, fallback);
    if (!(theta > 1.0) || !std::isfinite(theta))
        r.fail(std::string(key) + " must be a number above 1, found " + std::to_string(theta));
    return theta;
}

// What the post-norm gated-MLP families (NomicBERT, GTE, JinaBERT) share: ModernBERT's machinery
// with BERT's post-norm layers, every layer global, no position table, token types when the table
// has rows, LayerNorms with betas, BERT's tanh pooler.
void post_norm_gated(ModelConfig& c, int64_t type_vocab_size) {
    ModelConfig::Modern& m = c.modern;
    m.on = true;
    m.post_norm = true;
    m.global_every = 1;  // no local layers
    m.norm_bias = true;
    c.type_vocab_size = type_vocab_size;
    c.token_types = type_vocab_size > 0;
    c.position_embeddings = false;
    c.pooler_act = ModelConfig::PoolerAct::tanh;
}

// NomicBERT (nomic-ai/nomic-embed-text-v1 / v1.5, the remote code modeling_hf_nomic_bert.py,
// GPT2Config's names): a post-norm BERT with rotary positions, Q, K and V in one Wqkv and a gated
// MLP (fc11 * act(fc12)), carried by ModernBERT's machinery (ModelConfig::Modern with post_norm;
// every layer global). What sparq does not compute is refused.
void read_nomic(const Reader& r, ModelConfig& c) {
    c.hidden_size = r.integer("n_embd", std::nullopt, 1);
    c.num_layers = r.integer("n_layer", std::nullopt, 1);
    c.num_heads = r.integer("n_head", std::nullopt, 1);
    // NomciBertGatedMLP's width: n_inner (default 8/3 of n_embd) rounded up to a multiple of 256
    // (its multiple_of), as the remote code builds fc11 / fc12 / fc2.
    c.intermediate_size = (r.integer("n_inner", 8 * c.hidden_size / 3, 1) + 255) / 256 * 256;
    c.max_position_embeddings = r.integer("n_positions", 2048, 1);
    post_norm_gated(c, r.integer("type_vocab_size", 2, 0));
    ModelConfig::Modern& m = c.modern;
    if (const double f = r.number("rotary_emb_fraction", 0.0); f != 1.0)
        r.fail("rotary_emb_fraction " + std::to_string(f) +
               " is not supported (1.0: rotary positions over the whole head)");
    if (r.boolean("rotary_emb_interleaved").value_or(false))
        r.fail("rotary_emb_interleaved true is not supported (the halves are rotated)");
    if (r.get("rotary_emb_scale_base"))
        r.fail("rotary_emb_scale_base is not supported (null expected)");
    m.global_theta = m.local_theta = rope_base(r, "rotary_emb_base", 1000.0);  // NomicBertConfig's
    // Dynamic NTK scaling (a rotary_scaling_factor, 1.0 when absent) changes the angles past
    // max_trained_positions only: sequences are held within them unless it is null.
    if (!r.null("rotary_scaling_factor"))
        c.max_position_embeddings =
            std::min(c.max_position_embeddings, r.integer("max_trained_positions", 2048, 1));
    const std::string act = r.string("activation_function").value_or("gelu");
    if (act != "swiglu" && act != "geglu")
        r.fail("activation_function '" + act +
               "' is not supported (the gated MLPs \"swiglu\" and \"geglu\")");
    m.silu = act == "swiglu";
    m.attention_bias = r.boolean("qkv_proj_bias").value_or(true);
    m.mlp_bias = r.boolean("mlp_fc1_bias").value_or(true);
    m.mlp_out_bias = r.boolean("mlp_fc2_bias").value_or(true);
    for (const char* key : {"prenorm", "causal", "use_rms_norm", "parallel_block"})
        if (r.boolean(key).value_or(false)) r.fail(std::string(key) + " true is not supported");
}

// GTE v1.5 (Alibaba-NLP's "new" architecture: gte-base-en-v1.5, gte-large-en-v1.5,
// gte-multilingual-base; the remote code modeling.py / configuration.py of Alibaba-NLP/new-impl,
// NewConfig's defaults): BERT's names and post-norm layers with rotary positions (a fixed NTK
// scaling of the frequencies when rope_scaling says so), Q, K and V in one qkv_proj and the gated
// MLP down_proj(act(gate) * up) of up_gate_proj's two halves. On ModernBERT's machinery as
// NomicBERT. What sparq does not compute is refused.
void read_gte(const Reader& r, ModelConfig& c) {
    post_norm_gated(c, r.integer("type_vocab_size", 1, 0));
    ModelConfig::Modern& m = c.modern;
    c.max_position_embeddings = r.integer("max_position_embeddings", 2048, 1);
    if (const std::string t = r.string("position_embedding_type").value_or("rope"); t != "rope")
        r.fail("position_embedding_type '" + t + "' is not supported (\"rope\")");
    if (const std::string t = r.string("layer_norm_type").value_or("layer_norm"); t != "layer_norm")
        r.fail("layer_norm_type '" + t + "' is not supported (\"layer_norm\")");
    if (r.boolean("logn_attention_scale").value_or(false))
        r.fail("logn_attention_scale true is not supported");
    if (!r.boolean("pack_qkv").value_or(true))
        r.fail("pack_qkv false is not supported (one qkv_proj)");
    double theta = rope_base(r, "rope_theta", 10000.0);
    if (const json* s = r.get("rope_scaling")) {
        // NTKScalingRotaryEmbedding builds its cache past max_position_embeddings, so its scaled
        // frequencies always apply: base theta * f, every inverse frequency divided by f^(2/d).
        if (!s->is_object() || s->value("type", std::string()) != "ntk" || s->contains("mixed_b") ||
            !s->contains("factor") || !(*s)["factor"].is_number())
            r.fail("rope_scaling " + s->dump() +
                   " is not supported ({\"type\": \"ntk\", \"factor\": f} without mixed_b)");
        const double f = (*s)["factor"].get<double>();
        if (!(f >= 1.0) || !std::isfinite(f))
            r.fail("rope_scaling factor must be a number >= 1, found " + std::to_string(f));
        theta *= f;
        m.rope_ntk_factor = f;
    }
    m.global_theta = m.local_theta = theta;
    const std::string act = r.string("hidden_act").value_or("gelu");
    if (act != "gelu" && act != "silu" && act != "swish")
        r.fail("hidden_act '" + act + "' is not supported (\"gelu\", the erf form, or \"silu\")");
    m.silu = act != "gelu";
    m.attention_bias = true;  // qkv_proj and o_proj
    m.mlp_bias = false;       // up_gate_proj
    m.mlp_out_bias = true;    // down_proj
}

// JinaBERT (jina-embeddings-v2-*, jina-reranker-v1-*: model_type "bert" with
// position_embedding_type "alibi", the remote code jinaai/jina-bert-implementation): BERT's names
// and post-norm layers without a position table, ALiBi (every head adds -slope * |i - j| to its
// scores, the ALiBi paper's slopes) and the gated MLP mlp.wo(GELU(first half) * second half) of
// mlp.gated_layers (no bias), mlp.layernorm after its residual add. On ModernBERT's machinery as
// NomicBERT, without rotary positions. What sparq does not compute is refused.
void read_jina(const Reader& r, ModelConfig& c) {
    post_norm_gated(c, r.integer("type_vocab_size", 2, 1));
    ModelConfig::Modern& m = c.modern;
    m.alibi = true;
    if (const std::string ff = r.string("feed_forward_type").value_or("original"); ff != "geglu")
        r.fail("feed_forward_type '" + ff + "' is not supported (\"geglu\")");
    m.attention_bias = true;
    m.mlp_bias = false;     // mlp.gated_layers
    m.mlp_out_bias = true;  // mlp.wo
}

// ModernBERT's options (HF ModernBertConfig's names and defaults); what sparq does not compute is
// refused.
void read_modernbert(const Reader& r, ModelConfig& c) {
    ModelConfig::Modern& m = c.modern;
    m.on = true;
    c.token_types = false;
    c.type_vocab_size = 0;
    c.position_embeddings = false;
    m.global_every = r.integer("global_attn_every_n_layers", 3, 1);
    const int64_t local = r.integer("local_attention", 128, 0);
    m.window = local / 2;
    m.global_theta = rope_base(r, "global_rope_theta", 160000.0);
    m.local_theta = rope_base(r, "local_rope_theta", m.global_theta);  // null: the global base
    m.norm_bias = r.boolean("norm_bias").value_or(false);
    m.attention_bias = r.boolean("attention_bias").value_or(false);
    m.mlp_bias = r.boolean("mlp_bias").value_or(false);
    m.mlp_out_bias = m.mlp_bias;
    m.classifier_bias = r.boolean("classifier_bias").value_or(false);
    m.decoder_bias = r.boolean("decoder_bias").value_or(true);
    const std::string pooling = r.string("classifier_pooling").value_or("cls");
    if (pooling != "cls" && pooling != "mean")
        r.fail("classifier_pooling '" + pooling + "' is not supported (\"cls\" or \"mean\")");
    m.mean_pooling = pooling == "mean";
    // GELU (erf) in the MLP and the heads, as ModernBERT's checkpoints have it.
    for (const char* key : {"hidden_activation", "classifier_activation"})
        if (const std::string act = r.string(key).value_or("gelu"); act != "gelu")
            r.fail(std::string(key) + " '" + act +
                   "' is not supported for ModernBERT (supported: \"gelu\", the erf form)");
    c.pooler_act = ModelConfig::PoolerAct::gelu;
    if (r.boolean("sparse_prediction").value_or(false))
        r.fail("sparse_prediction true is not supported (it changes what the MLM head returns)");
}

}  // namespace

std::vector<int64_t> ModelConfig::layer_order() const {
    std::vector<int64_t> order;
    for (int64_t i = 0; i < num_layers; ++i) {
        if (albert_groups == 0) {
            order.push_back(i);
            continue;
        }
        const int64_t g = i * albert_groups / num_layers;
        for (int64_t j = 0; j < albert_inner; ++j) order.push_back(g * albert_inner + j);
    }
    return order;
}

ModelConfig ModelConfig::from_file(const std::string& path) {
    require_regular_file(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open model config");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(path + ": not valid JSON: " + e.what());
    }
    check_json_depth(text, path);
    if (!j.is_object())
        throw Error(path + ": expected a JSON object, found " + std::string(j.type_name()));
    Reader r(path, j);
    ModelConfig c;

    if (auto mt = r.string("model_type")) c.model_type = *mt;
    if (c.model_type != "bert" && c.model_type != "roberta" && c.model_type != "xlm-roberta" &&
        c.model_type != "distilbert" && c.model_type != "electra" && c.model_type != "mpnet" &&
        c.model_type != "deberta" && c.model_type != "deberta-v2" && c.model_type != "albert" &&
        c.model_type != "modernbert" && c.model_type != "nomic_bert" && c.model_type != "new")
        r.fail("model_type '" + c.model_type +
               "' is not supported (sparq runs BERT-architecture models: model_type \"bert\", "
               "\"roberta\", \"xlm-roberta\", \"distilbert\", \"electra\", \"mpnet\", "
               "\"deberta\", \"deberta-v2\", \"albert\", \"modernbert\", \"nomic_bert\" or "
               "\"new\")");
    c.family = c.model_type == "xlm-roberta"  ? "roberta"
               : c.model_type == "deberta-v2" ? "deberta"
                                              : c.model_type;
    // JinaBERT is model_type "bert" with ALiBi positions: "jina_bert" inside sparq (its names,
    // its layers), BERT's family; "jina_bert_qk" when auto_map names the remote code of its
    // qk-post-norm variant (jinaai/jina-bert-v2-qk-post-norm, jina-embeddings-v2-base-code).
    if (c.model_type == "bert" && r.string("position_embedding_type") == "alibi") {
        c.model_type = "jina_bert";
        if (const json* am = r.get("auto_map"); am && am->is_object())
            for (const auto& [key, v] : am->items())
                if (v.is_string() && v.get<std::string>().find("qk-post-norm") != std::string::npos)
                    c.model_type = "jina_bert_qk";
    }
    const bool distil = c.model_type == "distilbert";

    if (const json* a = r.get("architectures")) {
        if (!a->is_array()) r.fail("field 'architectures' must be an array, found " + describe(*a));
        for (const auto& x : *a) {
            if (!x.is_string())
                r.fail("field 'architectures' must hold strings, found " + describe(x));
            c.architectures.push_back(x.get<std::string>());
        }
    }
    if (!c.architectures.empty()) {
        const std::string& arch = c.architectures.front();
        bool known = false;
        for (const auto& at : kArchitectures)
            if (arch == at.name) {
                c.task = at.task;
                known = true;
            }
        if (!known)
            std::fprintf(stderr,
                         "sparq: warning: %s: architecture '%s' is not recognised; loading the "
                         "BERT encoder only (no task head)\n",
                         path.c_str(), arch.c_str());
    }

    c.vocab_size = r.integer("vocab_size", std::nullopt, 1);
    const bool nomic = c.model_type == "nomic_bert";
    if (nomic) {
        read_nomic(r, c);
    } else {
        c.hidden_size = r.integer(distil ? "dim" : "hidden_size", std::nullopt, 1);
        c.num_layers = r.integer(distil ? "n_layers" : "num_hidden_layers", std::nullopt, 1);
        c.num_heads = r.integer(distil ? "n_heads" : "num_attention_heads", std::nullopt, 1);
        c.intermediate_size =
            r.integer(distil ? "hidden_dim" : "intermediate_size", std::nullopt, 1);
        c.max_position_embeddings =
            r.integer("max_position_embeddings", c.model_type == "modernbert" ? 8192 : 512, 1);
    }
    if (nomic) {
        // read_nomic has read its options.
    } else if (c.model_type == "new") {
        read_gte(r, c);
    } else if (c.jina()) {
        read_jina(r, c);
    } else if (distil) {
        // No token-type embeddings: type ids (sentence pairs) are kept for the QA span search
        // but add nothing. The sequence-classification head is pre_classifier + ReLU.
        c.token_types = false;
        c.type_vocab_size = 0;
        c.pooler_act = ModelConfig::PoolerAct::relu;
    } else if (c.deberta()) {
        read_deberta(r, c);
    } else if (c.model_type == "modernbert") {
        read_modernbert(r, c);
    } else {
        c.type_vocab_size = r.integer("type_vocab_size", 2, 1);
    }
    if (c.model_type == "electra") {
        c.embedding_size = r.integer("embedding_size", c.hidden_size, 1);
        c.pooler_act = ModelConfig::PoolerAct::gelu;  // ElectraClassificationHead
        if (c.task == Task::multiple_choice) read_electra_summary(r);
    }
    if (c.model_type == "albert") {
        // ALBERT: factorized embeddings (embedding_size, mapped to hidden_size by the encoder's
        // embedding_hidden_mapping_in) and layers shared across groups; BERT's pooler + tanh.
        c.embedding_size = r.integer("embedding_size", 128, 1);
        c.albert_groups = r.integer("num_hidden_groups", 1, 1);
        c.albert_inner = r.integer("inner_group_num", 1, 1);
        if (c.albert_groups > c.num_layers)
            r.fail("num_hidden_groups " + std::to_string(c.albert_groups) +
                   " exceeds num_hidden_layers " + std::to_string(c.num_layers) +
                   " (some groups would never run)");
        if (c.albert_inner > kMaxAlbertLayerRuns / c.num_layers)
            r.fail("num_hidden_layers " + std::to_string(c.num_layers) + " * inner_group_num " +
                   std::to_string(c.albert_inner) + " layer runs exceed sparq's limit of " +
                   std::to_string(kMaxAlbertLayerRuns));
        c.hidden_act = "gelu_new";  // AlbertConfig's default
    }
    const bool mpnet = c.model_type == "mpnet";
    if (mpnet) {
        // MPNet: no token types, positions from pad + 1 as RoBERTa, and a relative position bias
        // per head. Hugging Face's MPNetEncoder always buckets with 32 (compute_position_bias'
        // default), whatever relative_attention_num_buckets says; the table must have that size.
        c.token_types = false;
        c.type_vocab_size = 0;
        const int64_t buckets = r.integer("relative_attention_num_buckets", 32, 1);
        if (buckets != 32)
            r.fail("relative_attention_num_buckets " + std::to_string(buckets) +
                   " is not supported (Hugging Face's MPNet computes 32 buckets)");
        c.relative_attention_buckets = buckets;
    }
    const bool roberta = c.roberta_style();
    c.pad_token_id = r.integer("pad_token_id", roberta ? 1 : 0, 0);
    if (roberta) c.position_offset = c.pad_token_id + 1;
    if (!c.position_embeddings && c.max_position_embeddings > kMaxTablelessPositions)
        r.fail(std::string(c.nomic() ? "n_positions " : "max_position_embeddings ") +
               std::to_string(c.max_position_embeddings) + " exceeds sparq's limit of " +
               std::to_string(kMaxTablelessPositions) + " for a model without a position table");
    if (c.max_tokens() < 1)
        r.fail(std::string(c.nomic() ? "n_positions " : "max_position_embeddings ") +
               std::to_string(c.max_position_embeddings) +
               " leaves no position for a token (RoBERTa positions start at pad_token_id + 1 = " +
               std::to_string(c.position_offset) + ")");
    if (c.hidden_size % c.num_heads != 0)
        r.fail(std::string(distil ? "dim " : "hidden_size ") + std::to_string(c.hidden_size) +
               " is not a multiple of " + (distil ? "n_heads " : "num_attention_heads ") +
               std::to_string(c.num_heads));
    if (c.pad_token_id >= c.vocab_size)
        r.fail("pad_token_id " + std::to_string(c.pad_token_id) + " is outside the vocabulary (" +
               std::to_string(c.vocab_size) + " entries)");

    // DistilBERT: a fixed 1e-12; ModernBERT names it norm_eps. Checked as the float the
    // LayerNorms use (a value that rounds to 0 or overflows is refused too).
    const char* eps_key = nomic             ? "layer_norm_epsilon"
                          : c.modern_head() ? "norm_eps"  // ModernBERT
                                            : "layer_norm_eps";
    const double eps = distil ? 1e-12
                              : r.number(eps_key, c.modern_head() || nomic ? 1e-5
                                                  : c.deberta()            ? 1e-7
                                                                           : 1e-12);
    c.layer_norm_eps = static_cast<float>(eps);
    if (!(c.layer_norm_eps > 0) || !std::isfinite(c.layer_norm_eps))
        r.fail(std::string("field '") + eps_key + "' must be a positive number, found " +
               std::to_string(eps));

    const char* act_key = distil           ? "activation"
                          : c.modernbert() ? "hidden_activation"
                                           : "hidden_act";
    // The post-norm rotary families read their MLP's activation themselves.
    if (auto act = r.string(act_key); act && !c.modern.post_norm) c.hidden_act = *act;
    if (c.hidden_act == "gelu_fast" || c.hidden_act == "gelu_pytorch_tanh")
        c.hidden_act = "gelu_new";  // the same function
    if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new")
        r.fail(std::string(act_key) + " '" + c.hidden_act +
               "' is not supported (supported: \"gelu\", the erf form, and its tanh "
               "approximation \"gelu_new\" / \"gelu_fast\" / \"gelu_pytorch_tanh\")");

    if (auto pet = r.string("position_embedding_type");
        pet && *pet != "absolute" && !c.modernbert())  // ModernBERT's is unused (rotary)
        r.fail("position_embedding_type '" + *pet + "' is not supported (supported: \"absolute\")");

    if (auto pt = r.string("problem_type")) {
        if (*pt != "regression" && *pt != "single_label_classification" &&
            *pt != "multi_label_classification")
            r.fail("problem_type '" + *pt +
                   "' is not one of regression, single_label_classification, "
                   "multi_label_classification");
        c.problem_type = *pt;
    }

    if (const json* m = r.get("id2label")) {
        if (!m->is_object()) r.fail("field 'id2label' must be an object, found " + describe(*m));
        for (auto it = m->begin(); it != m->end(); ++it) {
            const std::string& key = it.key();
            int64_t id = -1;
            std::size_t used = 0;
            try {
                id = std::stoll(key, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != key.size() || key.empty() || id < 0)
                r.fail("id2label key '" + key + "' is not a non-negative integer");
            // Labels are strings; an integer label (some fine-tunes write {"0": 0, ...}) is taken
            // as its decimal text, as Hugging Face's str(label) would print it.
            std::string label;
            if (it->is_string())
                label = it->get<std::string>();
            else if (it->is_number_integer())
                label = it->dump();
            else
                r.fail("id2label['" + key + "'] must be a string, found " + describe(*it));
            if (!c.id2label.emplace(id, label).second)
                r.fail("id2label has label id " + std::to_string(id) + " twice");
        }
    }
    if (r.get("num_labels")) {
        c.num_labels = r.integer("num_labels", std::nullopt, 1);
        if (!c.id2label.empty() && static_cast<int64_t>(c.id2label.size()) != c.num_labels)
            r.fail("num_labels " + std::to_string(c.num_labels) + " does not match the " +
                   std::to_string(c.id2label.size()) + " entries of id2label");
    } else if (!c.id2label.empty()) {
        c.num_labels = static_cast<int64_t>(c.id2label.size());
    }
    // id2label is a map, so (its size matching) an id outside 0..num_labels-1 means a gap.
    if (!c.id2label.empty() && c.id2label.rbegin()->first >= c.num_labels)
        r.fail("id2label has label id " + std::to_string(c.id2label.rbegin()->first) +
               ", expected ids 0.." + std::to_string(c.num_labels - 1) + " (num_labels " +
               std::to_string(c.num_labels) + ")");
    if (c.task == Task::multiple_choice) {
        // ...ForMultipleChoice's classifier has one output whatever num_labels says (its
        // checkpoints usually keep the default two labels): the labels mean nothing here.
        c.num_labels = 1;
        c.id2label.clear();
        c.problem_type.clear();
    }
    return c;
}

std::string ModelConfig::label(int64_t id) const {
    auto it = id2label.find(id);
    return it != id2label.end() ? it->second : "LABEL_" + std::to_string(id);
}

}  // namespace sparq
