#include "tools/st_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "core/json_depth.hpp"
#include "model/safetensors.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"

namespace sparq::tools {

int64_t StEntry::numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

size_t dtype_size(const std::string& dtype) {
    if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
    if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
    if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
    if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
        dtype == "F8_E5M2")
        return 1;
    return 0;
}

StFile StFile::read(const std::string& path) {
    require_regular_file(path);
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw Error("cannot open '" + path + "'");
    std::vector<uint8_t> bytes(static_cast<size_t>(in.tellg()));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!in) throw Error("failed reading '" + path + "'");
    return parse(std::move(bytes), path);
}

StFile StFile::read_weights(const std::string& path) {
    if (!path.ends_with(".bin") && !path.ends_with(".index.json")) return read(path);
    // pytorch_model.bin (model/torch_zip.hpp) or a sharded checkpoint's index: its tensors as one
    // safetensors file, each its own copy (storages shared by several tensors are not shared any
    // more).
    const SafeTensorsFile bin(path);
    std::vector<TensorToWrite> ts;
    for (const TensorInfo& t : bin.tensors())
        ts.push_back({t.name, t.dtype, t.shape, bin.bytes(t)});
    return parse(safetensors_bytes(ts, {{"format", "pt"}}), path);
}

StFile StFile::parse(std::vector<uint8_t> bytes, const std::string& path) {
    StFile f;
    f.bytes = std::move(bytes);
    auto bad = [&](const std::string& what) {
        return Error("'" + path + "' is not a valid safetensors file: " + what);
    };
    if (f.bytes.size() < 8)
        throw bad("file has " + std::to_string(f.bytes.size()) + " bytes, expected at least 8");
    uint64_t hlen = 0;
    std::memcpy(&hlen, f.bytes.data(), 8);
    if (hlen > f.bytes.size() - 8)
        throw bad("header length " + std::to_string(hlen) + " exceeds file size " +
                  std::to_string(f.bytes.size()));
    f.data_offset = 8 + hlen;
    size_t data_size = f.bytes.size() - f.data_offset;
    nlohmann::json header;
    std::string duplicate;
    const char* hbeg = reinterpret_cast<const char*>(f.bytes.data() + 8);
    try {
        header = parse_safetensors_header(hbeg, hbeg + hlen, duplicate);
    } catch (const nlohmann::json::exception& e) {
        throw bad(std::string("header is not JSON (") + e.what() + ")");
    }
    if (json_depth({hbeg, hlen}) > kMaxJsonDepth)
        throw bad("header nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (!header.is_object()) throw bad("header is not a JSON object");
    if (!duplicate.empty()) throw bad("header names tensor '" + duplicate + "' twice");
    for (auto& [name, v] : header.items()) {
        if (name == "__metadata__") continue;
        StEntry e;
        e.name = name;
        try {
            e.dtype = v.at("dtype").get<std::string>();
            e.shape = v.at("shape").get<std::vector<int64_t>>();
            auto off = v.at("data_offsets").get<std::vector<uint64_t>>();
            if (off.size() != 2) throw bad("tensor '" + name + "': data_offsets needs 2 values");
            e.begin = off[0];
            e.end = off[1];
        } catch (const nlohmann::json::exception&) {
            throw bad("tensor '" + name + "' lacks dtype, shape or data_offsets");
        }
        size_t es = dtype_size(e.dtype);
        if (es == 0) throw bad("tensor '" + name + "' has unknown dtype '" + e.dtype + "'");
        uint64_t nbytes = es;
        bool overflow = false;
        for (auto d : e.shape) {
            if (d < 0) throw bad("tensor '" + name + "' has a negative dimension");
            overflow |= __builtin_mul_overflow(nbytes, static_cast<uint64_t>(d), &nbytes);
        }
        if (overflow || e.end < e.begin || e.end > data_size || e.end - e.begin != nbytes)
            throw bad("tensor '" + name + "' byte range [" + std::to_string(e.begin) + ", " +
                      std::to_string(e.end) +
                      ") does not match its shape and dtype or the file size");
        f.tensors.push_back(std::move(e));
    }
    std::sort(f.tensors.begin(), f.tensors.end(),
              [](const StEntry& a, const StEntry& b) { return a.begin < b.begin; });
    const StEntry* prev = nullptr;  // last non-empty tensor: pruning one must not edit another
    for (const auto& e : f.tensors) {
        if (e.end == e.begin) continue;
        if (prev && e.begin < prev->end)
            throw bad("tensor '" + e.name + "' overlaps tensor '" + prev->name + "'");
        prev = &e;
    }
    return f;
}

const StEntry* StFile::find(const std::string& name) const {
    for (auto& e : tensors)
        if (e.name == name) return &e;
    return nullptr;
}

std::vector<float> StFile::to_f32(const StEntry& e) const {
    std::vector<float> out(static_cast<size_t>(e.numel()));
    const uint8_t* p = data(e);
    if (e.dtype == "F32") {
        std::memcpy(out.data(), p, out.size() * 4);
    } else if (e.dtype == "F16") {
        for (size_t i = 0; i < out.size(); ++i) {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            out[i] = f16_to_f32(h);
        }
    } else if (e.dtype == "BF16") {
        for (size_t i = 0; i < out.size(); ++i) {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            out[i] = bf16_to_f32(h);
        }
    } else {
        throw Error("tensor '" + e.name + "' has dtype " + e.dtype + ", expected F32, F16 or BF16");
    }
    return out;
}

void StFile::write(const std::string& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot create '" + path + "': " + std::strerror(errno));
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
        const std::string why = std::strerror(errno);
        std::error_code ec;
        std::filesystem::remove(path, ec);  // no truncated weights file left behind
        throw Error("failed writing '" + path + "': " + why);
    }
}

