// sparq embed MODEL [TEXT...] [--file F] [--pooling auto|mean|cls|max|none|splade] [--normalize |
// --no-normalize] [--prompt P | --prompt-name N] [--truncate-dim D] [--top-k K] [--batch-size N]
#include <memory>

#include "common.hpp"
#include "sparq/error.hpp"

namespace sparq::cli {

namespace {
struct EmbedArgs {
    std::string model, file, pooling = "auto", kernels = "auto", precision = "f32",
                             attention = "auto";
    std::vector<std::string> texts;
    std::optional<std::string> prompt, prompt_name;
    int normalize = -1;  // -1: as the directory says (sentence-transformers Normalize module)
    size_t batch_size = 32, max_length = 0, truncate_dim = 0, top_k = 0;
    int threads = 0;
};

void run_embed(const EmbedArgs& a) {
    if (a.normalize == 1 && a.pooling == "none")
        throw UsageError("--normalize needs --pooling mean, cls, max or splade");
    if (a.truncate_dim && a.pooling == "none")
        throw UsageError("--truncate-dim needs --pooling mean, cls or max");
    setup_threads(a.threads);
    // A sentence-transformers directory says how to pool and normalize, and where to truncate;
    // explicit options override it.
    const SentenceEmbeddingConfig st = SentenceEmbeddingConfig::from_dir(a.model);
    auto texts = read_texts(a.texts, a.file);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    auto model = load_model(a.model, lo);
    const Tokenizer& tok = require_tokenizer(*model, a.model);
    const size_t max_len = model->max_length(a.max_length ? a.max_length : st.max_length);
    const Pooling pooling = pooling_from_name(a.pooling).value_or(st.pooling);  // "auto": st
    const bool normalize = a.normalize >= 0 ? a.normalize == 1 : st.normalize;
    if (pooling == Pooling::splade && a.truncate_dim)
        throw UsageError(
            "--truncate-dim needs --pooling mean, cls or max (SPLADE's dimensions "
            "are the vocabulary)");
    if (pooling != Pooling::splade && a.top_k)
        throw UsageError("--top-k needs --pooling splade (or a SPLADE model's directory)");
    if (a.prompt) check_utf8(*a.prompt, "--prompt");
    const std::string prompt = st.resolve_prompt(a.prompt, a.prompt_name);
    const int64_t skip = st.pooling_skip(tok, prompt);
    const int64_t hidden = model->embedding_size();  // after any Dense module
    if (a.truncate_dim > static_cast<size_t>(hidden))
        throw Error("--truncate-dim " + std::to_string(a.truncate_dim) +
                    " is more than the model's " + std::to_string(hidden) + " dimensions");
    Progress progress("embed", static_cast<int64_t>(texts.size()));
    for (size_t i = 0; i < texts.size(); i += a.batch_size) {
        const size_t n = std::min(a.batch_size, texts.size() - i);
        std::vector<Encoding> encs;
        for (size_t k = 0; k < n; ++k)
            encs.push_back(tok.encode(prompt + texts[i + k], std::nullopt, max_len));
        PackedBatch batch = PackedBatch::from(encs);
        if (pooling == Pooling::none) {
            HiddenStates hs = model->encode(batch);
            for (size_t k = 0; k < n; ++k) {
                nlohmann::ordered_json j;
                j["text"] = texts[i + k];
                j["tokens"] = encs[k].tokens;
                nlohmann::ordered_json rows = nlohmann::ordered_json::array();
                for (size_t t = 0; t < encs[k].size(); ++t)
                    rows.push_back(json_floats(
                        hs.token(static_cast<int64_t>(k), static_cast<int64_t>(t)), hs.hidden));
                j["hidden"] = std::move(rows);
                print_json_line(j);
            }
        } else if (pooling == Pooling::splade) {
            const auto vecs = model->embed(batch, pooling, normalize, skip);
            for (size_t k = 0; k < n; ++k) {
                nlohmann::ordered_json j;
                j["text"] = texts[i + k];
                j.update(splade_json(vecs[k], tok, a.top_k));
                print_json_line(j);
            }
        } else {
            auto emb = model->embed(batch, pooling, normalize, skip);
            for (size_t k = 0; k < n; ++k) {
                if (a.truncate_dim) emb[k].resize(a.truncate_dim);  // after normalizing, as ST
                nlohmann::ordered_json j;
                j["text"] = texts[i + k];
                j["embedding"] = json_floats(emb[k].data(), static_cast<int64_t>(emb[k].size()));
                print_json_line(j);
            }
        }
        progress.advance(static_cast<int64_t>(n));
    }
}
}  // namespace

void add_embed(CLI::App& app) {
    auto a = std::make_shared<EmbedArgs>();
    auto* sub = app.add_subcommand("embed", "Sentence or token embeddings (JSON lines)");
    sub->footer(
        "Sentence embeddings; one JSON line per text: {\"text\",\"embedding\"} (mean, CLS or "
        "max\n"
        "pooling of the last hidden state), or with --pooling none "
        "{\"text\",\"tokens\",\"hidden\"}\n"
        "(one vector per token). A sentence-transformers directory (modules.json) sets the\n"
        "pooling, the L2 normalization and the length (sentence_bert_config.json max_seq_length)\n"
        "as sentence-transformers does; --pooling / --normalize / --no-normalize / --max-length\n"
        "override it. Elsewhere: mean pooling, not normalized. Texts come from arguments, --file\n"
        "or stdin, and are truncated to the maximum length (special tokens included).\n"
        "Prompts as SentenceTransformer.encode: --prompt TEXT goes before every text, "
        "--prompt-name\n"
        "N picks config_sentence_transformers.json's prompt N (its default_prompt_name applies\n"
        "when neither is given); a Pooling module with include_prompt false leaves the prompt's\n"
        "tokens out of the pooling. --truncate-dim D keeps the first D dimensions (Matryoshka\n"
        "models), after normalization as sentence-transformers does.\n"
        "SPLADE (--pooling splade, or a sentence-transformers SparseEncoder directory with a\n"
        "SpladePooling module; the model needs its masked-LM head): one JSON line per text\n"
        "{\"text\",\"indices\",\"tokens\",\"values\"}, the vocabulary weights log(1 + "
        "relu(logit))\n"
        "max-pooled over the tokens (the module's sum / log1p_relu settings apply), nonzero\n"
        "ones largest first; --top-k K keeps the K largest.");
    sub->add_option("model", a->model, "Model directory")->required();
    add_texts_option(sub, a->texts, "Texts (default: --file or stdin, one per line)");
    sub->add_option("--file,-f", a->file, "Read texts from this file, one per line");
    sub->add_option("--pooling", a->pooling,
                    "auto | mean | cls | max | none | splade (auto: the directory's "
                    "sentence-transformers Pooling or SpladePooling module, else mean)")
        ->check(CLI::IsMember({"auto", "mean", "cls", "max", "none", "splade"}));
    sub->add_flag_callback(
        "--normalize", [a] { a->normalize = 1; },
        "L2-normalize each embedding (default: if the directory has a "
        "sentence-transformers Normalize module)");
    sub->add_flag_callback(
        "--no-normalize", [a] { a->normalize = 0; },
        "Do not L2-normalize, whatever the directory says");
    auto* prompt = sub->add_option("--prompt", a->prompt, "Text put before every input text");
    sub->add_option("--prompt-name", a->prompt_name,
                    "Name of a prompt in config_sentence_transformers.json")
        ->excludes(prompt);
    sub->add_option("--truncate-dim", a->truncate_dim,
                    "Keep the first D dimensions of each embedding (default: all)")
        ->check(CLI::Range(size_t{1}, size_t{1} << 20));
    sub->add_option("--top-k", a->top_k,
                    "SPLADE: print only the K largest weights of each text (default: all nonzero)")
        ->check(CLI::Range(size_t{1}, size_t{1} << 24));
    add_batch_options(sub, a->batch_size, a->max_length);
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_embed(*a); });
}

}  // namespace sparq::cli
