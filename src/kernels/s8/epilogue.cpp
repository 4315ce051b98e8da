// Dequantization epilogues of the int8 kernels and the shared S8LinearKernel constructor.
#include <algorithm>
#include <cmath>
#include <string>

#include "cpu/isa.hpp"
#include "kernels/fused.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "sparq/error.hpp"

namespace sparq {

namespace {
// int32 accumulators hold at most in_pad * 255 * 127 (u8 activations x s8 weights).
const LinearDesc& check_s8_desc(const LinearDesc& d) {
    constexpr int64_t kMaxIn = (int64_t{1} << 31) / (255 * 127) / 4 * 4;
    if (d.in > kMaxIn)
        throw Error("int8 kernel for '" + d.name + "': at most " + std::to_string(kMaxIn) +
                    " inputs fit int32 accumulation, got " + std::to_string(d.in));
    return d;
}
}  // namespace

S8LinearKernel::S8LinearKernel(const LinearDesc& desc, const QuantOptions& opts)
    : qw_(quantize_weights(check_s8_desc(desc).weight, desc.out, desc.in)), opts_(opts), act_(desc.act) {
    out_ = desc.out;
    in_ = desc.in;
    if (desc.bias) bias_.assign(desc.bias, desc.bias + desc.out);
}

namespace s8 {

void epilogue_fm_avx512(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                        int64_t out, const float* act_scales, const float* w_scales,
                        const float* bias, Activation act, const float* residual, float* dst);
void epilogue_tm_avx512(const int32_t* acc, int64_t ld_acc, int64_t tokens, int64_t out,
                        const float* act_scales, const float* w_scales, const float* bias,
                        Activation act, const float* residual, float* dst);

namespace {
// In place on `rows` rows of `cols` floats (row stride ld): data = act(data), through the scalar
// reference (exact) or the dispatched vector variant.
void apply_act(float* data, int64_t rows, int64_t cols, int64_t ld, Activation act, bool exact) {
    if (!is_gelu(act)) return;
    const bool tanh = act == Activation::gelu_tanh;
    void (*const fn)(float*, const float*, int64_t, int64_t) =
        exact ? (tanh ? ref::bias_gelu_tanh : ref::bias_gelu) : (tanh ? bias_gelu_tanh : bias_gelu);
    if (ld == cols)
        fn(data, nullptr, rows, cols);
    else
        for (int64_t r = 0; r < rows; ++r) fn(data + r * ld, nullptr, 1, cols);
}
}  // namespace

// The one dequantization formula: v = fma(float(acc), act_scale * w_scale, bias), rounded once
// (the vector paths use vfmadd, so every path gives the same bits).
inline float dequant(int32_t acc, float xs, float ws, const float* bias, int64_t o) {
    float s = xs * ws;
    return bias ? std::fma(static_cast<float>(acc), s, bias[o]) : static_cast<float>(acc) * s;
}

void epilogue_tm(const int32_t* acc, int64_t ld_acc, int64_t tokens, int64_t out,
                 const float* act_scales, const float* w_scales, const float* bias,
                 Activation act, const float* residual, float* dst, bool exact_gelu) {
    if (has_isa(Isa::avx512) && !exact_gelu) {
        epilogue_tm_avx512(acc, ld_acc, tokens, out, act_scales, w_scales, bias, act, residual,
                           dst);
        return;
    }
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t o = 0; o < out; ++o)
            dst[t * out + o] = dequant(acc[t * ld_acc + o], act_scales[t], w_scales[o], bias, o);
    apply_act(dst, tokens, out, out, act, exact_gelu);
    if (residual)
        for (int64_t i = 0; i < tokens * out; ++i) dst[i] += residual[i];
}

void epilogue_fm(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                 int64_t out, const float* act_scales, const float* w_scales, const float* bias,
                 Activation act, const float* residual, float* dst) {
    if (has_isa(Isa::avx512)) {
        epilogue_fm_avx512(acc, ld_acc, count, o0, o1, out, act_scales, w_scales, bias, act,
                           residual, dst);
        return;
    }
    // Blocked transpose so each dst line is filled from a small window of acc rows.
    constexpr int64_t kB = 16;
    for (int64_t ob = o0; ob < o1; ob += kB)
        for (int64_t t = 0; t < count; ++t) {
            const float xs = act_scales[t];
            float* d = dst + t * out;
            for (int64_t o = ob; o < std::min(ob + kB, o1); ++o)
                d[o] = dequant(acc[(o - o0) * ld_acc + t], xs, w_scales[o], bias, o);
        }
    apply_act(dst + o0, count, o1 - o0, out, act, false);
    if (residual)
        for (int64_t t = 0; t < count; ++t)
            for (int64_t o = o0; o < o1; ++o) dst[t * out + o] += residual[t * out + o];
}

}  // namespace s8
}  // namespace sparq
