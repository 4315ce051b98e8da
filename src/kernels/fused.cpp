// Dispatch of the fused element-wise operators to the best variant allowed by max_isa().
#include "kernels/fused.hpp"

#include <algorithm>

#include "kernels/eltwise/eltwise.hpp"

namespace sparq {

const FusedOps* fused_variants(int* count) {
    static const FusedOps table[] = {
        {Isa::scalar, ref::layer_norm, ref::bias_gelu, ref::bias_gelu_tanh, ref::bias_silu,
         ref::gelu_glu, ref::silu_glu, ref::bias_residual, ref::softmax, ref::embed_layer_norm},
        {Isa::avx2, avx2::layer_norm, avx2::bias_gelu, avx2::bias_gelu_tanh, avx2::bias_silu,
         avx2::gelu_glu, avx2::silu_glu, avx2::bias_residual, avx2::softmax,
         avx2::embed_layer_norm},
        {Isa::avx512, avx512::layer_norm, avx512::bias_gelu, avx512::bias_gelu_tanh,
         avx512::bias_silu, avx512::gelu_glu, avx512::silu_glu, avx512::bias_residual,
         avx512::softmax, avx512::embed_layer_norm},
    };
    *count = static_cast<int>(sizeof(table) / sizeof(table[0]));
    return table;
}

namespace {
const FusedOps& best() {
    int n = 0;
    const FusedOps* v = fused_variants(&n);
    const FusedOps* pick = &v[0];
    for (int i = 0; i < n; ++i)
        if (has_isa(v[i].isa) && static_cast<int>(v[i].isa) >= static_cast<int>(pick->isa))
            pick = &v[i];
    return *pick;
}
}  // namespace

Isa fused_active_isa() { return best().isa; }

void layer_norm(const float* src, const float* residual, const float* gamma, const float* beta,
                float* dst, int64_t rows, int64_t cols, float eps) {
    best().layer_norm(src, residual, gamma, beta, dst, rows, cols, eps);
}
void bias_gelu(float* data, const float* bias, int64_t rows, int64_t cols) {
    best().bias_gelu(data, bias, rows, cols);
}
void bias_gelu_tanh(float* data, const float* bias, int64_t rows, int64_t cols) {
    best().bias_gelu_tanh(data, bias, rows, cols);
}
void bias_silu(float* data, const float* bias, int64_t rows, int64_t cols) {
    best().bias_silu(data, bias, rows, cols);
}

void gelu_glu(const float* u, float* out, int64_t rows, int64_t cols) {
    best().gelu_glu(u, out, rows, cols);
}
void silu_glu(const float* u, float* out, int64_t rows, int64_t cols) {
    best().silu_glu(u, out, rows, cols);
}
void bias_residual(float* data, const float* bias, const float* residual, int64_t rows,
                   int64_t cols) {
    best().bias_residual(data, bias, residual, rows, cols);
}
void softmax(float* data, int64_t rows, int64_t cols, int64_t ld, float scale, const float* mask) {
    best().softmax(data, rows, cols, ld, scale, mask);
}
void embed_layer_norm(const float* word, const float* pos, const float* type, const int32_t* ids,
                      const int32_t* pos_ids, const int32_t* type_ids, const float* gamma,
                      const float* beta, float* dst, int64_t rows, int64_t cols, float eps) {
    best().embed_layer_norm(word, pos, type, ids, pos_ids, type_ids, gamma, beta, dst, rows, cols,
                            eps);
}

}  // namespace sparq
