// int8 quantization helpers: scalar code (vectorized variants in quant_avx512.cpp).
#include "quant/quant.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu/isa.hpp"
#include "sparq/error.hpp"

namespace sparq {

// Per row: the same scale and bytes as per-token dynamic activation quantization, so the
// vectorized scale_quantize_activations does it (~10x faster than the scalar loop it replaced:
// requantizing BERT-base's weights was ~0.4 s of loading a quantized directory).
QuantizedWeights quantize_weights(const float* w, int64_t out, int64_t in) {
    QuantizedWeights qw;
    qw.out = out;
    qw.in = in;
    qw.in_pad = pad_in(in);
    qw.q.resize(out * qw.in_pad);
    qw.scale.resize(out);
    qw.comp.resize(out);
    std::vector<float> inv(out);
    scale_quantize_activations(w, out, in, qw.in_pad, qw.scale.data(), inv.data(), qw.q.data());
    for (int64_t o = 0; o < out; ++o) {
        const int8_t* q = qw.q.data() + o * qw.in_pad;
        int32_t sum = 0;
        for (int64_t k = 0; k < in; ++k) sum += q[k];
        qw.comp[o] = 128 * sum;
    }
    return qw;
}

namespace ref {
float max_abs(const float* src, int64_t n) {
    float m = 0.0f;
    for (int64_t k = 0; k < n; ++k) m = std::max(m, std::fabs(src[k]));
    return m;
}
}  // namespace ref

float max_abs_avx512(const float* src, int64_t n);

void activation_scales(const float* src, int64_t tokens, int64_t in, const QuantOptions& opts,
                       float* scales, float* inv_scales) {
    if (opts.act_scale == ActScale::fixed) {
        if (!(opts.fixed_scale > 0.0f) || !std::isfinite(opts.fixed_scale))
            throw Error("fixed activation scale must be a positive finite number, got " +
                        std::to_string(opts.fixed_scale));
        for (int64_t t = 0; t < tokens; ++t) {
            scales[t] = opts.fixed_scale;
            inv_scales[t] = 1.0f / opts.fixed_scale;
        }
        return;
    }
    float all = 0.0f;
    const bool vec = has_isa(Isa::avx512);
    for (int64_t t = 0; t < tokens; ++t) {
        float m = vec ? max_abs_avx512(src + t * in, in) : ref::max_abs(src + t * in, in);
        scales[t] = m;  // max|x| for now
        all = std::max(all, m);
    }
    for (int64_t t = 0; t < tokens; ++t) {
        float m = opts.act_scale == ActScale::per_tensor ? all : scales[t];
        scales[t] = scale_for(m);
        inv_scales[t] = inv_scale_for(m);
    }
}

void quantize_activations_avx512(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                                 const float* inv_scales, int8_t* dst);

void quantize_activations(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                          const float* inv_scales, int8_t* dst) {
    if (has_isa(Isa::avx512))
        quantize_activations_avx512(src, tokens, in, in_pad, inv_scales, dst);
    else
        ref::quantize_activations(src, tokens, in, in_pad, inv_scales, dst);
}

void ref::quantize_activations(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                               const float* inv_scales, int8_t* dst) {
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t k = 0; k < in; ++k) dst[t * in_pad + k] = quantize_value(src[t * in + k], inv_scales[t]);
        for (int64_t k = in; k < in_pad; ++k) dst[t * in_pad + k] = 0;
    }
}

void scale_quantize_activations_avx512(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                                       float* scales, float* inv_scales, int8_t* dst);

void scale_quantize_activations(const float* src, int64_t tokens, int64_t in, int64_t in_pad,
                                float* scales, float* inv_scales, int8_t* dst) {
    if (has_isa(Isa::avx512)) {
        scale_quantize_activations_avx512(src, tokens, in, in_pad, scales, inv_scales, dst);
        return;
    }
    for (int64_t t = 0; t < tokens; ++t) {
        activation_scales(src + t * in, 1, in, {}, scales + t, inv_scales + t);
        ref::quantize_activations(src + t * in, 1, in, in_pad, inv_scales + t, dst + t * in_pad);
    }
}

void dequantize_activations(const int8_t* src, int64_t tokens, int64_t in, int64_t in_pad,
                            const float* scales, float* dst) {
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t k = 0; k < in; ++k) dst[t * in + k] = src[t * in_pad + k] * scales[t];
}

std::vector<TokenTile> token_tiles(int64_t tokens, int64_t in_pad, int64_t full_width) {
    std::vector<TokenTile> tiles;
    int64_t offset = 0;
    for (int64_t t0 = 0; t0 < tokens; t0 += full_width) {
        TokenTile tile;
        tile.t0 = t0;
        tile.count = std::min(full_width, tokens - t0);
        tile.width = 16;
        while (tile.width < tile.count) tile.width *= 2;
        tile.width = std::min(tile.width, full_width);
        tile.offset = offset;
        offset += tile.width * in_pad;
        tiles.push_back(tile);
    }
    return tiles;
}

int64_t packed_bytes(const std::vector<TokenTile>& tiles, int64_t in_pad) {
    return tiles.empty() ? 0 : tiles.back().offset + tiles.back().width * in_pad;
}

namespace ref {
void quantize_pack_u8(const float* src, int64_t in, int64_t in_pad, const float* inv_scales,
                      const std::vector<TokenTile>& tiles, uint8_t* dst) {
    for (const TokenTile& tile : tiles) {
        uint8_t* base = dst + tile.offset;
        for (int64_t j = 0; j < tile.width; ++j) {
            const int64_t t = tile.t0 + j;
            for (int64_t k = 0; k < in_pad; ++k) {
                int8_t q = 0;
                if (j < tile.count && k < in) q = quantize_value(src[t * in + k], inv_scales[t]);
                base[((k / 4) * tile.width + j) * 4 + k % 4] = static_cast<uint8_t>(q + 128);
            }
        }
    }
}
}  // namespace ref

void quantize_pack_u8_avx512(const float* src, int64_t in, int64_t in_pad, const float* inv_scales,
                             const std::vector<TokenTile>& tiles, uint8_t* dst);

void quantize_pack_u8(const float* src, int64_t in, int64_t in_pad, const float* inv_scales,
                      const std::vector<TokenTile>& tiles, uint8_t* dst) {
    if (has_isa(Isa::avx512))
        quantize_pack_u8_avx512(src, in, in_pad, inv_scales, tiles, dst);
    else
        ref::quantize_pack_u8(src, in, in_pad, inv_scales, tiles, dst);
}

void scale_quantize_pack_u8_avx512(const float* src, int64_t count, int64_t width, int64_t in, int64_t in_pad,
                                   float* scales, float* inv_scales, uint8_t* dst);

void scale_quantize_pack_u8(const float* src, int64_t count, int64_t width, int64_t in, int64_t in_pad,
                            float* scales, float* inv_scales, uint8_t* dst) {
    if (has_isa(Isa::avx512)) {
        scale_quantize_pack_u8_avx512(src, count, width, in, in_pad, scales, inv_scales, dst);
        return;
    }
    activation_scales(src, count, in, {}, scales, inv_scales);
    TokenTile tile;
    tile.count = count;
    tile.width = width;
    ref::quantize_pack_u8(src, in, in_pad, inv_scales, {tile}, dst);
}

}  // namespace sparq
