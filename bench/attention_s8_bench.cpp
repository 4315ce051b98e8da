// One attention head (d = 64, rows strided as in BERT-base's fused QKV output), f32 attention
// (attention_head dispatch) against int8 attention (attention_head_s8 dispatch), seq 64 / 128 /
// 384. GOP/s counts both matmuls (4·seq²·d multiply-adds as 2 ops each) per CPU second. Compare
// interleaved on the shared machine:
//   build/attention_s8_bench --benchmark_enable_random_interleaving=true --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "core/buffer.hpp"
#include "core/threading.hpp"
#include "model/attention.hpp"
#include "model/attention_s8.hpp"

namespace {

using namespace sparq;

constexpr int64_t kH = 768, kD = 64;

std::vector<float> random_qkv(int64_t seq) {
    std::vector<float> qkv(seq * 3 * kH);
    uint64_t s = 9;
    for (auto& x : qkv) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x = static_cast<float>((s >> 40) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return qkv;
}

void rate(benchmark::State& state, int64_t seq) {
    state.counters["GOP/s"] = benchmark::Counter(4.0 * seq * seq * kD * state.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void BM_attention_f32(benchmark::State& state) {
    const int64_t seq = state.range(0), ld = 3 * kH;
    std::vector<float> qkv = random_qkv(seq), ctx(seq * kH);
    std::vector<float> scratch(attention_scratch_floats(seq, kD));
    set_num_threads(1);
    for (auto _ : state) {
        attention_head(qkv.data(), qkv.data() + kH, qkv.data() + 2 * kH, ld, ctx.data(), kH, seq,
                       kD, 0.125f, scratch.data());
        benchmark::DoNotOptimize(ctx.data());
    }
    set_num_threads(0);
    rate(state, seq);
}

void BM_attention_s8(benchmark::State& state) {
    if (!attention_s8_fast()) {
        state.SkipWithError("no AVX512-VNNI");
        return;
    }
    const int64_t seq = state.range(0), ld = 3 * kH;
    std::vector<float> qkv = random_qkv(seq), ctx(seq * kH);
    AlignedBuffer<uint8_t> scratch(attention_s8_scratch_bytes(seq, kD));
    set_num_threads(1);
    for (auto _ : state) {
        attention_head_s8(qkv.data(), qkv.data() + kH, qkv.data() + 2 * kH, ld, ctx.data(), kH, seq,
                          kD, 0.125f, scratch.data());
        benchmark::DoNotOptimize(ctx.data());
    }
    set_num_threads(0);
    rate(state, seq);
}

// All heads of a batch of sequences in the encoder's order (sequence major, head minor) on one
// thread: Q/K/V come from L3 / memory as in the model (the batch's QKV output, ~9 MiB, is far
// larger than L2), each head prefetching the next (AttentionNext). us/head: CPU time per head.
void BM_attention_s8_batch(benchmark::State& state) {
    if (!attention_s8_fast()) {
        state.SkipWithError("no AVX512-VNNI");
        return;
    }
    const int64_t seq = state.range(0), n_seq = seq <= 128 ? 8 : 3, heads = kH / kD;
    const int64_t ld = 3 * kH, jobs = n_seq * heads;
    std::vector<float> qkv = random_qkv(n_seq * seq), ctx(n_seq * seq * kH);
    AlignedBuffer<uint8_t> scratch(attention_s8_scratch_bytes(seq, kD));
    set_num_threads(1);
    for (auto _ : state) {
        for (int64_t job = 0; job < jobs; ++job) {
            const int64_t s = job / heads, head = job % heads;
            const float* q = qkv.data() + s * seq * ld + head * kD;
            AttentionNext next{};
            if (job + 1 < jobs) {
                next.q = qkv.data() + (job + 1) / heads * seq * ld + (job + 1) % heads * kD;
                next.k = next.q + kH;
                next.v = next.q + 2 * kH;
                next.seq = seq;
            }
            attention_head_s8(q, q + kH, q + 2 * kH, ld, ctx.data() + s * seq * kH + head * kD,
                              kH, seq, kD, 0.125f, scratch.data(), &next);
        }
        benchmark::DoNotOptimize(ctx.data());
    }
    set_num_threads(0);
    state.counters["us/head"] = benchmark::Counter(
        static_cast<double>(jobs * state.iterations()) * 1e-6,
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace

BENCHMARK(BM_attention_f32)->ArgName("seq")->Arg(64)->Arg(128)->Arg(384)->MinTime(0.5);
BENCHMARK(BM_attention_s8)->ArgName("seq")->Arg(64)->Arg(128)->Arg(384)->MinTime(0.5);
BENCHMARK(BM_attention_s8_batch)->ArgName("seq")->Arg(128)->Arg(384)->MinTime(0.5);
