// Dense int8 weight kernel: activations quantized per run (s8, token-major), oneDNN matmul
// s8 x s8 -> s32 (VNNI / AMX kernels chosen by oneDNN), then the fused dequantization epilogue.
// The s32 output keeps the integer core bit-exact and lets per-token activation scales (which
// oneDNN 2.6 matmul output scales cannot express: they are per-N only) be applied in the epilogue.
#include <omp.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "core/buffer.hpp"
#include "core/threading.hpp"
#include "kernels/s8/s8_kernels.hpp"

namespace sparq {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// Tokens per oneDNN call. Each call streams the whole weight matrix, and the chunk's int32 output
// is dequantized right after it. Weights up to kSmallWeightBytes stay in L2 across calls, so
// small chunks keep the int32 output in L2 too; larger weights are re-read from L3 per call, so
// fewer, larger calls pay (BERT-base at 1024 tokens, 1 thread: 512 beat 128 and 256 by 3-6% on
// QKV and the FFN; 1024 was slower).
constexpr int64_t kTokenChunk = 128, kTokenChunkLarge = 512;
constexpr int64_t kSmallWeightBytes = int64_t{1} << 20;

class DenseS8 final : public S8LinearKernel {
public:
    DenseS8(const LinearDesc& d, const QuantOptions& o) : S8LinearKernel(d, o), eng_(dnnl::engine::kind::cpu, 0) {
        isa_ = cpu_isa();  // oneDNN dispatches on its own
        const int64_t k = qw_.in_pad;
        // Pick the weight layout once (for a typical token count) and reuse it for every M.
        memory::desc w_any({k, out_}, dt::s8, tag::any);
        auto pd = make_pd(128, w_any);
        w_md_ = pd.weights_desc();
        memory w_plain({{k, out_}, dt::s8, tag::ba}, eng_, const_cast<int8_t*>(qw_.q.data()));
        w_mem_ = memory(w_md_, eng_);
        dnnl::stream s(eng_);
        dnnl::reorder(w_plain, w_mem_).execute(s, w_plain, w_mem_);
        s.wait();
    }

