// Fused element-wise ops, every runnable variant (scalar reference included) at BERT-base shapes.
// Reports bytes moved / time as GB/s (read + written activations; gamma/beta/bias/mask rows are
// counted once). Args: rows, cols, threads; single-thread runs use process CPU time. Compare
// variants in one run, e.g.
//   build/fused_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

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
    state.counters["GB/s"] =
        benchmark::Counter(bytes_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_layer_norm(benchmark::State& state, FusedOps op) {
    const int64_t rows = state.range(0), cols = state.range(1);
    omp_set_num_threads(static_cast<int>(state.range(2)));
    auto x = randv(rows * cols, 1), r = randv(rows * cols, 2), g = randv(cols, 3),
         b = randv(cols, 4);
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

// Share of element-wise work in one BERT-base layer (hidden 768, 12 heads, FFN 3072) at
// `tokens` tokens of one sequence, single thread. bert_layer_eltwise runs every element-wise op
// of the layer with variant `op`: attention softmax (12 heads, no mask), two residual
// LayerNorms, plus (unfused = 1) the bias adds and GELU that a GEMM epilogue may otherwise fuse,
// plus 1/12 of embed_layer_norm. bert_layer_gemm_onednn runs the layer's matrix products with
// dnnl_sgemm (QKV, attention QK^T and PV per head, attention output, FFN up and down).
struct BertLayerData {
    explicit BertLayerData(int64_t t)
        : tokens(t),
          x(randv(t * 768, 90)),
          res(randv(t * 768, 91)),
          g(randv(768, 92)),
          b(randv(768, 93)),
          inter(randv(t * 3072, 94)),
          bias3(randv(3072, 95)),
          scores(randv(12 * t * t, 96, 3.0f)),
          word(randv(1000 * 768, 97)),
          pos(randv(512 * 768, 98)),
          type(randv(2 * 768, 99)),
          ids(t),
          y(t * 768) {
        for (int64_t i = 0; i < t; ++i) ids[i] = static_cast<int32_t>((i * 7919) % 1000);
    }
    int64_t tokens;
    std::vector<float> x, res, g, b, inter, bias3, scores, word, pos, type;
    std::vector<int32_t> ids;
    std::vector<float> y;
};

void bm_bert_layer_eltwise(benchmark::State& state, FusedOps op) {
    const int64_t t = state.range(0);
    const bool unfused = state.range(1) != 0;
    omp_set_num_threads(1);
    BertLayerData d(t);
    int64_t iter = 0;
    for (auto _ : state) {
        if (iter++ % 12 == 0)
            op.embed_layer_norm(d.word.data(), d.pos.data(), d.type.data(), d.ids.data(), nullptr,
                                nullptr, d.g.data(), d.b.data(), d.y.data(), t, 768, 1e-12f);
        if (unfused)
            op.bias_residual(d.y.data(), d.bias3.data(), nullptr, t, 768);  // QKV bias (1/3)
        op.softmax(d.scores.data(), 12 * t, t, t, 0.125f, nullptr);  // packed: no padding mask
        if (unfused) op.bias_residual(d.y.data(), d.b.data(), d.res.data(), t, 768);
        op.layer_norm(d.x.data(), d.res.data(), d.g.data(), d.b.data(), d.y.data(), t, 768, 1e-12f);
        if (unfused) op.bias_gelu(d.inter.data(), d.bias3.data(), t, 3072);
        if (unfused) op.bias_residual(d.y.data(), d.b.data(), d.res.data(), t, 768);
        op.layer_norm(d.y.data(), d.res.data(), d.g.data(), d.b.data(), d.x.data(), t, 768, 1e-12f);
        benchmark::DoNotOptimize(d.x.data());
    }
}

void bm_bert_layer_gemm(benchmark::State& state) {
    const int64_t t = state.range(0);
    omp_set_num_threads(1);
    BertLayerData d(t);
    auto w_qkv = randv(2304 * 768, 100), w_o = randv(768 * 768, 101), w_i = randv(3072 * 768, 102),
         w_d = randv(768 * 3072, 103);
    std::vector<float> qkv(t * 2304), ctx(t * 768);
    // Row-major C[m][n] = A[m][k] * B[n][k]^T.
    auto gemm_nt = [](int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bm,
                      int64_t ldb, float* c, int64_t ldc) {
        dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, lda, bm, ldb, 0.0f, c, ldc);
    };
    for (auto _ : state) {
        gemm_nt(t, 2304, 768, d.x.data(), 768, w_qkv.data(), 768, qkv.data(), 2304);
        for (int h = 0; h < 12; ++h) {
            float* s = d.scores.data() + h * t * t;
            gemm_nt(t, t, 64, qkv.data() + h * 64, 2304, qkv.data() + 768 + h * 64, 2304, s, t);
            dnnl_sgemm('N', 'N', t, 64, t, 1.0f, s, t, qkv.data() + 1536 + h * 64, 2304, 0.0f,
                       ctx.data() + h * 64, 768);
        }
        gemm_nt(t, 768, 768, ctx.data(), 768, w_o.data(), 768, d.y.data(), 768);
        gemm_nt(t, 3072, 768, d.y.data(), 768, w_i.data(), 768, d.inter.data(), 3072);
        gemm_nt(t, 768, 3072, d.inter.data(), 3072, w_d.data(), 3072, d.x.data(), 768);
        benchmark::DoNotOptimize(d.x.data());
    }
    const double flops = 2.0 * t * 768 * (2304 + 768 + 2 * 3072) + 2.0 * 2 * t * t * 768;
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One thread: process CPU time (robust on the shared machine); two threads: wall-clock time.
const int kRegistered = [] {
    int n = 0;
    const FusedOps* v = fused_variants(&n);
    for (int k = 0; k < n; ++k) {
        if (!has_isa(v[k].isa)) continue;
        const std::string isa = isa_name(v[k].isa);
        auto reg = [&](const char* name, void (*fn)(benchmark::State&, FusedOps), bool big) {
            auto* b1 =
                benchmark::RegisterBenchmark((std::string(name) + "/" + isa).c_str(), fn, v[k]);
            auto* b2 =
                benchmark::RegisterBenchmark((std::string(name) + "/" + isa).c_str(), fn, v[k]);
            b1->ArgNames({"rows", "cols", "thr"})->MinTime(0.2);
            b2->ArgNames({"rows", "cols", "thr"})->MinTime(0.2)->UseRealTime();
            if (big) {
                for (int64_t rows : {128, 1024})
                    for (int64_t cols : {768, 3072}) b1->Args({rows, cols, 1});
                b2->Args({1024, 3072, 1})->Args({1024, 3072, 2});
            } else {
                b1->Args({12 * 128, 128, 1})->Args({12 * 384, 384, 1});
                b2->Args({12 * 384, 384, 1})->Args({12 * 384, 384, 2});
            }
        };
        reg("layer_norm", bm_layer_norm, true);
        reg("bias_gelu", bm_bias_gelu, true);
        reg("bias_residual", bm_bias_residual, true);
        reg("softmax", bm_softmax, false);
        auto* e = benchmark::RegisterBenchmark(("embed_layer_norm/" + isa).c_str(),
                                               bm_embed_layer_norm, v[k]);
        e->ArgNames({"rows", "cols", "thr"})
            ->MinTime(0.2)
            ->Args({128, 768, 1})
            ->Args({1024, 768, 1});
    }
    for (int k = 0; k < n; ++k) {
        if (!has_isa(v[k].isa)) continue;
        auto* b = benchmark::RegisterBenchmark(
            (std::string("bert_layer_eltwise/") + isa_name(v[k].isa)).c_str(),
            bm_bert_layer_eltwise, v[k]);
        b->ArgNames({"tokens", "unfused"})
            ->MinTime(0.2)
            ->Args({128, 0})
            ->Args({128, 1})
            ->Args({384, 1});
    }
    benchmark::RegisterBenchmark("bert_layer_gemm_onednn", bm_bert_layer_gemm)
        ->ArgNames({"tokens"})
        ->MinTime(0.5)
        ->Arg(128)
        ->Arg(384);
    return n;
}();

}  // namespace
