// Portable pack/unpack of the sparse kernels' feature-major token groups, and their dispatch.
#include <cmath>
#include <cstring>

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
            if (ep.act == Activation::gelu)
                v = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
            if (ep.residual) v += ep.residual[t * ld + r0 + r];
            dst[t * ld + r0 + r] = v;
        }
}

void bias_act_rows_scalar(float* y, int64_t group, int64_t rows, int64_t width, const float* bias,
                          Activation act) {
    for (int64_t r = 0; r < rows; ++r) {
        float* d = y + r * group;
        const float b = bias ? bias[r] : 0.0f;
        for (int64_t t = 0; t < width; ++t) {
            float v = d[t] + b;
            if (act == Activation::gelu) v = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
            d[t] = v;
        }
    }
}

}  // namespace spmm_detail

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
