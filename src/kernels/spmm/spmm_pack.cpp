// Portable pack/unpack of the sparse kernels' feature-major token groups, and their dispatch.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/threading.hpp"
#include "cpu/isa.hpp"
#include "kernels/spmm/spmm.hpp"

namespace sparq {
namespace spmm_detail {

void pack_tokens_scalar(const float* src, int64_t ld, int64_t in, int64_t count, int64_t group,
                        int lanes, float* dst) {
    int64_t padded = (count + lanes - 1) / lanes * lanes;
    for (int64_t i = 0; i < in; ++i) {
        float* d = dst + i * group;
        for (int64_t t = 0; t < count; ++t) d[t] = src[t * ld + i];
        for (int64_t t = count; t < padded; ++t) d[t] = 0.0f;
    }
}

void unpack_rows_scalar(const float* src, int64_t group, int64_t r0, int64_t rows, int64_t count,
                        float* dst, int64_t ld, const SpmmEpilogue& ep) {
    for (int64_t t = 0; t < count; ++t)
        for (int64_t r = 0; r < rows; ++r) {
            float v = src[r * group + t];
            if (ep.bias) v += ep.bias[r0 + r];
            v = activate(v, ep.act);
            if (ep.residual) v += ep.residual[t * ld + r0 + r];
            dst[t * ld + r0 + r] = v;
        }
}

void bias_act_rows_scalar(float* y, int64_t group, int64_t rows, int64_t width, const float* bias,
                          Activation act) {
    for (int64_t r = 0; r < rows; ++r) {
        float* d = y + r * group;
        const float b = bias ? bias[r] : 0.0f;
        for (int64_t t = 0; t < width; ++t) d[t] = activate(d[t] + b, act);
    }
}

void layer_norm_group_scalar(const float* a, const float* res, const float* gamma,
                             const float* beta, float* dst, int64_t features, int64_t group,
                             int64_t count, float eps, float* sum_out) {
    const float n = static_cast<float>(features);
    for (int64_t t = 0; t < group; ++t) {
        if (t >= count) {
            for (int64_t r = 0; r < features; ++r) {
                if (sum_out) sum_out[r * group + t] = a[r * group + t] + res[r * group + t];
                dst[r * group + t] = 0.0f;
            }
            continue;
        }
        float sum = 0.0f;
        for (int64_t r = 0; r < features; ++r) {
            const float v = a[r * group + t] + res[r * group + t];
            dst[r * group + t] = v;
            if (sum_out) sum_out[r * group + t] = v;
            sum += v;
        }
        const float mean = sum / n;
        float var = 0.0f;
        for (int64_t r = 0; r < features; ++r) {
            const float d = dst[r * group + t] - mean;
            var += d * d;
        }
        const float inv = 1.0f / std::sqrt(var / n + eps);
        for (int64_t r = 0; r < features; ++r)
            dst[r * group + t] = (dst[r * group + t] - mean) * inv * gamma[r] + beta[r];
    }
}

}  // namespace spmm_detail

int64_t spmm_stream_floats(int64_t tokens, int64_t features, int64_t group) {
    return (tokens + group - 1) / group * (features + 1) * group;
}

void spmm_stream_pack(const float* src, float* dst, int64_t tokens, int64_t features,
                      int64_t group) {
    const int64_t stride = (features + 1) * group;
    spmm_for_each_group(tokens, group, [&](int64_t g, int64_t count) {
        float* d = dst + g * stride;
        spmm_pack_tokens(Isa::avx512, src + g * group * features, features, features, count, group,
                         16, d);
        // Slots past the last vector: zero too (LayerNorm and the kernels read whole vectors).
        const int64_t padded = (count + 15) / 16 * 16;
        if (padded < group)
            for (int64_t r = 0; r < features; ++r)
                std::fill(d + r * group + padded, d + (r + 1) * group, 0.0f);
    });
}

void spmm_stream_unpack(const float* src, float* dst, int64_t tokens, int64_t features,
                        int64_t group) {
    const int64_t stride = (features + 1) * group;
    spmm_for_each_group(tokens, group, [&](int64_t g, int64_t count) {
        spmm_unpack_rows(Isa::avx512, src + g * stride, group, 0, features, count,
                         dst + g * group * features, features, SpmmEpilogue{});
    });
}

void spmm_stream_layer_norm(const float* a, const float* res, const float* gamma, const float* beta,
                            float* dst, int64_t tokens, int64_t features, int64_t group, float eps,
                            float* sum) {
    const int64_t stride = (features + 1) * group;
    const bool vec = has_isa(Isa::avx512) && group % 16 == 0;
    spmm_for_each_group(tokens, group, [&](int64_t g, int64_t count) {
        const int64_t o = g * stride;
        (vec ? spmm_detail::layer_norm_group_avx512 : spmm_detail::layer_norm_group_scalar)(
            a + o, res + o, gamma, beta, dst + o, features, group, count, eps,
            sum ? sum + o : nullptr);
    });
}

void spmm_bias_act_rows(Isa isa, float* y, int64_t group, int64_t rows, int64_t width,
                        const float* bias, Activation act) {
    if (isa >= Isa::avx512 && width % 16 == 0)
        spmm_detail::bias_act_rows_avx512(y, group, rows, width, bias, act);
    else
        spmm_detail::bias_act_rows_scalar(y, group, rows, width, bias, act);
}

void spmm_pack_tokens(Isa isa, const float* src, int64_t ld, int64_t in, int64_t count,
                      int64_t group, int lanes, float* dst) {
    if (isa >= Isa::avx512 && lanes == 16)
        spmm_detail::pack_tokens_avx512(src, ld, in, count, group, lanes, dst);
    else if (isa >= Isa::avx2 && lanes == 8)
        spmm_detail::pack_tokens_avx2(src, ld, in, count, group, lanes, dst);
    else
        spmm_detail::pack_tokens_scalar(src, ld, in, count, group, lanes, dst);
}

void spmm_unpack_rows(Isa isa, const float* src, int64_t group, int64_t r0, int64_t rows,
                      int64_t count, float* dst, int64_t ld, const SpmmEpilogue& ep) {
    if (isa >= Isa::avx512 && group % 16 == 0)
        spmm_detail::unpack_rows_avx512(src, group, r0, rows, count, dst, ld, ep);
    else if (isa >= Isa::avx2 && group % 8 == 0)
        spmm_detail::unpack_rows_avx2(src, group, r0, rows, count, dst, ld, ep);
    else
        spmm_detail::unpack_rows_scalar(src, group, r0, rows, count, dst, ld, ep);
}

}  // namespace sparq
