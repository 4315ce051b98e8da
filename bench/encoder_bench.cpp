// End-to-end f32 encoder on BERT-base shapes (L=12, H=768, 12 heads, I=3072) with random
// weights built in memory. Args: {batch, seq, threads, sparsity %} (0: dense kernels; 90: encoder
// linears 90% pruned, kernels chosen by the planner; label = the first matrix's kernel). Reports ms per forward (real time) and
// per-stage ms of process CPU time (all threads; robust to the shared machine for 1 thread) from
// the encoder's stage timers (qkv, attention, attn_out, ffn_in, ffn_out, ln, emb), plus GFLOP/s
// over the linear layers + attention matmuls (per real second and per CPU second).
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/threading.hpp"
#include "kernels/fused.hpp"
#include "model/attention.hpp"
#include "model/encoder.hpp"

namespace {

using namespace sparq;

constexpr int64_t kH = 768, kL = 12, kHeads = 12, kI = 3072, kVocab = 30522, kMaxPos = 512;

Tensor random_tensor(std::vector<int64_t> shape, float scale, float mean, uint64_t& state) {
    Tensor t;
    t.shape = std::move(shape);
    t.data.resize(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        float u = static_cast<float>((state >> 40) & 0xFFFFFF) / 16777216.0f;  // [0, 1)
        t.data[i] = mean + scale * (2.0f * u - 1.0f);
    }
    return t;
}

// Zeroes a random `sparsity` share of the entries (unstructured pruning, for kernel speed only).
void prune(Tensor& t, double sparsity, uint64_t& state) {
    for (int64_t i = 0; i < t.numel(); ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        if (static_cast<double>((state >> 40) & 0xFFFFFF) / 16777216.0 < sparsity) t.data[i] = 0;
    }
}

// BERT-base with random weights; sparsity_pct > 0: encoder linears pruned, kernels planned "auto"
// (sparse kernels where the planner predicts a win), else all dense.
Encoder& bert_base(int sparsity_pct) {
    static std::unique_ptr<Encoder> cache[2];
    std::unique_ptr<Encoder>& enc = cache[sparsity_pct > 0 ? 1 : 0];
    if (enc) return *enc;
    {
        ModelConfig cfg;
        cfg.vocab_size = kVocab;
        cfg.hidden_size = kH;
        cfg.num_layers = kL;
        cfg.num_heads = kHeads;
        cfg.intermediate_size = kI;
        cfg.max_position_embeddings = kMaxPos;
        uint64_t s = 42;
        BertWeights w;
        w.word_emb = random_tensor({kVocab, kH}, 0.05f, 0, s);
        w.pos_emb = random_tensor({kMaxPos, kH}, 0.05f, 0, s);
        w.type_emb = random_tensor({2, kH}, 0.05f, 0, s);
        w.emb_ln_g = random_tensor({kH}, 0.05f, 1, s);
        w.emb_ln_b = random_tensor({kH}, 0.05f, 0, s);
        w.layers.resize(kL);
        for (auto& l : w.layers) {
            for (auto* t : {&l.q_w, &l.k_w, &l.v_w, &l.ao_w})
                *t = random_tensor({kH, kH}, 0.06f, 0, s);
            for (auto* t : {&l.q_b, &l.k_b, &l.v_b, &l.ao_b, &l.o_b, &l.ln1_b, &l.ln2_b})
                *t = random_tensor({kH}, 0.05f, 0, s);
            for (auto* t : {&l.ln1_g, &l.ln2_g}) *t = random_tensor({kH}, 0.05f, 1, s);
            l.i_w = random_tensor({kI, kH}, 0.06f, 0, s);
            l.i_b = random_tensor({kI}, 0.05f, 0, s);
            l.o_w = random_tensor({kH, kI}, 0.03f, 0, s);
            if (sparsity_pct > 0)
                for (auto* t : {&l.q_w, &l.k_w, &l.v_w, &l.ao_w, &l.i_w, &l.o_w})
                    prune(*t, sparsity_pct / 100.0, s);
        }
        PlanOptions opts;
        opts.kernels = sparsity_pct > 0 ? "auto" : "dense";
        enc = std::make_unique<Encoder>(cfg, w, opts);
    }
    return *enc;
}

void BM_encoder_f32(benchmark::State& state) {
    const int64_t batch = state.range(0), seq = state.range(1);
    set_num_threads(static_cast<int>(state.range(2)));
    Encoder& enc = bert_base(static_cast<int>(state.range(3)));
    state.SetLabel(enc.plan().front().kernel);
    PackedBatch b;
    b.offsets.push_back(0);
    uint64_t s = 7;
    for (int64_t i = 0; i < batch; ++i) {
        for (int64_t p = 0; p < seq; ++p) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            b.input_ids.push_back(p == 0 ? 101 : p == seq - 1 ? 102 : 1000 + (s >> 33) % 20000);
            b.token_type_ids.push_back(p >= seq / 2 ? 1 : 0);
        }
        b.offsets.push_back(b.offsets.back() + seq);
    }
    std::vector<float> dst(batch * seq * kH);
    enc.forward(b, dst.data());  // warm-up: primitives for this token count
    enc.reset_profile();
    enc.set_profiling(true, /*cpu_clock=*/true);
    for (auto _ : state) {
        enc.forward(b, dst.data());
        benchmark::DoNotOptimize(dst.data());
    }
    enc.set_profiling(false);
    EncoderProfile p = enc.profile();
    double n = static_cast<double>(p.calls);
    auto ms = [&](double sec) { return benchmark::Counter(sec / n * 1e3); };
    state.counters["qkv_ms"] = ms(p.qkv);
    state.counters["attn_ms"] = ms(p.attention);
    state.counters["ao_ms"] = ms(p.attn_out);
    state.counters["ffn_in_ms"] = ms(p.intermediate);
    state.counters["ffn_out_ms"] = ms(p.output);
    state.counters["ln_ms"] = ms(p.layer_norm);
    state.counters["emb_ms"] = ms(p.embeddings);
    const double t = static_cast<double>(batch * seq);
    const double flops =
        kL * (2.0 * t * kH * (3 * kH + kH + 2 * kI) + 4.0 * batch * seq * seq * kH);
    state.counters["cpu_ms"] = ms(p.total());
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
    state.counters["GFLOP/cpu_s"] = benchmark::Counter(flops / (p.total() / n) / 1e9);
    set_num_threads(0);
}

}  // namespace

