#include "model/weights.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "core/files.hpp"
#include "model/family.hpp"
#include "model/safetensors.hpp"
#include "quant/model_quant.hpp"
#include "sparq/error.hpp"

namespace sparq {

namespace {

std::string task_architecture(const ModelConfig& cfg) {
    const std::string family = cfg.model_type == "xlm-roberta"  ? "XLMRoberta"
                               : cfg.model_type == "mpnet"      ? "MPNet"
                               : cfg.model_type == "roberta"    ? "Roberta"
                               : cfg.model_type == "distilbert" ? "DistilBert"
                               : cfg.model_type == "electra"    ? "Electra"
                               : cfg.model_type == "albert"     ? "Albert"
                               : cfg.model_type == "modernbert" ? "ModernBert"
                                                                : "Bert";
    switch (cfg.task) {
        case Task::sequence_classification:
            return family + "ForSequenceClassification";
        case Task::token_classification:
            return family + "ForTokenClassification";
        case Task::question_answering:
            return family + "ForQuestionAnswering";
        case Task::multiple_choice:
            return family + "ForMultipleChoice";
        default:
            return family + "Model";
    }
}

// Branch-free (vectorizable) scan: no NaN or infinity in src[n].
bool all_finite(const float* src, std::size_t n) {
    uint32_t all_ones_exponent = 0;
    for (std::size_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, src + i, 4);
        all_ones_exponent |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    return all_ones_exponent == 0;
}

// Rows [r0, r0 + n) of t (f32 or int8 with per-row scales).
Tensor row_range(const Tensor& t, int64_t r0, int64_t n) {
    const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
    Tensor r;
    r.name = t.name + " (rows " + std::to_string(r0) + ".." + std::to_string(r0 + n - 1) + ")";
    r.shape = t.shape;
    r.shape[0] = n;
    if (t.is_int8()) {
        r.q8.assign(t.q8.begin() + r0 * cols, t.q8.begin() + (r0 + n) * cols);
        r.q8_scale.assign(t.q8_scale.begin() + r0, t.q8_scale.begin() + r0 + n);
    } else {
        r.data.resize(static_cast<size_t>(n * cols));
        std::memcpy(r.data.data(), t.data.data() + r0 * cols, n * cols * sizeof(float));
    }
    return r;
}

// Rows of a fused [3 hidden][...] Q/K/V weight (or [3 hidden] bias) for Q (part 0), K (1) or V
// (2). DeBERTa v1's in_proj (interleaved): Hugging Face splits its output per head into
// [q | k | v] (transpose_for_scores then chunk(3, -1)), so head n's rows of part p are
// [(3 n + p) d, (3 n + p + 1) d), d = hidden / heads. ModernBERT's Wqkv (not interleaved): part p
// is rows [p hidden, (p + 1) hidden). An int8-held weight keeps its int8 rows and their scales.
Tensor qkv_part(const Tensor& fused, int part, int64_t heads, bool interleaved) {
    const int64_t h = fused.shape[0] / 3, d = h / heads;
    const int64_t cols = fused.shape.size() == 2 ? fused.shape[1] : 1;
    const std::string rows = part == 0 ? "query" : part == 1 ? "key" : "value";
    if (!interleaved) {  // Q, K, V one after the other
        Tensor t = row_range(fused, part * h, h);
        t.name = fused.name + " (" + rows + " rows)";
        return t;
    }
    Tensor t;
    t.name = fused.name + " (" + rows + " rows)";
    t.shape = fused.shape;
    t.shape[0] = h;
    if (fused.is_int8()) {
        t.q8.resize(static_cast<size_t>(h * cols));
        t.q8_scale.resize(static_cast<size_t>(h));
    } else {
        t.data.resize(static_cast<size_t>(h * cols));
    }
    for (int64_t n = 0; n < heads; ++n)  // per head: its Q, K and V rows (DeBERTa v1's in_proj)
        for (int64_t r = 0; r < d; ++r) {
            const int64_t to = n * d + r, from = (3 * n + part) * d + r;
            if (fused.is_int8()) {
                std::memcpy(t.q8.data() + to * cols, fused.q8.data() + from * cols, cols);
                t.q8_scale[to] = fused.q8_scale[from];
            } else {
                std::memcpy(t.data.data() + to * cols, fused.data.data() + from * cols, cols * 4);
            }
        }
    return t;
}

// The rows of a, then those of b (same columns; both f32 or both int8 with per-row scales).
Tensor concat_rows(const Tensor& a, const Tensor& b) {
    if (a.is_int8() != b.is_int8() || a.shape.size() != b.shape.size() ||
        (a.shape.size() == 2 && a.shape[1] != b.shape[1]))
        throw Error("weights: " + a.name + " and " + b.name +
                    " differ in precision or width; they are one matrix's halves");
    Tensor t;
    t.name = a.name + " + " + b.name;
    t.shape = a.shape;
    t.shape[0] += b.shape[0];
    if (a.is_int8()) {
        t.q8 = a.q8;
        t.q8.insert(t.q8.end(), b.q8.begin(), b.q8.end());
        t.q8_scale = a.q8_scale;
        t.q8_scale.insert(t.q8_scale.end(), b.q8_scale.begin(), b.q8_scale.end());
    } else {
        t.data.resize(a.data.size() + b.data.size());
        std::memcpy(t.data.data(), a.data.data(), a.data.size() * sizeof(float));
        std::memcpy(t.data.data() + a.data.size(), b.data.data(), b.data.size() * sizeof(float));
    }
    return t;
}

class Loader {
  public:
    Loader(const SafeTensorsFile& file, const ModelConfig& cfg)
        : file_(file), model_type_(cfg.model_type), albert_inner_(cfg.albert_inner) {
        needed_by_ = cfg.architectures.empty() ? task_architecture(cfg) : cfg.architectures.front();
    }

