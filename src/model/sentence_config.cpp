// SentenceEmbeddingConfig::from_dir: the pooling, Dense layers, normalization and length a
// sentence-transformers directory prescribes (modules.json, <pooling dir>/config.json,
// <dense dir>/config.json, sentence_bert_config.json).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/files.hpp"
#include "core/json_depth.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"

namespace sparq {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& p) {
    require_regular_file(p.string());
    std::ifstream in(p);
    if (!in) throw Error(p.string() + ": cannot open");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(p.string() + ": not valid JSON: " + e.what());
    }
    check_json_depth(text, p.string());
    return j;
}

bool flag(const json& j, const char* key, const fs::path& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return false;
    if (!it->is_boolean())
        throw Error(where.string() + ": field '" + key + "' must be true or false");
    return it->get<bool>();
}

// The Pooling module's mode: exactly one of the modes sparq computes; and its include_prompt.
Pooling pooling_of(const fs::path& cfg_path, bool& include_prompt) {
    const json j = read_json(cfg_path);
    if (!j.is_object()) throw Error(cfg_path.string() + ": expected a JSON object");
    include_prompt = !j.contains("include_prompt") || j["include_prompt"].is_null() ||
                     flag(j, "include_prompt", cfg_path);
    struct Mode {
        const char* key;
        const char* name;
        bool supported;
        Pooling pooling;
    };
    const Mode modes[] = {
        {"pooling_mode_cls_token", "cls", true, Pooling::cls},
        {"pooling_mode_mean_tokens", "mean", true, Pooling::mean},
        {"pooling_mode_max_tokens", "max", true, Pooling::max},
        {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len", false, Pooling::mean},
        {"pooling_mode_weightedmean_tokens", "weightedmean", false, Pooling::mean},
        {"pooling_mode_lasttoken", "lasttoken", false, Pooling::mean},
    };
    const Mode* chosen = nullptr;
    for (const Mode& m : modes) {
        if (!flag(j, m.key, cfg_path)) continue;
        if (!m.supported)
            throw Error(cfg_path.string() + ": pooling mode '" + m.name +
                        "' is not supported (supported: cls, mean, max)");
        if (chosen)
            throw Error(cfg_path.string() + ": pooling modes '" + chosen->name + "' and '" +
                        m.name + "' together (a concatenated embedding) are not supported");
        chosen = &m;
    }
    if (!chosen)
        throw Error(cfg_path.string() +
                    ": no pooling mode is set (expected one of "
                    "pooling_mode_cls_token, _mean_tokens, _max_tokens)");
    return chosen->pooling;
}

// A modules.json entry: its class without the package ("Pooling" of
// "sentence_transformers.models.Pooling"), the full type and its folder ("" if none); nullopt
// without a string "type".
struct Module {
    std::string kind, type, path;
};
std::optional<Module> module_of(const json& m) {
    if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) return std::nullopt;
    Module mod;
    mod.type = m["type"].get<std::string>();
    mod.kind = mod.type.substr(mod.type.rfind('.') + 1);
    if (m.contains("path") && m["path"].is_string()) mod.path = m["path"].get<std::string>();
    return mod;
}

// A Dense module's config.json: in / out features, bias, activation_function (the torch class).
SentenceEmbeddingConfig::Dense dense_of(const fs::path& root, const Module& mod) {
    using Act = SentenceEmbeddingConfig::Dense::Act;
    SentenceEmbeddingConfig::Dense d;
    d.dir = (root / mod.path).string();
    const fs::path cp = root / mod.path / "config.json";
    const json j = read_json(cp);
    if (!j.is_object()) throw Error(cp.string() + ": expected a JSON object");
    auto size = [&](const char* key) {
        auto it = j.find(key);
        if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 1)
            throw Error(cp.string() + ": field '" + key + "' must be a positive integer");
        return it->get<int64_t>();
    };
    d.in = size("in_features");
    d.out = size("out_features");
    if (auto it = j.find("bias"); it != j.end()) {
        if (!it->is_boolean()) throw Error(cp.string() + ": field 'bias' must be true or false");
        d.bias = it->get<bool>();
    }
    std::string act = "torch.nn.modules.activation.Tanh";  // Dense's default
    if (auto it = j.find("activation_function"); it != j.end()) {
        if (!it->is_string())
            throw Error(cp.string() + ": field 'activation_function' must be a string");
        act = it->get<std::string>();
    }
    const std::string name = act.substr(act.rfind('.') + 1);
    if (name == "Tanh")
        d.act = Act::tanh;
    else if (name == "Identity")
        d.act = Act::identity;
    else if (name == "ReLU")
        d.act = Act::relu;
    else if (name == "GELU")
        d.act = Act::gelu;
    else if (name == "Sigmoid")
        d.act = Act::sigmoid;
    else
        throw Error(cp.string() + ": activation_function '" + act +
                    "' is not supported (Tanh, Identity, ReLU, GELU, Sigmoid)");
    return d;
}

