// Drift report between two models (see drift.hpp).
#include "tools/drift.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sparq/error.hpp"
#include "tools/bench.hpp"
#include "tools/results.hpp"

namespace sparq::tools {
namespace {

// Adds the pair (x from the first model, y from the second) of output `what` to st. A NaN or inf
// is an error: the statistics would skip it (max, min) and report a broken model as identical.
void add(DriftStats& st, const char* what, const float* x, const float* y, int64_t n) {
    for (int pass = 0; pass < 2; ++pass) {
        const float* v = pass ? y : x;
        for (int64_t i = 0; i < n; ++i)
            if (!std::isfinite(v[i]))
                throw Error(std::string("compare: the ") + (pass ? "second" : "first") +
                            " model's " + what + " holds " + (std::isnan(v[i]) ? "NaN" : "inf") +
                            " (value " + std::to_string(i) +
                            "; its float32 arithmetic overflowed: check the weights), no drift "
                            "to report");
    }
    double xy = 0, xx = 0, yy = 0;
    for (int64_t i = 0; i < n; ++i) {
        xy += static_cast<double>(x[i]) * y[i];
        xx += static_cast<double>(x[i]) * x[i];
        yy += static_cast<double>(y[i]) * y[i];
        st.max_abs_diff = std::max(st.max_abs_diff, std::fabs(static_cast<double>(x[i]) - y[i]));
    }
    // Two zero vectors are identical; one zero vector has no direction: cosine 0.
    const double cos =
        xx == 0 && yy == 0 ? 1.0 : (xx == 0 || yy == 0 ? 0.0 : xy / std::sqrt(xx * yy));
    st.mean_cosine = (st.mean_cosine * st.count + cos) / (st.count + 1);
    st.min_cosine = std::min(st.min_cosine, cos);
    ++st.count;
}

int64_t argmax(const std::vector<float>& v) {
    return std::max_element(v.begin(), v.end()) - v.begin();
}

nlohmann::ordered_json stats_json(const DriftStats& s) {
    nlohmann::ordered_json j;
    j["count"] = s.count;
    j["min_cosine"] = s.min_cosine;
    j["mean_cosine"] = s.mean_cosine;
    j["max_abs_diff"] = s.max_abs_diff;
    return j;
}

}  // namespace

const std::vector<std::string>& sample_sentences() {
    static const std::vector<std::string> s = {
        "The quick brown fox jumps over the lazy dog.",
        "I absolutely loved this movie, the acting was superb!",
        "This was the worst meal I have ever had.",
        "The meeting has been moved to Thursday afternoon.",
        "Quantization maps floating point weights to small integers.",
        "She sells sea shells by the sea shore.",
        "Is there a pharmacy open near the train station tonight?",
        "Prices rose sharply after the announcement, surprising analysts.",
    };
    return s;
}

namespace {

void check_comparable(const Model& a, const Model& b) {
    const ModelConfig &ca = a.config(), &cb = b.config();
    std::string diff;
    auto field = [&](const char* name, const std::string& x, const std::string& y) {
        if (x != y) diff += (diff.empty() ? "" : ", ") + std::string(name) + " " + x + " vs " + y;
    };
    field("hidden size", std::to_string(ca.hidden_size), std::to_string(cb.hidden_size));
    field("task", task_name(ca.task), task_name(cb.task));
    field("labels", std::to_string(ca.num_labels), std::to_string(cb.num_labels));
    field("vocabulary", std::to_string(ca.vocab_size), std::to_string(cb.vocab_size));
    if (!diff.empty()) throw Error("compare: the models are not comparable (" + diff + ")");
}

// Adds one single-sequence batch to the report.
void compare_one(const Model& a, const Model& b, const PackedBatch& batch, DriftReport& r) {
    const ModelConfig& ca = a.config();
    const int64_t h = ca.hidden_size;
    {
        ++r.texts;
        r.tokens += batch.num_tokens();
        HiddenStates ha = a.encode(batch), hb = b.encode(batch);
        add(r.hidden, "last_hidden_state", ha.data.data(), hb.data.data(),
            static_cast<int64_t>(ha.data.size()));
        if (ca.task == Task::sequence_classification) {
            auto pa = a.pooled(batch), pb = b.pooled(batch);
            add(r.pooled, "pooled output", pa[0].data(), pb[0].data(), h);
            auto ka = a.classify(batch), kb = b.classify(batch);
            add(r.logits, "logits", ka[0].logits.data(), kb[0].logits.data(),
                static_cast<int64_t>(ka[0].logits.size()));
            if (ca.problem_type != "regression") {
                ++r.predictions;
                r.changed += argmax(ka[0].logits) != argmax(kb[0].logits);
            }
        } else if (ca.task == Task::token_classification) {
            auto ta = a.tag_tokens(batch), tb = b.tag_tokens(batch);
            std::vector<float> la, lb;
            for (size_t t = 0; t < ta[0].logits.size(); ++t) {
                la.insert(la.end(), ta[0].logits[t].begin(), ta[0].logits[t].end());
                lb.insert(lb.end(), tb[0].logits[t].begin(), tb[0].logits[t].end());
                ++r.predictions;
                r.changed += ta[0].label_ids[t] != tb[0].label_ids[t];
            }
            add(r.logits, "logits", la.data(), lb.data(), static_cast<int64_t>(la.size()));
        } else if (ca.task == Task::question_answering) {
            auto sa = a.answer_spans(batch), sb = b.answer_spans(batch);
            std::vector<float> la = sa[0].start_logits, lb = sb[0].start_logits;
            la.insert(la.end(), sa[0].end_logits.begin(), sa[0].end_logits.end());
            lb.insert(lb.end(), sb[0].end_logits.begin(), sb[0].end_logits.end());
            add(r.logits, "logits", la.data(), lb.data(), static_cast<int64_t>(la.size()));
            ++r.predictions;
            r.changed += sa[0].start != sb[0].start || sa[0].end != sb[0].end;
        } else {
            try {
                auto pa = a.pooled(batch), pb = b.pooled(batch);
                add(r.pooled, "pooled output", pa[0].data(), pb[0].data(), h);
            } catch (const Error&) {  // no pooler: nothing to compare
            }
        }
    }
}

}  // namespace

DriftReport compare_models(const Model& a, const Model& b, const std::vector<std::string>& texts,
                           size_t max_length) {
    const Tokenizer* tok = a.tokenizer();
    if (!tok)
        throw Error(
            "compare: the first model has no tokenizer (tokenizer.json, vocab.txt, ...) to "
            "encode the texts with");
    check_comparable(a, b);
    if (texts.empty()) throw Error("compare: expected at least one text");
    max_length =
        std::min<size_t>(max_length, static_cast<size_t>(a.config().max_tokens()));
    DriftReport r;
    for (const std::string& text : texts)
        compare_one(a, b, PackedBatch::from({tok->encode(text, std::nullopt, max_length)}), r);
    return r;
}

DriftReport compare_models_random(const Model& a, const Model& b, int64_t count, int64_t seq,
                                  uint64_t seed) {
    check_comparable(a, b);
    if (count < 1 || seq < 1) throw Error("compare: expected at least one sequence of one token");
    seq = std::min<int64_t>(seq, a.config().max_tokens());
    DriftReport r;
    r.random_ids = true;
    for (int64_t i = 0; i < count; ++i) compare_one(a, b, random_batch(a, 1, seq, seed + i), r);
    return r;
}

std::string drift_text(const DriftReport& r, const std::string& a, const std::string& b) {
    char buf[256];
    std::string s = "drift " + a + " vs " + b + " over " + std::to_string(r.texts) +
                    (r.random_ids ? " random token sequences (" : " texts (") +
                    std::to_string(r.tokens) + " tokens)\n";
    auto line = [&](const char* what, const DriftStats& st) {
        if (st.count == 0) return;
        std::snprintf(buf, sizeof buf, "  %-18s cosine min %.6f mean %.6f  max |diff| %.4g\n", what,
                      st.min_cosine, st.mean_cosine, st.max_abs_diff);
        s += buf;
    };
    line("last_hidden_state", r.hidden);
    line("pooled", r.pooled);
    line("logits", r.logits);
    if (r.predictions > 0) {
        std::snprintf(buf, sizeof buf, "  predictions changed: %lld of %lld (%.1f%%)\n",
                      static_cast<long long>(r.changed), static_cast<long long>(r.predictions),
                      100.0 * r.changed / r.predictions);
        s += buf;
    }
    return s;
}

nlohmann::ordered_json drift_json(const DriftReport& r, const std::string& a,
                                  const std::string& b) {
    nlohmann::ordered_json j;
    j["a"] = a;
    j["b"] = b;
    j["texts"] = r.texts;
    if (r.random_ids) j["random_token_ids"] = true;
    j["tokens"] = r.tokens;
    j["last_hidden_state"] = stats_json(r.hidden);
    if (r.pooled.count) j["pooled"] = stats_json(r.pooled);
    if (r.logits.count) j["logits"] = stats_json(r.logits);
    if (r.predictions) {
        j["predictions"] = r.predictions;
        j["changed_predictions"] = r.changed;
        j["changed_share"] = static_cast<double>(r.changed) / r.predictions;
    }
    return j;
}

}  // namespace sparq::tools
