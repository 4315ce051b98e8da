// Sparse f32 kernels vs sparq's dense oneDNN kernel (make_dense_f32) on BERT-base linear shapes,
// interleaved in one run. Reports medians: dense_ms, sparse_ms, speedup (dense/sparse) and the
// sparse kernel's effective GFLOP/s over the nonzeros (2 * nnz * tokens / time); one core's f32 FMA
// peak is ~150 GFLOP/s.
//   build/spmm_bench --benchmark_filter=Dense
//   build/spmm_bench --benchmark_filter=Variants
// Times: thread CPU time with 1 thread, wall time with more (plus process CPU time, *_cpu_ms).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <random>
#include <vector>

#include "core/threading.hpp"
#include "kernels/linear.hpp"
#include "kernels/spmm/spmm.hpp"

namespace {

using namespace sparq;

const int64_t kShapes[][2] = {{768, 768}, {2304, 768}, {3072, 768}, {768, 3072}};  // out, in

// Gaussian [out][in] weight with the smallest-magnitude `sparsity` share set to zero.
std::vector<float> pruned_weight(int64_t out, int64_t in, double sparsity) {
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::vector<float> w(out * in);
    for (auto& x : w) x = nd(rng);
    std::vector<float> mag(w.size());
    for (size_t i = 0; i < w.size(); ++i) mag[i] = std::fabs(w[i]);
    size_t k = static_cast<size_t>(sparsity * w.size());
    if (k > 0) {
        std::nth_element(mag.begin(), mag.begin() + (k - 1), mag.end());
        float thr = mag[k - 1];
        for (auto& x : w)
            if (std::fabs(x) <= thr) x = 0.0f;
    }
    return w;
}

template <typename F>
double time_ms(F&& f) {
    if (num_threads() == 1) {
        timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        f();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) * 1e-6;
    }
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Process CPU milliseconds of f() (all threads; with OMP_WAIT_POLICY=passive idle waits do not
// count): the work a multi-threaded run costs, robust to other processes delaying it.
template <typename F>
double cpu_ms(F&& f) {
    timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    f();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) * 1e-6;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int64_t count_nnz(const std::vector<float>& w) {
    return std::count_if(w.begin(), w.end(), [](float x) { return x != 0.0f; });
}

// Args: shape index, sparsity in %, tokens, threads.
void BM_SparseVsDense(benchmark::State& state) {
    const int64_t out = kShapes[state.range(0)][0], in = kShapes[state.range(0)][1];
    const double sparsity = state.range(1) / 100.0;
    const int64_t tokens = state.range(2);
    set_num_threads(static_cast<int>(state.range(3)));
    std::vector<float> w = pruned_weight(out, in, sparsity), bias(out, 0.1f);
    std::vector<float> x(tokens * in), y(tokens * out);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : x) v = u(rng);
    LinearDesc d;
    d.weight = w.data();
    d.bias = bias.data();
    d.out = out;
    d.in = in;
    auto sparse = make_sparse_f32(d);
    auto dense = make_dense_f32(d);
    dense->run(x.data(), y.data(), tokens);
    sparse->run(x.data(), y.data(), tokens);
    std::vector<double> td, ts, cd, cs;
    for (auto _ : state) {
        double a = 0, b = 0;
        cd.push_back(cpu_ms([&] { a = time_ms([&] { dense->run(x.data(), y.data(), tokens); }); }));
        cs.push_back(
            cpu_ms([&] { b = time_ms([&] { sparse->run(x.data(), y.data(), tokens); }); }));
        td.push_back(a);
        ts.push_back(b);
        state.SetIterationTime((a + b) / 1e3);
    }
    if (state.range(3) > 1) {
        state.counters["dense_cpu_ms"] = median(cd);
        state.counters["sparse_cpu_ms"] = median(cs);
    }
    double md = median(td), ms = median(ts);
    int64_t nnz = count_nnz(w);
    state.counters["dense_ms"] = md;
    state.counters["sparse_ms"] = ms;
    state.counters["speedup"] = md / ms;
    state.counters["sparse_GFLOPs"] = 2.0 * nnz * tokens / (ms * 1e6);
    state.counters["dense_GFLOPs"] = 2.0 * out * in * tokens / (md * 1e6);
    state.SetLabel(sparse->name());
}

void dense_args(benchmark::internal::Benchmark* b) {
    for (int threads : {1, 2})
        for (int tokens : {128, 1024})
            for (int shape = 0; shape < 4; ++shape)
                for (int s : {50, 80, 90, 95}) b->Args({shape, s, tokens, threads});
}
BENCHMARK(BM_SparseVsDense)->Apply(dense_args)->UseManualTime()->Iterations(15);

// All runnable variants on one case, interleaved: GFLOP/s over nonzeros (microseconds for an
// all-zero matrix, which times packing, unpacking and per-row overhead). Args: shape, sparsity %,
// tokens, threads.
void BM_Variants(benchmark::State& state) {
    const int64_t out = kShapes[state.range(0)][0], in = kShapes[state.range(0)][1];
    const int64_t tokens = state.range(2);
    set_num_threads(static_cast<int>(state.range(3)));
    std::vector<float> w = pruned_weight(out, in, state.range(1) / 100.0);
    std::vector<float> x(tokens * in, 0.5f), y(tokens * out);
    LinearDesc d;
    d.weight = w.data();
    d.out = out;
    d.in = in;
    int n = 0;
    const SpmmVariant* vars = spmm_variants(&n);
    std::vector<std::unique_ptr<LinearKernel>> ks;
    for (int i = 1; i < n; ++i)
        if (has_isa(vars[i].isa)) ks.push_back(make_sparse_f32(d, &vars[i]));
    std::vector<std::vector<double>> t(ks.size());
    for (auto _ : state) {
        double total = 0;
        for (size_t i = 0; i < ks.size(); ++i) {
            double ms = time_ms([&] { ks[i]->run(x.data(), y.data(), tokens); });
            t[i].push_back(ms);
            total += ms;
        }
        state.SetIterationTime(total / 1e3);
    }
    int64_t nnz = count_nnz(w);
    for (size_t i = 0; i < ks.size(); ++i)
        state.counters[ks[i]->name()] =
            nnz ? 2.0 * nnz * tokens / (median(t[i]) * 1e6) : median(t[i]) * 1e3;
}
BENCHMARK(BM_Variants)
    ->Args({2, 90, 128, 1})
    ->Args({3, 90, 128, 1})
    ->Args({0, 95, 128, 1})
    ->Args({2, 95, 1024, 1})
    ->Args({0, 99, 128, 1})
    ->Args({2, 100, 128, 1})
    ->Args({2, 99, 128, 1})
    ->Args({1, 90, 384, 1})
    ->Args({1, 95, 384, 1})
    ->Args({2, 90, 384, 1})
    ->Args({1, 100, 384, 1})
    ->Args({3, 100, 384, 1})
    ->UseManualTime()
    ->Iterations(15);

}  // namespace

