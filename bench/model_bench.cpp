// End-to-end BERT-base on real pruned checkpoints: dense plan vs auto plan (sparse kernels where
// the planner picks them), interleaved call by call so both see the same machine load. Models are
// read from $SPARQ_BENCH_MODELS (default /tmp/peers-work/models)/unstructured-s{0,0.8,0.9,0.95};
// a missing directory skips its benchmarks. Args: {sparsity %, batch, seq, threads}. Reports
// per-forward ms of both plans (process CPU time with 1 thread, robust to a loaded machine; wall
// time with more, where CPU time would count work, not latency),
// their ratio, the ratio over the linear layers only, and the auto plan's stages; also the auto
// plan with the sparse FFN chain off (unchained_ms, u_ffn).
// BM_variants_ab: two sparse variants (SPARQ_AB="A,B") on one model, interleaved.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "core/threading.hpp"
#include "model/encoder.hpp"
#include "model/model.hpp"

namespace {

using namespace sparq;

std::string model_dir(int64_t pct) {
    const char* env = std::getenv("SPARQ_BENCH_MODELS");
    std::string root = env ? env : "/tmp/peers-work/models";
    std::string s = pct == 0        ? "0"
                    : pct % 10 == 0 ? "0." + std::to_string(pct / 10)
                                    : "0." + std::to_string(pct);
    return root + "/unstructured-s" + s;
}

struct Pair {
    int64_t pct = -1;
    std::unique_ptr<Model> dense, sparse, unchained;
};

Pair& pair_for(int64_t pct) {
    static Pair p;
    if (p.pct != pct) {
        p = {};
        LoadOptions d, a;
        d.kernels = "dense";
        a.kernels = "auto";
        p.dense = Model::load(model_dir(pct), d);
        p.sparse = Model::load(model_dir(pct), a);
        p.unchained = Model::load(model_dir(pct), a);
        encoder_of(*p.unchained)->set_chain_ffn(false);
        p.pct = pct;
    }
    return p;
}

// `batch` sequences of `seq` token ids ([CLS] random ids [SEP]), the same on every call.
PackedBatch random_batch(int64_t batch, int64_t seq) {
    PackedBatch b;
    b.offsets.push_back(0);
    uint64_t s = 7;
    for (int64_t i = 0; i < batch; ++i) {
        for (int64_t t = 0; t < seq; ++t) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            b.input_ids.push_back(t == 0 ? 101 : t == seq - 1 ? 102 : 1000 + (s >> 33) % 20000);
            b.token_type_ids.push_back(0);
        }
        b.offsets.push_back(b.offsets.back() + seq);
    }
    return b;
}

// One warm-up forward each, then profiling on from zero (CPU time with cpu_clock, else wall).
template <size_t N>
void start_profiles(Encoder* (&enc)[N], const PackedBatch& b, float* dst, bool cpu_clock) {
    for (Encoder* e : enc) {
        e->forward(b, dst);
        e->reset_profile();
        e->set_profiling(true, cpu_clock);
    }
}

double linear_s(const EncoderProfile& p) { return p.qkv + p.attn_out + p.intermediate + p.output; }

