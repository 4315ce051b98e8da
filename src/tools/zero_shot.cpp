#include "tools/zero_shot.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "sparq/error.hpp"
#include "sparq/tokenizer.hpp"
#include "tools/results.hpp"

namespace sparq::tools {

NliLabelIds zero_shot_label_ids(const ModelConfig& cfg) {
    require_sequence_classifier(
        cfg, "zero-shot needs an NLI model (a sequence classifier over (text, hypothesis) pairs)");
    std::string found;
    for (int64_t id = 0; id < cfg.num_labels; ++id) {
        std::string name = cfg.label(id);
        found += (found.empty() ? "" : ", ") + name;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (cfg.num_labels >= 2 && name.rfind("entail", 0) == 0)
            return {id, id == 0 ? cfg.num_labels - 1 : 0};
    }
    throw Error(
        "zero-shot needs an NLI model with an entailment label (a name starting with "
        "\"entail\") and at least two labels; this classifier's labels are " +
        found + " (config.json id2label)");
}

void zero_shot_check(const std::vector<std::string>& labels, std::string_view hypothesis_template) {
    if (labels.empty()) throw Error("zero-shot needs at least one candidate label");
    for (size_t l = 0; l < labels.size(); ++l)
        if (labels[l].empty())
            throw Error("candidate label " + std::to_string(l + 1) + " of " +
                        std::to_string(labels.size()) + " is empty");
    const size_t at = hypothesis_template.find("{}");
    if (at == std::string_view::npos ||
        hypothesis_template.find("{}", at + 2) != std::string_view::npos)
        throw Error("the hypothesis template \"" + std::string(hypothesis_template) +
                    "\" must hold {} exactly once, where the label goes (e.g. \"" +
                    std::string(kZeroShotTemplate) + "\")");
}

std::string zero_shot_hypothesis(std::string_view hypothesis_template, std::string_view label) {
    const size_t at = hypothesis_template.find("{}");
    if (at == std::string_view::npos) return std::string(hypothesis_template);
    std::string out(hypothesis_template.substr(0, at));
    out += label;
    out += hypothesis_template.substr(at + 2);
    return out;
}

std::vector<Encoding> zero_shot_encodings(const Tokenizer& tok,
                                          const std::vector<std::string>& texts,
                                          const std::vector<std::string>& labels,
                                          std::string_view hypothesis_template, size_t max_length) {
    std::vector<std::string> hypotheses;
    for (const std::string& label : labels)
        hypotheses.push_back(zero_shot_hypothesis(hypothesis_template, label));
    std::vector<Encoding> out;
    out.reserve(texts.size() * labels.size());
    for (size_t t = 0; t < texts.size(); ++t) {
        for (const std::string& h : hypotheses) {
            try {
                out.push_back(
                    tok.encode(texts[t], std::string_view(h), max_length, Truncation::only_first));
            } catch (const Error& e) {
                throw Error("text " + std::to_string(t + 1) + " with the hypothesis \"" + h +
                            "\": " + e.what());
            }
        }
    }
    return out;
}

std::vector<float> zero_shot_scores(const NliLabelIds& ids, std::span<const Classification> pairs,
                                    bool multi_label) {
    auto logit = [](const Classification& c, int64_t id) {
        return static_cast<double>(c.logits.at(static_cast<size_t>(id)));
    };
    std::vector<float> scores;
    if (multi_label || pairs.size() == 1) {
        // softmax([contradiction, entailment])[1] = 1 / (1 + e^(contradiction - entailment))
        for (const Classification& c : pairs)
            scores.push_back(static_cast<float>(
                1.0 / (1.0 + std::exp(logit(c, ids.contradiction) - logit(c, ids.entailment)))));
        return scores;
    }
    double top = -std::numeric_limits<double>::infinity(), sum = 0;
    for (const Classification& c : pairs) top = std::max(top, logit(c, ids.entailment));
    std::vector<double> e;
    for (const Classification& c : pairs)
        sum += e.emplace_back(std::exp(logit(c, ids.entailment) - top));
    for (double v : e) scores.push_back(static_cast<float>(v / sum));
    return scores;
}

nlohmann::ordered_json zero_shot_json(const std::vector<std::string>& labels,
                                      const std::vector<float>& scores,
                                      const std::string* sequence) {
    std::vector<size_t> order(scores.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    nlohmann::ordered_json j, sorted_labels = nlohmann::ordered_json::array(),
                              sorted_scores = nlohmann::ordered_json::array();
    for (size_t i : order) {
        sorted_labels.push_back(labels.at(i));
        sorted_scores.push_back(json_float(scores[i]));
    }
    if (sequence) j["sequence"] = *sequence;
    j["labels"] = std::move(sorted_labels);
    j["scores"] = std::move(sorted_scores);
    return j;
}

std::vector<nlohmann::ordered_json> zero_shot_results(const NliLabelIds& ids,
                                                      const std::vector<std::string>& texts,
                                                      const std::vector<std::string>& labels,
                                                      const std::vector<Classification>& classes,
                                                      bool multi_label) {
    if (classes.size() != texts.size() * labels.size())
        throw Error("zero-shot: " + std::to_string(classes.size()) + " classifications for " +
                    std::to_string(texts.size()) + " texts x " + std::to_string(labels.size()) +
                    " labels");
    std::vector<nlohmann::ordered_json> out;
    const std::span<const Classification> all(classes);
    for (size_t t = 0; t < texts.size(); ++t) {
        const auto scores =
            zero_shot_scores(ids, all.subspan(t * labels.size(), labels.size()), multi_label);
        out.push_back(zero_shot_json(labels, scores, &texts[t]));
    }
    return out;
}

}  // namespace sparq::tools