    void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }
    void set_quantized(bool q) { quantized_ = q; }

    // Encoder tensor of BERT name `name` (without "bert."; read under the family's own name),
    // with the legacy LayerNorm gamma/beta spelling accepted; empty Tensor if absent and not
    // required.
    Tensor encoder(const std::string& name, std::vector<int64_t> shape, bool required = true) {
        const std::string n = prefix_ + native_encoder_name(model_type_, name, albert_inner_);
        return load(n, legacy_name(n), std::move(shape), required);
    }

    // Head tensor (top level, no prefix).
    Tensor head(const std::string& name, std::vector<int64_t> shape, bool required = true) {
        return load(name, std::nullopt, std::move(shape), required);
    }

    [[noreturn]] void missing(const std::string& name) const {
        throw Error("missing tensor '" + name + "' in " + file_.path() + " (needed by " +
                    needed_by_ + ")");
    }

  private:
    static std::optional<std::string> legacy_name(const std::string& name) {
        const std::string ln = "LayerNorm.";
        auto pos = name.rfind(ln);
        if (pos == std::string::npos) return std::nullopt;
        std::string leaf = name.substr(pos + ln.size());
        if (leaf == "weight") return name.substr(0, pos + ln.size()) + "gamma";
        if (leaf == "bias") return name.substr(0, pos + ln.size()) + "beta";
        return std::nullopt;
    }

    Tensor load(const std::string& name, const std::optional<std::string>& alt,
                std::vector<int64_t> shape, bool required) {
        const TensorInfo* info = file_.find(name);
        if (!info && alt) info = file_.find(*alt);
        if (!info) {
            if (required) missing(name);
            return {};
        }
        const std::string where = file_.path() + ": tensor '" + info->name + "': ";
        const bool int8_linear = is_int8_linear_weight(info->name);
        if (quantized_ && int8_linear && info->dtype != DType::i8)
            throw Error(where + "expected I8 (config.json has a quantization_config), found " +
                        dtype_name(info->dtype));
        if (info->dtype == DType::i8) {
            if (!quantized_)
                throw Error(where + "I8 weights need a quantization_config in config.json "
                                    "(write quantized models with sparq quantize)");
            if (!int8_linear)
                throw Error(where + "expected a float dtype (only encoder linear weights are "
                                    "int8), found I8");
            if (info->shape != shape)
                throw Error(where + "expected shape " + shape_string(shape) + ", found " +
                            shape_string(info->shape));
            return int8_tensor(*info, std::move(shape), where);
        }
        if (!dtype_is_float(info->dtype))
            throw Error(where + "expected a float dtype (F32, F16, BF16), found " +
                        dtype_name(info->dtype));
        if (info->shape != shape)
            throw Error(where + "expected shape " + shape_string(shape) + ", found " +
                        shape_string(info->shape));
        Tensor t;
        t.name = info->name;
        t.shape = std::move(shape);
        t.data.resize(static_cast<std::size_t>(t.numel()));
        file_.read_f32(*info, t.data.data());
        file_.release(*info);  // the copy is made: the file's pages may go
        if (!all_finite(t.data.data(), t.data.size()))
            for (std::size_t i = 0; i < t.data.size(); ++i)
                if (!std::isfinite(t.data[i]))
                    throw Error(where + "value " + std::to_string(t.data[i]) + " at flat index " +
                                std::to_string(i) + " is not finite");
        return t;
    }

