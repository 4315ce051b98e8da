// Attention per head (src/model/attention.hpp), every runnable variant, at BERT head shapes:
// sequence length x head size, Q/K/V rows strided as in the fused QKV output of 12 heads, jobs
// cycling over the heads of `seqs` sequences as the encoder does (seqs 8: a 9 MiB QKV output
// that is not in L2, as at batch 8), the next job's Q/K/V prefetched (pf 1) or not.
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
    const int64_t seq = state.range(0), d = state.range(1), seqs = state.range(2);
    const bool prefetch = state.range(3) != 0;
    const int64_t h = kHeads * d, ld = 3 * h, jobs = seqs * kHeads;
    std::mt19937 g(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> qkv(seqs * seq * ld), ctx(seqs * seq * h);
    for (auto& x : qkv) x = nd(g);
    std::vector<float> scratch(attention_scratch_floats(seq, d) + (seq + d) * (seq + 16) + seq * d);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    int64_t job = 0;
    set_num_threads(1);  // as inside the encoder's parallel loop over heads
    for (auto _ : state) {
        const int64_t s = job / kHeads, head = job % kHeads, following = (job + 1) % jobs;
        const float* q = qkv.data() + s * seq * ld + head * d;
        const float* q2 = qkv.data() + following / kHeads * seq * ld + following % kHeads * d;
        const AttentionNext next{q2, q2 + h, q2 + 2 * h, seq};
        var.with_next(q, q + h, q + 2 * h, ld, ctx.data() + s * seq * h + head * d, h, seq, d,
                      scale, scratch.data(), prefetch ? &next : nullptr);
        benchmark::DoNotOptimize(ctx.data());
        job = following;
    }
    set_num_threads(0);
    state.counters["GFLOP/s"] = benchmark::Counter(4.0 * seq * seq * d * 1e-9,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
    int n = 0;
    const AttentionVariant* vs = attention_variants(&n);
    for (int i = 0; i < n; ++i) {
        if (vs[i].isa == Isa::scalar || !has_isa(vs[i].isa)) continue;
        auto* b = benchmark::RegisterBenchmark(vs[i].name, bm_attention, vs[i]);
        // pf 1: the encoder's mode, prefetching the next job's Q/K/V (variants that support it).
        b->ArgNames({"len", "d", "seqs", "pf"})->Unit(benchmark::kMicrosecond);
        for (int pf : {0, 1}) b->Args({128, 64, 8, pf})->Args({384, 64, 3, pf});
        b->Args({128, 64, 1, 1})->Args({384, 64, 1, 1})->Args({128, 32, 8, 1});
        b->Args({128, 80, 8, 1})->Args({64, 64, 8, 1})->Args({17, 64, 8, 1});
    }
    return true;
}();

}  // namespace
