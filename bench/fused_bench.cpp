// Fused element-wise ops, every runnable variant (scalar reference included) at BERT-base shapes.
// Reports bytes moved / time as GB/s (read + written activations; gamma/beta/bias/mask rows are
// counted once). Args: rows, cols, threads; single-thread runs use process CPU time. Compare variants in one run, e.g.
//   build/fused_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cfloat>
#include <random>
#include <string>
#include <vector>

#include "kernels/fused.hpp"

using namespace sparq;

namespace {

std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

void set_rate(benchmark::State& state, double bytes_per_iter) {
    state.counters["GB/s"] = benchmark::Counter(bytes_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_layer_norm(benchmark::State& state, FusedOps op) {
    const int64_t rows = state.range(0), cols = state.range(1);
    omp_set_num_threads(static_cast<int>(state.range(2)));
    auto x = randv(rows * cols, 1), r = randv(rows * cols, 2), g = randv(cols, 3), b = randv(cols, 4);
    std::vector<float> y(rows * cols);
    for (auto _ : state) {
        op.layer_norm(x.data(), r.data(), g.data(), b.data(), y.data(), rows, cols, 1e-12f);
        benchmark::DoNotOptimize(y.data());
    }
    set_rate(state, 4.0 * (3.0 * rows * cols + 2.0 * cols));
}

void bm_bias_gelu(benchmark::State& state, FusedOps op) {
    const int64_t rows = state.range(0), cols = state.range(1);
    omp_set_num_threads(static_cast<int>(state.range(2)));
    auto x = randv(rows * cols, 5, 2.0f), b = randv(cols, 6);
    for (auto _ : state) {
        op.bias_gelu(x.data(), b.data(), rows, cols);
        benchmark::DoNotOptimize(x.data());
    }
    set_rate(state, 4.0 * (2.0 * rows * cols + cols));
}

void bm_bias_residual(benchmark::State& state, FusedOps op) {
    const int64_t rows = state.range(0), cols = state.range(1);
    omp_set_num_threads(static_cast<int>(state.range(2)));
    auto x = randv(rows * cols, 7), r = randv(rows * cols, 8, 1e-3f), b = randv(cols, 9, 1e-3f);
    for (auto _ : state) {
        op.bias_residual(x.data(), b.data(), r.data(), rows, cols);
        benchmark::DoNotOptimize(x.data());
    }
    set_rate(state, 4.0 * (3.0 * rows * cols + cols));
}

// Attention scores: rows = heads * query tokens, cols = key tokens, HF-style mask (last 10% of
// keys at finfo.min), scale 1/sqrt(64).
void bm_softmax(benchmark::State& state, FusedOps op) {
    const int64_t rows = state.range(0), cols = state.range(1);
    omp_set_num_threads(static_cast<int>(state.range(2)));
    auto x = randv(rows * cols, 10, 3.0f);
    std::vector<float> mask(cols, 0.0f);
    for (int64_t c = cols - cols / 10; c < cols; ++c) mask[c] = -FLT_MAX;
    for (auto _ : state) {
        op.softmax(x.data(), rows, cols, cols, 0.125f, mask.data());
        benchmark::DoNotOptimize(x.data());
    }
    set_rate(state, 4.0 * (2.0 * rows * cols + cols));
}

// BERT-base embeddings: random word ids over a 30522-row table, one sequence, types 0/1.
void bm_embed_layer_norm(benchmark::State& state, FusedOps op) {
    const int64_t rows = state.range(0), cols = state.range(1), vocab = 30522;
    omp_set_num_threads(static_cast<int>(state.range(2)));
    auto word = randv(vocab * cols, 11), pos = randv(512 * cols, 12), type = randv(2 * cols, 13);
    auto g = randv(cols, 14), b = randv(cols, 15);
    std::vector<int32_t> ids(rows), type_ids(rows), pos_ids(rows);
    std::mt19937 gen(16);
    for (int64_t r = 0; r < rows; ++r) {
        ids[r] = static_cast<int32_t>(gen() % vocab);
        type_ids[r] = static_cast<int32_t>(r >= rows / 2);
        pos_ids[r] = static_cast<int32_t>(r % 512);
    }
    std::vector<float> y(rows * cols);
    for (auto _ : state) {
        op.embed_layer_norm(word.data(), pos.data(), type.data(), ids.data(), pos_ids.data(),
                            type_ids.data(), g.data(), b.data(), y.data(), rows, cols, 1e-12f);
        benchmark::DoNotOptimize(y.data());
    }
    set_rate(state, 4.0 * (4.0 * rows * cols + 2.0 * cols));
}

// One thread: process CPU time (robust on the shared machine); two threads: wall-clock time.
const int kRegistered = [] {
    int n = 0;
    const FusedOps* v = fused_variants(&n);
    for (int k = 0; k < n; ++k) {
        if (!has_isa(v[k].isa)) continue;
        const std::string isa = isa_name(v[k].isa);
        auto reg = [&](const char* name, void (*fn)(benchmark::State&, FusedOps), bool big) {
            auto* b1 = benchmark::RegisterBenchmark((std::string(name) + "/" + isa).c_str(), fn, v[k]);
            auto* b2 = benchmark::RegisterBenchmark((std::string(name) + "/" + isa).c_str(), fn, v[k]);
            b1->ArgNames({"rows", "cols", "thr"})->MinTime(0.2);
            b2->ArgNames({"rows", "cols", "thr"})->MinTime(0.2)->UseRealTime();
            if (big) {
                for (int64_t rows : {128, 1024})
                    for (int64_t cols : {768, 3072}) b1->Args({rows, cols, 1});
                b2->Args({1024, 3072, 2});
            } else {
                b1->Args({12 * 128, 128, 1})->Args({12 * 384, 384, 1});
                b2->Args({12 * 384, 384, 2});
            }
        };
        reg("layer_norm", bm_layer_norm, true);
        reg("bias_gelu", bm_bias_gelu, true);
        reg("bias_residual", bm_bias_residual, true);
        reg("softmax", bm_softmax, false);
        auto* e = benchmark::RegisterBenchmark(("embed_layer_norm/" + isa).c_str(),
                                               bm_embed_layer_norm, v[k]);
        e->ArgNames({"rows", "cols", "thr"})->MinTime(0.2)->Args({128, 768, 1})->Args({1024, 768, 1});
    }
    return n;
}();

}  // namespace
