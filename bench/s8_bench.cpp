// int8 weight kernels vs oneDNN f32 dense on BERT-base linear shapes, one thread.
// Set SPARQ_BENCH_THREADS=2 for two threads (then compare real time, not CPU time).
// Run interleaved (the machine is shared):
//   build/s8_bench --benchmark_enable_random_interleaving=true --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true --benchmark_min_time=0.1
// Counters: MACs/s over the weight's nonzeros (dense f32/int8: all of them) and pct_vnni_peak =
// that rate / the VNNI peak of one core, 465 GMAC/s as build/peak_bench measured it on this
// machine (1.79 vpdpbusd zmm per cycle x 64 MACs at 4.06 GHz; the nominal TSC is 2.6 GHz).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/buffer.hpp"
#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "jit/spmm_s8_1x4.hpp"
#include "kernels/s8/s8_kernels.hpp"

namespace {

using namespace sparq;

constexpr double kVnniPeakMacs = 465e9;

struct Shape {
    const char* name;
    int64_t out, in;
};
const Shape kShapes[] = {{"qkv", 2304, 768}, {"attn_out", 768, 768}, {"ffn1", 3072, 768}, {"ffn2", 768, 3072}};

enum Kind { f32_dense, s8_dense, s8_1x4_80, s8_1x4_90, s8_1x4_95, s8_unstr_90, s8_unstr_90_tensor, s8_1x4_90_uniform, s8_1x4_90_avx512, s8_1x4_90_avx2, s8_1x4_90_gelu, s8_dense_gelu };
const char* kKindNames[] = {"f32_dense_onednn", "s8_dense_onednn", "s8_1x4_80", "s8_1x4_90",
                            "s8_1x4_95", "s8_unstructured_90", "s8_unstructured_90_per_tensor",
                            "s8_1x4_90_uniform_rows", "s8_1x4_90_avx512bw_no_vnni", "s8_1x4_90_avx2",
                            "s8_1x4_90_gelu", "s8_dense_onednn_gelu"};

// oneDNN f32 matmul with bias, weights packed once (the f32 baseline).
class DenseF32 {
public:
    DenseF32(const float* w, const float* b, int64_t out, int64_t in, int64_t m)
        : eng_(dnnl::engine::kind::cpu, 0), s_(eng_) {
        using namespace dnnl;
        using tag = memory::format_tag;
        memory::desc src({m, in}, memory::data_type::f32, tag::ab);
        memory::desc wd({in, out}, memory::data_type::f32, tag::any);
        memory::desc bd({1, out}, memory::data_type::f32, tag::ab);
        memory::desc dst({m, out}, memory::data_type::f32, tag::ab);
        matmul::primitive_desc pd(matmul::desc(src, wd, bd, dst), eng_);
        mm_ = matmul(pd);
        memory w_plain({{in, out}, memory::data_type::f32, tag::ba}, eng_, const_cast<float*>(w));
        w_ = memory(pd.weights_desc(), eng_);
        reorder(w_plain, w_).execute(s_, w_plain, w_);
        b_ = memory(bd, eng_, const_cast<float*>(b));
        src_md_ = src;
        dst_md_ = dst;
        s_.wait();
    }
    void run(const float* src, float* dst) {
        dnnl::memory s(src_md_, eng_, const_cast<float*>(src)), d(dst_md_, eng_, dst);
        mm_.execute(s_, {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w_}, {DNNL_ARG_BIAS, b_}, {DNNL_ARG_DST, d}});
        s_.wait();
    }

private:
    dnnl::engine eng_;
    dnnl::stream s_;
    dnnl::matmul mm_;
    dnnl::memory w_, b_;
    dnnl::memory::desc src_md_, dst_md_;
};

// Threads per kernel: 1 (per-core figures) unless SPARQ_BENCH_THREADS is set.
int bench_threads() {
    const char* env = std::getenv("SPARQ_BENCH_THREADS");
    return env && *env ? std::atoi(env) : 1;
}

