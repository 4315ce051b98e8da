#include "tools/multiple_choice.hpp"

#include <algorithm>

#include "sparq/error.hpp"
#include "tools/results.hpp"

namespace sparq::tools {

void multiple_choice_check(const ModelConfig& cfg, size_t choices) {
    if (cfg.task != Task::multiple_choice)
        throw Error("multiple choice needs a ...ForMultipleChoice model; this model's task is " +
                    task_name(cfg.task));
    if (choices < 2)
        throw Error("multiple choice needs at least 2 choices, found " + std::to_string(choices));
}

std::vector<Encoding> choice_encodings(const Tokenizer& tok,
                                       const std::optional<std::string>& prompt,
                                       const std::vector<std::string>& choices, size_t max_length) {
    if (!prompt) return tok.encode_batch(choices, {}, max_length);
    return tok.encode_batch(std::vector<std::string>(choices.size(), *prompt), choices, max_length);
}

nlohmann::ordered_json choice_json(const std::vector<std::string>& choices,
                                   const std::vector<float>& logits) {
    if (logits.size() != choices.size() || choices.empty())
        throw Error("multiple choice: " + std::to_string(logits.size()) + " logits for " +
                    std::to_string(choices.size()) + " choices");
    const std::vector<float> p = choice_probabilities(logits);
    // The first of equal logits wins, as argmax does.
    const size_t best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    nlohmann::ordered_json j;
    j["choice"] = choices[best];
    j["index"] = best;
    j["score"] = json_float(p[best]);
    j["scores"] = json_floats(p.data(), static_cast<int64_t>(p.size()));
    j["logits"] = json_floats(logits.data(), static_cast<int64_t>(logits.size()));
    return j;
}

}  // namespace sparq::tools
