// sparq quantize: int8 weights + per-row scales, quantization_config, optional calibration.
#include "tools/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "model/weights.hpp"
#include "quant/model_quant.hpp"
#include "quant/quant.hpp"
#include "sparq/error.hpp"
#include "tools/st_file.hpp"

namespace sparq::tools {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxSamples = size_t{1} << 22;  // |x| samples kept per linear

// Records |src| of every run() call, then forwards to the wrapped kernel.
class Observer final : public LinearKernel {
  public:
    Observer(std::unique_ptr<LinearKernel> inner, std::vector<float>* samples, std::mutex* mu)
        : inner_(std::move(inner)), samples_(samples), mu_(mu) {
        out_ = inner_->out();
        in_ = inner_->in();
    }
    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        {
            // Keeps every stride-th value seen; past kMaxSamples, halves the kept set and doubles
            // the stride, so memory stays bounded and the sample stays uniform over all calls.
            std::lock_guard<std::mutex> lock(*mu_);
            const size_t n = static_cast<size_t>(tokens * in_);
            for (size_t i = 0; i < n; ++i)
                if (seen_++ % stride_ == 0) samples_->push_back(std::fabs(src[i]));
            while (samples_->size() > kMaxSamples) {
                size_t k = 0;
                for (size_t i = 0; i < samples_->size(); i += 2) (*samples_)[k++] = (*samples_)[i];
                samples_->resize(k);
                stride_ *= 2;
            }
        }
        inner_->run(src, dst, tokens, residual);
    }
    std::string name() const override { return inner_->name(); }

  private:
    std::unique_ptr<LinearKernel> inner_;
    std::vector<float>* samples_;
    std::mutex* mu_;
    mutable size_t seen_ = 0, stride_ = 1;  // guarded by *mu_
};

// Sum of squared quantization errors of |x| values clipped at c (grid step c / 127).
double clip_error(const std::vector<float>& v, float c) {
    const float inv = inv_scale_for(c), s = scale_for(c);
    double e = 0;
    for (float x : v) {
        const float q = static_cast<float>(quantize_value(x, inv)) * s;
        e += static_cast<double>(x - q) * (x - q);
    }
    return e;
}

// Module name (no "bert.", no ".weight") -> static scale, from per-plan-name |x| samples.
std::map<std::string, float> calibrate(const std::string& dir, const QuantizeOptions& opts,
                                       int64_t& tokens) {
    ModelConfig cfg = ModelConfig::from_file((fs::path(dir) / "config.json").string());
    BertWeights w = load_bert_weights(dir, cfg);
    if (!Tokenizer::files_exist(dir))
        throw Error(dir +
                    ": calibration needs the model's tokenizer (tokenizer.json, vocab.txt or "
                    "vocab.json + merges.txt, sentencepiece.bpe.model, spm.model, spiece.model)");
    Tokenizer tok = Tokenizer::from_dir(dir);
    std::map<std::string, std::vector<float>> samples;
    std::mutex mu;
    KernelWrap wrap = [&](std::unique_ptr<LinearKernel> k, const LinearDesc& d) {
        if (d.name.rfind("encoder.layer.", 0) != 0) return k;  // heads stay f32, uncalibrated
        return std::unique_ptr<LinearKernel>(
            std::make_unique<Observer>(std::move(k), &samples[d.name], &mu));
    };
    LoadOptions lo;
    lo.kernels = "dense";
    auto model = make_bert_model(cfg, std::move(w), lo, std::nullopt, wrap);
    const size_t max_len = static_cast<size_t>(std::min<int64_t>(cfg.max_tokens(), 512));
    tokens = 0;
    for (size_t i = 0; i < opts.calibration_texts.size(); i += opts.batch) {
        std::vector<Encoding> encs;
        for (size_t k = i; k < std::min(opts.calibration_texts.size(), i + opts.batch); ++k)
            encs.push_back(tok.encode(opts.calibration_texts[k], std::nullopt, max_len));
        PackedBatch b = PackedBatch::from(encs);
        tokens += b.num_tokens();
        (void)model->encode(b);
    }
    std::map<std::string, float> by_plan;
    for (auto& [name, v] : samples) {
        if (v.empty()) continue;
        by_plan[name] = scale_for(calibrate_clip(std::move(v), opts.method, opts.percentile));
    }
    std::map<std::string, float> by_module;
    for (int64_t l = 0; l < cfg.distinct_layers(); ++l) {  // ALBERT: its shared layers
        const std::string p = "encoder.layer." + std::to_string(l) + ".";
        for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value",
                              "attention.output.dense", "intermediate.dense", "output.dense"}) {
            const std::string module = p + m;
            auto it = by_plan.find(plan_name_of_module(module));
            if (it != by_plan.end()) by_module[module] = it->second;
        }
    }
    return by_module;
}

}  // namespace

