#pragma once
// A "weight kernel": one linear layer Y = X · Wᵀ + b with its fused epilogue, chosen once per weight
// matrix at load time (dense f32 oneDNN, sparse f32 JIT, dense int8, sparse int8 JIT).
// Activations are token-major: src is [tokens][in], dst and residual are [tokens][out].
#include <cstdint>
#include <memory>
#include <string>

namespace sparq {

// Fused epilogue, applied in this order: + bias, then activation, then + residual.
enum class Activation {
    none,
    // x/2 * (1 + erf(x / sqrt(2))): Hugging Face's "gelu" (the erf form).
    gelu,
    // x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))): the tanh approximation, Hugging Face's
    // "gelu_new" (= "gelu_fast" = "gelu_pytorch_tanh").
    gelu_tanh,
};

// Whether act is a GELU (either form).
constexpr bool is_gelu(Activation act) {
    return act == Activation::gelu || act == Activation::gelu_tanh;
}

// act(v) in float as every scalar path computes it (libm erf / tanh on the formulas above): the
// reference the vectorized activations are tested against.
float activate(float v, Activation act);

// Kernels copy (or re-pack) what they need from the desc when they are built: its weight and bias
// pointers need not outlive the kernel (the encoder frees its f32 weights after planning).
struct LinearDesc {
    const float* weight = nullptr;  // [out][in] row-major, as Hugging Face stores nn.Linear
    const float* bias = nullptr;    // [out] or null
    int64_t out = 0, in = 0;
    Activation act = Activation::none;
    std::string name;  // tensor name, for plans and errors
};

class LinearKernel {
public:
    virtual ~LinearKernel() = default;
    // dst[t][o] = act(sum_i src[t][i] * W[o][i] + b[o]) + residual[t][o] (residual may be null).
    // Runs on num_threads() threads. tokens may be any value >= 1.
    virtual void run(const float* src, float* dst, int64_t tokens,
                     const float* residual = nullptr) const = 0;
    // Short kernel name for plans, e.g. "dense_f32_onednn", "spmm_f32_4x32_avx512".
    virtual std::string name() const = 0;
    // Whether the kernel gains when a batch's sequences are split across the threads, each
    // thread running it single-threaded on its share (Encoder::set_sequence_parallel). False
    // for kernels bound by streaming their weights, which every thread would then read in full.
    virtual bool splits_by_sequences() const { return true; }
    // run() (no residual) with the output rows split into units for the threads: out =
    // sections * units * per rows, row r = (s * units + u) * per + f, and thread i of n computes,
    // in every section, the rows of units split_range(units, n, i) for all tokens. dst is
    // unit-major: dst[u][t][s * per + f] (each unit's rows of all sections for all tokens are one
    // contiguous block of tokens * sections * per floats). The fused QKV uses it with sections =
    // 3 (Q, K, V) and units = heads: each thread writes one contiguous block per head, the Q/K/V
    // of exactly the heads its attention then reads (Encoder: one core's output never crosses to
    // the other, and no two threads write into the same rows: interleaved column ranges of shared
    // rows ran 1.2-1.7x slower on two threads here). Returns false, computing nothing, when the
    // kernel has no such split (callers use run()).
    virtual bool run_by_units(const float* src, float* dst, int64_t tokens, int64_t sections,
                              int64_t units) const {
        (void)src, (void)dst, (void)tokens, (void)sections, (void)units;
        return false;
    }
    int64_t out() const { return out_; }
    int64_t in() const { return in_; }

protected:
    int64_t out_ = 0, in_ = 0;
};

// Dense f32 through oneDNN matmul (weights re-packed once into oneDNN's preferred layout).
std::unique_ptr<LinearKernel> make_dense_f32(const LinearDesc& desc);

// Scalar reference of the same contract (tests compare every kernel with it).
std::unique_ptr<LinearKernel> make_linear_ref(const LinearDesc& desc);

}  // namespace sparq
