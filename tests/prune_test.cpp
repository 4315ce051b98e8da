// sparq prune: exact per-matrix / global sparsity, block structure, magnitude order, untouched
// bytes, overrides and the output directory contract.
#include "tools/prune.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "test_util.hpp"
#include "tools/matrix_stats.hpp"

namespace fs = std::filesystem;
using namespace sparq::tools;

namespace {

struct SrcTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;
};

uint16_t to_half(float f) {  // round-to-nearest for normal values, enough for test data
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = int32_t((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (exp <= 0) return uint16_t(sign);
    return uint16_t(sign | (uint32_t(exp) << 10) | ((mant + 0x1000) >> 13));
}

// Minimal safetensors writer (F32 or F16) for synthetic models.
std::vector<uint8_t> make_safetensors(const std::vector<SrcTensor>& ts,
                                      const std::string& dtype = "F32") {
    nlohmann::json h;
    h["__metadata__"] = {{"format", "pt"}};
    std::vector<uint8_t> data;
    for (auto& t : ts) {
        size_t begin = data.size();
        for (float v : t.values) {
            if (dtype == "F32") {
                uint8_t b[4];
                std::memcpy(b, &v, 4);
                data.insert(data.end(), b, b + 4);
            } else {
                uint16_t hv = to_half(v);
                uint8_t b[2];
                std::memcpy(b, &hv, 2);
                data.insert(data.end(), b, b + 2);
            }
        }
        h[t.name] = {{"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
    }
    std::string hs = h.dump();
    while (hs.size() % 8) hs += ' ';
    std::vector<uint8_t> out(8);
    uint64_t n = hs.size();
    std::memcpy(out.data(), &n, 8);
    out.insert(out.end(), hs.begin(), hs.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

StFile parse(const std::vector<uint8_t>& bytes, const fs::path& tmp) {
    {
        std::ofstream f(tmp, std::ios::binary);
        f.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    return StFile::read(tmp.string());
}

std::vector<float> randn(size_t n, float scale, std::mt19937& rng) {
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// A tiny BERT: hidden 16, intermediate 32, `layers` layers; layer l's encoder weights scaled by
// scales[l] (global pruning must then prune small-scale layers harder).
std::vector<SrcTensor> tiny_bert(int layers, std::vector<float> scales, uint32_t seed = 7) {
    std::mt19937 rng(seed);
    const int64_t H = 16, I = 32;
    std::vector<SrcTensor> ts;
    auto add = [&](std::string name, std::vector<int64_t> shape, float scale) {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        ts.push_back({std::move(name), shape, randn(n, scale, rng)});
    };
    add("bert.embeddings.word_embeddings.weight", {40, H}, 1);
    add("bert.embeddings.position_embeddings.weight", {24, H}, 1);
    add("bert.embeddings.token_type_embeddings.weight", {2, H}, 1);
    add("bert.embeddings.LayerNorm.weight", {H}, 1);
    add("bert.embeddings.LayerNorm.bias", {H}, 1);
    for (int l = 0; l < layers; ++l) {
        std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
        float s = scales[l];
        for (auto q : {"attention.self.query", "attention.self.key", "attention.self.value",
                       "attention.output.dense"}) {
            add(p + q + ".weight", {H, H}, s);
            add(p + q + ".bias", {H}, s);
        }
        add(p + "attention.output.LayerNorm.weight", {H}, 1);
        add(p + "attention.output.LayerNorm.bias", {H}, 1);
        add(p + "intermediate.dense.weight", {I, H}, s);
        add(p + "intermediate.dense.bias", {I}, s);
        add(p + "output.dense.weight", {H, I}, s);
        add(p + "output.dense.bias", {H}, s);
        add(p + "output.LayerNorm.weight", {H}, 1);
        add(p + "output.LayerNorm.bias", {H}, 1);
    }
    add("bert.pooler.dense.weight", {H, H}, 1);
    add("bert.pooler.dense.bias", {H}, 1);
    add("classifier.weight", {3, H}, 1);
    add("classifier.bias", {3}, 1);
    return ts;
}

class PruneTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir = fs::temp_directory_path() /
              ("sparq_prune_test_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    fs::path dir;
};

const std::map<std::string, std::vector<float>> values_of(const StFile& f) {
    std::map<std::string, std::vector<float>> m;
    for (auto& e : f.tensors)
        if (e.is_float()) m[e.name] = f.to_f32(e);
    return m;
}

// Checks that every kept unit's score >= every pruned unit's score (scores on the original).
void expect_magnitude_order(const std::vector<float>& scores, const std::vector<bool>& pruned) {
    float max_pruned = -1, min_kept = INFINITY;
    for (size_t i = 0; i < scores.size(); ++i) {
        if (pruned[i])
            max_pruned = std::max(max_pruned, scores[i]);
        else
            min_kept = std::min(min_kept, scores[i]);
    }
    EXPECT_LE(max_pruned, min_kept);
}

}  // namespace

TEST(PruneUnits, SmallestUnitsExactCountAndTies) {
    std::vector<float> s = {3, 1, 2, 1, 0, 5, 1};
    auto keep = smallest_units(s, 3);  // 0, then two of the three 1s, lower index first
    EXPECT_EQ(keep, (std::vector<uint8_t>{1, 0, 1, 0, 0, 1, 1}));
    EXPECT_EQ(smallest_units(s, 0), std::vector<uint8_t>(7, 1));
    EXPECT_EQ(smallest_units(s, 7), std::vector<uint8_t>(7, 0));
    EXPECT_EQ(smallest_units(s, 100), std::vector<uint8_t>(7, 0));
}

TEST(PruneUnits, ParseOptions) {
    EXPECT_EQ(parse_prune_pattern("1x4"), PrunePattern::block_1x4);
    EXPECT_EQ(parse_prune_pattern("4x1"), PrunePattern::block_4x1);
    EXPECT_EQ(parse_prune_scope("global"), PruneScope::global);
    EXPECT_THROW(parse_prune_pattern("2x2"), sparq::Error);
    EXPECT_THROW(parse_prune_scope("layer"), sparq::Error);
}

TEST_F(PruneTest, PerMatrixUnstructuredExactAndLargestKept) {
    auto src = tiny_bert(2, {1.0f, 1.0f});
    auto bytes = make_safetensors(src);
    StFile f = parse(bytes, dir / "m.safetensors");
    auto orig = values_of(f);
    PruneOptions o;
    o.sparsity = 0.7;
    PruneReport rep = prune_tensors(f, o);
    ASSERT_EQ(rep.matrices.size(), 12u);
    auto now = values_of(f);
    for (auto& m : rep.matrices) {
        ASSERT_TRUE(is_encoder_linear_weight(m.name)) << m.name;
        const auto& w0 = orig[m.name];
        const auto& w1 = now[m.name];
        int64_t n = w0.size(), zeros = 0;
        std::vector<float> scores(n);
        std::vector<bool> pruned(n);
        for (int64_t i = 0; i < n; ++i) {
            scores[i] = std::fabs(w0[i]);
            pruned[i] = (w1[i] == 0.0f);
            zeros += pruned[i];
            if (!pruned[i]) EXPECT_EQ(w1[i], w0[i]);
        }
        EXPECT_EQ(zeros, std::llround(0.7 * n)) << m.name;
        EXPECT_EQ(m.zeros_after, zeros);
        EXPECT_NEAR(m.after, double(zeros) / n, 1e-12);
        expect_magnitude_order(scores, pruned);
    }
}

TEST_F(PruneTest, UntouchedTensorsAndHeaderAreByteIdentical) {
    auto bytes = make_safetensors(tiny_bert(2, {1.0f, 1.0f}));
    StFile f = parse(bytes, dir / "m.safetensors");
    StFile orig = parse(bytes, dir / "m2.safetensors");
    PruneOptions o;
    o.sparsity = 0.9;
    prune_tensors(f, o);
    ASSERT_EQ(f.bytes.size(), orig.bytes.size());
    EXPECT_TRUE(std::equal(f.bytes.begin(), f.bytes.begin() + f.data_offset, orig.bytes.begin()));
    int untouched = 0;
    for (auto& e : f.tensors) {
        bool same = std::memcmp(f.data(e), orig.data(e), e.end - e.begin) == 0;
        if (is_encoder_linear_weight(e.name)) {
            EXPECT_FALSE(same) << e.name;
        } else {
            EXPECT_TRUE(same) << e.name;
            ++untouched;
        }
    }
    EXPECT_EQ(untouched, 5 + 2 * 10 + 4);
}

TEST_F(PruneTest, Blocks1x4AllZeroOrUntouched) {
    auto bytes = make_safetensors(tiny_bert(1, {1.0f}));
    StFile f = parse(bytes, dir / "m.safetensors");
    auto orig = values_of(f);
    PruneOptions o;
    o.sparsity = 0.6;
    o.pattern = PrunePattern::block_1x4;
    PruneReport rep = prune_tensors(f, o);
    auto now = values_of(f);
    for (auto& m : rep.matrices) {
        const auto& w0 = orig[m.name];
        const auto& w1 = now[m.name];
        int64_t nb = m.rows * m.cols / 4, zero_blocks = 0;
        std::vector<float> scores = unit_scores(w0.data(), m.rows, m.cols, PrunePattern::block_1x4);
        std::vector<bool> pruned(nb);
        for (int64_t r = 0; r < m.rows; ++r)
            for (int64_t b = 0; b < m.cols / 4; ++b) {
                int64_t base = r * m.cols + 4 * b;
                bool all_zero = true, untouched = true;
                for (int j = 0; j < 4; ++j) {
                    all_zero &= (w1[base + j] == 0.0f);
                    untouched &= (w1[base + j] == w0[base + j]);
                }
                EXPECT_TRUE(all_zero || untouched) << m.name << " row " << r << " block " << b;
                pruned[r * (m.cols / 4) + b] = all_zero;
                zero_blocks += all_zero;
            }
        EXPECT_EQ(zero_blocks, std::llround(0.6 * nb)) << m.name;
        MatrixStats st = matrix_stats(w1.data(), m.rows, m.cols);
        EXPECT_EQ(st.zero_blocks_1x4, zero_blocks);
        EXPECT_EQ(st.zeros, 4 * zero_blocks);
        expect_magnitude_order(scores, pruned);
    }
}

TEST_F(PruneTest, Blocks4x1AllZeroOrUntouched) {
    auto bytes = make_safetensors(tiny_bert(1, {1.0f}));
    StFile f = parse(bytes, dir / "m.safetensors");
    auto orig = values_of(f);
    PruneOptions o;
    o.sparsity = 0.5;
    o.pattern = PrunePattern::block_4x1;
    PruneReport rep = prune_tensors(f, o);
    auto now = values_of(f);
    for (auto& m : rep.matrices) {
        const auto& w0 = orig[m.name];
        const auto& w1 = now[m.name];
        int64_t nb = m.rows / 4 * m.cols, zero_blocks = 0;
        std::vector<float> scores = unit_scores(w0.data(), m.rows, m.cols, PrunePattern::block_4x1);
        std::vector<bool> pruned(nb);
        for (int64_t b = 0; b < m.rows / 4; ++b)
            for (int64_t c = 0; c < m.cols; ++c) {
                bool all_zero = true, untouched = true;
                for (int j = 0; j < 4; ++j) {
                    int64_t i = (4 * b + j) * m.cols + c;
                    all_zero &= (w1[i] == 0.0f);
                    untouched &= (w1[i] == w0[i]);
                }
                EXPECT_TRUE(all_zero || untouched);
                pruned[b * m.cols + c] = all_zero;
                zero_blocks += all_zero;
            }
        EXPECT_EQ(zero_blocks, std::llround(0.5 * nb)) << m.name;
        EXPECT_EQ(matrix_stats(w1.data(), m.rows, m.cols).zero_blocks_4x1, zero_blocks);
        expect_magnitude_order(scores, pruned);
    }
}

TEST_F(PruneTest, GlobalRanksAllMatricesTogether) {
    // Layer 0 weights are 10x smaller than layer 1's: global pruning takes far more of layer 0.
    auto bytes = make_safetensors(tiny_bert(2, {0.1f, 1.0f}));
    StFile g = parse(bytes, dir / "g.safetensors");
    StFile p = parse(bytes, dir / "p.safetensors");
    auto orig = values_of(g);
    PruneOptions o;
    o.sparsity = 0.5;
    o.scope = PruneScope::global;
    PruneReport rg = prune_tensors(g, o);
    o.scope = PruneScope::per_matrix;
    PruneReport rp = prune_tensors(p, o);
    EXPECT_EQ(rg.total, rp.total);
    EXPECT_EQ(rg.zeros_after, std::llround(0.5 * rg.total));
    auto now = values_of(g);
    std::vector<float> scores;
    std::vector<bool> pruned;
    double s0 = 0, s1 = 0;
    for (auto& m : rg.matrices) {
        EXPECT_TRUE(m.global);
        const auto& w0 = orig[m.name];
        const auto& w1 = now[m.name];
        for (size_t i = 0; i < w0.size(); ++i) {
            scores.push_back(std::fabs(w0[i]));
            pruned.push_back(w1[i] == 0.0f);
        }
        (m.name.find("layer.0.") != std::string::npos ? s0 : s1) += m.after;
    }
    expect_magnitude_order(scores, pruned);
    EXPECT_GT(s0 / 6, 0.8);  // both layers hold half the weights: s0 + s1 = 1
    EXPECT_LT(s1 / 6, 0.2);
    for (auto& m : rp.matrices) EXPECT_NEAR(m.after, 0.5, 1.0 / (m.rows * m.cols));
}

TEST_F(PruneTest, OverridesSetPerMatrixSparsity) {
    auto bytes = make_safetensors(tiny_bert(2, {1.0f, 1.0f}));
    StFile f = parse(bytes, dir / "m.safetensors");
    PruneOptions o;
    o.sparsity = 0.8;
    o.overrides = {{R"(layer\.1\..*intermediate)", 0.25}, {R"(layer\.1\.)", 0.5}};
    PruneReport rep = prune_tensors(f, o);
    for (auto& m : rep.matrices) {
        double want = m.name.find("layer.1.intermediate") != std::string::npos ? 0.25
                      : m.name.find("layer.1.") != std::string::npos           ? 0.5
                                                                               : 0.8;
        EXPECT_EQ(m.zeros_after, std::llround(want * m.rows * m.cols)) << m.name;
        EXPECT_EQ(m.target, want);
    }
    StFile f2 = parse(bytes, dir / "m2.safetensors");
    o.overrides = {{"no_such_tensor", 0.1}};
    EXPECT_THROW(prune_tensors(f2, o), sparq::Error);
    o.overrides = {{"([", 0.1}};
    EXPECT_THROW(prune_tensors(f2, o), sparq::Error);
}

TEST_F(PruneTest, EmbeddingsAndHeadsOnlyWhenAsked) {
    auto bytes = make_safetensors(tiny_bert(1, {1.0f}));
    StFile f = parse(bytes, dir / "m.safetensors");
    PruneOptions o;
    o.sparsity = 0.5;
    o.include_embeddings = true;
    o.include_heads = true;
    PruneReport rep = prune_tensors(f, o);
    std::vector<std::string> names;
    for (auto& m : rep.matrices) names.push_back(m.name);
    EXPECT_EQ(rep.matrices.size(), 6u + 3u + 2u);
    for (auto n : {"bert.embeddings.word_embeddings.weight", "bert.pooler.dense.weight",
                   "classifier.weight"})
        EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
    for (auto& m : rep.matrices)
        EXPECT_EQ(m.zeros_after, std::llround(0.5 * m.rows * m.cols)) << m.name;
}

TEST_F(PruneTest, F16KeepsDtypeAndPrunes) {
    auto bytes = make_safetensors(tiny_bert(1, {1.0f}), "F16");
    StFile f = parse(bytes, dir / "m.safetensors");
    StFile orig = parse(bytes, dir / "m2.safetensors");
    PruneOptions o;
    o.sparsity = 0.75;
    PruneReport rep = prune_tensors(f, o);
    for (auto& m : rep.matrices) {
        EXPECT_EQ(m.dtype, "F16");
        EXPECT_EQ(m.zeros_after, std::llround(0.75 * m.rows * m.cols));
    }
    auto* e = f.find("bert.encoder.layer.0.attention.self.query.weight");
    ASSERT_NE(e, nullptr);
    auto w0 = orig.to_f32(*e), w1 = f.to_f32(*e);
    for (size_t i = 0; i < w0.size(); ++i) EXPECT_TRUE(w1[i] == 0.0f || w1[i] == w0[i]);
}

TEST_F(PruneTest, RejectsShapesThatBlocksDoNotTile) {
    std::mt19937 rng(1);
    std::vector<SrcTensor> ts = {
        {"encoder.layer.0.intermediate.dense.weight", {6, 10}, randn(60, 1, rng)}};
    StFile f = parse(make_safetensors(ts), dir / "m.safetensors");
    PruneOptions o;
    o.sparsity = 0.5;
    o.pattern = PrunePattern::block_1x4;
    EXPECT_THROW(prune_tensors(f, o), sparq::Error);
    o.pattern = PrunePattern::block_4x1;
    EXPECT_THROW(prune_tensors(f, o), sparq::Error);
    o.pattern = PrunePattern::unstructured;
    PruneReport rep = prune_tensors(f, o);
    EXPECT_EQ(rep.zeros_after, 30);
    o.sparsity = 1.5;
    EXPECT_THROW(prune_tensors(f, o), sparq::Error);
}

TEST_F(PruneTest, ModelDirContract) {
    fs::path model = dir / "model", out = dir / "out";
    fs::create_directories(model);
    auto bytes = make_safetensors(tiny_bert(1, {1.0f}));
    {
        std::ofstream(model / "model.safetensors", std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        // A config the weights do not match first: refused before anything is written.
        std::ofstream(model / "config.json") << R"({"model_type":"bert"})";
        std::ofstream(model / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n";
        std::ofstream(model / "model.onnx") << "stale";
    }
    PruneOptions o;
    o.sparsity = 0.5;
    EXPECT_THROW(prune_model_dir(model.string(), out.string(), o), sparq::Error);
    EXPECT_FALSE(fs::exists(out));
    std::ofstream(model / "config.json")
        << R"({"model_type":"bert","architectures":["BertModel"],"vocab_size":40,)"
           R"("hidden_size":16,"num_hidden_layers":1,"num_attention_heads":2,)"
           R"("intermediate_size":32,"max_position_embeddings":24,"type_vocab_size":2})";
    EXPECT_THROW(prune_model_dir(model.string(), model.string(), o), sparq::Error);
    EXPECT_THROW(prune_model_dir((dir / "missing").string(), out.string(), o), sparq::Error);
    PruneReport rep = prune_model_dir(model.string(), out.string(), o);
    EXPECT_EQ(rep.matrices.size(), 6u);
    EXPECT_TRUE(fs::exists(out / "config.json"));
    EXPECT_TRUE(fs::exists(out / "vocab.txt"));
    EXPECT_FALSE(fs::exists(out / "model.onnx"));
    EXPECT_EQ(fs::file_size(out / "model.safetensors"), bytes.size());
    StFile back = StFile::read((out / "model.safetensors").string());
    auto* e = back.find("bert.encoder.layer.0.output.dense.weight");
    ASSERT_NE(e, nullptr);
    auto w = back.to_f32(*e);
    EXPECT_EQ(std::count(w.begin(), w.end(), 0.0f), 256);
    // Non-empty output refused without force.
    EXPECT_THROW(prune_model_dir(model.string(), out.string(), o), sparq::Error);
    o.force = true;
    EXPECT_NO_THROW(prune_model_dir(model.string(), out.string(), o));
}

// The fixture generator (tools/make_fixtures.py) pruned tiny_cls to 90% per matrix in PyTorch;
// sparq prune must produce the same tensors, and the output must load as a model.
TEST_F(PruneTest, MatchesIndependentFixtureAndLoads) {
    const fs::path fix = sparq::test::fixtures_dir();
    const fs::path out = dir / "p90";
    PruneOptions o;
    o.sparsity = 0.9;
    PruneReport rep = prune_model_dir((fix / "tiny_cls").string(), out.string(), o);
    EXPECT_EQ(rep.matrices.size(), 12u);
    StFile got = StFile::read((out / "model.safetensors").string());
    StFile want = StFile::read((fix / "tiny_sparse" / "model.safetensors").string());
    ASSERT_EQ(got.tensors.size(), want.tensors.size());
    for (const auto& e : want.tensors) {
        const StEntry* g = got.find(e.name);
        ASSERT_NE(g, nullptr) << e.name;
        ASSERT_EQ(g->end - g->begin, e.end - e.begin);
        EXPECT_EQ(std::memcmp(got.data(*g), want.data(e), e.end - e.begin), 0) << e.name;
    }
    auto model = sparq::Model::load(out.string());
    EXPECT_EQ(model->config().task, sparq::Task::sequence_classification);
    EXPECT_NE(model->tokenizer(), nullptr);
    auto enc = model->tokenizer()->encode("the movie was great !");
    auto cls = model->classify(sparq::PackedBatch::from({enc}));
    ASSERT_EQ(cls.size(), 1u);
    EXPECT_EQ(cls[0].scores.size(), 2u);
}
