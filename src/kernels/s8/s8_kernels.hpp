#pragma once
// int8 weight kernels: symmetric per-output-channel int8 weights, activations quantized inside
// run() (dynamic per token by default, see QuantOptions), int32 accumulation, dequantization to
// f32 with the epilogue (bias, GELU, residual) fused. Same contract as every LinearKernel.
#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/isa.hpp"
#include "kernels/linear.hpp"
#include "quant/quant.hpp"

namespace sparq {

// An int8 LinearKernel whose exact integer core can be tested on its own.
class S8LinearKernel : public LinearKernel {
public:
    // acc[t][o] = sum_k src_q[t][k] * Wq[o][k] in int32 (src_q: [tokens][in_pad] s8, zero in the
    // padding; acc: [tokens][out]). Bit-exact across all int8 kernels.
    virtual void accumulate(const int8_t* src_q, int32_t* acc, int64_t tokens) const = 0;
    const QuantizedWeights& weights() const { return qw_; }
    const QuantOptions& options() const { return opts_; }
    // ISA the integer core runs with (chosen at construction from max_isa()).
    Isa isa() const { return isa_; }

protected:
    S8LinearKernel(const LinearDesc& desc, const QuantOptions& opts);
    QuantizedWeights qw_;
    QuantOptions opts_;
    std::vector<float> bias_;  // empty when the layer has none
    Activation act_ = Activation::none;
    Isa isa_ = Isa::scalar;
};

// Scalar reference: int32 accumulation, then the same dequantization/epilogue math as the fast
// kernels (GELU through the exact ref::bias_gelu / ref::bias_gelu_tanh).
std::unique_ptr<S8LinearKernel> make_linear_s8_ref(const LinearDesc& desc, const QuantOptions& opts);

// Dense int8 through oneDNN matmul (s8 x s8 -> s32), then the fused dequantization epilogue.
std::unique_ptr<S8LinearKernel> make_dense_s8(const LinearDesc& desc, const QuantOptions& opts);

// Sparse int8 on 1x4 blocks (one output row x four consecutive inputs): the JIT vpdpbusd kernel
// on AVX512-VNNI, exact vpmaddwd fallbacks on AVX-512/AVX2, scalar below. A weight whose zeros
// are not 1x4-blocked is grouped by aligned fours of inputs (zeros inside blocks are stored).
std::unique_ptr<S8LinearKernel> make_sparse_s8(const LinearDesc& desc, const QuantOptions& opts);

// Block statistics of a weight for the 1x4 format (after int8 quantization of each row).
struct BlockStats {
    int64_t blocks = 0;      // nonzero 1x4 blocks
    int64_t nonzeros = 0;    // nonzero int8 weights
    bool blocked = false;    // every block is all-zero or all-nonzero
    double fill() const { return blocks ? static_cast<double>(nonzeros) / (4.0 * blocks) : 1.0; }
};
BlockStats block_stats_s8(const LinearDesc& desc);

// Rough single-core time estimates in ns for `tokens` tokens, for the planner's int8 choice
// (dense vs sparse int8); linear models fitted on bench/s8_bench.cpp. `blocks`: BlockStats::blocks.
double estimate_dense_s8_ns(int64_t out, int64_t in, int64_t tokens);
// Both estimates include reading the weights from memory once per call at ~8 GB/s (one core,
// measured in the model), which decides dense vs sparse when the token count is small.
constexpr double kS8WeightNsPerByte = 0.125;
double estimate_sparse_s8_ns(int64_t out, int64_t in, int64_t blocks, int64_t tokens);

// Second's quantized input as the chain produced it (for tests): q [tokens][second.in_pad] s8,
// zero in the padding, and the per-token activation scales.
struct S8ChainTrace {
    std::vector<int8_t> q;
    std::vector<float> scales;
};

// dst = second(first(src)) (second's residual, if any) for a pair FFN1 -> FFN2 of int8 kernels
// of the same kind. Two sparse kernels: first's int32 rows of a token tile are dequantized (bias,
// activation) feature-major, the per-token absmax over all of first's outputs gives second's
// activation scale, and the values are quantized straight into second's packed u8 tile: no
// token-major intermediate, no transposes. Two dense kernels: dense_s8_run_chain. Bit-identical
// to running the two kernels one after the other. Returns false, doing nothing, when the pair
// does not chain (mixed or other kernel types, mismatched shapes, second with per-tensor scales,
// sparse pair without AVX-512 allowed by max_isa()).
bool s8_run_chain(const LinearKernel& first, const LinearKernel& second, const float* src,
                  float* dst, int64_t tokens, const float* residual = nullptr,
                  S8ChainTrace* trace = nullptr);

// The sparse int8 kernels on TFM hidden states (s8::to_tfm_avx512 below). s8_tfm_capable: k is
// a sparse int8 kernel with per-token scales whose core runs AVX-512 (and max_isa() allows it).
// s8_run_tfm: k.run on src, TFM when src_absmax (each token's max |x|, [tfm_tiles * kTfmTile])
// is given, else token-major; dst TFM when dst_tfm, else token-major (with sections > 0 the
// unit-major layout of run_by_units; not with dst_tfm). s8_run_chain_tfm: s8_run_chain with the
// same choices (no residual). Results are bit-identical to the token-major runs on the same
// values. Throw sparq::Error for kernels or arguments outside that.
// With a team (called by every thread of an enclosing parallel region, each with its id), the
// kernels run no region of their own: thread id takes token tiles id, id + n, ... (no sections).
struct S8Team {
    int id = 0, n = 1;
};
// Q and K of a fused QKV kernel (rows [0, h) Q, [h, 2h) K, [2h, 3h) V; heads of d rows) written
// int8 by its epilogue (and V head-major), for the attention's tile matmuls, with the numbers the
// attention would compute from the f32 rows (attention_s8.hpp): per token and head sq = max_c |q| /
// 127 and q8 = round(q · 127 / max) + 128 (u8), the same for K as s8. Layouts (t over all tokens of
// the call, tpad >= tokens rounded up to 64, plus 16): q8 [heads][tpad][d] (token rows), k8
// [heads][d/4][tpad][4] (4 features of a token per dword: the packed K of the tile matmul),
// sq, sk [heads][tpad]; the V rows f32 and head-major, v [heads][tpad][d] (each head's tokens
// contiguous; dst is not written). d must divide 64 and be a multiple of 16.
struct S8QK8 {
    static constexpr float kTiny = 1e-30f;  // absmax below: scale 0 (s8attn::kTiny, asserted)
    uint8_t* q8 = nullptr;
    int8_t* k8 = nullptr;
    float *sq = nullptr, *sk = nullptr, *v = nullptr;
    int64_t h = 0, d = 0, tpad = 0;
};
bool s8_tfm_capable(const LinearKernel& k);
void s8_run_tfm(const LinearKernel& k, const float* src, const float* src_absmax, float* dst,
                bool dst_tfm, int64_t tokens, int64_t sections = 0, int64_t units = 0,
                const S8Team* team = nullptr, const S8QK8* qk8 = nullptr);
void s8_run_chain_tfm(const LinearKernel& first, const LinearKernel& second, const float* src,
                      const float* src_absmax, float* dst, bool dst_tfm, int64_t tokens,
                      const S8Team* team = nullptr);

// The dense half of s8_run_chain: both kernels from make_dense_s8, first.out == second.in, second
// with per-token or fixed scales (any ISA). Per chunk of tokens, first's int32 rows are
// dequantized one token at a time into an L1-sized row and quantized straight to second's s8
// input, so the [tokens][first.out] f32 intermediate is never written. Returns false otherwise.
bool dense_s8_run_chain(const LinearKernel& first, const LinearKernel& second, const float* src,
                        float* dst, int64_t tokens, const float* residual = nullptr,
                        S8ChainTrace* trace = nullptr);

namespace s8 {
// dst[i] = the AVX-512 epilogues' GELU `act` (gelu or gelu_tanh) of src[i] (for tests; AVX-512
// only).
void gelu_pieces_avx512(const float* src, float* dst, int64_t n, Activation act);

// Feature-major dequantization of int32 rows o0..o1 of one token tile, acc [o1 - o0][ld_acc]
// (`width` tokens, a multiple of 16): h[o - o0][t] = act(fma(float(acc), act_scales[t] *
// w_scales[o], bias[o])) (row stride ld_h), and tok_max[t] = max(tok_max[t], |h[.][t]|) unless
// tok_max is null.
// AVX-512 only; the same float operations as epilogue_fm.
void fm_dequant_rows_avx512(const int32_t* acc, int64_t ld_acc, int64_t width, int64_t o0,
                            int64_t o1, const float* act_scales, const float* w_scales,
                            const float* bias, Activation act, float* h, int64_t ld_h,
                            float* tok_max);
// Quantizes groups [g0, g1) of feature-major h [rows][ld_h] (`width` tokens) with per-token
// inv_scales [width] into the packed u8 tile dst [groups][width][4] (rows >= `rows` are zero).
// AVX-512 only; the same rounding as quantize_pack_u8.
void fm_quantize_pack_avx512(const float* h, int64_t ld_h, int64_t rows, int64_t g0, int64_t g1,
                             int64_t width, const float* inv_scales, uint8_t* dst);

// Tile-major feature-major ("TFM") hidden states of the int8 encoder: tokens in tiles of
// kTfmTile (the sparse kernels' 64-token tiles), each tile [rows][kTfmTile] floats, so token t,
// feature f is at (t / kTfmTile) * rows * kTfmTile + f * kTfmTile + t % kTfmTile. Lanes past the
// last token are padding (finite; to_tfm writes zeros). The sparse int8 kernels read and write it
// without transposes, and LayerNorm on it sums down the rows with tokens as lanes.
constexpr int64_t kTfmTile = 64;
inline int64_t tfm_tiles(int64_t tokens) { return (tokens + kTfmTile - 1) / kTfmTile; }
inline int64_t tfm_floats(int64_t tokens, int64_t rows) {
    return tfm_tiles(tokens) * rows * kTfmTile;
}
// Token-major src [tokens][rows] -> TFM dst; absmax (optional, [tfm_tiles * kTfmTile]): each
// token's max |x| (padding lanes 0). AVX-512 only.
void to_tfm_avx512(const float* src, int64_t tokens, int64_t rows, float* dst, float* absmax);
// TFM src -> token-major dst [tokens][rows]. AVX-512 only.
void from_tfm_avx512(const float* src, int64_t tokens, int64_t rows, float* dst);
// dst = layer_norm(src + residual) per token on TFM tensors (residual may be null; dst may alias
// either), and absmax[t] = max_f |dst[t][f]| for every token lane ([tfm_tiles * kTfmTile]). The
// operations of the token-major LayerNorm except the order of the sums (within its tolerance,
// not bit-identical). Threads take whole tiles (tile i on thread i % threads). AVX-512 only.
// With a team (S8Team; every thread of the region calls it), thread id normalizes tiles id,
// id + n, ... (the tiles the kernels gave it) and runs no region of its own.
void layer_norm_tfm_avx512(const float* src, const float* residual, const float* gamma,
                           const float* beta, float* dst, int64_t tokens, int64_t rows, float eps,
                           float* absmax, const S8Team* team = nullptr);

// Dequantization epilogue on token-major accumulators acc [tokens][ld_acc] (first `out` used):
// v = fma(float(acc), act_scales[t] * w_scales[o], bias[o]), then act, then + residual.
// `exact_gelu` selects the scalar path with ref::bias_gelu / ref::bias_gelu_tanh (the reference);
// otherwise GELU and residual are fused in registers (AVX-512) or applied by the dispatched
// bias_gelu / bias_gelu_tanh.
void epilogue_tm(const int32_t* acc, int64_t ld_acc, int64_t tokens, int64_t out,
                 const float* act_scales, const float* w_scales, const float* bias,
                 Activation act, const float* residual, float* dst, bool exact_gelu);
// The S8QK8 epilogue: feature-major accumulators acc [o1 - o0][ld_acc] of rows [o0, o1) (whole
// heads below 2h) for the `width` tokens (a multiple of 16) starting at token t0, dequantized as
// epilogue_fm does, then quantized per token and head into q (AVX-512 only).
void epilogue_qk8_avx512(const int32_t* acc, int64_t ld_acc, int64_t width, int64_t o0, int64_t o1,
                         const float* act_scales, const float* w_scales, const float* bias,
                         const S8QK8& q, int64_t t0);
// Same on feature-major accumulators acc [o1 - o0][ld_acc] holding rows o0..o1 of `count`
// tokens; dst, residual and act_scales point at the first of those tokens (row stride `out`).
void epilogue_fm(const int32_t* acc, int64_t ld_acc, int64_t count, int64_t o0, int64_t o1,
                 int64_t out, const float* act_scales, const float* w_scales, const float* bias,
                 Activation act, const float* residual, float* dst);
}  // namespace s8

}  // namespace sparq
