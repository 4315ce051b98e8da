// int8 user path: sparq quantize output (format, round trip, loader checks), int8 planner choices,
// calibration clipping, and quantized models' outputs against the f32 model.
#include "tools/quantize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "kernels/planner.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "model/encoder.hpp"
#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "model/weights.hpp"
#include "quant/model_quant.hpp"
#include "quant/quant.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "test_util.hpp"
#include "tools/drift.hpp"

namespace sparq {
namespace {
namespace fs = std::filesystem;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() /
               ("sparq_quant_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
        fs::remove_all(path);
    }
    ~TempDir() { fs::remove_all(path); }
    static int& counter() {
        static int n = 0;
        return n;
    }
};

fs::path fixture(const char* name) { return test::fixtures_dir() / name; }

// The drift bound. Per linear, weights are off by at most s_w/2 = max|w_row|/254 and
// activations by s_x/2 = max|x_tok|/254, i.e. a relative step of 1/254 per operand; one dot
// product's relative error is then at most ~2/254 ≈ 0.8% of sum|x||w| (worst case, all errors
// aligned; random rounding errors largely cancel). Four linears per layer, two layers, and GELU /
// attention softmax (Lipschitz ~1) stack at most 8 such terms: ~6% of the activation scale in
// the worst case. LayerNorm keeps hidden states at unit scale, so a max |diff| of 0.25 on values
// of magnitude up to ~4 and cosine >= 0.99 leave room for the worst case while still failing on
// any real bug (a wrong scale or transposed weight gives cosine near 0).
constexpr double kMaxAbs = 0.25, kMinCos = 0.99;

std::vector<std::string> texts() {
    return {"the movie was great !", "i did not like it", "who wrote the book ?",
            "the film was long but good"};
}

// texts() ten times: > 130 tokens, several 64-token tiles in one batch.
std::vector<std::string> many_texts() {
    std::vector<std::string> many;
    for (int i = 0; i < 10; ++i)
        for (const auto& s : texts()) many.push_back(s);
    return many;
}

void expect_close(const Model& a, const Model& b) {
    tools::DriftReport d = tools::compare_models(a, b, texts());
    EXPECT_GE(d.hidden.min_cosine, kMinCos);
    EXPECT_LE(d.hidden.max_abs_diff, kMaxAbs);
    EXPECT_GE(d.pooled.min_cosine, kMinCos);
    EXPECT_LE(d.logits.max_abs_diff, kMaxAbs);
    EXPECT_GT(d.hidden.max_abs_diff, 0.0);  // int8 really ran: not bit-identical to f32
}

LoadOptions int8_opts(const char* kernels) {
    LoadOptions o;
    o.precision = "int8";
    o.kernels = kernels;  // tiny matrices: forced, else the planner keeps f32 (int8 does not pay)
    return o;
}

TEST(Quantize, WritesI8WeightsWithExactScalesAndConfig) {
    TempDir t;
    tools::QuantizeResult r = tools::quantize_model(fixture("tiny_cls"), t.path, {});
    EXPECT_EQ(r.int8_tensors, 12);  // 2 layers x (q, k, v, attn out, inter, out)
    EXPECT_TRUE(fs::exists(t.path / "vocab.txt"));
    SafeTensorsFile src((fixture("tiny_cls") / "model.safetensors").string());
    SafeTensorsFile dst((t.path / "model.safetensors").string());
    int64_t checked = 0;
    for (const TensorInfo& ti : src.tensors()) {
        const TensorInfo* di = dst.find(ti.name);
        ASSERT_NE(di, nullptr) << ti.name;
        if (!is_int8_linear_weight(ti.name)) {
            EXPECT_EQ(di->dtype, ti.dtype) << ti.name;  // kept byte for byte
            auto a = src.bytes(ti), b = dst.bytes(*di);
            EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << ti.name;
            continue;
        }
        ASSERT_EQ(di->dtype, DType::i8) << ti.name;
        const TensorInfo* si = dst.find(scale_tensor_name(ti.name));
        ASSERT_NE(si, nullptr);
        std::vector<float> w = src.read_f32(ti), s = dst.read_f32(*si);
        const auto* q = reinterpret_cast<const int8_t*>(dst.bytes(*di).data());
        const int64_t out = ti.shape[0], in = ti.shape[1];
        for (int64_t o = 0; o < out; ++o) {
            float m = 0;
            for (int64_t k = 0; k < in; ++k) m = std::max(m, std::fabs(w[o * in + k]));
            ASSERT_EQ(s[o], scale_for(m)) << ti.name << " row " << o;  // bit-exact round trip
            for (int64_t k = 0; k < in; ++k) {
                ASSERT_EQ(q[o * in + k], quantize_value(w[o * in + k], inv_scale_for(m)));
                EXPECT_LE(std::fabs(q[o * in + k] * s[o] - w[o * in + k]), s[o] / 2 * 1.0001f);
            }
        }
        ++checked;
    }
    EXPECT_EQ(checked, 12);
    std::ifstream cf(t.path / "config.json");
    auto cfg = nlohmann::json::parse(cf);
    EXPECT_EQ(cfg["quantization_config"]["quant_method"], kQuantMethod);
    EXPECT_FALSE(cfg["quantization_config"].contains("activation_scales"));
}

TEST(Quantize, LoadedWeightsRequantizeToTheStoredInt8) {
    // The loader holds the stored int8 and scales as they are (no f32 copy), and hands q * scale
    // to the int8 kernels, which re-derive per-row int8 weights: they must get exactly the stored
    // q back (and the scale to within an ulp).
    TempDir t;
    tools::quantize_model(fixture("tiny_sparse"), t.path, {});
    ModelConfig cfg = ModelConfig::from_file((t.path / "config.json").string());
    BertWeights w = load_bert_weights(t.path.string(), cfg);
    EXPECT_TRUE(w.quantized);
    SafeTensorsFile dst((t.path / "model.safetensors").string());
    const TensorInfo* qi = dst.find("bert.encoder.layer.1.intermediate.dense.weight");
    ASSERT_NE(qi, nullptr);
    const auto* q = reinterpret_cast<const int8_t*>(dst.bytes(*qi).data());
    std::vector<float> s = dst.read_f32(*dst.find(scale_tensor_name(qi->name)));
    const Tensor& wt = w.layers[1].i_w;
    ASSERT_TRUE(wt.is_int8());
    EXPECT_EQ(wt.data.size(), 0u);  // no f32 copy held
    EXPECT_EQ(wt.q8, std::vector<int8_t>(q, q + qi->shape[0] * qi->shape[1]));
    EXPECT_EQ(wt.q8_scale, s);
    EXPECT_FALSE(w.layers[1].i_b.is_int8());  // biases stay f32
    AlignedBuffer<float> scratch;
    const float* f = f32_values(wt, scratch);
    for (int64_t i = 0; i < wt.numel(); ++i)
        ASSERT_EQ(f[i], static_cast<float>(q[i]) * s[i / wt.shape[1]]) << i;
    QuantizedWeights re = quantize_weights(f, wt.shape[0], wt.shape[1]);
    for (int64_t o = 0; o < re.out; ++o) {
        EXPECT_NEAR(re.scale[o], s[o], std::nextafter(s[o], 1.0f) - s[o]);
        for (int64_t k = 0; k < re.in; ++k) ASSERT_EQ(re.q[o * re.in_pad + k], q[o * re.in + k]);
    }
}

TEST(Quantize, QuantizedModelsMatchF32WithinTheQuantizationBound) {
    for (const char* name : {"tiny_cls", "tiny_sparse"}) {
        SCOPED_TRACE(name);
        TempDir t;
        tools::quantize_model(fixture(name), t.path, {});
        auto f32 = Model::load(fixture(name).string());
        for (const char* k : {"dense", "sparse"}) {
            SCOPED_TRACE(k);
            auto q = Model::load(t.path.string(), int8_opts(k));
            EXPECT_NE(q->plan_report().find("s8"), std::string::npos) << q->plan_report();
            expect_close(*f32, *q);
        }
        // On-the-fly: the f32 directory loaded with precision int8.
        expect_close(*f32, *Model::load(fixture(name).string(), int8_opts("dense")));
    }
}

// RoBERTa checkpoints name the encoder "roberta.encoder...": every linear weight is stored int8
// and the quantized model stays within the quantization bound of the f32 one (on ids).
TEST(Quantize, RobertaWeightsAreQuantized) {
    TempDir t;
    tools::quantize_model(fixture("tiny_roberta_cls"), t.path, {});
    SafeTensorsFile q((t.path / "model.safetensors").string());
    int i8 = 0;
    for (const auto& ti : q.tensors()) {
        EXPECT_EQ(ti.dtype == DType::i8, is_int8_linear_weight(ti.name)) << ti.name;
        i8 += ti.dtype == DType::i8;
    }
    EXPECT_EQ(i8, 12);  // 2 layers x (q, k, v, attention output, intermediate, output)
    EXPECT_TRUE(is_int8_linear_weight("roberta.encoder.layer.0.attention.self.query.weight"));
    auto f32 = Model::load(fixture("tiny_roberta_cls").string());
    auto s8 = Model::load(t.path.string(), int8_opts("dense"));
    PackedBatch b;
    b.offsets = {0, 9, 20};
    for (int i = 0; i < 20; ++i) {
        b.input_ids.push_back(i == 0 || i == 9 ? 0 : 5 + (i * 37) % 300);
        b.token_type_ids.push_back(0);
    }
    const auto want = f32->classify(b), got = s8->classify(b);
    for (size_t i = 0; i < want.size(); ++i)
        for (size_t l = 0; l < want[i].logits.size(); ++l)
            EXPECT_NEAR(got[i].logits[l], want[i].logits[l], kMaxAbs) << i;
}

// The sparse int8 layers of a quantized sparse model three ways, 1 and 2 threads, one and several
// token tiles: the FFN pair chained (s8_run_chain) bit-identical to the unchained encoder, both
// token-major; and the TFM layers (hidden states tile-major feature-major, forward_tfm: the same
// kernels bit for bit, only LayerNorm sums in another order) within the int8 drift bound of the
// token-major ones. All within the quantization bound of the f32 model.
TEST(Quantize, SparseInt8ChainAndTfmLayers) {
    TempDir t;
    tools::quantize_model(fixture("tiny_sparse"), t.path, {});
    auto f32 = Model::load(fixture("tiny_sparse").string());
    for (int threads : {1, 2}) {
        SCOPED_TRACE(threads);
        LoadOptions o = int8_opts("sparse");
        o.threads = threads;
        auto tfm = Model::load(t.path.string(), o);
        auto chained = Model::load(t.path.string(), o);
        auto unchained = Model::load(t.path.string(), o);
        EXPECT_NE(chained->plan_report().find("spmm_s8_1x4"), std::string::npos) << chained->plan_report();
        encoder_of(*chained)->set_tfm(false);
        encoder_of(*unchained)->set_chain_ffn(false);
        ASSERT_EQ(encoder_of(*tfm)->tfm_active(),
                  has_isa(Isa::avx512_vnni));  // int8 attention: VNNI
        EXPECT_FALSE(encoder_of(*chained)->tfm_active());
        EXPECT_FALSE(encoder_of(*unchained)->tfm_active());
        for (Model* m : {chained.get(), unchained.get()}) encoder_of(*m)->set_profiling(true);
        set_num_threads(threads);
        for (const auto& batch : {texts(), many_texts()}) {
            tools::DriftReport d = tools::compare_models(*chained, *unchained, batch);
            EXPECT_EQ(d.hidden.max_abs_diff, 0.0);
            EXPECT_EQ(d.logits.max_abs_diff, 0.0);
            d = tools::compare_models(*tfm, *chained, batch);
            EXPECT_GE(d.hidden.min_cosine, kMinCos);
            EXPECT_LE(d.hidden.max_abs_diff, kMaxAbs);
            EXPECT_LE(d.logits.max_abs_diff, kMaxAbs);
        }
        if (threads > 1) {  // one 128-token sequence: two tiles, one per thread: the team region
            std::string text;
            for (int i = 0; i < 126; ++i) text += "the ";
            auto own = Model::load(t.path.string(), o);
            encoder_of(*own)->set_tfm_team(false);
            tools::DriftReport d = tools::compare_models(*tfm, *own, {text});
            EXPECT_EQ(d.hidden.max_abs_diff, 0.0);  // the same kernels on the same tiles
            EXPECT_EQ(d.logits.max_abs_diff, 0.0);
        }
        // The chain ran: both FFNs are booked under "intermediate", none under "output".
        EXPECT_EQ(encoder_of(*chained)->profile().output, 0.0);
        EXPECT_GT(encoder_of(*unchained)->profile().output, 0.0);
        expect_close(*f32, *chained);
        expect_close(*f32, *tfm);
    }
}

TEST(Quantize, CalibratedStaticScalesAreStoredAndUsed) {
    TempDir t;
    tools::QuantizeOptions o;
    o.calibration_texts = texts();
    o.method = "max";
    tools::QuantizeResult r = tools::quantize_model(fixture("tiny_cls"), t.path, o);
    EXPECT_EQ(r.act_scales.size(), 12u);
    EXPECT_GT(r.calibration_tokens, 10);
    std::ifstream cf(t.path / "config.json");
    auto cfg = nlohmann::json::parse(cf);
    auto& s = cfg["quantization_config"]["activation_scales"];
    ASSERT_EQ(s.size(), 12u);
    EXPECT_EQ(s["encoder.layer.0.attention.self.query"], s["encoder.layer.0.attention.self.value"]);
    auto f32 = Model::load(fixture("tiny_cls").string());
    auto q = Model::load(t.path.string(), int8_opts("dense"));
    EXPECT_NE(q->plan_report().find("static act scale"), std::string::npos) << q->plan_report();
    expect_close(*f32, *q);  // calibrated on these texts: max clipping, no saturation
}

TEST(Quantize, PerTensorScalesAreOnePerMatrix) {
    TempDir t;
    tools::QuantizeOptions o;
    o.per_tensor = true;
    tools::quantize_model(fixture("tiny_cls"), t.path, o);
    SafeTensorsFile dst((t.path / "model.safetensors").string());
    const std::string w = "bert.encoder.layer.0.intermediate.dense.weight";
    std::vector<float> s = dst.read_f32(*dst.find(scale_tensor_name(w)));
    SafeTensorsFile src((fixture("tiny_cls") / "model.safetensors").string());
    std::vector<float> f = src.read_f32(*src.find(w));
    float m = 0;
    for (float x : f) m = std::max(m, std::fabs(x));
    for (float x : s) ASSERT_EQ(x, scale_for(m));
    expect_close(*Model::load(fixture("tiny_cls").string()),
                 *Model::load(t.path.string(), int8_opts("dense")));
}

TEST(Quantize, CalibrationClipping) {
    std::vector<float> v;
    for (int i = 1; i <= 1000; ++i) v.push_back(static_cast<float>(i));
    EXPECT_EQ(tools::calibrate_clip(v, "max", 0), 1000.0f);
    EXPECT_EQ(tools::calibrate_clip(v, "percentile", 50), 500.0f);
    EXPECT_EQ(tools::calibrate_clip(v, "percentile", 99.9), 999.0f);
    // mse: a lone far outlier is kept (clipping it costs more than the coarser grid) ...
    v.push_back(1e6f);
    EXPECT_EQ(tools::calibrate_clip(v, "mse", 0), 1e6f);
    // ... a mild one above a large uniform mass is clipped (finer grid for 200000 values).
    std::vector<float> u;
    for (int i = 0; i < 200000; ++i) u.push_back(static_cast<float>(i) / 200000.0f);
    u.push_back(1.2f);
    const float c = tools::calibrate_clip(u, "mse", 0);
    EXPECT_LT(c, 1.2f);
    EXPECT_GE(c, 0.9f);
    EXPECT_THROW(tools::calibrate_clip(v, "median", 0), Error);
    EXPECT_THROW(tools::calibrate_clip(v, "percentile", 0), Error);
}

std::vector<float> weights(int64_t out, int64_t in, double sparsity, bool blocks) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> w(out * in);
    for (int64_t i = 0; i < out * in; i += blocks ? 4 : 1) {
        const bool zero = u(rng) < sparsity;
        for (int64_t j = i; j < i + (blocks ? 4 : 1); ++j) w[j] = zero ? 0.0f : u(rng) - 0.5f;
    }
    return w;
}

