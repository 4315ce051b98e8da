// Task heads: pooling, classification scores, QA span search.
#include "model/heads.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/fused.hpp"

namespace sparq {

std::vector<float> gather_cls(const float* hidden, const std::vector<int64_t>& offsets, int64_t h) {
    int64_t n = static_cast<int64_t>(offsets.size()) - 1;
    std::vector<float> dst(n * h, 0.0f);
    for (int64_t s = 0; s < n; ++s)
        if (offsets[s + 1] > offsets[s])
            std::memcpy(dst.data() + s * h, hidden + offsets[s] * h, h * sizeof(float));
    return dst;
}

void tanh_inplace(float* data, int64_t n) {
    for (int64_t i = 0; i < n; ++i) data[i] = std::tanh(data[i]);
}

void apply_head_activation(float* data, int64_t rows, int64_t cols, HeadActivation act) {
    const int64_t n = rows * cols;
    switch (act) {
        case HeadActivation::identity:
            break;
        case HeadActivation::tanh:
            tanh_inplace(data, n);
            break;
        case HeadActivation::relu:
            for (int64_t i = 0; i < n; ++i) data[i] = std::max(data[i], 0.0f);
            break;
        case HeadActivation::gelu:
            bias_gelu(data, nullptr, rows, cols);
            break;
        case HeadActivation::sigmoid:
            for (int64_t i = 0; i < n; ++i) data[i] = 1.0f / (1.0f + std::exp(-data[i]));
            break;
    }
}

void l2_normalize(float* v, int64_t n) {
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(v[i]) * v[i];
    // Same floor as torch.nn.functional.normalize (eps = 1e-12).
    float inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
    for (int64_t i = 0; i < n; ++i) v[i] *= inv;
}

std::optional<Pooling> pooling_from_name(std::string_view name) {
    for (Pooling p : {Pooling::mean, Pooling::cls, Pooling::none, Pooling::max, Pooling::splade})
        if (name == pooling_name(p)) return p;
    return std::nullopt;
}

std::vector<std::pair<int32_t, float>> sparse_entries(const std::vector<float>& v, size_t top_k) {
    std::vector<std::pair<int32_t, float>> out;
    for (size_t i = 0; i < v.size(); ++i)
        if (v[i] != 0.0f) out.emplace_back(static_cast<int32_t>(i), v[i]);
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (top_k && out.size() > top_k) out.resize(top_k);
    return out;
}

const char* pooling_name(Pooling p) {
    switch (p) {
        case Pooling::cls:
            return "cls";
        case Pooling::none:
            return "none";
        case Pooling::max:
            return "max";
        case Pooling::splade:
            return "splade";
        default:
            return "mean";
    }
}

std::vector<std::vector<float>> pool_sequences(const float* hidden,
                                               const std::vector<int64_t>& offsets, int64_t h,
                                               Pooling pooling, bool normalize, int64_t skip) {
    int64_t n = static_cast<int64_t>(offsets.size()) - 1;
    std::vector<std::vector<float>> out(n);
    for (int64_t s = 0; s < n; ++s) {
        int64_t off = offsets[s], len = offsets[s + 1] - off;
        auto& v = out[s];
        if (pooling == Pooling::none) {
            v.assign(hidden + off * h, hidden + (off + len) * h);
            if (normalize)
                for (int64_t t = 0; t < len; ++t) l2_normalize(v.data() + t * h, h);
            continue;
        }
        v.assign(h, 0.0f);
        if (len == 0) continue;
        const int64_t first = pooling == Pooling::cls ? 0 : std::min(skip, len);
        if (pooling == Pooling::cls) {
            std::memcpy(v.data(), hidden + off * h, h * sizeof(float));
        } else if (first == len) {
            // Every token left out: zeros (sentence-transformers' masked mean and max give 0).
        } else if (pooling == Pooling::max) {
            std::memcpy(v.data(), hidden + (off + first) * h, h * sizeof(float));
            for (int64_t t = first + 1; t < len; ++t)
                for (int64_t c = 0; c < h; ++c) v[c] = std::max(v[c], hidden[(off + t) * h + c]);
        } else {
            std::vector<double> acc(h, 0.0);
            for (int64_t t = first; t < len; ++t)
                for (int64_t c = 0; c < h; ++c) acc[c] += hidden[(off + t) * h + c];
            for (int64_t c = 0; c < h; ++c) v[c] = static_cast<float>(acc[c] / (len - first));
        }
        if (normalize) l2_normalize(v.data(), h);
    }
    return out;
}

Classification classification_from_logits(const float* logits, int64_t num_labels,
                                          const ModelConfig& cfg) {
    Classification c;
    c.logits.assign(logits, logits + num_labels);
    bool regression =
        cfg.problem_type == "regression" || (cfg.problem_type.empty() && num_labels == 1);
    if (regression) {
        c.scores = c.logits;
        c.label_id = 0;
    } else if (cfg.problem_type == "multi_label_classification") {
        c.scores.resize(num_labels);
        for (int64_t i = 0; i < num_labels; ++i) c.scores[i] = 1.0f / (1.0f + std::exp(-logits[i]));
        c.label_id = std::max_element(c.scores.begin(), c.scores.end()) - c.scores.begin();
    } else {
        c.scores = choice_probabilities(c.logits);
        c.label_id = std::max_element(logits, logits + num_labels) - logits;
    }
    c.label = cfg.label(c.label_id);
    return c;
}

std::vector<float> choice_probabilities(const std::vector<float>& logits) {
    if (logits.empty()) return {};
    const float mx = *std::max_element(logits.begin(), logits.end());
    std::vector<float> p(logits.size());
    double sum = 0;
    for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(logits[i] - mx);
    for (float& v : p) v = static_cast<float>(v / sum);
    return p;
}

Span best_span(const float* start_logits, const float* end_logits, const int32_t* type_ids,
               const int32_t* ids, int64_t len, int64_t max_answer_len,
               const std::vector<int32_t>& special_ids) {
    Span span;
    span.start_logits.assign(start_logits, start_logits + len);
    span.end_logits.assign(end_logits, end_logits + len);
    if (len == 0) return span;
    bool pair = std::any_of(type_ids, type_ids + len, [](int32_t t) { return t == 1; });
    std::vector<char> ok(len, 0);
    for (int64_t i = 1; i + 1 < len; ++i) {
        bool special =
            std::find(special_ids.begin(), special_ids.end(), ids[i]) != special_ids.end();
        ok[i] = !special && (!pair || type_ids[i] == 1);
    }
    float best = -std::numeric_limits<float>::infinity();
    bool found = false;
    for (int64_t i = 0; i < len; ++i) {
        if (!ok[i]) continue;
        for (int64_t j = i; j < len && j - i < max_answer_len; ++j) {
            if (!ok[j]) continue;
            float score = start_logits[i] + end_logits[j];
            if (!found || score > best) {
                best = score;
                span.start = i;
                span.end = j;
                found = true;
            }
        }
    }
    if (!found) {  // no candidate token (e.g. an empty question context): the [CLS] "no answer"
        span.start = span.end = 0;
        best = start_logits[0] + end_logits[0];
    }
    span.score = best;
    return span;
}

}  // namespace sparq
