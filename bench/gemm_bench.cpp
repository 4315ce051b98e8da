// Dense f32 weight kernel (oneDNN matmul) on BERT-base linear shapes, with its variants
// (packed vs plain weights, primitive per T vs runtime T, residual as sum vs binary post-op).
// Counters: GFLOP/s = 2·T·K·N per run. Args: {tokens, in, out, variant, threads}.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/threading.hpp"
#include "kernels/gemm/dense_f32.hpp"

namespace {

using namespace sparq;

const DenseF32Options kVariants[] = {
    {true, false, false},   // 0: default — packed weights, primitive per T, sum residual
    {false, false, false},  // 1: plain (transposed) weights
    {true, true, false},    // 2: packed weights, runtime T
    {true, false, true},    // 3: packed weights, binary residual
};

void BM_dense_f32(benchmark::State& state) {
    int64_t t = state.range(0), k = state.range(1), n = state.range(2);
    int variant = static_cast<int>(state.range(3));
    bool residual = state.range(4) != 0;
    set_num_threads(static_cast<int>(state.range(5)));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    std::vector<float> w(n * k), b(n), x(t * k), r(t * n), y(t * n);
    for (auto* v : {&w, &b, &x, &r})
        for (auto& e : *v) e = u(rng);
    LinearDesc d;
    d.weight = w.data();
    d.bias = b.data();
    d.out = n;
    d.in = k;
    d.act = n == 3072 ? Activation::gelu : Activation::none;  // intermediate.dense
    auto kern = make_dense_f32_variant(d, kVariants[variant]);
    kern->run(x.data(), y.data(), t, residual ? r.data() : nullptr);
    for (auto _ : state) {
        kern->run(x.data(), y.data(), t, residual ? r.data() : nullptr);
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["GFLOP/s"] =
        benchmark::Counter(2.0 * t * k * n * state.iterations() / 1e9, benchmark::Counter::kIsRate);
    set_num_threads(0);
}

void shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"T", "K", "N", "var", "res", "thr"});
    for (int64_t t : {128, 384, 1024})
        for (int thr : {1, 2}) {
            for (int v : {0, 1, 2}) {
                b->Args({t, 768, 2304, v, 0, thr});  // fused QKV
                b->Args({t, 768, 3072, v, 0, thr});  // intermediate + GELU
            }
            for (int v : {0, 1, 2, 3}) {
                b->Args({t, 768, 768, v, 1, thr});   // attention output + residual
                b->Args({t, 3072, 768, v, 1, thr});  // output + residual
            }
        }
}

}  // namespace

BENCHMARK(BM_dense_f32)->Apply(shapes)->Unit(benchmark::kMillisecond)->MinTime(0.2)->UseRealTime();