PlannedLinear plan8(const std::vector<float>& w, int64_t out, int64_t in, const char* kernels) {
    LinearDesc d;
    d.weight = w.data();
    d.out = out;
    d.in = in;
    d.name = "w";
    PlanOptions o;
    o.precision = "int8";
    o.kernels = kernels;
    return plan_linear(d, o);
}

TEST(PlannerInt8, Choices) {
    auto dense = weights(768, 768, 0.0, false), sparse = weights(768, 3072, 0.9, true);
    PlannedLinear p = plan8(dense, 768, 768, "auto");
    EXPECT_EQ(p.kernel->name(), "dense_s8_onednn") << p.why;
    EXPECT_EQ(p.why.rfind("dense int8:", 0), 0u) << p.why;
    p = plan8(sparse, 768, 3072, "auto");
    EXPECT_NE(p.kernel->name().find("s8"), std::string::npos);
    EXPECT_NE(p.kernel->name(), "dense_s8_onednn") << p.why;
    EXPECT_EQ(p.why.rfind("sparse int8 1x4: 90.", 0), 0u) << p.why;
    EXPECT_NEAR(p.sparsity, 0.9, 0.01);
    EXPECT_EQ(plan8(sparse, 768, 3072, "dense").kernel->name(), "dense_s8_onednn");
    p = plan8(dense, 768, 768, "sparse");
    EXPECT_NE(p.kernel->name(), "dense_s8_onednn");
    EXPECT_NE(p.why.find("(forced)"), std::string::npos);
    // Tiny matrix: int8's fixed costs dominate, f32 stays.
    auto tiny = weights(32, 32, 0.0, false);
    p = plan8(tiny, 32, 32, "auto");
    EXPECT_EQ(p.kernel->name(), "dense_f32_onednn") << p.why;
    EXPECT_EQ(p.why.rfind("f32: int8 does not pay", 0), 0u) << p.why;
    // Reductions too long for int32 accumulators fall back to f32, even when forced.
    auto longrow = weights(1, 70000, 0.0, false);
    p = plan8(longrow, 1, 70000, "dense");
    EXPECT_EQ(p.kernel->name(), "dense_f32_onednn");
    EXPECT_NE(p.why.find("overflow"), std::string::npos) << p.why;
}

