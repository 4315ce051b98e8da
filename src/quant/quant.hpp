#pragma once
// int8 quantization: symmetric per-output-channel int8 weights, dynamic (per token or per tensor)
// or static (calibrated) symmetric int8 activations, and the activation packings the int8
// kernels read. Every quantized value is q = clamp(round_half_even(x * inv_scale), -127, 127)
// with inv_scale = 127 / max|x| and scale = max|x| / 127, so x ≈ q * scale with |error| <= scale/2
// (for values within the calibrated range).
#include <cstdint>
#include <vector>

namespace sparq {

// How activation scales are chosen inside an int8 kernel's run().
enum class ActScale {
    per_token,   // one scale per token (row of src), computed at run time: the default
    per_tensor,  // one scale for all tokens of the call, computed at run time
    fixed        // QuantOptions::fixed_scale, calibrated offline (values beyond it saturate)
};

struct QuantOptions {
    ActScale act_scale = ActScale::per_token;
    float fixed_scale = 0.0f;  // activation scale (max|x| / 127) when act_scale == fixed
};

// Largest int8 magnitude used (symmetric range [-127, 127]; -128 is never produced).
constexpr int kQmax = 127;

// Symmetric scale for values of largest magnitude max_abs (1 when max_abs == 0).
inline float scale_for(float max_abs) { return max_abs > 0.0f ? max_abs / kQmax : 1.0f; }
// Multiplier that maps values to the int8 grid: 1 / scale, computed as 127 / max_abs.
inline float inv_scale_for(float max_abs) { return max_abs > 0.0f ? kQmax / max_abs : 1.0f; }

// q = clamp(round_half_even(x * inv_scale), -127, 127) for finite x. Inline, and rounded by
// adding and subtracting 1.5 * 2^23 (exact round-half-even for |v| <= 2^22 in the default
// rounding mode, as nearbyint) so loops over it vectorize: nearbyintf is a libm call on
// baseline x86-64 (no SSE4.1), which made requantizing a BERT-base ~0.4 s of a 1.9 s load.
inline int8_t quantize_value(float x, float inv_scale) {
    float v = x * inv_scale;
    v = v < -static_cast<float>(kQmax) ? -static_cast<float>(kQmax) : v;
    v = v > static_cast<float>(kQmax) ? static_cast<float>(kQmax) : v;
    constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
    return static_cast<int8_t>(static_cast<int32_t>((v + kRound) - kRound));
}

// Per-output-channel symmetric int8 weights, rows zero-padded to in_pad (a multiple of 4).
struct QuantizedWeights {
    int64_t out = 0, in = 0, in_pad = 0;
    std::vector<int8_t> q;       // [out][in_pad], zero in the padding
    std::vector<float> scale;    // [out] dequantization scale of each row
    std::vector<int32_t> comp;   // [out] 128 * sum_k q[o][k]: the u8 = s8 + 128 compensation
};

// Quantizes a row-major [out][in] f32 weight per output row.
QuantizedWeights quantize_weights(const float* w, int64_t out, int64_t in);

// Rounds in up to the kernels' reduction granule (4 inputs per vpdpbusd).
inline int64_t pad_in(int64_t in) { return (in + 3) / 4 * 4; }

// Activation scales of src [tokens][in] under opts: scales[t] and inv_scales[t] for every token.
// Throws sparq::Error if opts is fixed with a non-positive scale.
void activation_scales(const float* src, int64_t tokens, int64_t in, const QuantOptions& opts,
                       float* scales, float* inv_scales);

// dst [tokens][in_pad] s8 (zero in the padding) from src [tokens][in] with per-token inv_scales.
void quantize_activations(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                          const float* inv_scales, int8_t* dst);

// Per-token dynamic scales (scales[t], inv_scales[t] as activation_scales computes them) and
// dst [tokens][in_pad] s8 (zero in the padding), row by row so each row of src is read from
// memory once. Same scales and bytes as activation_scales (per token) + quantize_activations.
void scale_quantize_activations(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                                float* scales, float* inv_scales, int8_t* dst);

// Dequantization: dst[t][k] = q[t][k] * scales[t] for k < in.
void dequantize_activations(const int8_t* src, int64_t tokens, int64_t in, int64_t in_pad,
                            const float* scales, float* dst);

// Token tiling of the packed u8 layout used by the sparse int8 kernels: tokens are cut into
// tiles of `width` tokens (a multiple of 16); inside a tile the activations are stored
// [in_pad/4][width][4] as u8 = s8 + 128 (vpdpbusd's unsigned operand), so the 4 consecutive
// inputs of one token form one dword and 16 tokens of one group form one 64-byte vector.
// All tiles have width full_width except the last, which is narrowed to the smallest
// 16 * 2^j >= its token count; padding tokens hold 128 (s8 zero).
struct TokenTile {
    int64_t t0 = 0, count = 0;   // tokens [t0, t0 + count)
    int64_t width = 0;           // tokens stored per group (multiple of 16)
    int64_t offset = 0;          // byte offset of the tile in the packed buffer
};
std::vector<TokenTile> token_tiles(int64_t tokens, int64_t in_pad, int64_t full_width);
// Total bytes of the packed buffer for these tiles.
int64_t packed_bytes(const std::vector<TokenTile>& tiles, int64_t in_pad);

// Quantizes src [tokens][in] with per-token inv_scales and packs it into the tiled u8 layout.
void quantize_pack_u8(const float* src, int64_t in, int64_t in_pad, const float* inv_scales,
                      const std::vector<TokenTile>& tiles, uint8_t* dst);

// Per-token dynamic scales (scales[j], inv_scales[j] as activation_scales computes them) and
// quantize + pack of one tile of `count` tokens (src: its first token) into dst (the tile's first
// byte, `width` token slots), 16 tokens at a time so src is read from memory once. Same bytes as
// activation_scales + quantize_pack_u8.
void scale_quantize_pack_u8(const float* src, int64_t count, int64_t width, int64_t in, int64_t in_pad,
                            float* scales, float* inv_scales, uint8_t* dst);

namespace ref {
// Scalar reference of quantize_activations.
void quantize_activations(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                          const float* inv_scales, int8_t* dst);
// max_k |src[k]| (0 for n == 0).
float max_abs(const float* src, int64_t n);
// Scalar reference of quantize_pack_u8 (the dispatching version may vectorize).
void quantize_pack_u8(const float* src, int64_t in, int64_t in_pad, const float* inv_scales,
                      const std::vector<TokenTile>& tiles, uint8_t* dst);
}  // namespace ref

}  // namespace sparq
