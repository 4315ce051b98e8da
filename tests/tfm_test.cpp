// The int8 encoder's tile-major feature-major ("TFM") hidden states (kernels/s8/s8_kernels.hpp):
// conversions exact and their padding zero; the sparse int8 kernels on TFM input / output
// bit-identical to their token-major runs on the same values; LayerNorm on TFM against the
// scalar reference and its token maxima exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "kernels/fused.hpp"
#include "kernels/linear.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "sparq/error.hpp"
#include "test_util.hpp"

namespace sparq {
namespace {

constexpr int64_t kT = s8::kTfmTile;

std::vector<float> normal(int64_t n, uint32_t seed, float sd = 1.0f, float mean = 0.0f) {
    return test::normal_vector(static_cast<size_t>(n), seed, sd, mean);
}

// TFM element (t, f).
float at(const std::vector<float>& tfm, int64_t rows, int64_t t, int64_t f) {
    return tfm[(t / kT) * rows * kT + f * kT + t % kT];
}

struct Weights {
    std::vector<float> w, b;
};
// 1x4-blocked random weight at 90% zeros (rows 2 empty), bias.
Weights blocked(int64_t out, int64_t in, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> val(-1.0f, 1.0f);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    Weights W{std::vector<float>(out * in, 0.0f), std::vector<float>(out)};
    for (int64_t o = 0; o < out; ++o) {
        W.b[o] = val(rng);
        for (int64_t g = 0; 4 * g < in; ++g)
            if (o != 2 && u(rng) < 0.1)
                for (int64_t k = 4 * g; k < std::min(in, 4 * g + 4); ++k)
                    W.w[o * in + k] = val(rng);
    }
    return W;
}
LinearDesc desc(const Weights& W, int64_t out, int64_t in, Activation act) {
    LinearDesc d;
    d.weight = W.w.data();
    d.bias = W.b.data();
    d.out = out;
    d.in = in;
    d.act = act;
    d.name = "tfm";
    return d;
}

#define SKIP_WITHOUT_AVX512() \
    if (!has_isa(Isa::avx512)) GTEST_SKIP() << "the TFM steps are AVX-512 only"

TEST(Tfm, ConversionsAreExactWithZeroPadding) {
    SKIP_WITHOUT_AVX512();
    for (int64_t rows : {1, 17, 768})
        for (int64_t tokens : {1, 16, 17, 64, 100, 130}) {
            auto x = normal(tokens * rows, static_cast<uint32_t>(rows * 1000 + tokens));
            std::vector<float> t(s8::tfm_floats(tokens, rows), std::nanf("")),
                back(tokens * rows, -1.0f);
            std::vector<float> amax(s8::tfm_tiles(tokens) * kT, -1.0f);
            s8::to_tfm_avx512(x.data(), tokens, rows, t.data(), amax.data());
            s8::from_tfm_avx512(t.data(), tokens, rows, back.data());
            ASSERT_EQ(back, x) << "rows=" << rows << " tokens=" << tokens;
            for (int64_t i = 0; i < s8::tfm_tiles(tokens) * kT; ++i) {
                float m = 0.0f;
                for (int64_t f = 0; f < rows; ++f) {
                    const float v = at(t, rows, i, f);
                    if (i < tokens)
                        ASSERT_EQ(v, x[i * rows + f]);
                    else
                        ASSERT_EQ(v, 0.0f) << "padding lane " << i;
                    m = std::max(m, std::fabs(v));
                }
                ASSERT_EQ(amax[i], m) << "token " << i;
            }
        }
}

// Against ref::layer_norm (tolerance of the LayerNorm kernels: 1e-4 of max(1, |ref|) per token):
// residual or not, dst aliasing the residual (as the encoder calls it), a large common offset, a
// constant token (var = 0), one and several tiles, one and two threads (a single tile then splits
// its strips). The token maxima are those of the written output, exactly.
TEST(Tfm, LayerNormMatchesReference) {
    SKIP_WITHOUT_AVX512();
    const int saved = num_threads();
    for (int64_t rows : {17, 768})
        for (int64_t tokens : {1, 20, 64, 130})
            for (int mode = 0; mode < 3;
                 ++mode)  // 0: residual into dst, 1: none, 2: offset, dst = residual
                for (int threads : {1, 2}) {
                    set_num_threads(threads);
                    const uint32_t seed = static_cast<uint32_t>(rows * 7 + tokens * 3 + mode);
                    auto x = normal(tokens * rows, seed, 2.0f, mode == 2 ? 300.0f : 0.5f);
                    auto r = normal(tokens * rows, seed + 1, 1.0f, mode == 2 ? -40.0f : 0.0f);
                    if (tokens > 5)
                        for (int64_t f = 0; f < rows; ++f)
                            x[5 * rows + f] = 7.0f, r[5 * rows + f] = 0.25f;
                    auto g = normal(rows, seed + 2, 0.1f),
                         b = normal(rows, seed + 3, 0.1f);  // |y| < 1: maxima below 1 tested
                    const float* res = mode == 1 ? nullptr : r.data();
                    std::vector<float> want(tokens * rows);
                    ref::layer_norm(x.data(), res, g.data(), b.data(), want.data(), tokens, rows,
                                    1e-12f);

                    const int64_t n = s8::tfm_floats(tokens, rows);
                    std::vector<float> xt(n), rt(n), dt(n), got(tokens * rows);
                    std::vector<float> amax(s8::tfm_tiles(tokens) * kT);
                    s8::to_tfm_avx512(x.data(), tokens, rows, xt.data(), nullptr);
                    s8::to_tfm_avx512(r.data(), tokens, rows, rt.data(), nullptr);
                    float* dst = mode == 2 ? rt.data() : dt.data();
                    s8::layer_norm_tfm_avx512(xt.data(), res ? rt.data() : nullptr, g.data(),
                                              b.data(), dst, tokens, rows, 1e-12f, amax.data());
                    s8::from_tfm_avx512(dst, tokens, rows, got.data());
                    const std::string where =
                        "rows=" + std::to_string(rows) + " tokens=" + std::to_string(tokens) +
                        " mode=" + std::to_string(mode) + " threads=" + std::to_string(threads);
                    for (int64_t t = 0; t < tokens; ++t) {
                        float scale = 1.0f, err = 0.0f, m = 0.0f;
                        for (int64_t f = 0; f < rows; ++f)
                            scale = std::max(scale, std::fabs(want[t * rows + f]));
                        for (int64_t f = 0; f < rows; ++f) {
                            err = std::max(err, std::fabs(got[t * rows + f] - want[t * rows + f]));
                            m = std::max(m, std::fabs(got[t * rows + f]));
                        }
                        ASSERT_LE(err / scale, 1e-4) << where << " token " << t;
                        ASSERT_EQ(amax[t], m) << where << " token " << t;
                    }
                }
    set_num_threads(saved);
}

// A sparse int8 kernel on TFM input and/or output against its token-major run on the same
// values: identical bits (same scales, packed bytes, sums and epilogue per value), including the
// head-split unit-major output (sections) and the FFN chain (FFN1 with either GELU form), on 1 and
// 2 threads, token counts in one tile, across tiles and with a narrow last tile.
TEST(Tfm, SparseKernelsBitExactVsTokenMajor) {
    SKIP_WITHOUT_AVX512();
    const int saved = num_threads();
    const int64_t hidden = 48,
                  inter = 136;  // 136: FFN1 rows past two 64-row chunks, not a multiple of 16
    Weights Wq = blocked(3 * hidden, hidden, 11), W1 = blocked(inter, hidden, 12),
            W2 = blocked(hidden, inter, 13);
    auto qkv = make_sparse_s8(desc(Wq, 3 * hidden, hidden, Activation::none), {});
    auto k2 = make_sparse_s8(desc(W2, hidden, inter, Activation::none), {});
    for (Activation act : {Activation::gelu, Activation::gelu_tanh}) {
        auto k1 = make_sparse_s8(desc(W1, inter, hidden, act), {});
        ASSERT_TRUE(s8_tfm_capable(*qkv) && s8_tfm_capable(*k1) && s8_tfm_capable(*k2));
        for (int64_t tokens : {1, 17, 64, 100, 130})
            for (int threads : {1, 2}) {
                set_num_threads(threads);
                const std::string where = std::string(test::act_name(act)) +
                                          " tokens=" + std::to_string(tokens) +
                                          " threads=" + std::to_string(threads);
                auto x = normal(tokens * hidden, static_cast<uint32_t>(tokens * 5 + threads));
                std::vector<float> xt(s8::tfm_floats(tokens, hidden)),
                    amax(s8::tfm_tiles(tokens) * kT);
                s8::to_tfm_avx512(x.data(), tokens, hidden, xt.data(), amax.data());

                // TFM in, token-major out; and the head split (3 sections x 4 units).
                std::vector<float> want(tokens * 3 * hidden), got(tokens * 3 * hidden, -1.0f);
                qkv->run(x.data(), want.data(), tokens, nullptr);
                s8_run_tfm(*qkv, xt.data(), amax.data(), got.data(), false, tokens);
                ASSERT_EQ(got, want) << where;
                ASSERT_TRUE(qkv->run_by_units(x.data(), want.data(), tokens, 3, 4));
                s8_run_tfm(*qkv, xt.data(), amax.data(), got.data(), false, tokens, 3, 4);
                ASSERT_EQ(got, want) << where << " by units";

                // Token-major in, TFM out (the attention output).
                std::vector<float> h(tokens * inter), ht(s8::tfm_floats(tokens, inter)),
                    hb(tokens * inter);
                k1->run(x.data(), h.data(), tokens, nullptr);
                s8_run_tfm(*k1, x.data(), nullptr, ht.data(), true, tokens);
                s8::from_tfm_avx512(ht.data(), tokens, inter, hb.data());
                ASSERT_EQ(hb, h) << where << " TFM out";

                // TFM in and out, chained FFN.
                std::vector<float> y(tokens * hidden), yt(s8::tfm_floats(tokens, hidden)),
                    yb(tokens * hidden);
                ASSERT_TRUE(s8_run_chain(*k1, *k2, x.data(), y.data(), tokens));
                s8_run_chain_tfm(*k1, *k2, xt.data(), amax.data(), yt.data(), true, tokens);
                s8::from_tfm_avx512(yt.data(), tokens, hidden, yb.data());
                ASSERT_EQ(yb, y) << where << " chain";
                s8_run_chain_tfm(*k1, *k2, xt.data(), amax.data(), yb.data(), false, tokens);
                ASSERT_EQ(yb, y) << where << " chain, token-major out";
            }
    }
    set_num_threads(saved);
}

// The QKV kernel writing Q and K int8 (S8QK8): q8, k8, sq, sk exactly what the attention's
// quantization makes of the f32 rows the kernel writes without it (per token and head: absmax /
// 127, round(x · (127 / absmax)) half to even), V the same floats head-major; heads of 16, 32 and
// 64 rows, one and several tiles (a short last one), 1 and 2 threads; bad arguments refused.
TEST(Tfm, QkvKernelWritesInt8QueryAndKey) {
    SKIP_WITHOUT_AVX512();
    const int saved = num_threads();
    for (int64_t d : {16, 32, 64}) {
        const int64_t hidden = 128, heads = hidden / d, groups = d / 4;
        Weights Wq = blocked(3 * hidden, hidden, static_cast<uint32_t>(31 + d));
        auto qkv = make_sparse_s8(desc(Wq, 3 * hidden, hidden, Activation::none), {});
        for (int64_t tokens : {5, 64, 150})
            for (int threads : {1, 2}) {
                set_num_threads(threads);
                const std::string where = "d=" + std::to_string(d) +
                                          " tokens=" + std::to_string(tokens) +
                                          " threads=" + std::to_string(threads);
                auto x = normal(tokens * hidden, static_cast<uint32_t>(tokens + 7 * d + threads));
                std::vector<float> xt(s8::tfm_floats(tokens, hidden)),
                    amax(s8::tfm_tiles(tokens) * kT);
                s8::to_tfm_avx512(x.data(), tokens, hidden, xt.data(), amax.data());
                std::vector<float> want(tokens * 3 * hidden), got(tokens * 3 * hidden, -1.0f);
                s8_run_tfm(*qkv, xt.data(), amax.data(), want.data(), false, tokens);
                const int64_t tpad = (tokens + 63) / 64 * 64 + 16;
                std::vector<uint8_t> q8(heads * tpad * d);
                std::vector<int8_t> k8(heads * tpad * d);
                std::vector<float> sq(heads * tpad), sk(heads * tpad), vh(heads * tpad * d);
                const S8QK8 qk{q8.data(), k8.data(), sq.data(), sk.data(),
                               vh.data(), hidden,    d,         tpad};
                s8_run_tfm(*qkv, xt.data(), amax.data(), got.data(), false, tokens, 0, 0, nullptr,
                           &qk);
                for (int64_t t = 0; t < tokens; ++t) {
                    for (int64_t c = 0; c < hidden; ++c)
                        ASSERT_EQ(vh[((c / d) * tpad + t) * d + c % d],
                                  want[t * 3 * hidden + 2 * hidden + c])
                            << where << " V";
                    for (int64_t part = 0; part < 2; ++part)
                        for (int64_t hd = 0; hd < heads; ++hd) {
                            const float* row =
                                want.data() + t * 3 * hidden + part * hidden + hd * d;
                            float m = 0.0f;
                            for (int64_t c = 0; c < d; ++c) m = std::max(m, std::fabs(row[c]));
                            const float inv = m > S8QK8::kTiny ? 127.0f / m : 0.0f;
                            ASSERT_EQ((part ? sk : sq)[hd * tpad + t], m / 127.0f) << where;
                            for (int64_t c = 0; c < d; ++c) {
                                const int v = static_cast<int>(std::nearbyint(row[c] * inv));
                                if (part == 0)
                                    ASSERT_EQ(q8[(hd * tpad + t) * d + c], v + 128)
                                        << where << " q8";
                                else
                                    ASSERT_EQ(k8[((hd * groups + c / 4) * tpad + t) * 4 + c % 4], v)
                                        << where << " k8";
                            }
                        }
                }
                S8QK8 bad = qk;
                bad.tpad = tokens;  // too short for the last tile and the masked keys
                EXPECT_THROW(s8_run_tfm(*qkv, xt.data(), amax.data(), got.data(), false, tokens, 0,
                                        0, nullptr, &bad),
                             Error);
            }
    }
    set_num_threads(saved);
}

// Kernels that cannot take the layout are reported and refused with an error, not run.
TEST(Tfm, DeclinesOtherKernels) {
    Weights W = blocked(32, 16, 21);
    QuantOptions per_tensor;
    per_tensor.act_scale = ActScale::per_tensor;
    auto pt = make_sparse_s8(desc(W, 32, 16, Activation::none), per_tensor);
    auto dense = make_dense_s8(desc(W, 32, 16, Activation::none), {});
    EXPECT_FALSE(s8_tfm_capable(*pt));
    EXPECT_FALSE(s8_tfm_capable(*dense));
    std::vector<float> x(s8::tfm_floats(4, 16)), amax(kT, 1.0f), y(4 * 32);
    EXPECT_THROW(s8_run_tfm(*pt, x.data(), amax.data(), y.data(), false, 4), Error);
    EXPECT_THROW(s8_run_tfm(*dense, x.data(), amax.data(), y.data(), false, 4), Error);
    if (has_isa(Isa::avx512)) {
        auto ok = make_sparse_s8(desc(W, 32, 16, Activation::none), {});
        EXPECT_THROW(s8_run_tfm(*ok, x.data(), amax.data(), y.data(), true, 4, 2, 2),
                     Error);  // sections + TFM out
        EXPECT_THROW(s8_run_tfm(*ok, x.data(), amax.data(), y.data(), false, 0), Error);
    }
}

}  // namespace
}  // namespace sparq