namespace {

// BERT-base FFN (3072x768 + GELU, then 768x3072 + residual) on sparse kernels: spmm_run_chain
// (intermediate kept packed) vs the two kernels' run() (unpack + pack of the intermediate),
// interleaved, medians of thread CPU time. Also the parts: FFN1 alone, FFN2 alone. Args: sparsity
// %, tokens, variant index (0: the default).
void BM_FfnChain(benchmark::State& state) {
    const double sp = state.range(0) / 100.0;
    const int64_t t = state.range(1), h = 768, inter = 3072;
    set_num_threads(1);
    std::vector<float> w1 = pruned_weight(inter, h, sp), w2 = pruned_weight(h, inter, sp);
    std::vector<float> b1(inter, 0.01f), b2(h, 0.02f), x(t * h, 0.5f), mid(t * inter), y(t * h);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) * 0.1f - 0.6f;
    LinearDesc d1{w1.data(), b1.data(), inter, h, Activation::gelu, "ffn1"};
    LinearDesc d2{w2.data(), b2.data(), h, inter, Activation::none, "ffn2"};
    int nvar = 0;
    const SpmmVariant* var = state.range(2) > 0 ? &spmm_variants(&nvar)[state.range(2)] : nullptr;
    if (var && !has_isa(var->isa)) {
        state.SkipWithError("ISA not available");
        return;
    }
    auto k1 = make_sparse_f32(d1, var), k2 = make_sparse_f32(d2, var);
    state.SetLabel(k1->name());
    std::vector<double> chain, sep, f1, f2;
    for (auto _ : state) {
        for (int rep = 0; rep < 5; ++rep) {
            chain.push_back(
                time_ms([&] { spmm_run_chain(*k1, *k2, x.data(), y.data(), t, x.data()); }));
            f1.push_back(time_ms([&] { k1->run(x.data(), mid.data(), t); }));
            f2.push_back(time_ms([&] { k2->run(mid.data(), y.data(), t, x.data()); }));
            sep.push_back(f1.back() + f2.back());
        }
    }
    state.counters["chain_ms"] = median(chain);
    state.counters["separate_ms"] = median(sep);
    state.counters["ffn1_ms"] = median(f1);
    state.counters["ffn2_ms"] = median(f2);
    set_num_threads(0);
}

}  // namespace

BENCHMARK(BM_FfnChain)
    ->ArgsProduct({{90, 95}, {128}, {0, 2, 3}})
    ->Args({95, 1024, 0})
    ->ArgsProduct({{90, 95}, {384}, {0, 5, 6}})
    ->Iterations(3);
