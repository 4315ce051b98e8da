#pragma once
// Fused element-wise operators of the encoder. Each has a scalar reference (kernels/ref) and
// vectorized variants (kernels/<op>/*_avx2.cpp, *_avx512.cpp); the public functions below
// dispatch once per call to the best variant allowed by max_isa(). Row-major, token-major data:
// `rows` tokens of `cols` features.
#include <cstdint>

#include "cpu/isa.hpp"

namespace sparq {

// dst[r] = (x - mean) / sqrt(var + eps) * gamma + beta, x = src[r] (+ residual[r] when non-null).
// dst may alias src or residual.
void layer_norm(const float* src, const float* residual, const float* gamma, const float* beta,
                float* dst, int64_t rows, int64_t cols, float eps);

// In place: data[r][c] = gelu_erf(data[r][c] + bias[c]) (bias may be null).
void bias_gelu(float* data, const float* bias, int64_t rows, int64_t cols);
// The same with the tanh form of GELU (Activation::gelu_tanh).
void bias_gelu_tanh(float* data, const float* bias, int64_t rows, int64_t cols);
// In place: data[r][c] = silu(data[r][c] + bias[c]), silu(x) = x * sigmoid(x) (bias may be null).
void bias_silu(float* data, const float* bias, int64_t rows, int64_t cols);
// Gated GELU (ModernBERT's MLP): out[r][c] = gelu(u[r][c]) * u[r][cols + c] for u [rows][2 cols],
// out [rows][cols]; the GELU is bias_gelu's (erf form).
void gelu_glu(const float* u, float* out, int64_t rows, int64_t cols);
// Gated SiLU (SwiGLU, NomicBERT's MLP): the same with bias_silu's SiLU.
void silu_glu(const float* u, float* out, int64_t rows, int64_t cols);

// In place: data[r][c] += bias[c] (+ residual[r][c]); bias or residual may be null.
void bias_residual(float* data, const float* bias, const float* residual, int64_t rows,
                   int64_t cols);

// In place, per row of `cols` (ld = row stride): data = softmax(data * scale + mask), where mask
// is an optional additive row of `cols` values shared by all rows (0 or a large negative).
void softmax(float* data, int64_t rows, int64_t cols, int64_t ld, float scale, const float* mask);

// BERT embeddings + LayerNorm for `rows` tokens, `cols` = hidden size:
// dst[r] = layer_norm((word[ids[r]] + type[type_ids[r]]) + pos[pos_ids[r]]) with gamma, beta, eps.
// pos_ids null: positions 0..rows-1 (one sequence); type_ids null: all type 0. Ids must be in
// range (callers validate them). dst must not alias the tables.
void embed_layer_norm(const float* word, const float* pos, const float* type, const int32_t* ids,
                      const int32_t* pos_ids, const int32_t* type_ids, const float* gamma,
                      const float* beta, float* dst, int64_t rows, int64_t cols, float eps);

// Explicit-ISA entry points, for tests and benchmarks (one list of variants: fused_variants()).
struct FusedOps {
    Isa isa;
    void (*layer_norm)(const float*, const float*, const float*, const float*, float*, int64_t,
                       int64_t, float);
    void (*bias_gelu)(float*, const float*, int64_t, int64_t);
    void (*bias_gelu_tanh)(float*, const float*, int64_t, int64_t);
    void (*bias_silu)(float*, const float*, int64_t, int64_t);
    void (*gelu_glu)(const float*, float*, int64_t, int64_t);
    void (*silu_glu)(const float*, float*, int64_t, int64_t);
    void (*bias_residual)(float*, const float*, const float*, int64_t, int64_t);
    void (*softmax)(float*, int64_t, int64_t, int64_t, float, const float*);
    void (*embed_layer_norm)(const float*, const float*, const float*, const int32_t*,
                             const int32_t*, const int32_t*, const float*, const float*, float*,
                             int64_t, int64_t, float);
};

// ISA of the variant the public functions above dispatch to right now (under max_isa()).
Isa fused_active_isa();

// All variants compiled in, scalar reference first; tests/benches skip those with !has_isa(isa).
const FusedOps* fused_variants(int* count);

namespace ref {
void layer_norm(const float* src, const float* residual, const float* gamma, const float* beta,
                float* dst, int64_t rows, int64_t cols, float eps);
void bias_gelu(float* data, const float* bias, int64_t rows, int64_t cols);
void bias_gelu_tanh(float* data, const float* bias, int64_t rows, int64_t cols);
void bias_silu(float* data, const float* bias, int64_t rows, int64_t cols);
void gelu_glu(const float* u, float* out, int64_t rows, int64_t cols);
void silu_glu(const float* u, float* out, int64_t rows, int64_t cols);
void bias_residual(float* data, const float* bias, const float* residual, int64_t rows,
                   int64_t cols);
void softmax(float* data, int64_t rows, int64_t cols, int64_t ld, float scale, const float* mask);
void embed_layer_norm(const float* word, const float* pos, const float* type, const int32_t* ids,
                      const int32_t* pos_ids, const int32_t* type_ids, const float* gamma,
                      const float* beta, float* dst, int64_t rows, int64_t cols, float eps);
}  // namespace ref

}  // namespace sparq
