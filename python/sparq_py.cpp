// Python binding (pybind11): `import sparq`, then
//   m = sparq.Model(dir, threads=0, kernels="auto", precision="f32", attention="auto")
//   m.embed(texts, pooling=None, normalize=None, prompt=None, prompt_name=None, truncate_dim=None)
//                                                    -> float32 array [texts, hidden]
//     (None: as a sentence-transformers directory says, else mean / not normalized / no prompt)
//   m.classify(texts, pair=None, top_k=0, aggregation="simple")
//                                                    -> list of dicts (the `sparq classify`
//                                                    objects)
//   m.answer(question, context)                      -> dict (question-answering models)
//   m.fill_mask(texts, top_k=5)                      -> list (per text) of lists (per mask)
//   m.rerank(query, documents, top_k=0, raw=False)   -> list of dicts {index, score}, best first
//   m.zero_shot(texts, labels, template="This example is {}.", multi_label=False)
//                                                    -> list of dicts {sequence, labels, scores}
//   m.choose(choices, prompt=None)                   -> dict {choice, index, score, scores,
//                                                    logits} (multiple-choice models)
//   m.encode(texts)                                  -> list of float32 arrays [tokens, hidden]
//   m.encode_ids(input_ids, attention_mask=None, token_type_ids=None) -> [batch, seq, hidden]
//   m.tokenize(text, pair=None)                      -> dict(ids, type_ids, tokens)
// Same numbers as the command line (one engine, one JSON format). The GIL is released while
// the model computes, so Python threads can run other work; calls on one Model are serialized.
// sparq::Error becomes ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/threading.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "tools/multiple_choice.hpp"
#include "tools/results.hpp"
#include "tools/zero_shot.hpp"

namespace py = pybind11;

