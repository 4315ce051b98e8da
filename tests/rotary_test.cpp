// Rotary positions (src/model/rotary.hpp): the token-major rotation against Hugging Face's formula
// in double precision, and the packed-stream rotation equal to it on the same values.
#include "model/rotary.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "kernels/spmm/spmm.hpp"

using namespace sparq;

namespace {

// q' = q cos + rotate_half(q) sin, angles p / theta^(2j / d) (the float32 product, as HF).
double rotated(const float* head, int64_t d, int64_t i, int64_t p, double theta) {
    const int64_t half = d / 2, j = i % half;
    const float inv = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * j) / d);
    const double angle = static_cast<float>(p) * inv;
    const double other = i < half ? -double(head[i + half]) : double(head[i - half]);
    return head[i] * std::cos(angle) + other * std::sin(angle);
}

}  // namespace

TEST(Rotary, TokenMajorMatchesFormulaAndStreamMatchesTokenMajor) {
    const int64_t d = 8, heads = 3, h = d * heads, tokens = 150;
    for (double theta : {10000.0, 160000.0}) {
        SCOPED_TRACE(theta);
        const RotaryTable table(d, theta, 512);
        std::mt19937 rng(7);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        std::uniform_int_distribution<int32_t> up(0, 511);
        std::vector<float> qkv(tokens * 3 * h);
        for (float& x : qkv) x = nd(rng);
        std::vector<int32_t> pos(tokens);
        for (int32_t& p : pos) p = up(rng);
        std::vector<float> got = qkv;
        apply_rotary(got.data(), 3 * h, tokens, pos.data(), h, d, table);
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t f = 0; f < 3 * h; ++f) {
                const float* row = qkv.data() + t * 3 * h;
                if (f >= 2 * h) {  // V: untouched
                    ASSERT_EQ(got[t * 3 * h + f], row[f]);
                    continue;
                }
                const float* head = row + f / d * d;
                ASSERT_NEAR(got[t * 3 * h + f], rotated(head, d, f % d, pos[t], theta), 2e-6)
                    << "token " << t << " feature " << f;
            }
        if (!has_isa(Isa::avx512)) continue;  // the stream is AVX-512 only
        for (int threads : {1, 2}) {
            set_num_threads(threads);
            for (int64_t group : {64, 128}) {
                std::vector<float> qs(spmm_stream_floats(tokens, 3 * h, group), 5.0f);
                spmm_stream_pack(qkv.data(), qs.data(), tokens, 3 * h, group);
                apply_rotary_stream(qs.data(), tokens, pos.data(), h, d, table, group);
                std::vector<float> back(tokens * 3 * h);
                spmm_stream_unpack(qs.data(), back.data(), tokens, 3 * h, group);
                EXPECT_EQ(back, got) << "group " << group << " threads " << threads;
            }
        }
        set_num_threads(0);
    }
}
