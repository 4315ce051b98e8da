// int8 quantization: round trips within scale/2, scales per mode, and the packed u8 layout
// (vectorized packing byte-identical to the scalar reference).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cpu/isa.hpp"
#include "quant/quant.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

std::vector<float> random_vec(int64_t n, uint32_t seed, float range = 3.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-range, range);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// |x - q*s| <= s/2, up to the float rounding of x * inv_scale and of q * s (a few ulps of x).
void expect_round_trip(float x, int8_t q, float s) {
    float back = q * s;
    float tol = s / 2 + 4 * std::numeric_limits<float>::epsilon() * std::fabs(x);
    EXPECT_LE(std::fabs(x - back), tol) << "x=" << x << " q=" << int(q) << " s=" << s;
}

TEST(Quant, ValueRoundsHalfEvenAndClamps) {
    EXPECT_EQ(quantize_value(2.5f, 1.0f), 2);
    EXPECT_EQ(quantize_value(3.5f, 1.0f), 4);
    EXPECT_EQ(quantize_value(-2.5f, 1.0f), -2);
    EXPECT_EQ(quantize_value(1000.0f, 1.0f), 127);
    EXPECT_EQ(quantize_value(-1000.0f, 1.0f), -127);
    EXPECT_EQ(quantize_value(0.0f, 5.0f), 0);
    // Against nearbyint on every tie and its float neighbours, and a sweep of random values.
    auto ref = [](float x, float inv) {
        return static_cast<int8_t>(std::nearbyint(std::min(std::max(x * inv, -127.0f), 127.0f)));
    };
    for (int k = -130; k <= 130; ++k)
        for (float x : {k + 0.5f, std::nextafter(k + 0.5f, 1e9f), std::nextafter(k + 0.5f, -1e9f),
                        static_cast<float>(k), std::nextafter(static_cast<float>(k), -1e9f)})
            ASSERT_EQ(quantize_value(x, 1.0f), ref(x, 1.0f)) << x;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-200.0f, 200.0f), inv(0.01f, 3.0f);
    for (int i = 0; i < 100000; ++i) {
        const float x = u(rng), s = inv(rng);
        ASSERT_EQ(quantize_value(x, s), ref(x, s)) << x << " * " << s;
    }
}

TEST(Quant, WeightsPerChannelRoundTrip) {
    const int64_t out = 7, in = 13;
    auto w = random_vec(out * in, 1);
    for (int64_t k = 0; k < in; ++k) w[3 * in + k] = 0.0f;  // an all-zero row
    w[5 * in + 2] = 50.0f;                                  // an outlier row
    QuantizedWeights qw = quantize_weights(w.data(), out, in);
    ASSERT_EQ(qw.in_pad, 16);
    for (int64_t o = 0; o < out; ++o) {
        float m = 0;
        int32_t sum = 0, maxq = 0;
        for (int64_t k = 0; k < in; ++k) m = std::max(m, std::fabs(w[o * in + k]));
        EXPECT_FLOAT_EQ(qw.scale[o], m > 0 ? m / 127 : 1.0f);
        for (int64_t k = 0; k < in; ++k) {
            int8_t q = qw.q[o * qw.in_pad + k];
            expect_round_trip(w[o * in + k], q, qw.scale[o]);
            sum += q;
            maxq = std::max(maxq, std::abs(int32_t(q)));
        }
        for (int64_t k = in; k < qw.in_pad; ++k) EXPECT_EQ(qw.q[o * qw.in_pad + k], 0);
        EXPECT_EQ(qw.comp[o], 128 * sum);
        EXPECT_EQ(maxq, m > 0 ? 127 : 0);
    }
}

