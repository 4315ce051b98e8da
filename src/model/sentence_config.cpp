// SentenceEmbeddingConfig::from_dir: the pooling, normalization and length a sentence-transformers
// directory prescribes (modules.json, <pooling dir>/config.json, sentence_bert_config.json).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "sparq/error.hpp"
#include "sparq/model.hpp"

namespace sparq {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& p) {
    std::ifstream in(p);
    if (!in) throw Error(p.string() + ": cannot open");
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw Error(p.string() + ": not valid JSON: " + e.what());
    }
}

bool flag(const json& j, const char* key, const fs::path& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return false;
    if (!it->is_boolean())
        throw Error(where.string() + ": field '" + key + "' must be true or false");
    return it->get<bool>();
}

// The Pooling module's mode: exactly one of the modes sparq computes.
Pooling pooling_of(const fs::path& cfg_path) {
    const json j = read_json(cfg_path);
    if (!j.is_object()) throw Error(cfg_path.string() + ": expected a JSON object");
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

}  // namespace

std::string SentenceEmbeddingConfig::model_dir(const std::string& dir) {
    const fs::path root(dir), modules = root / "modules.json";
    if (fs::exists(root / "config.json") || !fs::exists(modules)) return dir;
    const json j = read_json(modules);
    if (!j.is_array()) return dir;
    for (const json& m : j) {
        const auto mod = module_of(m);
        if (mod && mod->kind == "Transformer" && !mod->path.empty())
            return (root / mod->path).string();
    }
    return dir;
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
    if (!fs::exists(modules)) return c;
    const json j = read_json(modules);
    if (!j.is_array()) throw Error(modules.string() + ": expected a JSON array of modules");
    c.present = true;
    bool pooled = false;
    for (const json& m : j) {
        const auto mod = module_of(m);
        if (!mod) throw Error(modules.string() + ": every module needs a string 'type'");
        if (mod->kind == "Transformer") continue;
        if (mod->kind == "Pooling") {
            c.pooling = pooling_of(root / mod->path / "config.json");
            pooled = true;
        } else if (mod->kind == "Normalize") {
            c.normalize = true;
        } else {
            throw Error(modules.string() + ": module '" + mod->type + "' (" + mod->path +
                        ") is not supported (sparq runs Transformer, Pooling and Normalize; "
                        "its output would not be this model's embedding)");
        }
    }
    if (!pooled) throw Error(modules.string() + ": no Pooling module");
    return c;
}

}  // namespace sparq