void bm_linear(benchmark::State& state, Shape shape, Kind kind) {
    set_num_threads(bench_threads());
    const int64_t tokens = state.range(0);
    double sparsity = kind == s8_1x4_80   ? 0.8
                      : kind == s8_1x4_95 ? 0.95
                      : kind == s8_dense_gelu ? 0.0
                      : kind >= s8_1x4_90 ? 0.9
                                          : 0.0;
    bool blocked = kind != f32_dense && kind != s8_dense && kind != s8_unstr_90 && kind != s8_unstr_90_tensor &&
                   kind != s8_dense_gelu;
    // Non-VNNI variants: the whole run (core, packing, epilogue) capped to that ISA.
    const Isa cap = kind == s8_1x4_90_avx512 ? Isa::avx512 : kind == s8_1x4_90_avx2 ? Isa::avx2 : cpu_isa();
    set_max_isa(cap);
    bool uniform = kind == s8_1x4_90_uniform;  // every row has exactly 10% of its blocks
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<float> w(shape.out * shape.in), b(shape.out);
    int64_t nnz = 0;
    for (int64_t o = 0; o < shape.out; ++o) {
        b[o] = nd(rng);
        for (int64_t g = 0; g < shape.in / 4; ++g) {
            bool keep_block = uniform ? (g * 7 + o) % 10 == 0 : u(rng) >= sparsity;
            for (int i = 0; i < 4; ++i) {
                bool keep = blocked ? keep_block : u(rng) >= sparsity;
                float v = keep ? nd(rng) : 0.0f;
                if (keep && v == 0.0f) v = 1e-3f;
                w[o * shape.in + 4 * g + i] = v;
                nnz += keep;
            }
        }
    }
    std::vector<float> x(tokens * shape.in);
    sparq::AlignedBuffer<float> y(tokens * shape.out);
    std::normal_distribution<float> xd(0.0f, 1.0f);
    for (auto& v : x) v = xd(rng);
    LinearDesc d;
    d.weight = w.data();
    d.bias = b.data();
    d.out = shape.out;
    d.in = shape.in;
    if (kind == s8_1x4_90_gelu || kind == s8_dense_gelu) d.act = Activation::gelu;  // fused GELU epilogue
    std::unique_ptr<DenseF32> f32;
    std::unique_ptr<S8LinearKernel> k;
    QuantOptions opts;
    if (kind == s8_unstr_90_tensor) opts.act_scale = ActScale::per_tensor;
    if (kind == f32_dense)
        f32 = std::make_unique<DenseF32>(w.data(), b.data(), shape.out, shape.in, tokens);
    else if (kind == s8_dense || kind == s8_dense_gelu)
        k = make_dense_s8(d, opts);
    else
        k = make_sparse_s8(d, opts);
    for (auto _ : state) {
        if (f32)
            f32->run(x.data(), y.data());
        else
            k->run(x.data(), y.data(), tokens, nullptr);
        benchmark::DoNotOptimize(y.data());
    }
    set_max_isa(cpu_isa());
    const double macs = static_cast<double>(nnz) * tokens;
    state.counters["GMACs"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["pct_vnni_peak"] =
        benchmark::Counter(macs / kVnniPeakMacs * 100, benchmark::Counter::kIsIterationInvariantRate);
    if (k) {
        BlockStats st = block_stats_s8(d);
        state.counters["fill"] = st.fill();
        state.SetLabel(k->name());
    }
}

// Small-model shapes (H 128 / 256, FFN 4H, 95% 1x4 as the SST-2 models): where the fixed costs
// (scales, quantize + pack, epilogue) dominate the sparse core.
const Shape kSmallShapes[] = {{"h128_qkv", 384, 128},   {"h128_attn_out", 128, 128}, {"h128_ffn1", 512, 128},
                              {"h128_ffn2", 128, 512},  {"h256_qkv", 768, 256},      {"h256_attn_out", 256, 256},
                              {"h256_ffn1", 1024, 256}, {"h256_ffn2", 256, 1024}};

int register_all() {
    for (const Shape& s : kSmallShapes)
        for (int kind : {f32_dense, s8_dense, s8_1x4_95}) {
            auto* b = benchmark::RegisterBenchmark(
                (std::string(s.name) + "/" + kKindNames[kind]).c_str(),
                [s, kind](benchmark::State& st) { bm_linear(st, s, static_cast<Kind>(kind)); });
            b->Arg(64)->Arg(256)->Arg(512)->Unit(benchmark::kMicrosecond);
        }
    for (const Shape& s : kShapes)
        for (int kind = 0; kind < 12; ++kind) {
            if (kind >= s8_unstr_90_tensor && std::string(s.name) != "ffn1") continue;
            auto* b = benchmark::RegisterBenchmark(
                (std::string(s.name) + "/" + kKindNames[kind]).c_str(),
                [s, kind](benchmark::State& st) { bm_linear(st, s, static_cast<Kind>(kind)); });
            b->Arg(128)->Arg(1024)->Unit(benchmark::kMillisecond);
        }
    return 0;
}
const int registered = register_all();

}  // namespace