    // An I8 [out][in] weight and its F32 [out] "<name>_scale", held int8 (Tensor::q8).
    Tensor int8_tensor(const TensorInfo& info, std::vector<int64_t> shape, const std::string& where) {
        const std::string sname = scale_tensor_name(info.name);
        const TensorInfo* si = file_.find(sname);
        if (!si) throw Error(where + "I8 weight without its per-row scale tensor '" + sname + "'");
        if (si->dtype != DType::f32 || si->shape != std::vector<int64_t>{shape[0]})
            throw Error(file_.path() + ": tensor '" + sname + "': expected F32 " +
                        shape_string({shape[0]}) + ", found " + dtype_name(si->dtype) + " " +
                        shape_string(si->shape));
        Tensor t;
        t.q8_scale = file_.read_f32(*si);
        for (std::size_t o = 0; o < t.q8_scale.size(); ++o)
            if (!(t.q8_scale[o] > 0.0f) || !std::isfinite(t.q8_scale[o]))
                throw Error(file_.path() + ": tensor '" + sname + "': expected positive finite "
                            "scales, found " + std::to_string(t.q8_scale[o]) + " at row " +
                            std::to_string(o));
        auto bytes = file_.bytes(info);
        const auto* q = reinterpret_cast<const int8_t*>(bytes.data());
        t.name = info.name;
        t.shape = std::move(shape);
        const int64_t out = t.shape[0], in = t.shape[1];
        for (int64_t o = 0; o < out; ++o) {
            int bad = 0;  // branch-free scan (vectorizes)
            for (int64_t k = 0; k < in; ++k) bad |= q[o * in + k] == -128;
            if (bad)
                throw Error(where + "value -128 at row " + std::to_string(o) +
                            " (symmetric int8 weights are in [-127, 127])");
        }
        t.q8.assign(q, q + out * in);
        file_.release(info);
        return t;
    }

    const SafeTensorsFile& file_;
    std::string model_type_;
    int64_t albert_inner_ = 1;
    bool quantized_ = false;
    std::string needed_by_;
    std::string prefix_;
};

// Number of encoder layers present in the file (1 + the largest N of "encoder.layer.N.", or of
// DistilBERT's "transformer.layer.N.").
int64_t layers_in_file(const SafeTensorsFile& file, const std::string& prefix,
                       const std::string& model_type) {
    const std::string p = prefix + (model_type == "distilbert"   ? "transformer.layer."
                                    : model_type == "modernbert" ? "layers."
                                                                 : "encoder.layer.");
    int64_t n = 0;
    for (const auto& t : file.tensors()) {
        if (t.name.compare(0, p.size(), p) != 0) continue;
        try {
            n = std::max<int64_t>(n, std::stoll(t.name.substr(p.size())) + 1);
        } catch (const std::exception&) {
        }
    }
    return n;
}

}  // namespace

Tensor zero_tensor(std::string name, std::vector<int64_t> shape) {
    Tensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.data.resize(static_cast<std::size_t>(t.numel()));
    std::fill(t.data.data(), t.data.data() + t.numel(), 0.0f);
    return t;
}

void copy_f32_values(const Tensor& t, float* dst) {
    if (!t.is_int8()) {
        std::copy(t.data.data(), t.data.data() + t.numel(), dst);
        return;
    }
    const int64_t out = t.shape[0], in = t.shape[1];
    for (int64_t o = 0; o < out; ++o) {
        const int8_t* q = t.q8.data() + o * in;
        const float s = t.q8_scale[o];
        for (int64_t k = 0; k < in; ++k) dst[o * in + k] = static_cast<float>(q[k]) * s;
    }
}

const float* f32_values(const Tensor& t, AlignedBuffer<float>& scratch) {
    if (!t.is_int8()) return t.data.data();
    scratch.resize(static_cast<std::size_t>(t.numel()));
    copy_f32_values(t, scratch.data());
    return scratch.data();
}

