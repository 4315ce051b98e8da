// Model::load: config.json + model.safetensors (+ tokenizer files) from a model directory.
#include <filesystem>

#include "core/threading.hpp"
#include "model/model.hpp"

namespace sparq {

std::unique_ptr<Model> Model::load(const std::string& dir, const LoadOptions& opts) {
    namespace fs = std::filesystem;
    if (opts.threads > 0) set_num_threads(opts.threads);
    ModelConfig cfg = ModelConfig::from_file((fs::path(dir) / "config.json").string());
    BertWeights weights = load_bert_weights(dir, cfg);
    std::optional<Tokenizer> tok;
    if (fs::exists(fs::path(dir) / "tokenizer.json") || fs::exists(fs::path(dir) / "vocab.txt"))
        tok.emplace(Tokenizer::from_dir(dir));
    return make_bert_model(cfg, std::move(weights), opts, std::move(tok));
}

}  // namespace sparq