float calibrate_clip(std::vector<float> v, const std::string& method, double percentile) {
    if (method != "max" && method != "percentile" && method != "mse")
        throw Error("unknown calibration method '" + method +
                    "' (expected percentile, mse or max)");
    if (method == "percentile" && !(percentile > 0.0 && percentile <= 100.0))
        throw Error("--percentile: expected a value in (0, 100], got " +
                    std::to_string(percentile));
    if (v.empty()) return 0.0f;
    const float max = *std::max_element(v.begin(), v.end());
    if (method == "max" || max == 0.0f) return max;
    if (method == "percentile") {
        // Nearest rank: the smallest value with at least P% of the values <= it.
        const double rank = std::ceil(percentile / 100.0 * static_cast<double>(v.size()) - 1e-9);
        const size_t k = std::min(v.size() - 1, static_cast<size_t>(std::max(rank, 1.0)) - 1);
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
        return std::max(v[k], max * 1e-6f);
    }
    // mse: candidates max * (i / 128), i = 16..128; subsample for speed.
    std::vector<float> sub;
    const size_t stride = std::max<size_t>(1, v.size() / 200000);
    for (size_t i = 0; i < v.size(); i += stride) sub.push_back(v[i]);
    float best = max;
    double best_e = clip_error(sub, max);
    for (int i = 16; i < 128; ++i) {
        const float c = max * static_cast<float>(i) / 128.0f;
        const double e = clip_error(sub, c);
        if (e < best_e) best_e = e, best = c;
    }
    return best;
}

