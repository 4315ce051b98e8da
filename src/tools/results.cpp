#include "tools/results.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "sparq/error.hpp"

namespace sparq::tools {

double json_float(float f) {
    // JSON has no NaN or inf (nlohmann writes null): a result holding one is no result.
    if (!std::isfinite(f))
        throw NonFiniteResult(std::string("the model computed ") + (std::isnan(f) ? "NaN" : "inf") +
                              " (its float32 arithmetic overflowed: check the weights); no result");
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, f);
    double d = 0;
    std::from_chars(buf, r.ptr, d);
    return d;
}

nlohmann::ordered_json json_floats(const float* p, int64_t n) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (int64_t i = 0; i < n; ++i) a.push_back(json_float(p[i]));
    return a;
}

nlohmann::ordered_json splade_json(const std::vector<float>& v, const Tokenizer& tok,
                                   size_t top_k) {
    std::vector<int32_t> ids;
    std::vector<float> values;
    nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
    for (const auto& [id, w] : sparse_entries(v, top_k)) {
        ids.push_back(id);
        values.push_back(w);
        // Embedding rows past the tokenizer's vocabulary (padded tables) have no token: null.
        if (static_cast<size_t>(id) < tok.vocab_size())
            tokens.push_back(tok.id_to_token(id));
        else
            tokens.push_back(nullptr);
    }
    nlohmann::ordered_json j;
    j["indices"] = ids;
    j["tokens"] = std::move(tokens);
    j["values"] = json_floats(values.data(), static_cast<int64_t>(values.size()));
    return j;
}

std::string task_name(Task t) {
    switch (t) {
        case Task::sequence_classification:
            return "sequence-classification";
        case Task::token_classification:
            return "token-classification";
        case Task::question_answering:
            return "question-answering";
        case Task::multiple_choice:
            return "multiple-choice";
        default:
            return "base";
    }
}

bool is_regression(const ModelConfig& cfg) {
    return cfg.problem_type == "regression" || cfg.num_labels == 1;
}

namespace {

std::vector<float> softmax(const std::vector<float>& x) {
    std::vector<float> p(x.size());
    if (x.empty()) return p;
    float m = *std::max_element(x.begin(), x.end()), sum = 0;
    for (size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp(x[i] - m);
    for (auto& v : p) v /= sum;
    return p;
}

// Word pieces back to text: "##" pieces join the previous piece, others are space-separated.
std::string detokenize(const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& p : pieces) {
        if (p.rfind("##", 0) == 0 && !out.empty())
            out += p.substr(2);
        else
            out += (out.empty() ? "" : " ") + p;
    }
    return out;
}

bool is_special(const Tokenizer& tok, int32_t id) {
    return id == tok.cls_id() || id == tok.sep_id() || id == tok.pad_id();
}

}  // namespace

nlohmann::ordered_json classification_json(const ModelConfig& cfg, const Classification& c,
                                           size_t top_k) {
    nlohmann::ordered_json j;
    if (is_regression(cfg)) {
        j["score"] = json_float(c.scores.empty() ? 0.0f : c.scores[0]);
        return j;
    }
    j["label"] = c.label;
    j["score"] = json_float(c.scores.at(static_cast<size_t>(c.label_id)));
    std::vector<size_t> order(c.scores.size());
    for (size_t l = 0; l < order.size(); ++l) order[l] = l;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return c.scores[x] > c.scores[y]; });
    if (top_k && top_k < order.size()) order.resize(top_k);
    nlohmann::ordered_json scores = nlohmann::ordered_json::object();
    for (size_t l : order) scores[cfg.label(static_cast<int64_t>(l))] = json_float(c.scores[l]);
    j["scores"] = std::move(scores);
    return j;
}

void require_sequence_classifier(const ModelConfig& cfg, const std::string& needs) {
    if (cfg.task != Task::sequence_classification)
        throw Error(needs + "; this model's task is " + task_name(cfg.task));
}

void rerank_check(const ModelConfig& cfg) {
    require_sequence_classifier(
        cfg, "rerank needs a cross-encoder (a sequence classifier over (query, document) pairs)");
    if (cfg.num_labels > 2)
        throw Error("rerank needs a cross-encoder with 1 or 2 labels; this classifier has " +
                    std::to_string(cfg.num_labels));
}