TEST(Quant, ActivationModes) {
    const int64_t tokens = 5, in = 9;
    auto x = random_vec(tokens * in, 2);
    for (int64_t k = 0; k < in; ++k) x[2 * in + k] *= 10;  // one loud token
    std::vector<float> s(tokens), inv(tokens);
    std::vector<int8_t> q(tokens * pad_in(in));

    activation_scales(x.data(), tokens, in, {ActScale::per_token, 0}, s.data(), inv.data());
    quantize_activations(x.data(), tokens, in, pad_in(in), inv.data(), q.data());
    for (int64_t t = 0; t < tokens; ++t) {
        float m = 0;
        for (int64_t k = 0; k < in; ++k) m = std::max(m, std::fabs(x[t * in + k]));
        EXPECT_FLOAT_EQ(s[t], m / 127);
        for (int64_t k = 0; k < in; ++k) expect_round_trip(x[t * in + k], q[t * pad_in(in) + k], s[t]);
    }
    std::vector<float> back(tokens * in);
    dequantize_activations(q.data(), tokens, in, pad_in(in), s.data(), back.data());
    for (int64_t i = 0; i < tokens * in; ++i) EXPECT_LE(std::fabs(back[i] - x[i]), s[i / in] / 2 * 1.0001f);

    activation_scales(x.data(), tokens, in, {ActScale::per_tensor, 0}, s.data(), inv.data());
    for (int64_t t = 1; t < tokens; ++t) EXPECT_EQ(s[t], s[0]);
    quantize_activations(x.data(), tokens, in, pad_in(in), inv.data(), q.data());
    for (int64_t i = 0; i < tokens * in; ++i) expect_round_trip(x[i], q[(i / in) * pad_in(in) + i % in], s[0]);

    activation_scales(x.data(), tokens, in, {ActScale::fixed, 0.01f}, s.data(), inv.data());
    quantize_activations(x.data(), tokens, in, pad_in(in), inv.data(), q.data());
    EXPECT_EQ(s[4], 0.01f);
    for (int64_t i = 0; i < tokens * in; ++i) {
        float x_clamped = std::min(std::max(x[i], -1.27f), 1.27f);  // saturates beyond 127 * scale
        expect_round_trip(x_clamped, q[(i / in) * pad_in(in) + i % in], 0.01f);
    }
    EXPECT_THROW(activation_scales(x.data(), tokens, in, {ActScale::fixed, 0.0f}, s.data(), inv.data()),
                 Error);
}

TEST(Quant, TokenTiles) {
    auto tiles = token_tiles(150, 8, 64);
    ASSERT_EQ(tiles.size(), 3u);
    EXPECT_EQ(tiles[1].t0, 64);
    EXPECT_EQ(tiles[2].count, 22);
    EXPECT_EQ(tiles[2].width, 32);
    EXPECT_EQ(tiles[2].offset, 2 * 64 * 8);
    EXPECT_EQ(packed_bytes(tiles, 8), (64 + 64 + 32) * 8);
    EXPECT_EQ(token_tiles(1, 8, 64)[0].width, 16);
    EXPECT_TRUE(token_tiles(0, 8, 64).empty());
}

// The packed layout is [group][width][4] u8 = s8 + 128 per tile; the dispatched (vectorized)
// packer matches the scalar one byte for byte, padding included.
// Scale of n values through the dispatched path (activation_scales with one token).
float dispatched_scale(const float* x, int64_t n) {
    float s, inv;
    activation_scales(x, 1, n, {}, &s, &inv);
    return s;
}

TEST(Quant, PackU8LayoutAndVariants) {
    for (int64_t in : {1, 4, 13, 64, 67, 130, 300}) {
        for (int64_t tokens : {1, 15, 16, 17, 33, 100}) {
            const int64_t in_pad = pad_in(in);
            auto x = random_vec(tokens * in, static_cast<uint32_t>(in * 1000 + tokens));
            std::vector<float> s(tokens), inv(tokens);
            activation_scales(x.data(), tokens, in, {}, s.data(), inv.data());
            std::vector<int8_t> q(tokens * in_pad), q_fast(tokens * in_pad, 99);
            ref::quantize_activations(x.data(), tokens, in, in_pad, inv.data(), q.data());
            quantize_activations(x.data(), tokens, in, in_pad, inv.data(), q_fast.data());
            ASSERT_EQ(q, q_fast) << "in=" << in << " tokens=" << tokens;
            EXPECT_EQ(scale_for(ref::max_abs(x.data(), tokens * in)), dispatched_scale(x.data(), tokens * in));
            auto tiles = token_tiles(tokens, in_pad, 32);
            std::vector<uint8_t> a(packed_bytes(tiles, in_pad), 1), b(a.size(), 2);
            ref::quantize_pack_u8(x.data(), in, in_pad, inv.data(), tiles, a.data());
            for (const auto& tile : tiles)
                for (int64_t j = 0; j < tile.width; ++j)
                    for (int64_t k = 0; k < in_pad; ++k) {
                        int expect = j < tile.count ? q[(tile.t0 + j) * in_pad + k] + 128 : 128;
                        ASSERT_EQ(a[tile.offset + ((k / 4) * tile.width + j) * 4 + k % 4], expect)
                            << "in=" << in << " tokens=" << tokens << " j=" << j << " k=" << k;
                    }
            quantize_pack_u8(x.data(), in, in_pad, inv.data(), tiles, b.data());
            ASSERT_EQ(a, b) << "in=" << in << " tokens=" << tokens << " isa=" << isa_name(max_isa());
            // Fused scales + quantize + pack, tile by tile, every ISA: same scales, same bytes.
            for (Isa isa : {Isa::scalar, Isa::avx512}) {
                if (static_cast<int>(isa) > static_cast<int>(cpu_isa())) continue;
                set_max_isa(isa);
                std::vector<uint8_t> c(a.size(), 3);
                std::vector<float> s2(tokens, -1.0f), inv2(tokens, -1.0f);
                for (const auto& tile : tiles)
                    scale_quantize_pack_u8(x.data() + tile.t0 * in, tile.count, tile.width, in, in_pad,
                                           s2.data() + tile.t0, inv2.data() + tile.t0, c.data() + tile.offset);
                set_max_isa(cpu_isa());
                ASSERT_EQ(s2, s) << "in=" << in << " tokens=" << tokens << " isa=" << isa_name(isa);
                ASSERT_EQ(inv2, inv) << "in=" << in << " tokens=" << tokens << " isa=" << isa_name(isa);
                ASSERT_EQ(c, a) << "in=" << in << " tokens=" << tokens << " isa=" << isa_name(isa);
            }
        }
    }
}

