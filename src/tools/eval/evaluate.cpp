#include "tools/eval/evaluate.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "sparq/error.hpp"
#include "tools/eval/metrics.hpp"

namespace sparq::tools::eval {

namespace {
std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string where(const Dataset& ds, const Example& e) { return ds.path + ":" + std::to_string(e.line); }

std::optional<double> parse_number(const std::string& s) {
    try {
        size_t used = 0;
        double v = std::stod(s, &used);
        if (used == s.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

bool is_regression(const ModelConfig& cfg) { return cfg.problem_type == "regression" || cfg.num_labels == 1; }

const Tokenizer& tokenizer_of(const Model& model) {
    const Tokenizer* tok = model.tokenizer();
    if (!tok)
        throw Error("the model directory has no tokenizer (expected vocab.txt or tokenizer.json)");
    return *tok;
}

// Every example's label as a number; `what` names the evaluation in the error ("regression
// model", "similarity").
std::vector<double> numeric_gold(const Dataset& ds, const std::string& what) {
    std::vector<double> gold;
    for (const Example& e : ds.examples) {
        auto v = parse_number(e.label);
        if (!v)
            throw Error(where(ds, e) + ": " + what + ": expected a numeric score, found '" +
                        e.label + "'");
        gold.push_back(*v);
    }
    return gold;
}
}  // namespace

double EvalResult::metric(const std::string& name) const {
    for (const auto& [n, v] : metrics)
        if (n == name) return v;
    return std::numeric_limits<double>::quiet_NaN();
}

std::vector<int64_t> map_labels(const ModelConfig& cfg, const Dataset& ds) {
    std::vector<int64_t> ids;
    ids.reserve(ds.examples.size());
    for (const Example& e : ds.examples) {
        const std::string want = lower(e.label);
        int64_t id = -1;
        for (int64_t l = 0; l < cfg.num_labels && id < 0; ++l)
            if (lower(cfg.label(l)) == want) id = l;
        if (id < 0 && !e.label.empty() &&
            std::all_of(e.label.begin(), e.label.end(), [](unsigned char c) { return std::isdigit(c); }) &&
            e.label.size() < 10 && std::stoll(e.label) < cfg.num_labels)
            id = std::stoll(e.label);
        if (id < 0) {
            std::string names;
            for (int64_t l = 0; l < cfg.num_labels; ++l) names += (l ? ", " : "") + cfg.label(l);
            throw Error(where(ds, e) + ": label '" + e.label + "' is not one of the model's labels (" + names +
                        ") nor a label id 0.." + std::to_string(cfg.num_labels - 1));
        }
        ids.push_back(id);
    }
    return ids;
}

int64_t positive_label(const ModelConfig& cfg) {
    static const char* names[] = {"positive", "pos", "spam", "paraphrase", "equivalent", "acceptable", "yes", "true"};
    for (int64_t l = 0; l < cfg.num_labels; ++l)
        for (const char* n : names)
            if (lower(cfg.label(l)) == n) return l;
    return 1;
}

std::string similarity_fn(const std::string& requested, const SentenceEmbeddingConfig& st,
                          Pooling pooling) {
    if (!requested.empty() && requested != "auto") return requested;
    if (!st.similarity.empty()) return st.similarity;
    return pooling == Pooling::splade ? "dot" : "cosine";
}

namespace {

// The similarity of two embeddings: cosine (0 when either is zero), dot product, or the negative
// euclidean / manhattan distance.
double similarity_of(const std::vector<float>& a, const std::vector<float>& b,
                     const std::string& fn) {
    double ab = 0, aa = 0, bb = 0, l1 = 0;
    for (size_t c = 0; c < a.size(); ++c) {
        ab += double(a[c]) * b[c], aa += double(a[c]) * a[c], bb += double(b[c]) * b[c];
        l1 += std::abs(double(a[c]) - b[c]);
    }
    if (fn == "dot") return ab;
    if (fn == "euclidean") return -std::sqrt(std::max(aa + bb - 2 * ab, 0.0));
    if (fn == "manhattan") return -l1;
    return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

// The similarity (EvalOptions::similarity) of each pair's sentence embeddings against numeric
// gold scores.
EvalResult evaluate_similarity(const Model& model, const Dataset& ds, const EvalOptions& opts) {
    const Tokenizer* tok = &tokenizer_of(model);
    if (opts.pooling == Pooling::none)
        throw Error("similarity evaluation needs a sentence pooling");
    EvalResult r;
    r.format = ds.format;
    r.examples = static_cast<int64_t>(ds.examples.size());
    r.regression = r.similarity = true;
    const std::vector<double> gold = numeric_gold(ds, "similarity");
    const std::string fn = opts.similarity.empty() ? "cosine" : opts.similarity;
    if (!SentenceEmbeddingConfig::is_similarity_function(fn))
        throw Error("similarity must be cosine, dot, euclidean or manhattan, found '" + fn + "'");
    for (const Example& e : ds.examples)
        if (!e.pair) throw Error(where(ds, e) + ": similarity: expected a pair of texts");
    const size_t max_len = model.max_length(opts.max_length);
    const size_t bs = std::max<size_t>(opts.batch_size, 1);
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ds.examples.size(); i += bs) {
        const size_t n = std::min(bs, ds.examples.size() - i);
        std::vector<Encoding> encs;  // the n first texts, then the n second texts
        for (size_t k = 0; k < n; ++k)
            encs.push_back(tok->encode(ds.examples[i + k].text, std::nullopt, max_len));
        for (size_t k = 0; k < n; ++k)
            encs.push_back(tok->encode(*ds.examples[i + k].pair, std::nullopt, max_len));
        const auto emb = model.embed(PackedBatch::from(encs), opts.pooling, /*normalize=*/false);
        for (size_t k = 0; k < n; ++k) {
            Prediction p;
            p.index = static_cast<int64_t>(i + k);
            p.line = ds.examples[i + k].line;
            p.gold_value = gold[i + k];
            p.predicted_value = similarity_of(emb.at(k), emb.at(n + k), fn);
            p.score = static_cast<float>(p.predicted_value);
            r.predictions.push_back(std::move(p));
        }
        if (opts.progress) opts.progress(static_cast<int64_t>(i + n));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> pred;
    for (const auto& p : r.predictions) pred.push_back(p.predicted_value);
    r.metrics = {{"spearman", spearman(gold, pred)}, {"pearson", pearson(gold, pred)}};
    r.main_metric = "spearman";
    return r;
}

}  // namespace

EvalResult evaluate(const Model& model, const Dataset& ds, const EvalOptions& opts) {
    const ModelConfig& cfg = model.config();
    if (cfg.task == Task::base && ds.has_pair()) return evaluate_similarity(model, ds, opts);
    if (cfg.task != Task::sequence_classification)
        throw Error(
            "evaluation needs a sequence-classification model (…ForSequenceClassification), or an "
            "encoder without a head on a dataset of scored pairs (STS-B: cosine similarity), "
            "found " +
            (cfg.architectures.empty() ? std::string("no architectures in config.json")
                                       : cfg.architectures[0]) +
            (cfg.task == Task::base ? " on single texts" : ""));
    const Tokenizer* tok = &tokenizer_of(model);
    EvalResult r;
    r.format = ds.format;
    r.examples = static_cast<int64_t>(ds.examples.size());
    r.regression = is_regression(cfg);
    std::vector<int64_t> gold_ids;
    std::vector<double> gold_values;
    if (r.regression) {
        gold_values = numeric_gold(ds, "regression model");
    } else {
        gold_ids = map_labels(cfg, ds);
    }
    const size_t max_len = model.max_length(opts.max_length);
    const size_t bs = std::max<size_t>(opts.batch_size, 1);

    const auto t0 = std::chrono::steady_clock::now();
    r.predictions.reserve(ds.examples.size());
    for (size_t i = 0; i < ds.examples.size(); i += bs) {
        const size_t n = std::min(bs, ds.examples.size() - i);
        std::vector<Encoding> encs;
        encs.reserve(n);
        for (size_t k = 0; k < n; ++k) {
            const Example& e = ds.examples[i + k];
            encs.push_back(tok->encode(e.text, e.pair ? std::optional<std::string_view>(*e.pair) : std::nullopt, max_len));
        }
        auto res = model.classify(PackedBatch::from(encs));
        for (size_t k = 0; k < n; ++k) {
            const Classification& c = res.at(k);
            Prediction p;
            p.index = static_cast<int64_t>(i + k);
            p.line = ds.examples[i + k].line;
            if (r.regression) {
                p.gold_value = gold_values[i + k];
                p.predicted_value = c.scores.empty() ? 0.0 : c.scores[0];
                p.score = c.scores.empty() ? 0.0f : c.scores[0];
            } else {
                p.gold_id = gold_ids[i + k];
                p.predicted_id = c.label_id;
                p.gold = cfg.label(p.gold_id);
                p.predicted = cfg.label(p.predicted_id);
                p.score = c.scores.at(static_cast<size_t>(c.label_id));
            }
            r.predictions.push_back(std::move(p));
        }
        if (opts.progress) opts.progress(static_cast<int64_t>(i + n));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    if (r.regression) {
        std::vector<double> pred;
        for (const auto& p : r.predictions) pred.push_back(p.predicted_value);
        r.metrics = {{"pearson", pearson(gold_values, pred)}, {"spearman", spearman(gold_values, pred)}};
        r.main_metric = "pearson";
    } else {
        std::vector<int64_t> pred;
        for (const auto& p : r.predictions) pred.push_back(p.predicted_id);
        r.metrics.emplace_back("accuracy", accuracy(gold_ids, pred));
        if (cfg.num_labels == 2) r.metrics.emplace_back("f1", f1_binary(gold_ids, pred, positive_label(cfg)));
        r.metrics.emplace_back("mcc", matthews(gold_ids, pred));
        r.main_metric = ds.format == "cola" ? "mcc" : "accuracy";
    }
    return r;
}

}  // namespace sparq::tools::eval