// A SpladePooling module's config.json: pooling_strategy and activation_function (the
// embedding dimension and chunk size change nothing sparq computes).
SentenceEmbeddingConfig::Splade splade_of(const fs::path& cp) {
    const json j = read_json(cp);
    if (!j.is_object()) throw Error(cp.string() + ": expected a JSON object");
    auto choice = [&](const char* key, const char* dflt, const char* a, const char* b) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return std::string(dflt);
        if (!it->is_string() || (it->get<std::string>() != a && it->get<std::string>() != b))
            throw Error(cp.string() + ": field '" + key + "' must be \"" + a + "\" or \"" + b +
                        "\", found " + it->dump());
        return it->get<std::string>();
    };
    SentenceEmbeddingConfig::Splade s;
    s.sum = choice("pooling_strategy", "max", "max", "sum") == "sum";
    s.log1p_relu = choice("activation_function", "relu", "relu", "log1p_relu") == "log1p_relu";
    return s;
}

// The module kinds that hold the model itself (sentence-transformers' Transformer, the
// SparseEncoder's MLMTransformer: the masked-LM checkpoint).
bool transformer_kind(const std::string& kind) {
    return kind == "Transformer" || kind == "MLMTransformer";
}

}  // namespace

std::optional<SentenceEmbeddingConfig::Splade> SentenceEmbeddingConfig::splade_module(
    const std::string& dir) {
    const fs::path root(dir), modules = root / "modules.json";
    if (!fs::exists(modules)) return std::nullopt;
    const json j = read_json(modules);
    if (!j.is_array()) return std::nullopt;
    for (const json& m : j)
        if (const auto mod = module_of(m); mod && mod->kind == "SpladePooling")
            return splade_of(root / mod->path / "config.json");
    return std::nullopt;
}

std::vector<SentenceEmbeddingConfig::Dense> SentenceEmbeddingConfig::dense_modules(
    const std::string& dir) {
    const fs::path root(dir), modules = root / "modules.json";
    std::vector<Dense> out;
    if (!fs::exists(modules)) return out;
    const json j = read_json(modules);
    if (!j.is_array()) return out;
    for (const json& m : j)
        if (const auto mod = module_of(m); mod && mod->kind == "Dense")
            out.push_back(dense_of(root, *mod));
    return out;
}

std::string SentenceEmbeddingConfig::model_dir(const std::string& dir) {
    const fs::path root(dir), modules = root / "modules.json";
    if (fs::exists(root / "config.json") || !fs::exists(modules)) return dir;
    const json j = read_json(modules);
    if (!j.is_array()) return dir;
    for (const json& m : j) {
        const auto mod = module_of(m);
        if (mod && transformer_kind(mod->kind) && !mod->path.empty())
            return (root / mod->path).string();
    }
    return dir;
}

bool SentenceEmbeddingConfig::is_similarity_function(std::string_view name) {
    for (std::string_view f : kSimilarityFunctions)
        if (name == f) return true;
    return false;
}