namespace {

using sparq::Encoding;
using sparq::Model;
using sparq::PackedBatch;

py::object to_python(const nlohmann::ordered_json& j) {
    // Not cached in a static: its destructor would run after the interpreter is finalized.
    return py::module_::import("json").attr("loads")(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

class PyModel {
  public:
    PyModel(const std::string& dir, int threads, const std::string& kernels, const std::string& precision,
            const std::string& attention)
        : threads_(threads) {
        namespace fs = std::filesystem;
        if (!fs::is_directory(dir))
            throw sparq::Error("model directory '" + dir + "' " + (fs::exists(dir) ? "is not a directory" : "does not exist"));
        st_ = sparq::SentenceEmbeddingConfig::from_dir(dir);
        sparq::LoadOptions o;
        o.threads = threads;
        o.kernels = kernels;
        o.precision = precision;
        o.attention = attention;
        sparq::set_num_threads(threads);
        py::gil_scoped_release nogil;
        model_ = Model::load(dir, o);
    }

    const sparq::Tokenizer& tok() const {
        if (!model_->tokenizer()) throw sparq::Error("the model directory has no tokenizer (vocab.txt, tokenizer.json or vocab.json + merges.txt)");
        return *model_->tokenizer();
    }
    // The texts encoded (each paired with `pair` when given), truncated as the CLI does.
    std::vector<Encoding> encode_texts(const std::vector<std::string>& texts,
                                       const std::optional<std::string>& pair,
                                       size_t max_length = 0) const {
        const std::vector<std::string> pairs = pair ? std::vector<std::string>(texts.size(), *pair)
                                                    : std::vector<std::string>{};
        return tok().encode_batch(texts, pairs, model_->max_length(max_length));
    }

    // fn(batch, first) for each packed batch of at most batch_size encodings.
    template <typename Fn>
    static void for_batches(const std::vector<Encoding>& encs, size_t batch_size, Fn fn) {
        if (batch_size < 1) throw sparq::Error("batch_size must be >= 1");
        for (size_t i = 0; i < encs.size(); i += batch_size) {
            const std::vector<Encoding> part(encs.begin() + i, encs.begin() + std::min(encs.size(), i + batch_size));
            fn(PackedBatch::from(part), i);
        }
    }

    py::array_t<float> embed(const std::vector<std::string>& texts,
                             const std::optional<std::string>& pooling_name,
                             std::optional<bool> normalize_opt,
                             const std::optional<std::string>& prompt_text,
                             const std::optional<std::string>& prompt_name,
                             std::optional<size_t> truncate_dim, size_t batch_size) const {
        sparq::Pooling pooling = st_.pooling;
        if (pooling_name) {
            const auto named = sparq::pooling_from_name(*pooling_name);
            if (!named || *named == sparq::Pooling::none)
                throw sparq::Error(
                    "pooling must be \"mean\", \"cls\", \"max\" or \"splade\", found \"" +
                    *pooling_name + "\"");
            pooling = *named;
        }
        if (pooling == sparq::Pooling::splade && truncate_dim)
            throw sparq::Error("truncate_dim does not apply to SPLADE vectors");
        const bool normalize = normalize_opt.value_or(st_.normalize);
        if (prompt_text && prompt_name) throw sparq::Error("give prompt or prompt_name, not both");
        const std::string prompt = st_.resolve_prompt(prompt_text, prompt_name);
        const int64_t skip = st_.pooling_skip(tok(), prompt);
        // After any Dense module; SPLADE: the vocabulary.
        const int64_t full = pooling == sparq::Pooling::splade ? model_->config().vocab_size
                                                               : model_->embedding_size();
        if (truncate_dim && (*truncate_dim < 1 || *truncate_dim > static_cast<size_t>(full)))
            throw sparq::Error("truncate_dim must be in [1, " + std::to_string(full) + "]");
        const int64_t h = truncate_dim ? static_cast<int64_t>(*truncate_dim) : full;
        std::vector<std::string> prompted;
        for (const auto& t : texts) prompted.push_back(prompt + t);
        const auto encs = encode_texts(prompted, std::nullopt, st_.max_length);
        py::array_t<float> out({static_cast<py::ssize_t>(texts.size()), static_cast<py::ssize_t>(h)});
        if (texts.empty()) return out;
        float* dst = out.mutable_data();
        py::gil_scoped_release nogil;
        sparq::set_num_threads(threads_);
        for_batches(encs, batch_size, [&](const PackedBatch& b, size_t i0) {
            const auto emb = model_->embed(b, pooling, normalize, skip);
            for (size_t i = 0; i < emb.size(); ++i)  // the first h values (truncate_dim)
                std::copy(emb[i].begin(), emb[i].begin() + h, dst + (i0 + i) * h);
        });
        return out;
    }

    py::list encode(const std::vector<std::string>& texts, size_t batch_size) const {
        const auto encs = encode_texts(texts, std::nullopt);
        const auto h = static_cast<py::ssize_t>(model_->config().hidden_size);
        std::vector<py::array_t<float>> arrays;
        std::vector<float*> dsts;
        for (const Encoding& e : encs) {
            arrays.emplace_back(std::vector<py::ssize_t>{static_cast<py::ssize_t>(e.size()), h});
            dsts.push_back(arrays.back().mutable_data());
        }
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            for_batches(encs, batch_size, [&](const PackedBatch& b, size_t i0) {
                const sparq::HiddenStates hs = model_->encode(b);
                for (int64_t i = 0; i < b.num_sequences(); ++i)
                    std::memcpy(dsts[i0 + i], hs.token(i, 0), sizeof(float) * encs[i0 + i].size() * h);
            });
        }
        py::list out;
        for (auto& a : arrays) out.append(std::move(a));
        return out;
    }

    py::array_t<float> encode_ids(py::array_t<int64_t, py::array::c_style | py::array::forcecast> ids,
                                  std::optional<py::array_t<int64_t, py::array::c_style | py::array::forcecast>> mask,
                                  std::optional<py::array_t<int64_t, py::array::c_style | py::array::forcecast>> types) const {
        if (ids.ndim() != 2) throw sparq::Error("input_ids must be a 2-D array [batch, seq]");
        auto same_shape = [&](const py::array& a, const char* what) {
            if (a.ndim() != 2 || a.shape(0) != ids.shape(0) || a.shape(1) != ids.shape(1))
                throw sparq::Error(std::string(what) + " must have the shape of input_ids");
        };
        if (mask) same_shape(*mask, "attention_mask");
        if (types) same_shape(*types, "token_type_ids");
        sparq::PaddedInput in;
        in.input_ids = ids.data();
        in.attention_mask = mask ? mask->data() : nullptr;
        in.token_type_ids = types ? types->data() : nullptr;
        in.batch = ids.shape(0);
        in.seq = ids.shape(1);
        std::vector<float> out;
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            out = model_->encode_padded(in);
        }
        py::array_t<float> a({in.batch, in.seq, static_cast<int64_t>(model_->config().hidden_size)});
        std::memcpy(a.mutable_data(), out.data(), out.size() * sizeof(float));
        return a;
    }

    py::list classify(const std::vector<std::string>& texts, const std::optional<std::string>& pair,
                      size_t top_k, size_t batch_size, const std::string& aggregation_name) const {
        const sparq::ModelConfig& cfg = model_->config();
        const auto aggregation = sparq::tools::aggregation_from_name(aggregation_name);
        if (cfg.task == sparq::Task::multiple_choice)
            throw sparq::Error("a multiple-choice model: use choose(choices, prompt=...)");
        if (cfg.task != sparq::Task::sequence_classification && cfg.task != sparq::Task::token_classification)
            throw sparq::Error("the model has no sequence or token classification head (" + sparq::tools::task_name(cfg.task) +
                               ")");
        const auto encs = encode_texts(texts, pair);
        std::vector<nlohmann::ordered_json> results;
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            for_batches(encs, batch_size, [&](const PackedBatch& b, size_t i0) {
                if (cfg.task == sparq::Task::sequence_classification) {
                    for (const auto& c : model_->classify(b))
                        results.push_back(sparq::tools::classification_json(cfg, c, top_k));
                    return;
                }
                const auto tags = model_->tag_tokens(b);
                for (size_t i = 0; i < tags.size(); ++i) {
                    nlohmann::ordered_json j;
                    j["tokens"] = sparq::tools::token_tags_json(cfg, tok(), encs[i0 + i], tags[i]);
                    j["entities"] = sparq::tools::token_entities_json(
                        cfg, tok(), encs[i0 + i], tags[i], texts[i0 + i], pair.value_or(""),
                        aggregation);
                    results.push_back(std::move(j));
                }
            });
        }
        py::list out;
        for (const auto& j : results) out.append(to_python(j));
        return out;
    }