std::string weights_file(const std::string& dir) {
    namespace fs = std::filesystem;
    const fs::path path = fs::path(dir) / "model.safetensors";
    if (fs::exists(path)) return path.string();
    if (fs::exists(fs::path(dir) / "pytorch_model.bin"))
        return (fs::path(dir) / "pytorch_model.bin").string();
    // Sharded checkpoints: the index, which SafeTensorsFile reads as one file over its shards.
    for (const char* index : {"model.safetensors.index.json", "pytorch_model.bin.index.json"})
        if (fs::exists(fs::path(dir) / index)) return (fs::path(dir) / index).string();
    throw Error(path.string() +
                ": not found (nor pytorch_model.bin, nor a sharded checkpoint's *.index.json)");
}

namespace {

// Whether this process has not warned about `key` yet (commands that load a directory twice,
// e.g. inspect --plan, say it once).
bool first_warning_for(const std::string& key) {
    static std::mutex mu;
    static std::set<std::string> seen;
    std::lock_guard<std::mutex> lock(mu);
    return seen.insert(key).second;
}

}  // namespace

BertWeights load_bert_weights(const std::string& dir, const ModelConfig& cfg) {
    namespace fs = std::filesystem;
    SafeTensorsFile file(weights_file(dir));
    Loader ld(file, cfg);
    BertWeights w;
    {
        const std::string cfg_path = (fs::path(dir) / "config.json").string();
        require_regular_file(cfg_path);
        std::ifstream in(cfg_path);
        nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        QuantizationConfig qc = parse_quantization_config(j, cfg_path);
        w.quantized = qc.present;
        w.act_scales = plan_act_scales(qc);
        ld.set_quantized(qc.present);
    }

    // BertModel / RobertaModel / DistilBertModel / ElectraModel checkpoints name the encoder
    // without a prefix, the *For* ones with "bert." / "roberta." / "distilbert." / "electra.".
    const std::string word = "embeddings.word_embeddings.weight";
    const std::string family = family_prefix(cfg.model_type);
    const std::string native_word = native_encoder_name(cfg.model_type, word);
    const std::string prefix = file.find(family + native_word) ? family : "";
    if (prefix.empty() && !file.find(native_word))
        ld.missing(cfg.task == Task::base ? native_word : family + native_word);
    ld.set_prefix(prefix);
    // ModernBERT's optional vectors: loaded when the config says the model has them, else zeros.
    auto vector_or_zeros = [&](const std::string& name, int64_t n, bool present) {
        return present
                   ? ld.encoder(name, {n})
                   : zero_tensor(native_encoder_name(cfg.model_type, name) + " (none: zeros)", {n});
    };

    const int64_t h = cfg.hidden_size, inter = cfg.intermediate_size, e = cfg.embedding_width();
    w.word_emb = ld.encoder(word, {cfg.vocab_size, e});
    if (cfg.position_embeddings)  // DeBERTa-v3 has none (position_biased_input false)
        w.pos_emb =
            ld.encoder("embeddings.position_embeddings.weight", {cfg.max_position_embeddings, e});
    if (cfg.token_types)
        w.type_emb =
            ld.encoder("embeddings.token_type_embeddings.weight", {cfg.type_vocab_size, e});
    w.emb_ln_g = ld.encoder("embeddings.LayerNorm.weight", {e});
    w.emb_ln_b =
        vector_or_zeros("embeddings.LayerNorm.bias", e, !cfg.modernbert() || cfg.modern.norm_bias);
    if (cfg.embedding_projection()) {  // ELECTRA, ALBERT: normalized embeddings -> hidden_size
        w.emb_proj_w = ld.encoder("embeddings_project.weight", {h, e});
        w.emb_proj_b = ld.encoder("embeddings_project.bias", {h});
    }

    // BERT's attention.self.{query,key,value} weights and biases of layer prefix p.
    auto separate_qkv = [&](LayerWeights& l, const std::string& p) {
        Tensor* ws[3] = {&l.q_w, &l.k_w, &l.v_w};
        Tensor* bs[3] = {&l.q_b, &l.k_b, &l.v_b};
        const char* parts[3] = {"query", "key", "value"};
        for (int i = 0; i < 3; ++i) {
            *ws[i] = ld.encoder(p + "attention.self." + parts[i] + ".weight", {h, h});
            *bs[i] = ld.encoder(p + "attention.self." + parts[i] + ".bias", {h});
        }
    };

    // Added as they load: a layer count beyond the file's ends at its first missing tensor, not
    // in allocating that many layers.
    for (int64_t i = 0; i < cfg.distinct_layers(); ++i) {
        auto& l = w.layers.emplace_back();
        const std::string p = "encoder.layer." + std::to_string(i) + ".";
        if (cfg.modernbert()) {
            // Wqkv [3 hidden][hidden] (Q, K, V rows one after the other), Wo, Wi [2 inter][hidden]
            // (the activation's half, then the gate's), Wo; attn_norm (none in layer 0) and
            // mlp_norm in the LayerNorm slots; biases as the config says.
            const ModelConfig::Modern& m = cfg.modern;
            if (cfg.jina()) {  // BERT's separate query / key / value
                separate_qkv(l, p);
            } else {
                const Tensor qkv = ld.encoder(p + "attention.self.query.weight", {3 * h, h});
                const Tensor qkv_b =
                    vector_or_zeros(p + "attention.self.query.bias", 3 * h, m.attention_bias);
                Tensor* ws[3] = {&l.q_w, &l.k_w, &l.v_w};
                Tensor* bs[3] = {&l.q_b, &l.k_b, &l.v_b};
                for (int part = 0; part < 3; ++part) {
                    *ws[part] = qkv_part(qkv, part, cfg.num_heads, false);
                    *bs[part] = qkv_part(qkv_b, part, cfg.num_heads, false);
                }
            }
            l.ao_w = ld.encoder(p + "attention.output.dense.weight", {h, h});
            l.ao_b = vector_or_zeros(p + "attention.output.dense.bias", h, m.attention_bias);
            if (i > 0 || m.post_norm) {
                l.ln1_g = ld.encoder(p + "attention.output.LayerNorm.weight", {h});
                l.ln1_b = vector_or_zeros(p + "attention.output.LayerNorm.bias", h, m.norm_bias);
            }
            if (cfg.nomic()) {
                // fc11 * act(fc12): Wi's activated half is the gate fc12, then fc11.
                l.i_w = concat_rows(ld.encoder(p + "intermediate.gate.weight", {inter, h}),
                                    ld.encoder(p + "intermediate.dense.weight", {inter, h}));
                l.i_b =
                    concat_rows(vector_or_zeros(p + "intermediate.gate.bias", inter, m.mlp_bias),
                                vector_or_zeros(p + "intermediate.dense.bias", inter, m.mlp_bias));
            } else if (cfg.gte() || cfg.jina_qk()) {
                // up_gate_proj (GTE) / up_gated_layer (JinaBERT qk-post-norm) hold up, then the
                // gate: Wi's activated half first.
                const Tensor wi = ld.encoder(p + "intermediate.dense.weight", {2 * inter, h});
                l.i_w = concat_rows(row_range(wi, inter, inter), row_range(wi, 0, inter));
                l.i_b = zero_tensor(wi.name + " bias (none: zeros)", {2 * inter});
            } else {
                l.i_w = ld.encoder(p + "intermediate.dense.weight", {2 * inter, h});
                l.i_b = vector_or_zeros(p + "intermediate.dense.bias", 2 * inter, m.mlp_bias);
            }
            l.o_w = ld.encoder(p + "output.dense.weight", {h, inter});
            l.o_b = vector_or_zeros(p + "output.dense.bias", h, m.mlp_out_bias);
            l.ln2_g = ld.encoder(p + "output.LayerNorm.weight", {h});
            l.ln2_b = vector_or_zeros(p + "output.LayerNorm.bias", h, m.norm_bias);
            if (cfg.jina_qk()) {
                l.qn_g = ld.encoder(p + "attention.self.layer_norm_q.weight", {h});
                l.qn_b = ld.encoder(p + "attention.self.layer_norm_q.bias", {h});
                l.kn_g = ld.encoder(p + "attention.self.layer_norm_k.weight", {h});
                l.kn_b = ld.encoder(p + "attention.self.layer_norm_k.bias", {h});
                l.mid_g = ld.encoder(p + "layer_norm_1.weight", {h});
                l.mid_b = ld.encoder(p + "layer_norm_1.bias", {h});
            }
            continue;
        }
        if (cfg.deberta_v1()) {
            // One in_proj [3 hidden][hidden] without a bias, q_bias and v_bias (K has none).
            const Tensor in_proj = ld.encoder(p + "attention.self.in_proj.weight", {3 * h, h});
            l.q_w = qkv_part(in_proj, 0, cfg.num_heads, true);
            l.k_w = qkv_part(in_proj, 1, cfg.num_heads, true);
            l.v_w = qkv_part(in_proj, 2, cfg.num_heads, true);
            l.q_b = ld.encoder(p + "attention.self.q_bias", {h});
            l.k_b = zero_tensor(p + "attention.self.key bias (none: zeros)", {h});
            l.v_b = ld.encoder(p + "attention.self.v_bias", {h});
        } else {
            separate_qkv(l, p);
        }
        if (cfg.disentangled.own_pos_proj) {
            // DeBERTa's own position projections (c2p / p2c are only set with relative
            // attention): v1's pos_proj (no bias) and pos_q_proj, v2's pos_key_proj and
            // pos_query_proj (share_att_key false).
            const bool v1 = cfg.deberta_v1();
            auto projection = [&](const std::string& module, bool has_bias, Tensor& wt, Tensor& b) {
                const std::string m = p + "attention.self." + module;
                wt = ld.encoder(m + ".weight", {h, h});
                b = has_bias ? ld.encoder(m + ".bias", {h})
                             : zero_tensor(m + " bias (none: zeros)", {h});
            };
            if (cfg.disentangled.c2p)
                projection(v1 ? "pos_proj" : "pos_key_proj", !v1, l.pos_k_w, l.pos_k_b);
            if (cfg.disentangled.p2c)
                projection(v1 ? "pos_q_proj" : "pos_query_proj", true, l.pos_q_w, l.pos_q_b);
        }
        l.ao_w = ld.encoder(p + "attention.output.dense.weight", {h, h});
        l.ao_b = ld.encoder(p + "attention.output.dense.bias", {h});
        l.ln1_g = ld.encoder(p + "attention.output.LayerNorm.weight", {h});
        l.ln1_b = ld.encoder(p + "attention.output.LayerNorm.bias", {h});
        l.i_w = ld.encoder(p + "intermediate.dense.weight", {inter, h});
        l.i_b = ld.encoder(p + "intermediate.dense.bias", {inter});
        l.o_w = ld.encoder(p + "output.dense.weight", {h, inter});
        l.o_b = ld.encoder(p + "output.dense.bias", {h});
        l.ln2_g = ld.encoder(p + "output.LayerNorm.weight", {h});
        l.ln2_b = ld.encoder(p + "output.LayerNorm.bias", {h});
    }
    if (cfg.disentangled.on) {  // DeBERTa: shared by all layers
        w.rel_emb = ld.encoder("encoder.rel_embeddings.weight", {2 * cfg.disentangled.span, h});
        if (cfg.disentangled.layer_norm) {
            w.rel_ln_g = ld.encoder("encoder.LayerNorm.weight", {h});
            w.rel_ln_b = ld.encoder("encoder.LayerNorm.bias", {h});
        }
    }
    if (cfg.modern_head()) {
        w.final_ln_g = ld.encoder("final_norm.weight", {h});
        w.final_ln_b = vector_or_zeros("final_norm.bias", h, cfg.modern.norm_bias);
    }
    if (cfg.relative_attention_buckets > 0)
        w.rel_bias = ld.encoder("encoder.relative_attention_bias.weight",
                                {cfg.relative_attention_buckets, cfg.num_heads});
    if (int64_t n = layers_in_file(file, prefix, cfg.model_type);
        cfg.albert_groups == 0 && n > cfg.num_layers && first_warning_for(file.path()))
        std::fprintf(stderr,
                     "sparq: warning: %s holds %lld encoder layers but config.json has "
                     "%s=%lld; the extra layers are ignored\n",
                     file.path().c_str(), static_cast<long long>(n),
                     cfg.model_type == "distilbert" ? "n_layers" : "num_hidden_layers",
                     static_cast<long long>(cfg.num_layers));

    if (cfg.modern_head()) {
        // ModernBertPredictionHead (head.dense + activation + head.norm): before the tied decoder
        // (ModernBertForMaskedLM, + decoder.bias) or the classifier (on the [CLS] row or the
        // mean of the tokens for sequence classification, on every token for tokens).
        const ModelConfig::Modern& m = cfg.modern;
        auto head_vector = [&](const std::string& name, int64_t n, bool present) {
            return present ? ld.head(name, {n}) : zero_tensor(name + " (none: zeros)", {n});
        };
        Tensor dense = ld.head("head.dense.weight", {h, h}, cfg.task != Task::base);
        if (dense.empty()) return w;  // ModernBertModel: no head
        Tensor dense_b = head_vector("head.dense.bias", h, m.classifier_bias);
        Tensor ln_g = ld.head("head.norm.weight", {h});
        Tensor ln_b = head_vector("head.norm.bias", h, m.norm_bias);
        if (cfg.task == Task::base) {
            w.mlm_dense_w = std::move(dense);
            w.mlm_dense_b = std::move(dense_b);
            w.mlm_ln_g = std::move(ln_g);
            w.mlm_ln_b = std::move(ln_b);
            w.mlm_bias = head_vector("decoder.bias", cfg.vocab_size, m.decoder_bias);
            w.mlm_decoder_w = ld.head("decoder.weight", {cfg.vocab_size, h}, false);
            return w;
        }
        w.pooler_w = std::move(dense);
        w.pooler_b = std::move(dense_b);
        w.head_ln_g = std::move(ln_g);
        w.head_ln_b = std::move(ln_b);
        // ModernBertForQuestionAnswering: the token classifier's head with 2 columns, start and
        // end logits (its `classifier`, loaded into the QA slot).
        const bool qa = cfg.task == Task::question_answering;
        const int64_t labels = qa ? 2 : cfg.num_labels;
        (qa ? w.qa_w : w.classifier_w) = ld.head("classifier.weight", {labels, h});
        (qa ? w.qa_b : w.classifier_b) = ld.head("classifier.bias", {labels});  // always biased
        return w;
    }
    if (cfg.task == Task::base) {
        // The masked-LM head, if the checkpoint kept it (the family's names; decoder tied to the
        // word embeddings unless stored).
        struct MlmNames {
            const char *dense, *ln, *bias, *bias2, *decoder;
        };
        const bool lm_head = cfg.roberta_style();
        // ELECTRA's generator (ElectraForMaskedLM) maps to embedding_size before its decoder,
        // which is tied to the (embedding_size wide) word embeddings; the others stay hidden wide.
        // ALBERT's MLM head (predictions.*) maps to embedding_size too.
        const int64_t w_out = cfg.model_type == "electra" || cfg.model_type == "albert" ? e : h;
        const MlmNames n =
            cfg.model_type == "electra"
                ? MlmNames{"generator_predictions.dense", "generator_predictions.LayerNorm",
                           "generator_lm_head.bias", "", "generator_lm_head.weight"}
            : cfg.model_type == "albert"
                ? MlmNames{"predictions.dense", "predictions.LayerNorm", "predictions.bias",
                           "predictions.decoder.bias", "predictions.decoder.weight"}
            : lm_head ? MlmNames{"lm_head.dense", "lm_head.layer_norm", "lm_head.bias",
                                 "lm_head.decoder.bias", "lm_head.decoder.weight"}
            : cfg.model_type == "distilbert"
                ? MlmNames{"vocab_transform", "vocab_layer_norm", "vocab_projector.bias", "",
                           "vocab_projector.weight"}
            // DeBERTa's original checkpoints (microsoft/deberta-v3-base, deberta-base) keep the
            // head as lm_predictions.lm_head (Hugging Face's legacy false), the decoder tied.
            : cfg.deberta() && !file.find("cls.predictions.transform.dense.weight") &&
                    file.find("lm_predictions.lm_head.dense.weight")
                ? MlmNames{"lm_predictions.lm_head.dense", "lm_predictions.lm_head.LayerNorm",
                           "lm_predictions.lm_head.bias", "",
                           "lm_predictions.lm_head.decoder.weight"}
                : MlmNames{"cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
                           "cls.predictions.bias", "cls.predictions.decoder.bias",
                           "cls.predictions.decoder.weight"};
        w.mlm_dense_w = ld.head(std::string(n.dense) + ".weight", {w_out, h}, false);
        if (!w.mlm_dense_w.empty()) {
            w.mlm_dense_b = ld.head(std::string(n.dense) + ".bias", {w_out});
            w.mlm_ln_g = ld.head(std::string(n.ln) + ".weight", {w_out});
            w.mlm_ln_b = ld.head(std::string(n.ln) + ".bias", {w_out});
            w.mlm_bias = ld.head(n.bias, {cfg.vocab_size}, *n.bias2 == 0);
            if (w.mlm_bias.empty()) w.mlm_bias = ld.head(n.bias2, {cfg.vocab_size});
            w.mlm_decoder_w = ld.head(n.decoder, {cfg.vocab_size, w_out}, false);
        }
    }
    if (cfg.dense_classifier_head() && cfg.task == Task::sequence_classification) {
        // RobertaClassificationHead (and MPNetClassificationHead): tanh(dense(h_<s>)) then
        // out_proj, the same computation as BERT's pooler + classifier, so it loads into those two
        // slots; ElectraClassificationHead the same with GELU (ModelConfig::pooler_act).
        w.pooler_w = ld.head("classifier.dense.weight", {h, h});
        w.pooler_b = ld.head("classifier.dense.bias", {h});
        w.classifier_w = ld.head("classifier.out_proj.weight", {cfg.num_labels, h});
        w.classifier_b = ld.head("classifier.out_proj.bias", {cfg.num_labels});
        return w;
    }
    if (cfg.model_type == "electra" && cfg.task == Task::multiple_choice) {
        // ElectraForMultipleChoice: SequenceSummary's Linear (+ GELU) in the pooler's slot, then
        // classifier Linear(hidden, 1) (loaded below).
        w.pooler_w = ld.head("sequence_summary.summary.weight", {h, h});
        w.pooler_b = ld.head("sequence_summary.summary.bias", {h});
    } else if (cfg.model_type == "distilbert") {
        // DistilBertForSequenceClassification (and ...ForMultipleChoice):
        // relu(pre_classifier(h_[CLS])) then classifier; pre_classifier takes the pooler's slot
        // (ModelConfig::pooler_act). No pooler otherwise.
        if (cfg.sequence_head()) {
            w.pooler_w = ld.head("pre_classifier.weight", {h, h});
            w.pooler_b = ld.head("pre_classifier.bias", {h});
        }
    } else {
        // The multiple-choice heads of RoBERTa, XLM-R and MPNet read the model's pooler (tanh),
        // not their sequence classifiers' dense head.
        const bool need_pooler = cfg.sequence_head();
        if (cfg.deberta()) {
            // DebertaV2ForSequenceClassification's (and ...ForMultipleChoice's) ContextPooler:
            // top level, GELU by default (ModelConfig::pooler_act); the base model has none.
            if (need_pooler) {
                w.pooler_w = ld.head("pooler.dense.weight", {h, h});
                w.pooler_b = ld.head("pooler.dense.bias", {h});
            }
        } else {
            w.pooler_w = ld.encoder("pooler.dense.weight", {h, h}, need_pooler);
            if (!w.pooler_w.empty()) w.pooler_b = ld.encoder("pooler.dense.bias", {h});
        }
    }

    if (cfg.sequence_head() || cfg.task == Task::token_classification) {
        w.classifier_w = ld.head("classifier.weight", {cfg.num_labels, h});
        w.classifier_b = ld.head("classifier.bias", {cfg.num_labels});
    } else if (cfg.task == Task::question_answering) {
        w.qa_w = ld.head("qa_outputs.weight", {2, h});
        w.qa_b = ld.head("qa_outputs.bias", {2});
    }
    return w;
}

std::vector<BertWeights::Dense> load_sentence_dense(const std::string& root, int64_t hidden) {
    std::vector<BertWeights::Dense> out;
    int64_t width = hidden;
    for (const SentenceEmbeddingConfig::Dense& m : SentenceEmbeddingConfig::dense_modules(root)) {
        if (m.in != width)
            throw Error(m.dir + "/config.json: in_features " + std::to_string(m.in) +
                        ", expected " + std::to_string(width) + " (the pooled embedding's size)");
        SafeTensorsFile file(weights_file(m.dir));
        ModelConfig cfg;
        cfg.architectures = {"the sentence-transformers Dense module " + m.dir};
        Loader ld(file, cfg);
        BertWeights::Dense d;
        d.module = m;
        d.w = ld.head("linear.weight", {m.out, m.in});
        if (m.bias) {
            d.b = ld.head("linear.bias", {m.out});
        } else {
            d.b = zero_tensor("linear.bias (none: zeros)", {m.out});
        }
        width = m.out;
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace sparq
