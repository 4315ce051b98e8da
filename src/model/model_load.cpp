// Model::load: config.json + model.safetensors (+ tokenizer files) from a model directory.
#include <algorithm>
#include <filesystem>

#include "core/threading.hpp"
#include "model/model.hpp"
#include "sparq/error.hpp"

namespace sparq {

size_t Model::max_length(size_t requested) const {
    const size_t n = requested ? requested : tokenizer() ? tokenizer()->options().max_length : 512;
    return std::min(n, static_cast<size_t>(std::max<int64_t>(config().max_tokens(), 2)));
}

std::unique_ptr<Model> Model::load(const std::string& root, const LoadOptions& opts) {
    namespace fs = std::filesystem;
    // A sentence-transformers directory may keep the model in its Transformer module's folder.
    const std::string dir = SentenceEmbeddingConfig::model_dir(root);
    if (opts.threads > 0) set_num_threads(opts.threads);
    ModelConfig cfg = ModelConfig::from_file((fs::path(dir) / "config.json").string());
    BertWeights weights = load_bert_weights(dir, cfg);
    weights.sentence_dense = load_sentence_dense(root, cfg.hidden_size);
    weights.splade = SentenceEmbeddingConfig::splade_module(root);
    std::optional<Tokenizer> tok;
    // tokenizer.json, vocab.txt, vocab.json + merges.txt or a SentencePiece model
    // (Tokenizer::from_dir).
    if (Tokenizer::files_exist(dir)) tok.emplace(Tokenizer::from_dir(dir));
    // Ids past the embedding table would only fail (or be misread) at inference, text by text.
    if (tok && tok->vocab_size() > static_cast<size_t>(cfg.vocab_size))
        throw Error(dir + ": the tokenizer has " + std::to_string(tok->vocab_size()) +
                    " tokens but config.json has vocab_size " + std::to_string(cfg.vocab_size) +
                    " (expected at most as many tokens as embedding rows)");
    return make_bert_model(cfg, std::move(weights), opts, std::move(tok));
}

}  // namespace sparq