// Fused per-token scales + s8 quantization (one pass per row) against the two-pass reference
// (activation_scales + ref::quantize_activations): same scales, same bytes, padding zeroed, at
// every ISA; all-zero rows (scale 1) and huge values included.
TEST(Quant, ScaleQuantizeMatchesTwoPasses) {
    for (int64_t in : {1, 3, 4, 13, 64, 67, 130, 768, 3072}) {
        for (int64_t tokens : {1, 2, 17, 40}) {
            const int64_t in_pad = pad_in(in);
            auto x = random_vec(tokens * in, static_cast<uint32_t>(in * 7 + tokens));
            for (int64_t k = 0; k < in; ++k) x[k] = 0.0f;  // token 0 all zero
            if (tokens > 1) x[in + in / 2] = 1e30f;       // one huge value
            if (tokens > 2) x[2 * in] = -3e38f;
            std::vector<float> s(tokens), inv(tokens);
            activation_scales(x.data(), tokens, in, {}, s.data(), inv.data());
            std::vector<int8_t> q(tokens * in_pad);
            ref::quantize_activations(x.data(), tokens, in, in_pad, inv.data(), q.data());
            EXPECT_EQ(s[0], 1.0f);
            for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
                if (static_cast<int>(isa) > static_cast<int>(cpu_isa())) continue;
                set_max_isa(isa);
                std::vector<float> s2(tokens, -1.0f), inv2(tokens, -1.0f);
                std::vector<int8_t> q2(tokens * in_pad, 99);
                scale_quantize_activations(x.data(), tokens, in, in_pad, s2.data(), inv2.data(), q2.data());
                set_max_isa(cpu_isa());
                const std::string where = "in=" + std::to_string(in) + " tokens=" + std::to_string(tokens) +
                                          " isa=" + isa_name(isa);
                ASSERT_EQ(s2, s) << where;
                ASSERT_EQ(inv2, inv) << where;
                ASSERT_EQ(q2, q) << where;
            }
        }
    }
}

// Values far beyond the scale saturate to +-127 (never -128) on every path: static scales make
// them common; infinities and values past the int32 range included.
TEST(Quant, SaturationMatchesReference) {
    const int64_t in = 70, in_pad = pad_in(in), tokens = 19;
    auto x = random_vec(tokens * in, 9);
    const float specials[] = {1e10f, -1e10f, 3e9f, -3e9f, INFINITY, -INFINITY, 127.5f, -127.5f, -128.4f, 126.5f};
    for (int64_t i = 0; i < tokens * in; ++i) x[i] = i % 3 == 0 ? specials[i % 10] : x[i] * 300.0f;
    std::vector<float> inv(tokens, 1.0f);
    std::vector<int8_t> q(tokens * in_pad), q_fast(tokens * in_pad, 5);
    ref::quantize_activations(x.data(), tokens, in, in_pad, inv.data(), q.data());
    quantize_activations(x.data(), tokens, in, in_pad, inv.data(), q_fast.data());
    EXPECT_EQ(q, q_fast);
    EXPECT_EQ(*std::min_element(q.begin(), q.end()), -127);
    EXPECT_EQ(*std::max_element(q.begin(), q.end()), 127);
    auto tiles = token_tiles(tokens, in_pad, 64);
    std::vector<uint8_t> a(packed_bytes(tiles, in_pad), 1), b(a.size(), 2);
    ref::quantize_pack_u8(x.data(), in, in_pad, inv.data(), tiles, a.data());
    quantize_pack_u8(x.data(), in, in_pad, inv.data(), tiles, b.data());
    EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace sparq