    // Cross-encoder reranking: [{index, score}] most relevant first (the `sparq rerank` lines
    // without rank and text).
    py::list rerank(const std::string& query, const std::vector<std::string>& docs, size_t top_k,
                    bool raw, size_t batch_size) const {
        const sparq::ModelConfig& cfg = model_->config();
        sparq::tools::rerank_check(cfg);
        const auto encs = tok().encode_batch(std::vector<std::string>(docs.size(), query), docs,
                                             model_->max_length(0));
        std::vector<float> scores;
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            for_batches(encs, batch_size, [&](const PackedBatch& b, size_t) {
                for (const auto& c : model_->classify(b))
                    scores.push_back(sparq::tools::rerank_score(cfg, c, raw));
            });
        }
        return to_python(sparq::tools::rerank_json(scores, nullptr, top_k));
    }

    // Zero-shot classification with an NLI model: per text {sequence, labels, scores}, the
    // labels most likely first (the `sparq zero-shot` lines without index; HF's pipeline dicts).
    py::list zero_shot(const std::vector<std::string>& texts,
                       const std::vector<std::string>& labels,
                       const std::string& hypothesis_template, bool multi_label,
                       size_t batch_size) const {
        namespace tools = sparq::tools;
        const tools::NliLabelIds ids = tools::zero_shot_label_ids(model_->config());
        tools::zero_shot_check(labels, hypothesis_template);
        const auto encs = tools::zero_shot_encodings(tok(), texts, labels, hypothesis_template,
                                                     model_->max_length(0));
        std::vector<sparq::Classification> classes;
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            for_batches(encs, batch_size, [&](const PackedBatch& b, size_t) {
                for (auto& c : model_->classify(b)) classes.push_back(std::move(c));
            });
        }
        py::list out;
        for (const auto& j : tools::zero_shot_results(ids, texts, labels, classes, multi_label))
            out.append(to_python(j));
        return out;
    }

    // Multiple choice: the choices, each paired with the prompt (alone without one); the
    // `sparq classify --prompt` object without prompt and choices.
    py::object choose(const std::vector<std::string>& choices,
                      const std::optional<std::string>& prompt, size_t batch_size) const {
        sparq::tools::multiple_choice_check(model_->config(), choices.size());
        const auto encs =
            sparq::tools::choice_encodings(tok(), prompt, choices, model_->max_length(0));
        std::vector<float> logits;
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            for_batches(encs, batch_size, [&](const PackedBatch& b, size_t) {
                for (float x : model_->choice_logits(b)) logits.push_back(x);
            });
        }
        return to_python(sparq::tools::choice_json(choices, logits));
    }

    // Per text: the masks' predictions (the `sparq fill-mask` "masks" list).
    py::list fill_mask(const std::vector<std::string>& texts, size_t top_k,
                       size_t batch_size) const {
        const auto encs = encode_texts(texts, std::nullopt);
        std::vector<nlohmann::ordered_json> results;
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            for_batches(encs, batch_size, [&](const PackedBatch& b, size_t i0) {
                const std::vector<Encoding> part(encs.begin() + i0,
                                                 encs.begin() + i0 + b.num_sequences());
                for (auto& j :
                     sparq::tools::fill_mask_json(tok(), part, model_->fill_mask(b, top_k)))
                    results.push_back(std::move(j));
            });
        }
        py::list out;
        for (const auto& j : results) out.append(to_python(j));
        return out;
    }

    py::object answer(const std::string& question, const std::string& context,
                      int64_t max_answer_len) const {
        if (max_answer_len < 1) throw sparq::Error("max_answer_len must be >= 1");
        if (model_->config().task != sparq::Task::question_answering)
            throw sparq::Error("the model has no question-answering head (" +
                               sparq::tools::task_name(model_->config().task) + ")");
        // A context longer than the model takes is read in overlapping windows (as HF's pipeline).
        const std::vector<Encoding> windows =
            sparq::tools::qa_windows(tok(), question, context, model_->max_length());
        std::vector<sparq::Span> spans;
        {
            py::gil_scoped_release nogil;
            sparq::set_num_threads(threads_);
            spans = model_->answer_spans(PackedBatch::from(windows), max_answer_len);
        }
        return to_python(sparq::tools::best_answer_json(tok(), windows, spans, context));
    }

    py::dict tokenize(const std::string& text, const std::optional<std::string>& pair) const {
        const Encoding e = encode_texts({text}, pair).at(0);
        py::dict d;
        d["ids"] = e.ids;
        d["type_ids"] = e.type_ids;
        d["tokens"] = e.tokens;
        return d;
    }

    py::dict config() const {
        const sparq::ModelConfig& c = model_->config();
        py::dict d;
        d["architecture"] = c.architectures.empty() ? std::string() : c.architectures[0];
        d["task"] = sparq::tools::task_name(c.task);
        d["hidden_size"] = c.hidden_size;
        d["embedding_size"] = model_->embedding_size();
        d["layers"] = c.num_layers;
        d["heads"] = c.num_heads;
        d["vocab_size"] = c.vocab_size;
        d["max_position_embeddings"] = c.max_position_embeddings;
        d["precision"] = model_->precision();
        const sparq::Tokenizer* tok = model_->tokenizer();
        d["tokenizer"] = tok ? py::object(py::str(tok->description())) : py::object(py::none());
        if (c.task == sparq::Task::sequence_classification || c.task == sparq::Task::token_classification) {
            std::vector<std::string> labels;
            for (int64_t l = 0; l < c.num_labels; ++l) labels.push_back(c.label(l));
            d["labels"] = labels;
        }
        return d;
    }

    std::string plan() const { return model_->plan_report(); }

  private:
    std::unique_ptr<Model> model_;
    int threads_ = 0;
    sparq::SentenceEmbeddingConfig st_;  // sentence-transformers defaults of embed()
};

}  // namespace