// Rewrites dir/model.safetensors with `edit` applied to the tensor list.
template <typename Edit>
void rewrite(const fs::path& dir, Edit edit) {
    std::vector<std::vector<std::byte>> keep;
    std::vector<TensorToWrite> ts;
    {
        SafeTensorsFile f((dir / "model.safetensors").string());
        for (const TensorInfo& ti : f.tensors()) {
            auto b = f.bytes(ti);
            keep.emplace_back(b.begin(), b.end());
            ts.push_back({ti.name, ti.dtype, ti.shape, std::span<const std::byte>(keep.back())});
        }
    }
    edit(ts, keep);
    write_safetensors((dir / "model.safetensors").string(), ts);
}

void expect_load_error(const fs::path& dir, const std::string& needle) {
    try {
        Model::load(dir.string(), int8_opts("dense"));
        ADD_FAILURE() << "loaded a bad quantized model; expected: " << needle;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(Quantize, BadQuantizedFilesThrow) {
    const std::string w = "bert.encoder.layer.0.attention.self.query.weight";
    auto fresh = [](TempDir& t) { tools::quantize_model(fixture("tiny_cls"), t.path, {}); };
    {
        TempDir t;
        fresh(t);
        rewrite(t.path, [&](auto& ts, auto&) {
            std::erase_if(ts, [&](auto& x) { return x.name == scale_tensor_name(w); });
        });
        expect_load_error(t.path, "without its per-row scale tensor");
    }
    {
        TempDir t;
        fresh(t);
        rewrite(t.path, [&](auto& ts, auto&) {
            for (auto& x : ts)
                if (x.name == scale_tensor_name(w)) x.shape = {16}, x.data = x.data.first(64);
        });
        expect_load_error(t.path, "expected F32 [32]");
    }
    {
        TempDir t;
        fresh(t);
        rewrite(t.path, [&](auto& ts, auto& keep) {
            for (size_t i = 0; i < ts.size(); ++i)
                if (ts[i].name == w) keep[i][5] = std::byte{0x80};
        });
        expect_load_error(t.path, "value -128");
    }
    {
        TempDir t;
        fresh(t);
        rewrite(t.path, [&](auto& ts, auto& keep) {
            for (size_t i = 0; i < ts.size(); ++i)
                if (ts[i].name == scale_tensor_name(w)) {
                    float z = -1.0f;
                    std::memcpy(keep[i].data(), &z, 4);
                }
        });
        expect_load_error(t.path, "expected positive finite scales");
    }
    {  // int8 weights but the config lost its quantization_config
        TempDir t;
        fresh(t);
        fs::copy_file(fixture("tiny_cls") / "config.json", t.path / "config.json",
                      fs::copy_options::overwrite_existing);
        expect_load_error(t.path, "need a quantization_config");
    }
    {  // quantization_config on f32 weights
        TempDir t;
        fresh(t);
        fs::copy_file(fixture("tiny_cls") / "model.safetensors", t.path / "model.safetensors",
                      fs::copy_options::overwrite_existing);
        expect_load_error(t.path, "expected I8");
    }
    {  // bad config entries
        TempDir t;
        fresh(t);
        std::ifstream in(t.path / "config.json");
        auto cfg = nlohmann::json::parse(in);
        in.close();
        auto bad = cfg;
        bad["quantization_config"]["quant_method"] = "gptq";
        std::ofstream(t.path / "config.json") << bad.dump();
        expect_load_error(t.path, "quant_method");
        bad = cfg;
        bad["quantization_config"]["activation_scales"] = {{"encoder.layer.0.output.dense", -1.0}};
        std::ofstream(t.path / "config.json") << bad.dump();
        expect_load_error(t.path, "positive finite scale");
        bad = cfg;
        bad["quantization_config"]["activation_scales"] = {
            {"encoder.layer.0.attention.self.query", 0.1}};
        std::ofstream(t.path / "config.json") << bad.dump();
        expect_load_error(t.path, "expected query, key and value");
    }
    {  // quantizing twice, or into the source
        TempDir t, u;
        fresh(t);
        EXPECT_THROW(tools::quantize_model(t.path, u.path, {}), Error);
        EXPECT_THROW(tools::quantize_model(fixture("tiny_cls"), t.path, {}), Error);
    }
}

}  // namespace
}  // namespace sparq