namespace {

// The sentence-transformers part of copy_model_side_files (nothing for a plain directory).
void copy_sentence_transformers_files(const std::string& st_dir, const std::string& dst_dir);

// A modules.json, parsed without exceptions (discarded when missing or not JSON), its nesting
// checked first: it is dumped again by the copy.
nlohmann::ordered_json read_modules_json(const std::filesystem::path& modules) {
    require_regular_file(modules.string());
    std::ifstream in(modules);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    check_json_depth(text, modules.string());
    return nlohmann::ordered_json::parse(text, nullptr, false);
}

}  // namespace

// The files besides the weights that a model directory is read from (and the tools copy).
constexpr const char* kSideFiles[] = {"config.json",
                                      "vocab.txt",
                                      "tokenizer.json",
                                      "tokenizer_config.json",
                                      "special_tokens_map.json",
                                      "vocab.json",
                                      "merges.txt",
                                      "added_tokens.json",
                                      "sentencepiece.bpe.model",
                                      "spm.model",
                                      "spiece.model"};

void clear_model_files(const std::string& dir) {
    namespace fs = std::filesystem;
    const fs::path root(dir);
    if (!fs::is_directory(root)) return;
    std::vector<fs::path> gone;
    for (const char* name : kSideFiles) gone.push_back(root / name);
    for (const char* name :
         {"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
          "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"})
        gone.push_back(root / name);
    // Weights in any layout: model.safetensors, shards (model-00001-of-00002.safetensors), .bin.
    for (const auto& e : fs::directory_iterator(root)) {
        const std::string n = e.path().filename().string();
        if ((n.rfind("model", 0) == 0 && n.size() > 12 &&
             n.compare(n.size() - 12, 12, ".safetensors") == 0) ||
            (n.rfind("pytorch_model-", 0) == 0 && n.size() > 4 &&
             n.compare(n.size() - 4, 4, ".bin") == 0))
            gone.push_back(e.path());
    }
    // The module folders (1_Pooling/, ...) its modules.json names, one level below the root.
    const nlohmann::ordered_json j = read_modules_json(root / "modules.json");
    if (!j.is_discarded() && j.is_array())
        for (const auto& m : j) {
            const bool named = m.is_object() && m.contains("path") && m["path"].is_string();
            const std::string path = named ? m["path"].get<std::string>() : "";
            if (!path.empty() && path.find('/') == std::string::npos && path != "." &&
                path != ".." && fs::is_directory(root / path))
                gone.push_back(root / path);
        }
    for (const fs::path& p : gone) fs::remove_all(p);
}

void copy_model_side_files(const std::string& dir, const std::string& dst_dir, bool with_config) {
    namespace fs = std::filesystem;
    const std::string src_dir = SentenceEmbeddingConfig::model_dir(dir);
    for (const char* name : kSideFiles) {
        if (!with_config && std::string(name) == "config.json") continue;
        const fs::path src = fs::path(src_dir) / name;
        if (fs::is_regular_file(src))
            fs::copy_file(src, fs::path(dst_dir) / name, fs::copy_options::overwrite_existing);
    }
    copy_sentence_transformers_files(dir, dst_dir);
}

namespace {

void copy_sentence_transformers_files(const std::string& st_dir, const std::string& dst_dir) {
    namespace fs = std::filesystem;
    const fs::path root(st_dir), dst(dst_dir), modules = root / "modules.json";
    if (!fs::is_regular_file(modules)) return;
    nlohmann::ordered_json j = read_modules_json(modules);
    if (j.is_discarded() || !j.is_array())
        throw Error(modules.string() + ": expected a JSON array");
    fs::path model_folder = root;
    for (auto& m : j) {
        if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) continue;
        const std::string type = m["type"].get<std::string>();
        const std::string path = m.value("path", std::string());
        if (type.size() >= 11 && type.compare(type.size() - 11, 11, "Transformer") == 0) {
            model_folder = root / path;
            m["path"] = "";  // the model files are written at the top
        } else if (!path.empty() && fs::is_directory(root / path)) {
            fs::copy(root / path, dst / path,
                     fs::copy_options::recursive | fs::copy_options::overwrite_existing);
        }
    }
    std::ofstream(dst / "modules.json") << j.dump(2) << "\n";
    for (const fs::path& p :
         {root / "sentence_bert_config.json", model_folder / "sentence_bert_config.json"})
        if (fs::is_regular_file(p)) {
            fs::copy_file(p, dst / "sentence_bert_config.json",
                          fs::copy_options::overwrite_existing);
            break;
        }
    if (fs::is_regular_file(root / "config_sentence_transformers.json"))
        fs::copy_file(root / "config_sentence_transformers.json",
                      dst / "config_sentence_transformers.json",
                      fs::copy_options::overwrite_existing);
}

}  // namespace

}  // namespace sparq::tools