PYBIND11_MODULE(sparq, m) {
    m.doc() = "sparq: sparse and int8 inference for BERT-family encoders";
    py::register_exception<sparq::Error>(m, "Error", PyExc_ValueError);
    m.def(
        "sparse_entries",
        [](const std::vector<float>& v, size_t top_k) { return sparq::sparse_entries(v, top_k); },
        py::arg("vector"), py::arg("top_k") = 0,
        "The nonzero entries (id, weight) of a SPLADE vector (a row of Model.embed(..., "
        "pooling=\"splade\")), largest first, at most top_k (0: all).");
    py::class_<PyModel>(m, "Model")
        .def(py::init<const std::string&, int, const std::string&, const std::string&,
                      const std::string&>(),
             py::arg("path"), py::arg("threads") = 0, py::arg("kernels") = "auto",
             py::arg("precision") = "f32", py::arg("attention") = "auto",
             "Loads a Hugging Face model directory (config.json, model.safetensors, vocab.txt or "
             "tokenizer.json). threads=0: OMP_NUM_THREADS or the cores this process may use "
             "(docs/cli.md#threads); kernels auto|dense|sparse; precision f32|int8.")
        .def(
            "embed", &PyModel::embed, py::arg("texts"), py::arg("pooling") = py::none(),
            py::arg("normalize") = py::none(), py::arg("prompt") = py::none(),
            py::arg("prompt_name") = py::none(), py::arg("truncate_dim") = py::none(),
            py::arg("batch_size") = 32,
            "Sentence embeddings, float32 [len(texts), hidden] (pooling mean, cls or max), "
            "batch_size texts per "
            "forward pass. None: as a sentence-transformers directory says (modules.json: "
            "Pooling, Normalize; "
            "sentence_bert_config.json: max_seq_length), else mean pooling, not normalized. "
            "prompt / prompt_name: text put before every input (config_sentence_transformers.json "
            "prompts; its default_prompt_name when neither is given); truncate_dim: keep the first "
            "dimensions (after normalization). pooling \"splade\" (or a SparseEncoder directory "
            "with a SpladePooling module; masked-LM models): [len(texts), vocab_size], SPLADE's "
            "vocabulary weights (sparq.sparse_entries(row) lists the nonzero ones).")
        .def("encode", &PyModel::encode, py::arg("texts"), py::arg("batch_size") = 32,
             "last_hidden_state per text: a list of float32 [tokens, hidden].")
        .def("encode_ids", &PyModel::encode_ids, py::arg("input_ids"),
             py::arg("attention_mask") = py::none(), py::arg("token_type_ids") = py::none(),
             "last_hidden_state of a padded batch as Hugging Face feeds it: [batch, seq, hidden], "
             "zeros at "
             "padding.")
        .def("classify", &PyModel::classify, py::arg("texts"), py::arg("pair") = py::none(),
             py::arg("top_k") = 0, py::arg("batch_size") = 32, py::arg("aggregation") = "simple",
             "Sequence classification ({label, score, scores}) or token classification ({tokens, "
             "entities}) per text; aggregation: how entities are built, as Hugging Face's "
             "aggregation_strategy (none, simple, first, average or max).")
        .def("fill_mask", &PyModel::fill_mask, py::arg("texts"), py::arg("top_k") = 5,
             py::arg("batch_size") = 32,
             "Masked-token prediction (models with the masked-LM head): per text, a list with one "
             "{position, predictions: [{token, token_str, score, sequence}]} per mask token.")
        .def("rerank", &PyModel::rerank, py::arg("query"), py::arg("documents"),
             py::arg("top_k") = 0, py::arg("raw") = false, py::arg("batch_size") = 32,
             "Cross-encoder reranking of documents for a query: [{index, score}], most relevant "
             "first (score: sigmoid of a one-label model's logit, P(label 1) of a two-label one; "
             "raw: without the sigmoid / softmax).")
        .def("zero_shot", &PyModel::zero_shot, py::arg("texts"), py::arg("labels"),
             py::arg("template") = std::string(sparq::tools::kZeroShotTemplate),
             py::arg("multi_label") = false, py::arg("batch_size") = 32,
             "Zero-shot classification with an NLI model, as Hugging Face's zero-shot-"
             "classification pipeline: per text {sequence, labels, scores}, labels most likely "
             "first. Each (text, template with {} replaced by a label) pair goes through the "
             "classifier; scores: softmax of the entailment logits over the labels, or with "
             "multi_label (or one label) each label's entailment vs contradiction probability.")
        .def("choose", &PyModel::choose, py::arg("choices"), py::arg("prompt") = py::none(),
             py::arg("batch_size") = 32,
             "Multiple choice (...ForMultipleChoice models): each choice paired with the prompt "
             "(alone without one) gets one logit; {choice, index, score, scores, logits} with "
             "the softmax over the choices, as Hugging Face's.")
        .def("answer", &PyModel::answer, py::arg("question"), py::arg("context"),
             py::arg("max_answer_len") = 15,
             "Question answering: {answer, score, probability, start, end}; a context longer than "
             "the model "
             "takes is "
             "read in overlapping windows (+ window, windows).")
        .def("tokenize", &PyModel::tokenize, py::arg("text"), py::arg("pair") = py::none(),
             "Token ids, type ids and tokens, with special tokens, truncated to the model's "
             "maximum.")
        .def_property_readonly("config", &PyModel::config)
        .def("plan", &PyModel::plan, "The kernel chosen per weight matrix and why.");
}
