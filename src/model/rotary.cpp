#include "model/rotary.hpp"

#include <algorithm>
#include <cmath>

#include "core/threading.hpp"
#include "kernels/spmm/spmm.hpp"

namespace sparq {

RotaryTable::RotaryTable(int64_t d, double theta, int64_t positions, double ntk_factor)
    : half_(d / 2), positions_(positions), cs_(static_cast<size_t>(positions * d)) {
    std::vector<float> inv(static_cast<size_t>(half_));
    // GTE: inv_freq / f ** (2 / d), a Python float divisor applied in float32.
    const float divisor = static_cast<float>(std::pow(ntk_factor, 2.0 / static_cast<double>(d)));
    for (int64_t j = 0; j < half_; ++j) {
        // torch: base ** (arange(0, d, 2).float() / d) in float32, then 1.0 / that.
        const float e = static_cast<float>(2 * j) / static_cast<float>(d);
        inv[j] = 1.0f / std::pow(static_cast<float>(theta), e);
        if (ntk_factor != 1.0) inv[j] /= divisor;
    }
    for (int64_t p = 0; p < positions; ++p)
        for (int64_t j = 0; j < half_; ++j) {
            const float angle = static_cast<float>(p) * inv[j];  // float32 as Hugging Face
            cs_[p * d + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
            cs_[p * d + half_ + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
        }
}

void apply_rotary(float* qkv, int64_t ld, int64_t tokens, const int32_t* pos, int64_t hidden,
                  int64_t d, const RotaryTable& table) {
    const int64_t half = d / 2, heads = hidden / d;
    const int threads = static_cast<int>(std::min<int64_t>(num_threads(), 1 + tokens / 64));
    parallel_ranges(tokens, threads, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const float* c = table.cos(pos[t]);
            const float* s = table.sin(pos[t]);
            for (int64_t part = 0; part < 2; ++part)  // Q, then K
                for (int64_t h = 0; h < heads; ++h) {
                    float* a = qkv + t * ld + part * hidden + h * d;
                    float* b = a + half;
                    for (int64_t j = 0; j < half; ++j) {
                        const float x = a[j], y = b[j];
                        a[j] = x * c[j] - y * s[j];
                        b[j] = y * c[j] + x * s[j];
                    }
                }
        }
    });
}

void apply_rotary_stream(float* qs, int64_t tokens, const int32_t* pos, int64_t hidden, int64_t d,
                         const RotaryTable& table, int64_t group) {
    const int64_t half = d / 2, heads = hidden / d, stride = (3 * hidden + 1) * group;
    spmm_for_each_group(tokens, group, [&](int64_t g, int64_t count) {
        // The cos / sin of the group's tokens' positions, [half][group], then every Q and K
        // head's row pairs along the tokens.
        thread_local std::vector<float> c, s;
        c.resize(static_cast<size_t>(half * group));
        s.resize(c.size());
        for (int64_t t = 0; t < count; ++t)
            for (int64_t j = 0; j < half; ++j) {
                c[j * group + t] = table.cos(pos[g * group + t])[j];
                s[j * group + t] = table.sin(pos[g * group + t])[j];
            }
        float* base = qs + g * stride;
        for (int64_t h = 0; h < 2 * heads; ++h)  // Q's heads, then K's
            for (int64_t j = 0; j < half; ++j) {
                float* a = base + (h * d + j) * group;
                float* b = a + half * group;
                const float* cj = c.data() + j * group;
                const float* sj = s.data() + j * group;
                for (int64_t t = 0; t < count; ++t) {
                    const float x = a[t], y = b[t];
                    a[t] = x * cj[t] - y * sj[t];
                    b[t] = y * cj[t] + x * sj[t];
                }
            }
    });
}

}  // namespace sparq