BENCHMARK(BM_encoder_f32)
    ->ArgNames({"b", "s", "thr", "sparsity"})
    ->Args({1, 128, 1, 0})
    ->Args({1, 128, 2, 0})
    ->Args({1, 384, 1, 0})
    ->Args({1, 384, 2, 0})
    ->Args({8, 128, 1, 0})
    ->Args({8, 128, 2, 0})
    ->Args({1, 128, 1, 90})
    ->Args({1, 384, 1, 90})
    ->Args({8, 128, 1, 90})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(1.0);

namespace {

// One attention head (seq x d = 64, rows strided as in the fused QKV output), per variant.
void BM_attention_head(benchmark::State& state) {
    const int64_t seq = state.range(0), d = 64, ld = 3 * kH;
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    const AttentionVariant& v = vs[state.range(1)];
    if (!has_isa(v.isa)) {
        state.SkipWithError("ISA not available");
        return;
    }
    std::vector<float> qkv(seq * ld), ctx(seq * kH);
    uint64_t s = 9;
    for (auto& x : qkv) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x = static_cast<float>((s >> 40) & 0xFFFF) / 32768.0f - 1.0f;
    }
    std::vector<float> scratch(std::max(attention_scratch_floats(seq, d), seq * seq));
    set_num_threads(1);  // one head runs on one thread in the encoder (softmax stays serial)
    for (auto _ : state) {
        v.fn(qkv.data(), qkv.data() + kH, qkv.data() + 2 * kH, ld, ctx.data(), kH, seq, d, 0.125f,
             scratch.data());
        benchmark::DoNotOptimize(ctx.data());
    }
    set_num_threads(0);
    state.SetLabel(v.name);
    state.counters["GFLOP/s"] = benchmark::Counter(4.0 * seq * seq * d * state.iterations() / 1e9,
                                                   benchmark::Counter::kIsRate);
}

// The softmax the attention uses (kernels/fused.hpp dispatch), on seq x seq scores.
void BM_attention_softmax(benchmark::State& state) {
    const int64_t seq = state.range(0);
    std::vector<float> x(seq * seq);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) * 0.01f;
    set_num_threads(1);
    for (auto _ : state) {
        softmax(x.data(), seq, seq, seq, 0.125f, nullptr);
        benchmark::DoNotOptimize(x.data());
    }
    set_num_threads(0);
}

}  // namespace

BENCHMARK(BM_attention_head)
    ->ArgNames({"seq", "variant"})  // variant: index in attention_variants() (ref, avx2, avx512)
    ->Args({128, 0})
    ->Args({128, 1})
    ->Args({128, 2})
    ->Args({384, 1})
    ->Args({384, 2})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_attention_softmax)->ArgName("seq")->Arg(128)->Arg(384)->Unit(benchmark::kMicrosecond);
