#pragma once
// A whole safetensors file held in memory and editable in place: header entries plus the raw
// bytes, so `sparq prune` can zero weights and keep every other byte (header, metadata, tensor
// order, dtype) as it was. Read-only users take model/safetensors.hpp (mmap) instead.
#include <cstdint>
#include <string>
#include <vector>

namespace sparq::tools {

struct StEntry {
    std::string name;
    std::string dtype;  // "F32", "F16", "BF16", "I64", ...
    std::vector<int64_t> shape;
    size_t begin = 0, end = 0;  // byte range inside the data section
    int64_t numel() const;
    bool is_float() const { return dtype == "F32" || dtype == "F16" || dtype == "BF16"; }
};

struct StFile {
    std::vector<uint8_t> bytes;    // the whole file
    size_t data_offset = 0;        // 8 + header length
    std::vector<StEntry> tensors;  // in file order (by offset)

    // Reads and validates a safetensors file; throws sparq::Error naming the file and the problem.
    static StFile read(const std::string& path);
    // read(), or for a pytorch_model.bin (a path ending in .bin) its tensors re-encoded as a
    // safetensors file in memory.
    static StFile read_weights(const std::string& path);
    // Validates the bytes of a safetensors file; `path` names it in errors.
    static StFile parse(std::vector<uint8_t> bytes, const std::string& path);
    const StEntry* find(const std::string& name) const;  // null if absent
    uint8_t* data(const StEntry& e) { return bytes.data() + data_offset + e.begin; }
    const uint8_t* data(const StEntry& e) const { return bytes.data() + data_offset + e.begin; }
    // Values of a F32/F16/BF16 tensor as f32; throws sparq::Error for other dtypes.
    std::vector<float> to_f32(const StEntry& e) const;
    void write(const std::string& path) const;
};

// Copies everything but the weights of the model directory `dir` (as given by the user) into
// dst_dir, for the tools that write a new model there: the tokenizer and config files
// (config.json unless !with_config, vocab.txt, tokenizer.json, ... those present, from the
// directory holding the model files: SentenceEmbeddingConfig::model_dir) and, for a
// sentence-transformers directory, its own files, so that the copy embeds as the original (same
// pooling, normalization, length, prompts): modules.json (its Transformer module pointed at the
// top, where the tools write the model files), every other module's folder (1_Pooling/,
// 2_Normalize/, ...), sentence_bert_config.json (from the top or the older layout's model folder)
// and config_sentence_transformers.json. Weight files in other formats (pytorch_model.bin, ONNX
// exports) are not copied: they would disagree with the safetensors the tools write.
void copy_model_side_files(const std::string& dir, const std::string& dst_dir,
                           bool with_config = true);

// Removes from `dir` what a model directory is read from — config.json, the weights (also
// sharded, also .bin), the tokenizer files copy_model_side_files copies, the sentence-
// transformers files and the module folders its modules.json names — so that a model written
// over an older one (prune --force) does not pick up a stale tokenizer or pooling. Other files
// stay.
void clear_model_files(const std::string& dir);

// Element size in bytes of a safetensors dtype (0 if unknown).
size_t dtype_size(const std::string& dtype);

}  // namespace sparq::tools
