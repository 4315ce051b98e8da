// Attention per head (src/model/attention.hpp), every runnable variant, at BERT head shapes:
// sequence length x head size, Q/K/V rows strided as in the fused QKV output of 12 heads.
// Reports GFLOP/s of the dense-equivalent 4 * len^2 * d FLOPs per head, over process CPU time
// (one thread, as in the encoder, which runs one head per thread). Compare variants in one run:
//   build/attention_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/threading.hpp"
#include "model/attention.hpp"

using namespace sparq;

namespace {

constexpr int64_t kHeads = 12;

void bm_attention(benchmark::State& state, AttentionVariant var) {
    const int64_t seq = state.range(0), d = state.range(1);
    const int64_t h = kHeads * d, ld = 3 * h;
    std::mt19937 g(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> qkv(seq * ld), ctx(seq * h);
    for (auto& x : qkv) x = nd(g);
    std::vector<float> scratch(attention_scratch_floats(seq, d) + (seq + d) * (seq + 16) + seq * d);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    int64_t head = 0;
    set_num_threads(1);  // as inside the encoder's parallel loop over heads
    for (auto _ : state) {  // cycle over the heads, as the encoder does
        const float* q = qkv.data() + head * d;
        var.fn(q, q + h, q + 2 * h, ld, ctx.data() + head * d, h, seq, d, scale, scratch.data());
        benchmark::DoNotOptimize(ctx.data());
        head = (head + 1) % kHeads;
    }
    set_num_threads(0);
    state.counters["GFLOP/s"] = benchmark::Counter(
        4.0 * seq * seq * d * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    for (int i = 0; i < n; ++i) {
        if (vs[i].isa == Isa::scalar || !has_isa(vs[i].isa)) continue;
        auto* b = benchmark::RegisterBenchmark(vs[i].name, bm_attention, vs[i]);
        b->ArgNames({"len", "d"})->Unit(benchmark::kMicrosecond);
        for (int64_t d : {64, 32, 80})
            for (int64_t len : {128, 384})
                if (d == 64 || len == 128) b->Args({len, d});
        b->Args({64, 64})->Args({17, 64});
    }
    return true;
}();

}  // namespace