void BM_model(benchmark::State& state) {
    const int64_t pct = state.range(0), batch = state.range(1), seq = state.range(2);
    if (!std::filesystem::exists(model_dir(pct) + "/model.safetensors")) {
        state.SkipWithError(("no model at " + model_dir(pct)).c_str());
        return;
    }
    Pair& p = pair_for(pct);
    set_num_threads(static_cast<int>(state.range(3)));
    Encoder* enc[3] = {encoder_of(*p.dense), encoder_of(*p.sparse), encoder_of(*p.unchained)};
    const PackedBatch b = random_batch(batch, seq);
    std::vector<float> dst(batch * seq * enc[0]->hidden());
    start_profiles(enc, b, dst.data(), /*cpu_clock=*/state.range(3) == 1);
    for (auto _ : state) {
        for (Encoder* e : enc) e->forward(b, dst.data());
        benchmark::DoNotOptimize(dst.data());
    }
    EncoderProfile pd = enc[0]->profile(), pa = enc[1]->profile(), pu = enc[2]->profile();
    for (Encoder* e : enc) e->set_profiling(false);
    const double n = static_cast<double>(pa.calls);
    auto ms = [&](double sec) { return benchmark::Counter(sec / n * 1e3); };
    state.counters["dense_ms"] = ms(pd.total());
    state.counters["auto_ms"] = ms(pa.total());
    state.counters["unchained_ms"] = ms(pu.total());
    state.counters["u_ffn"] = ms(pu.intermediate + pu.output);
    state.counters["x_model"] = benchmark::Counter(pd.total() / pa.total());
    state.counters["x_linear"] = benchmark::Counter(linear_s(pd) / linear_s(pa));
    state.counters["a_qkv"] = ms(pa.qkv);
    state.counters["a_attn"] = ms(pa.attention);
    state.counters["a_ao"] = ms(pa.attn_out);
    state.counters["a_ffn"] = ms(pa.intermediate + pa.output);
    state.counters["a_ln"] = ms(pa.layer_norm);
    state.counters["a_emb"] = ms(pa.embeddings);
    set_num_threads(0);
}

}  // namespace

BENCHMARK(BM_model)
    ->ArgNames({"pct", "b", "s", "thr"})
    ->ArgsProduct({{0, 80, 90, 95}, {1, 8}, {128}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

namespace {

// Two sparse f32 variants on one pruned model, interleaved call by call (this machine's load
// varies by +-10% between runs, more than most kernel changes): SPARQ_AB="variantA,variantB"
// (names from spmm_variants(); skipped without it). Both models use --kernels sparse. Reports the
// linear layers' ms per forward of each and B's speedup over A.
void BM_variants_ab(benchmark::State& state) {
    const int64_t pct = state.range(0), batch = state.range(1), seq = state.range(2);
    const char* ab_env = std::getenv("SPARQ_AB");
    const std::string ab = ab_env ? ab_env : "";
    if (ab.find(',') == std::string::npos) {
        state.SkipWithError("set SPARQ_AB=variantA,variantB");
        return;
    }
    if (!std::filesystem::exists(model_dir(pct) + "/model.safetensors")) {
        state.SkipWithError(("no model at " + model_dir(pct)).c_str());
        return;
    }
    static std::unique_ptr<Model> models[2];
    static std::string loaded;
    const std::string key = ab + "@" + std::to_string(pct);
    if (loaded != key) {
        const std::string names[2] = {ab.substr(0, ab.find(',')), ab.substr(ab.find(',') + 1)};
        for (int i = 0; i < 2; ++i) {
            setenv("SPARQ_SPMM_VARIANT", names[i].c_str(), 1);
            LoadOptions o;
            o.kernels = "sparse";
            models[i] = Model::load(model_dir(pct), o);
        }
        unsetenv("SPARQ_SPMM_VARIANT");
        loaded = key;
    }
    set_num_threads(static_cast<int>(state.range(3)));
    Encoder* enc[2] = {encoder_of(*models[0]), encoder_of(*models[1])};
    const PackedBatch b = random_batch(batch, seq);
    std::vector<float> dst(batch * seq * enc[0]->hidden());
    start_profiles(enc, b, dst.data(), /*cpu_clock=*/state.range(3) == 1);
    for (auto _ : state)
        for (Encoder* e : enc) e->forward(b, dst.data());
    const EncoderProfile pa = enc[0]->profile(), pb = enc[1]->profile();
    for (Encoder* e : enc) e->set_profiling(false);
    const double n = static_cast<double>(pa.calls);
    state.counters["A_linear_ms"] = linear_s(pa) / n * 1e3;
    state.counters["B_linear_ms"] = linear_s(pb) / n * 1e3;
    state.counters["B_over_A"] = linear_s(pa) / linear_s(pb);
    set_num_threads(0);
}

}  // namespace

BENCHMARK(BM_variants_ab)
    ->ArgNames({"pct", "b", "s", "thr"})
    ->ArgsProduct({{90, 95}, {1, 8}, {128}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);