namespace {
// The sparse kernel's dequantize + transpose epilogue alone: 64 tokens x `out` rows from a 64x64
// int32 chunk (L1), dst [64][out]. Small out keeps dst in L1; out = 3072 is BERT's FFN1.
void bm_epilogue_fm(benchmark::State& state) {
    const int64_t out = state.range(0), count = 64, chunk = 64;
    sparq::AlignedBuffer<int32_t> acc(chunk * count);
    sparq::AlignedBuffer<float> dst(count * out);
    std::vector<float> xs(count, 0.01f), ws(out, 0.02f), b(out, 0.1f);
    for (int64_t i = 0; i < chunk * count; ++i) acc[i] = static_cast<int32_t>(i * 7 % 1000);
    for (auto _ : state) {
        for (int64_t o0 = 0; o0 < out; o0 += chunk)
            sparq::s8::epilogue_fm(acc.data(), count, count, o0, o0 + chunk, out, xs.data(), ws.data(), b.data(),
                                   sparq::Activation::none, nullptr, dst.data());
        benchmark::DoNotOptimize(dst.data());
    }
    state.counters["ns_per_16x16"] =
        benchmark::Counter(out * count / 256.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(bm_epilogue_fm)->Arg(64)->Arg(768)->Arg(3072);
}  // namespace

namespace {
// Random 1x4-blocked weight [out][in] with `sparsity` zero blocks (N(0, 0.05) values).
std::vector<float> blocked_weight(int64_t out, int64_t in, double sparsity, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<float> w(out * in, 0.0f);
    for (int64_t o = 0; o < out; ++o)
        for (int64_t g = 0; g < in / 4; ++g)
            if (u(rng) >= sparsity)
                for (int i = 0; i < 4; ++i) w[o * in + 4 * g + i] = nd(rng) + 1e-3f;
    return w;
}

// The FFN pair (H -> 4H GELU -> H) of sparse int8 kernels (dense int8 at sparsity 0), chained
// (s8_run_chain) or one after the other. Args: {hidden, sparsity %, tokens, chained}.
void bm_ffn_chain(benchmark::State& state) {
    set_num_threads(bench_threads());
    const int64_t h = state.range(0), inter = 4 * h, tokens = state.range(2);
    const double sp = state.range(1) / 100.0;
    const bool chained = state.range(3) != 0;
    std::mt19937 rng(7);
    auto w1 = blocked_weight(inter, h, sp, rng), w2 = blocked_weight(h, inter, sp, rng);
    std::vector<float> b1(inter, 0.01f), b2(h, 0.02f);
    LinearDesc d1{w1.data(), b1.data(), inter, h, Activation::gelu, "ffn1"};
    LinearDesc d2{w2.data(), b2.data(), h, inter, Activation::none, "ffn2"};
    auto make = sp > 0 ? make_sparse_s8 : make_dense_s8;
    auto k1 = make(d1, {}), k2 = make(d2, {});
    std::normal_distribution<float> xd(0.0f, 1.0f);
    std::vector<float> x(tokens * h);
    for (auto& v : x) v = xd(rng);
    sparq::AlignedBuffer<float> mid(tokens * inter), y(tokens * h);
    for (auto _ : state) {
        if (!chained || !s8_run_chain(*k1, *k2, x.data(), y.data(), tokens)) {
            k1->run(x.data(), mid.data(), tokens, nullptr);
            k2->run(mid.data(), y.data(), tokens, nullptr);
        }
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["us_per_token"] = benchmark::Counter(tokens * 1e-6, benchmark::Counter::kIsIterationInvariantRate |
                                                                          benchmark::Counter::kInvert);
}
BENCHMARK(bm_ffn_chain)
    ->ArgNames({"h", "sp", "t", "chain"})
    ->Args({768, 90, 128, 0})->Args({768, 90, 128, 1})
    ->Args({128, 95, 512, 0})->Args({128, 95, 512, 1})
    ->Args({256, 95, 256, 0})->Args({256, 95, 256, 1})
    ->Args({768, 0, 128, 0})->Args({768, 0, 128, 1})
    ->Args({768, 0, 1024, 0})->Args({768, 0, 1024, 1})
    ->Unit(benchmark::kMicrosecond);

// Phase 1 of every sparse int8 run: per-token scales + quantize + pack of `tokens` x `in`.
void bm_scales_pack(benchmark::State& state) {
    const int64_t in = state.range(0), tokens = state.range(1), in_pad = pad_in(in);
    std::mt19937 rng(3);
    std::normal_distribution<float> xd(0.0f, 1.0f);
    std::vector<float> x(tokens * in), sc(tokens), inv(tokens);
    for (auto& v : x) v = xd(rng);
    const auto tiles = token_tiles(tokens, in_pad, 64);
    sparq::AlignedBuffer<uint8_t> packed(packed_bytes(tiles, in_pad));
    for (auto _ : state) {
        activation_scales(x.data(), tokens, in, {}, sc.data(), inv.data());
        quantize_pack_u8(x.data(), in, in_pad, inv.data(), tiles, packed.data());
        benchmark::DoNotOptimize(packed.data());
    }
    state.counters["ns_per_input"] = benchmark::Counter(
        tokens * in, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(bm_scales_pack)->Args({128, 512})->Args({768, 128})->Args({3072, 128});

// Phase 1 of every dense int8 run: per-token scales + s8 quantize of `tokens` x `in`, in two
// passes (activation_scales, then quantize_activations) or fused per row. Args: {in, tokens, fused}.
void bm_scales_quantize_s8(benchmark::State& state) {
    const int64_t in = state.range(0), tokens = state.range(1), in_pad = pad_in(in);
    const bool fused = state.range(2) != 0;
    std::mt19937 rng(3);
    std::normal_distribution<float> xd(0.0f, 1.0f);
    std::vector<float> x(tokens * in), sc(tokens), inv(tokens);
    for (auto& v : x) v = xd(rng);
    sparq::AlignedBuffer<int8_t> q(tokens * in_pad);
    for (auto _ : state) {
        if (fused) {
            scale_quantize_activations(x.data(), tokens, in, in_pad, sc.data(), inv.data(), q.data());
        } else {
            activation_scales(x.data(), tokens, in, {}, sc.data(), inv.data());
            quantize_activations(x.data(), tokens, in, in_pad, inv.data(), q.data());
        }
        benchmark::DoNotOptimize(q.data());
    }
    state.counters["ns_per_input"] = benchmark::Counter(
        tokens * in, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(bm_scales_quantize_s8)
    ->ArgNames({"in", "t", "fused"})
    ->Args({768, 1024, 0})->Args({768, 1024, 1})
    ->Args({3072, 1024, 0})->Args({3072, 1024, 1});

// The JIT vpdpbusd core alone, driven as SparseS8::compute() drives it: one 64-token tile, rows
// in chunks of 64, K chunks of `kc` groups, a random block list at 90% 1x4 sparsity (blocks
// ordered by K chunk, then row). MACs/s over the blocks and % of the VNNI peak.
void bm_core(benchmark::State& state) {
    if (!sparq::has_isa(sparq::Isa::avx512_vnni)) {
        state.SkipWithError("no AVX512-VNNI");
        return;
    }
    const int64_t out = state.range(0), in = state.range(1), kc = state.range(2), groups = in / 4;
    const int vecs = 4, width = 16 * vecs;
    const int64_t chunks = (groups + kc - 1) / kc, row_chunk = 64;
    std::mt19937 rng(7);
    std::bernoulli_distribution keep(0.1);
    std::uniform_int_distribution<int> byte(1, 255);
    std::vector<int32_t> row_ptr(chunks * (out + 1));
    std::vector<sparq::jit::S8Block> list;
    for (int64_t c = 0; c < chunks; ++c) {
        for (int64_t r = 0; r < out; ++r) {
            row_ptr[c * (out + 1) + r] = static_cast<int32_t>(list.size());
            for (int64_t g = c * kc; g < std::min(groups, (c + 1) * kc); ++g)
                if (keep(rng)) list.push_back({static_cast<int32_t>(g * 64), byte(rng) * 0x01010101});
        }
        row_ptr[c * (out + 1) + out] = static_cast<int32_t>(list.size());
    }
    sparq::AlignedBuffer<sparq::jit::S8Block> blocks(list.size());
    std::copy(list.begin(), list.end(), blocks.data());
    sparq::AlignedBuffer<uint8_t> tile(groups * width * 4);
    for (int64_t i = 0; i < groups * width * 4; ++i) tile[i] = static_cast<uint8_t>(byte(rng));
    std::vector<int32_t> comp(out, 0);
    sparq::AlignedBuffer<int32_t> acc(row_chunk * width);
    const sparq::jit::SpmmS8Vnni core(vecs);
    for (auto _ : state) {
        for (int64_t r0 = 0; r0 < out; r0 += row_chunk) {
            const int64_t r1 = std::min(r0 + row_chunk, out);
            for (int64_t c = 0; c < chunks; ++c)
                core({tile.data(), blocks.data(), row_ptr.data() + c * (out + 1) + r0, comp.data() + r0, acc.data(),
                      r1 - r0, c > 0});
        }
        benchmark::DoNotOptimize(acc.data());
    }
    const double macs = static_cast<double>(list.size()) * 4 * width;
    state.counters["GMACs"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["pct_vnni_peak"] =
        benchmark::Counter(macs * 100.0 / kVnniPeakMacs, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(bm_core)->ArgNames({"out", "in", "kc"})->Args({2304, 768, 256})->Args({768, 3072, 256})
    ->Args({3072, 768, 256})->Args({768, 3072, 128})->Args({768, 3072, 192})->Args({6912, 256, 256})
    ->Args({768, 3072, 64});
}  // namespace