SentenceEmbeddingConfig SentenceEmbeddingConfig::from_dir(const std::string& dir) {
    SentenceEmbeddingConfig c;
    const fs::path root(dir), modules = root / "modules.json";
    // sentence_bert_config.json: at the top, or beside the model files (older layout).
    fs::path p = root / "sentence_bert_config.json";
    if (!fs::exists(p)) p = fs::path(model_dir(dir)) / "sentence_bert_config.json";
    if (fs::exists(p)) {
        const json j = read_json(p);
        if (auto it = j.find("max_seq_length"); j.is_object() && it != j.end() && !it->is_null()) {
            if (!it->is_number_integer() || it->get<int64_t>() < 2)
                throw Error(p.string() + ": field 'max_seq_length' must be an integer >= 2");
            c.max_length = it->get<size_t>();
        }
    }
    // config_sentence_transformers.json: the prompts (sentence-transformers >= 3).
    if (const fs::path cp = root / "config_sentence_transformers.json"; fs::exists(cp)) {
        const json j = read_json(cp);
        if (!j.is_object()) throw Error(cp.string() + ": expected a JSON object");
        if (auto it = j.find("prompts"); it != j.end() && !it->is_null()) {
            if (!it->is_object()) throw Error(cp.string() + ": field 'prompts' must be an object");
            for (auto p = it->begin(); p != it->end(); ++p) {
                if (!p->is_string())
                    throw Error(cp.string() + ": prompt '" + p.key() + "' must be a string");
                c.prompts[p.key()] = p->get<std::string>();
            }
        }
        if (auto it = j.find("similarity_fn_name"); it != j.end() && !it->is_null()) {
            const std::string v = it->is_string() ? it->get<std::string>() : "";
            if (!is_similarity_function(v))
                throw Error(cp.string() + ": similarity_fn_name " + it->dump() +
                            " is not one of cosine, dot, euclidean, manhattan");
            c.similarity = v;
        }
        if (auto it = j.find("default_prompt_name"); it != j.end() && !it->is_null()) {
            if (!it->is_string() || !c.prompts.count(it->get<std::string>()))
                throw Error(cp.string() + ": default_prompt_name " + it->dump() +
                            " is not one of its prompts");
            c.default_prompt_name = it->get<std::string>();
        }
    }
    if (!fs::exists(modules)) return c;
    const json j = read_json(modules);
    if (!j.is_array()) throw Error(modules.string() + ": expected a JSON array of modules");
    c.present = true;
    bool pooled = false;
    for (const json& m : j) {
        const auto mod = module_of(m);
        if (!mod) throw Error(modules.string() + ": every module needs a string 'type'");
        if (transformer_kind(mod->kind)) continue;
        if (mod->kind == "Pooling" || mod->kind == "SpladePooling") {
            if (pooled) throw Error(modules.string() + ": two pooling modules (" + mod->path + ")");
            if (mod->kind == "SpladePooling") {
                splade_of(root / mod->path / "config.json");  // its settings: splade_module
                c.pooling = Pooling::splade;
            } else {
                c.pooling = pooling_of(root / mod->path / "config.json", c.include_prompt);
            }
            pooled = true;
        } else if (mod->kind == "Dense") {
            if (!pooled || c.normalize || c.pooling == Pooling::splade)
                throw Error(modules.string() + ": a Dense module (" + mod->path +
                            ") is only supported between Pooling and Normalize");
            c.dense.push_back(dense_of(root, *mod));
        } else if (mod->kind == "Normalize") {
            c.normalize = true;
        } else {
            throw Error(modules.string() + ": module '" + mod->type + "' (" + mod->path +
                        ") is not supported (sparq runs Transformer, Pooling, Dense and "
                        "Normalize, and SparseEncoder's MLMTransformer and SpladePooling; its "
                        "output would not be this model's embedding)");
        }
    }
    if (!pooled) throw Error(modules.string() + ": no Pooling module");
    return c;
}

std::string SentenceEmbeddingConfig::resolve_prompt(const std::optional<std::string>& prompt,
                                                    const std::optional<std::string>& name) const {
    if (prompt) return *prompt;
    if (name) {
        auto it = prompts.find(*name);
        if (it == prompts.end()) {
            std::string have;
            for (const auto& [k, v] : prompts) have += (have.empty() ? "" : ", ") + k;
            throw Error("prompt name '" + *name + "' is not one of the model's prompts (" +
                        (have.empty() ? std::string("it has none: config_sentence_transformers."
                                                    "json defines them")
                                      : "it has: " + have) +
                        ")");
        }
        return it->second;
    }
    return default_prompt_name.empty() ? std::string() : prompts.at(default_prompt_name);
}

int64_t SentenceEmbeddingConfig::pooling_skip(const Tokenizer& tok,
                                              const std::string& prompt) const {
    if (include_prompt || prompt.empty()) return 0;
    return static_cast<int64_t>(tok.encode(prompt).size()) - 1;
}

}  // namespace sparq