    void accumulate(const int8_t* src_q, int32_t* acc, int64_t tokens) const override {
        const int64_t k = qw_.in_pad;
        const Prim p = primitive(tokens);
        memory src({{tokens, k}, dt::s8, tag::ab}, eng_, const_cast<int8_t*>(src_q));
        memory dst({{tokens, out_}, dt::s32, tag::ab}, eng_, acc);
        // User scratchpad, one per calling thread: the primitive may run on two threads at once
        // (Encoder's sequence-parallel batches), which oneDNN's library scratchpad forbids.
        thread_local AlignedBuffer<uint8_t> scratch;
        scratch.resize(p.scratch_md.get_size());
        memory pad(p.scratch_md, eng_, scratch.data());
        dnnl::stream s(eng_);
        p.mm.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_DST, dst},
                         {DNNL_ARG_SCRATCHPAD, pad}});
        s.wait();
    }

    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        AlignedBuffer<float> scales(tokens), inv(tokens);
        AlignedBuffer<int8_t> q(tokens * qw_.in_pad);
        AlignedBuffer<int32_t> acc(std::min(tokens, chunk_) * out_);
        quantize_input(src, tokens, scales.data(), inv.data(), q.data());
        // Token chunks, so each chunk's int32 output is dequantized while it is still in cache.
        for (int64_t c0 = 0; c0 < tokens; c0 += chunk_) {
            const int64_t n = std::min(chunk_, tokens - c0);
            accumulate(q.data() + c0 * qw_.in_pad, acc.data(), n);
            finish(acc.data(), n, scales.data() + c0, residual ? residual + c0 * out_ : nullptr, dst + c0 * out_);
        }
    }

    // Whether run_chain(next, ...) applies (see s8_run_chain).
    bool chains_with(const DenseS8& next) const {
        return out_ == next.in_ && next.opts_.act_scale != ActScale::per_tensor;
    }

    // dst = next(this(src)) chunk by chunk: this kernel's int32 rows are dequantized (bias,
    // activation) one token at a time into an L1-sized row and quantized straight to next's s8
    // input, so the [tokens][out] f32 intermediate is never written. Threads split the tokens of a
    // chunk; oneDNN runs each matmul with the same threads.
    void run_chain(const DenseS8& next, const float* src, float* dst, int64_t tokens, const float* residual,
                   S8ChainTrace* trace) const {
        const int64_t k2 = next.qw_.in_pad;
        AlignedBuffer<float> scales(tokens), inv(tokens), scales2(tokens), inv2(tokens);
        AlignedBuffer<int8_t> q(tokens * qw_.in_pad);
        const int64_t chunk = std::min(tokens, chunk_);
        AlignedBuffer<int32_t> acc(chunk * out_), acc2(chunk * next.out_);
        AlignedBuffer<int8_t> q2(chunk * k2);
        if (trace) {
            trace->q.assign(tokens * k2, 0);
            trace->scales.assign(tokens, 0.0f);
        }
        quantize_input(src, tokens, scales.data(), inv.data(), q.data());
        const float* bias = bias_.empty() ? nullptr : bias_.data();
        for (int64_t c0 = 0; c0 < tokens; c0 += chunk_) {
            const int64_t n = std::min(chunk_, tokens - c0);
            accumulate(q.data() + c0 * qw_.in_pad, acc.data(), n);
            parallel_ranges(n, num_threads(), [&](int64_t b, int64_t e) {
                AlignedBuffer<float> h(out_);
                for (int64_t t = b; t < e; ++t) {
                    s8::epilogue_tm(acc.data() + t * out_, out_, 1, out_, scales.data() + c0 + t, qw_.scale.data(),
                                    bias, act_, nullptr, h.data(), false);
                    next.quantize_rows(h.data(), 1, scales2.data() + c0 + t, inv2.data() + c0 + t,
                                       q2.data() + t * k2);
                }
            });
            if (trace) {
                std::copy(q2.data(), q2.data() + n * k2, trace->q.begin() + c0 * k2);
                std::copy(scales2.data() + c0, scales2.data() + c0 + n, trace->scales.begin() + c0);
            }
            next.accumulate(q2.data(), acc2.data(), n);
            next.finish(acc2.data(), n, scales2.data() + c0, residual ? residual + c0 * next.out_ : nullptr,
                        dst + c0 * next.out_);
        }
    }

    std::string name() const override { return "dense_s8_onednn"; }
    // BERT-base b8 s128 on 2 threads, 4 sequences per thread: 90.1 vs 81.3 ms split by stages
    // (oneDNN on AMX is fast enough for each thread's full weight stream to dominate).
    bool splits_by_sequences() const override { return false; }