QuantizeResult quantize_model(const std::string& given_dir, const std::string& dst_dir,
                              const QuantizeOptions& opts) {
    if (!fs::is_directory(given_dir)) throw Error(given_dir + ": not a model directory");
    // A sentence-transformers directory in the older layout keeps its model in a subfolder.
    const std::string src_dir = SentenceEmbeddingConfig::model_dir(given_dir);
    const fs::path src(src_dir), dst(dst_dir);
    const fs::path cfg_path = src / "config.json";
    require_regular_file(cfg_path.string());
    std::ifstream cfg_in(cfg_path);
    if (!cfg_in) throw Error(cfg_path.string() + ": not found");
    nlohmann::ordered_json cfg = nlohmann::ordered_json::parse(cfg_in, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object())
        throw Error(cfg_path.string() + ": expected a JSON object");
    if (cfg.contains("quantization_config"))
        throw Error(src_dir + ": already quantized (config.json has a quantization_config)");
    if (fs::weakly_canonical(src) == fs::weakly_canonical(dst))
        throw Error("output directory must differ from the model directory");
    if (fs::exists(dst / "model.safetensors") || fs::exists(dst / "config.json"))
        throw Error(dst_dir + ": already holds a model (choose an empty or new directory)");
    // Any other file there could be read with the model (a stale tokenizer.json, modules.json).
    if (fs::exists(dst) && (!fs::is_directory(dst) || !fs::is_empty(dst)))
        throw Error(dst_dir + ": " +
                    (fs::is_directory(dst) ? "is not empty" : "exists and is not a directory") +
                    " (choose an empty or new directory)");
    if (opts.method != "max" && opts.method != "percentile" && opts.method != "mse")
        throw Error("unknown calibration method '" + opts.method +
                    "' (expected percentile, mse or max)");
    (void)ModelConfig::from_file(cfg_path.string());  // validates the config

    QuantizeResult r;
    QuantizationConfig qc;
    qc.present = true;
    if (!opts.calibration_texts.empty()) {
        r.act_scales = calibrate(src_dir, opts, r.calibration_tokens);
        qc.act_scales = r.act_scales;
        qc.calibration = opts.method == "percentile"
                             ? "percentile " + std::to_string(opts.percentile) + " of |x|"
                         : opts.method == "mse" ? "mse-optimal clipping"
                                                : "max |x|";
        qc.calibration += " over " + std::to_string(r.calibration_tokens) + " tokens";
    }

    SafeTensorsFile file(weights_file(src.string()));  // model.safetensors or pytorch_model.bin
    std::vector<TensorToWrite> out;
    std::vector<std::vector<int8_t>> qs;
    std::vector<std::vector<float>> scales;
    qs.reserve(file.tensors().size());
    scales.reserve(file.tensors().size());
    for (const TensorInfo& t : file.tensors()) {
        if (!is_int8_linear_weight(t.name)) {
            out.push_back({t.name, t.dtype, t.shape, file.bytes(t)});
            ++r.kept_tensors;
            continue;
        }
        if (!dtype_is_float(t.dtype) || t.shape.size() != 2)
            throw Error(file.path() + ": tensor '" + t.name +
                        "': expected a 2-D float weight, found " + dtype_name(t.dtype) + " " +
                        shape_string(t.shape));
        const int64_t rows = t.shape[0], cols = t.shape[1];
        std::vector<float> w = file.read_f32(t);
        for (float x : w)
            if (!std::isfinite(x))
                throw Error(file.path() + ": tensor '" + t.name + "' holds a non-finite value");
        std::vector<int8_t>& q = qs.emplace_back(static_cast<size_t>(rows * cols));
        std::vector<float>& s = scales.emplace_back(static_cast<size_t>(rows));
        float tensor_max = 0;
        for (float x : w) tensor_max = std::max(tensor_max, std::fabs(x));
        for (int64_t o = 0; o < rows; ++o) {
            float m = tensor_max;
            if (!opts.per_tensor) {
                m = 0;
                for (int64_t k = 0; k < cols; ++k) m = std::max(m, std::fabs(w[o * cols + k]));
            }
            s[o] = scale_for(m);
            const float inv = inv_scale_for(m);
            for (int64_t k = 0; k < cols; ++k)
                q[o * cols + k] = quantize_value(w[o * cols + k], inv);
        }
        out.push_back({t.name, DType::i8, t.shape,
                       std::as_bytes(std::span<const int8_t>(q.data(), q.size()))});
        out.push_back(f32_tensor(scale_tensor_name(t.name), {rows}, s.data()));
        ++r.int8_tensors;
    }
    if (r.int8_tensors == 0)
        throw Error(file.path() + ": no encoder linear weights found to quantize");

    fs::create_directories(dst);
    copy_model_side_files(given_dir, dst.string(), /*with_config=*/false);
    auto meta = file.metadata();
    meta.emplace("format", "pt");  // transformers' loader expects it (a .bin source has none)
    write_safetensors((dst / "model.safetensors").string(), out, meta);
    cfg["quantization_config"] = quantization_config_json(qc);
    if (opts.per_tensor)
        cfg["quantization_config"]["weights"] =
            "int8 symmetric per tensor (one scale, stored per row): I8 [out][in] + F32 "
            "<name>_scale [out]";
    std::ofstream cfg_out(dst / "config.json");
    cfg_out << cfg.dump(2) << "\n";
    if (!cfg_out) throw Error((dst / "config.json").string() + ": write failed");
    return r;
}

}  // namespace sparq::tools
