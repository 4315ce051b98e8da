// sparq quantize MODEL OUT [--calibrate FILE --method percentile|mse|max --percentile P]
//                [--per-tensor] [--json]
#include <cstdio>
#include <memory>

#include "common.hpp"
#include "tools/drift.hpp"
#include "tools/quantize.hpp"

namespace sparq::cli {

namespace {
constexpr int64_t kRandomDriftTokens = 64;  // tokens per random sequence of the drift report

struct QuantizeArgs {
    std::string model, out, calibrate, method = "percentile";
    double percentile = 99.99;
    bool per_tensor = false, json = false;
    int threads = 0;
};

void run_quantize(const QuantizeArgs& a) {
    require_model_dir(a.model);
    setup_threads(a.threads);
    tools::QuantizeOptions o;
    o.method = a.method;
    o.percentile = a.percentile;
    o.per_tensor = a.per_tensor;
    if (!a.calibrate.empty()) {
        o.calibration_texts = read_texts({}, a.calibrate);
        if (o.calibration_texts.empty())
            throw UsageError("--calibrate '" + a.calibrate + "': expected at least one text line");
    }
    tools::QuantizeResult r = tools::quantize_model(a.model, a.out, o);

    // Drift of the written model against the f32 source on the calibration or sample texts
    // (on as many random token sequences when the model has no tokenizer).
    LoadOptions lo;
    lo.threads = a.threads;
    auto ref = load_model(a.model, lo);
    auto q = load_model(a.out, lo);
    const auto& texts =
        o.calibration_texts.empty() ? tools::sample_sentences() : o.calibration_texts;
    tools::DriftReport d =
        ref->tokenizer() ? tools::compare_models(*ref, *q, texts)
                         : tools::compare_models_random(*ref, *q, static_cast<int64_t>(texts.size()),
                                                        kRandomDriftTokens);
    if (a.json) {
        nlohmann::ordered_json j;
        j["out"] = a.out;
        j["int8_tensors"] = r.int8_tensors;
        j["kept_tensors"] = r.kept_tensors;
        j["activations"] = r.act_scales.empty() ? "dynamic per token" : "static per tensor";
        if (!r.act_scales.empty()) j["calibration_tokens"] = r.calibration_tokens;
        j["drift"] = tools::drift_json(d, a.model, a.out);
        print_json_line(j);
        return;
    }
    std::printf("wrote %s: %lld int8 weight matrices (+ per-row scales), %lld tensors kept as is\n",
                a.out.c_str(), static_cast<long long>(r.int8_tensors),
                static_cast<long long>(r.kept_tensors));
    if (r.act_scales.empty())
        std::printf("activations: int8 dynamic per token\n");
    else
        std::printf("activations: static per-tensor scales for %zu linears (%s over %lld tokens)\n",
                    r.act_scales.size(), a.method.c_str(),
                    static_cast<long long>(r.calibration_tokens));
    std::fputs(tools::drift_text(d, "f32", "int8").c_str(), stdout);
}
}  // namespace

void add_quantize(CLI::App& app) {
    auto a = std::make_shared<QuantizeArgs>();
    auto* sub = app.add_subcommand("quantize", "Write an int8 copy of a model directory");
    sub->footer(
        "Stores the encoder linear weights as int8 (I8, symmetric per output row, scales in\n"
        "\"<name>_scale\" F32 tensors) and adds a quantization_config to config.json; embeddings,\n"
        "LayerNorm, biases and heads stay as they are. Activations are quantized per token at run\n"
        "time unless --calibrate gives texts (one per line): then static per-tensor activation\n"
        "scales are measured on the f32 model and stored. Prints the f32-vs-int8 drift after (on\n"
        "random token sequences when the model has no tokenizer).");
    sub->add_option("model", a->model, "Input model directory")->required();
    sub->add_option("out", a->out, "Output directory (created; must differ from MODEL)")
        ->required();
    sub->add_option("--calibrate", a->calibrate, "Calibration texts, one per line");
    sub->add_option("--method", a->method, "Calibration clipping: percentile | mse | max")
        ->check(CLI::IsMember({"percentile", "mse", "max"}));
    sub->add_option("--percentile", a->percentile, "Percentile of |x| for --method percentile")
        ->check(number_range(0.0, 100.0, /*lo_open=*/true));
    sub->add_flag("--per-tensor", a->per_tensor, "One weight scale per matrix instead of per row");
    sub->add_flag("--json", a->json, "One JSON object on stdout");
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_quantize(*a); });
}

}  // namespace sparq::cli