private:
    // Activation scales and s8 rows q [tokens][in_pad] of src under opts_, split over the threads.
    void quantize_input(const float* src, int64_t tokens, float* scales, float* inv, int8_t* q) const {
        if (opts_.act_scale == ActScale::per_tensor) activation_scales(src, tokens, in_, opts_, scales, inv);
        parallel_ranges(tokens, num_threads(), [&](int64_t b, int64_t e) {
            if (opts_.act_scale == ActScale::per_tensor)
                quantize_activations(src + b * in_, e - b, in_, qw_.in_pad, inv + b, q + b * qw_.in_pad);
            else
                quantize_rows(src + b * in_, e - b, scales + b, inv + b, q + b * qw_.in_pad);
        });
    }
    // Same for `tokens` rows on the calling thread, per-token or fixed scales only.
    void quantize_rows(const float* src, int64_t tokens, float* scales, float* inv, int8_t* q) const {
        if (opts_.act_scale == ActScale::per_token) {
            scale_quantize_activations(src, tokens, in_, qw_.in_pad, scales, inv, q);
        } else {
            activation_scales(src, tokens, in_, opts_, scales, inv);
            quantize_activations(src, tokens, in_, qw_.in_pad, inv, q);
        }
    }
    // Dequantization epilogue of n tokens' int32 rows acc [n][out] into dst, split over the threads.
    void finish(const int32_t* acc, int64_t n, const float* scales, const float* residual, float* dst) const {
        const float* bias = bias_.empty() ? nullptr : bias_.data();
        parallel_ranges(n, num_threads(), [&](int64_t b, int64_t e) {
            s8::epilogue_tm(acc + b * out_, out_, e - b, out_, scales + b, qw_.scale.data(), bias, act_,
                            residual ? residual + b * out_ : nullptr, dst + b * out_, false);
        });
    }

    dnnl::matmul::primitive_desc make_pd(int64_t m, const memory::desc& w_md) const {
        memory::desc src_md({m, qw_.in_pad}, dt::s8, tag::ab);
        memory::desc dst_md({m, out_}, dt::s32, tag::ab);
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, w_md, dst_md), attr, eng_);
    }
    struct Prim {
        dnnl::matmul mm;
        memory::desc scratch_md;
    };
    // The primitive for m tokens at the current num_threads() (oneDNN plans its work for that
    // many threads).
    Prim primitive(int64_t m) const {
        std::lock_guard<std::mutex> lock(mu_);
        const auto key = std::make_pair(m, num_threads());
        auto it = cache_.find(key);
        if (it == cache_.end()) {
            auto pd = make_pd(m, w_md_);
            it = cache_.emplace(key, Prim{dnnl::matmul(pd), pd.scratchpad_desc()}).first;
        }
        return it->second;
    }

    dnnl::engine eng_;
    memory::desc w_md_;
    memory w_mem_;
    mutable std::mutex mu_;
    mutable std::map<std::pair<int64_t, int>, Prim> cache_;
    const int64_t chunk_ = out_ * qw_.in_pad <= kSmallWeightBytes ? kTokenChunk : kTokenChunkLarge;
};

}  // namespace

bool dense_s8_run_chain(const LinearKernel& first, const LinearKernel& second, const float* src, float* dst,
                        int64_t tokens, const float* residual, S8ChainTrace* trace) {
    const auto* a = dynamic_cast<const DenseS8*>(&first);
    const auto* b = dynamic_cast<const DenseS8*>(&second);
    if (!a || !b || tokens < 1 || !a->chains_with(*b)) return false;
    a->run_chain(*b, src, dst, tokens, residual, trace);
    return true;
}

double estimate_dense_s8_ns(int64_t out, int64_t in, int64_t tokens) {
    // One core, fitted on bench/s8_bench.cpp (BERT-base shapes, T = 128/1024, including
    // quantization and epilogue): ~1.1 ps per MAC when oneDNN runs AMX (refit: 1.13-1.4 ps
    // all-in on the BERT shapes at T = 128), ~3.5 ps per MAC on AVX512-VNNI only
    // (ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI); ~1 us fixed (H 128 shapes at T = 64). Plus the
    // weight stream: in the model each call reads its int8 weights from L3/DRAM, which the
    // isolated fit does not see (BERT-base dense int8 at b1 s128, 1 thread: 22.8 ms of linear
    // layers for 10.9 GMAC = 2.1 ps/MAC in the model vs 1.1 in isolation, i.e. ~8 GB/s of
    // weights): kWeightNsPerByte per weight byte.
    const int amx_bits = static_cast<int>(dnnl::cpu_isa::avx512_core_amx);  // isa values are bit sets
    const bool amx = (static_cast<int>(dnnl::get_effective_cpu_isa()) & amx_bits) == amx_bits;
    const double ps_per_mac = amx ? 1.1 : 3.3;
    return ps_per_mac * 1e-3 * out * in * tokens + 0.17 * out * tokens + 0.15 * in * tokens +
           kS8WeightNsPerByte * out * in + 1000.0;
}

std::unique_ptr<S8LinearKernel> make_dense_s8(const LinearDesc& desc, const QuantOptions& opts) {
    return std::make_unique<DenseS8>(desc, opts);
}

}  // namespace sparq