float rerank_score(const ModelConfig& cfg, const Classification& c, bool raw) {
    if (cfg.num_labels == 1) {
        const float x = c.logits.at(0);
        return raw ? x : 1.0f / (1.0f + std::exp(-x));
    }
    if (raw) return c.logits.at(1) - c.logits.at(0);  // log-odds of label 1
    const float d = c.logits.at(0) - c.logits.at(1);  // P(1) = 1 / (1 + e^(l0 - l1))
    return 1.0f / (1.0f + std::exp(d));
}

nlohmann::ordered_json rerank_json(const std::vector<float>& scores,
                                   const std::vector<std::string>* docs, size_t top_k) {
    std::vector<size_t> order(scores.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    if (top_k && top_k < order.size()) order.resize(top_k);
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (size_t i : order) {
        nlohmann::ordered_json j;
        j["index"] = i;
        j["score"] = json_float(scores[i]);
        if (docs) j["text"] = (*docs)[i];
        out.push_back(std::move(j));
    }
    return out;
}

nlohmann::ordered_json token_tags_json(const ModelConfig& cfg, const Tokenizer& tok,
                                       const Encoding& e, const TokenTag& tags) {
    nlohmann::ordered_json toks = nlohmann::ordered_json::array();
    for (size_t t = 0; t < e.size(); ++t) {
        if (is_special(tok, e.ids[t])) continue;
        auto p = softmax(tags.logits.at(t));
        int64_t lab = tags.label_ids.at(t);
        toks.push_back({{"token", e.tokens[t]},
                        {"label", cfg.label(lab)},
                        {"score", json_float(p.at(static_cast<size_t>(lab)))}});
    }
    return toks;
}

const std::vector<std::string>& aggregation_names() {
    static const std::vector<std::string> names = {"none", "simple", "first", "average", "max"};
    return names;
}

Aggregation aggregation_from_name(std::string_view name) {
    const auto& names = aggregation_names();
    for (size_t i = 0; i < names.size(); ++i)
        if (name == names[i]) return static_cast<Aggregation>(i);
    throw Error("unknown aggregation strategy '" + std::string(name) +
                "' (expected none, simple, first, average or max)");
}

namespace {

size_t code_points(std::string_view s) {
    return static_cast<size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// src[b, end) clamped to src as Python slices are ("" when end < b).
std::string_view text_slice(std::string_view src, size_t b, size_t end) {
    b = std::min(b, src.size());
    end = std::min(end, src.size());
    return end > b ? src.substr(b, end - b) : std::string_view();
}

size_t argmax(const std::vector<float>& p) {
    return static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
}

}  // namespace

bool is_subword(const Tokenizer& tok, const Encoding& e, size_t t, std::string_view src) {
    if (e.ids.at(t) == tok.unk_id()) return false;
    const auto [b, end] = e.offsets.at(t);
    if (!tok.continuing_subword_prefix().empty())
        return code_points(e.tokens.at(t)) != code_points(text_slice(src, b, end));
    // HF: start > 0 and " " not in sentence[start - 1 : start + 1]. A space is one byte in UTF-8
    // and never part of another character, so bytes decide as characters do.
    if (b == 0) return false;
    return text_slice(src, b - 1, size_t{b} + 1).find(' ') == std::string_view::npos;
}

nlohmann::ordered_json token_entities_json(const ModelConfig& cfg, const Tokenizer& tok,
                                           const Encoding& e, const TokenTag& tags,
                                           std::string_view text, std::string_view pair,
                                           Aggregation aggregation) {
    auto src_of = [&](size_t t) { return e.sequence_ids.at(t) == 1 ? pair : text; };
    // A token (none, simple) or a word (first, average, max) with its label and score.
    struct Item {
        size_t first, last;  // token positions
        int64_t label;
        float score;
    };
    std::vector<Item> items;
    std::vector<size_t> word;  // token positions of the word being read
    std::vector<std::vector<float>> probs(e.size());
    auto close_word = [&] {
        if (word.empty()) return;
        std::vector<float> p;
        if (aggregation == Aggregation::first) {
            p = probs[word.front()];
        } else if (aggregation == Aggregation::max) {
            size_t best = word.front();
            for (size_t t : word)
                if (probs[t][argmax(probs[t])] > probs[best][argmax(probs[best])]) best = t;
            p = probs[best];
        } else {  // average
            std::vector<double> sum(probs[word.front()].size(), 0.0);
            for (size_t t : word)
                for (size_t l = 0; l < sum.size(); ++l) sum[l] += probs[t].at(l);
            for (double v : sum)
                p.push_back(static_cast<float>(v / static_cast<double>(word.size())));
        }
        const size_t lab = argmax(p);
        items.push_back({word.front(), word.back(), static_cast<int64_t>(lab), p.at(lab)});
        word.clear();
    };
    for (size_t t = 0; t < e.size(); ++t) {
        if (is_special(tok, e.ids[t])) continue;
        probs[t] = softmax(tags.logits.at(t));
        if (aggregation == Aggregation::none || aggregation == Aggregation::simple) {
            const int64_t lab = tags.label_ids.at(t);
            items.push_back({t, t, lab, probs[t].at(static_cast<size_t>(lab))});
            continue;
        }
        if (!word.empty() && (e.sequence_ids.at(t) != e.sequence_ids.at(word.back()) ||
                              !is_subword(tok, e, t, src_of(t))))
            close_word();
        word.push_back(t);
    }
    close_word();

    // The JSON of a token, word or group from token `first` to token `last`.
    auto span_json = [&](nlohmann::ordered_json j, size_t first, size_t last) {
        const uint32_t b = e.offsets.at(first).first, end = e.offsets.at(last).second;
        const std::string_view src = src_of(first);
        j["word"] = b <= end && end <= src.size() ? std::string(src.substr(b, end - b)) : "";
        j["start"] = b;
        j["end"] = end;
        return j;
    };
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    if (aggregation == Aggregation::none) {
        for (const Item& it : items) {
            const std::string label = cfg.label(it.label);
            if (label == "O") continue;  // HF's ignore_labels
            out.push_back(
                span_json({{"entity", label}, {"score", json_float(it.score)}, {"index", it.first}},
                          it.first, it.last));
        }
        return out;
    }
    // HF group_entities: "B-PER" -> (B, PER); "I-PER" -> (I, PER); anything else -> (I, itself).
    auto tag_of = [](const std::string& label) -> std::pair<char, std::string> {
        if (label.size() > 2 && (label[0] == 'B' || label[0] == 'I') && label[1] == '-')
            return {label[0], label.substr(2)};
        return {'I', label};
    };
    std::vector<const Item*> group;
    std::string group_type;
    auto flush = [&] {
        if (!group.empty() && group_type != "O") {
            double sum = 0;
            for (const Item* g : group) sum += g->score;
            out.push_back(span_json({{"entity_group", group_type},
                                     {"score", json_float(static_cast<float>(
                                                   sum / static_cast<double>(group.size())))}},
                                    group.front()->first, group.back()->last));
        }
        group.clear();
    };
    for (const Item& it : items) {
        auto [bi, type] = tag_of(cfg.label(it.label));
        if (!group.empty() &&
            (type != group_type || bi == 'B' ||
             e.sequence_ids.at(it.first) != e.sequence_ids.at(group.back()->last)))
            flush();
        if (group.empty()) group_type = std::move(type);
        group.push_back(&it);
    }
    flush();
    return out;
}

std::vector<nlohmann::ordered_json> fill_mask_json(const Tokenizer& tok,
                                                   const std::vector<Encoding>& encs,
                                                   const std::vector<MaskFill>& fills) {
    std::vector<nlohmann::ordered_json> masks(encs.size(), nlohmann::ordered_json::array());
    for (const MaskFill& f : fills) {
        const Encoding& e = encs.at(static_cast<size_t>(f.sequence));
        nlohmann::ordered_json preds = nlohmann::ordered_json::array();
        for (const auto& [id, p] : f.top) {
            std::vector<int32_t> ids = e.ids;
            ids.at(static_cast<size_t>(f.position)) = id;
            nlohmann::ordered_json j;
            j["token"] = id;
            j["token_str"] = tok.decode({id});
            j["score"] = json_float(p);
            j["sequence"] = tok.decode(ids, /*skip_special_tokens=*/true);
            preds.push_back(std::move(j));
        }
        masks[static_cast<size_t>(f.sequence)].push_back(
            {{"position", f.position}, {"predictions", std::move(preds)}});
    }
    return masks;
}

double span_probability(const Tokenizer& tok, const Encoding& e, const Span& s) {
    // HF's question-answering pipeline: softmax of the start and of the end logits over the
    // tokens an answer may use (the context, sequence id 1) and the [CLS] token, the span's
    // probability their product. Without sequence ids (a hand-made encoding): all tokens.
    const size_t n = std::min(s.start_logits.size(), s.end_logits.size());
    if (n == 0 || s.start < 0 || s.end < 0 || static_cast<size_t>(s.end) >= n) return 0.0;
    auto allowed = [&](size_t i) {
        return e.sequence_ids.size() != n || e.sequence_ids[i] == 1 ||
               (i < e.ids.size() && e.ids[i] == tok.cls_id());
    };
    auto log_sum_exp = [&](const std::vector<float>& l) {
        double mx = -INFINITY, sum = 0;
        for (size_t i = 0; i < n; ++i)
            if (allowed(i)) mx = std::max<double>(mx, l[i]);
        for (size_t i = 0; i < n; ++i)
            if (allowed(i)) sum += std::exp(static_cast<double>(l[i]) - mx);
        return mx + std::log(sum);
    };
    return std::exp(static_cast<double>(s.start_logits[s.start]) + s.end_logits[s.end] -
                    log_sum_exp(s.start_logits) - log_sum_exp(s.end_logits));
}

nlohmann::ordered_json answer_json(const Tokenizer& tok, const Encoding& e, const Span& s,
                                   std::string_view context) {
    const auto n = static_cast<int64_t>(e.size());
    const bool in_context = s.start >= 0 && s.start <= s.end && s.end < n &&
                            static_cast<int64_t>(e.sequence_ids.size()) == n && e.sequence_ids[s.start] == 1 &&
                            e.sequence_ids[s.end] == 1 && e.offsets[s.start].first <= e.offsets[s.end].second &&
                            e.offsets[s.end].second <= context.size();
    nlohmann::ordered_json j;
    if (in_context) {
        const auto b = e.offsets[s.start].first, end = e.offsets[s.end].second;
        j["answer"] = std::string(context.substr(b, end - b));
    } else {
        std::vector<std::string> pieces;
        for (int64_t i = s.start; i <= s.end && i < n; ++i)
            if (!is_special(tok, e.ids[i])) pieces.push_back(e.tokens[i]);
        j["answer"] = detokenize(pieces);
    }
    j["score"] = json_float(s.score);
    j["probability"] = json_float(static_cast<float>(span_probability(tok, e, s)));
    j["start"] = s.start;
    j["end"] = s.end;
    return j;
}

std::vector<Encoding> qa_windows(const Tokenizer& tok, std::string_view question,
                                 std::string_view context, size_t max_length, size_t doc_stride) {
    Encoding whole = tok.encode(question, context, std::numeric_limits<size_t>::max());
    if (whole.size() <= max_length) return {std::move(whole)};
    // The question and the template's special tokens: every token of `whole` not from the context.
    const size_t used = static_cast<size_t>(std::count_if(
        whole.sequence_ids.begin(), whole.sequence_ids.end(), [](int8_t s) { return s != 1; }));
    if (used + 1 >= max_length)  // no room for the context: longest-first, as before windows
        return {tok.encode(question, context, max_length)};
    const size_t window = max_length - used;
    if (doc_stride == 0) doc_stride = std::min<size_t>({128, max_length / 2, window / 2});
    return tok.encode_windows(question, context, max_length, doc_stride);
}

nlohmann::ordered_json best_answer_json(const Tokenizer& tok, const std::vector<Encoding>& windows,
                                        const std::vector<Span>& spans, std::string_view context) {
    if (windows.empty() || spans.size() != windows.size())
        throw Error("best_answer_json: expected one span per window");
    // Windows compete on the span's probability within its window, as in HF's pipeline (raw
    // logits are not comparable across windows: each has its own softmax).
    size_t best = 0;
    double best_p = span_probability(tok, windows[0], spans[0]);
    for (size_t i = 1; i < spans.size(); ++i) {
        const double p = span_probability(tok, windows[i], spans[i]);
        if (p > best_p) best = i, best_p = p;
    }
    nlohmann::ordered_json j = answer_json(tok, windows[best], spans[best], context);
    if (windows.size() > 1) {
        j["window"] = best;
        j["windows"] = windows.size();
    }
    return j;
}

}  // namespace sparq::tools
