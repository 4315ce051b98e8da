#pragma once
// ISA-generic bodies of the element-wise kernels, written once over a vector-traits type V (see
// the V512 / V256 structs in eltwise_avx512.cpp / eltwise_avx2.cpp). Include only from ISA
// translation units; everything here has internal linkage so the AVX2 and AVX-512 instantiations
// can never be merged by the linker.
#include <cmath>
#include <cstdint>

#include "kernels/eltwise/eltwise.hpp"

namespace sparq {
namespace {

// Tag for a full vector (no tail mask).
struct Full {};

// Calls body(c, m, k) over [0, n) in vectors of V::W floats: m is Full{} or the tail mask, k
// alternates 0/1 so reductions can keep two independent accumulators.
template <class V, class Body>
inline void for_vectors(int64_t n, Body&& body) {
    constexpr int64_t w = V::W;
    int64_t c = 0;
    for (; c + 2 * w <= n; c += 2 * w) {
        body(c, Full{}, 0);
        body(c + w, Full{}, 1);
    }
    if (c + w <= n) {
        body(c, Full{}, 0);
        c += w;
    }
    if (c < n) body(c, V::tail(n - c), 1);
}

// Calls body(c, m, k) over [0, n) in vectors of V::W floats, k cycling through A independent
// accumulators: full vectors A at a time, then the remaining full vectors (k = 0, 1, ...), then
// the masked tail with k = A - 1 (for A = 2 the same assignment as for_vectors).
template <class V, int A, class Body>
inline void for_vectors_acc(int64_t n, Body&& body) {
    constexpr int64_t w = V::W;
    int64_t c = 0;
    for (; c + A * w <= n; c += A * w)
        for (int k = 0; k < A; ++k) body(c + k * w, Full{}, k);
    for (int k = 0; c + w <= n; c += w) body(c, Full{}, k++);
    if (c < n) body(c, V::tail(n - c), A - 1);
}

// Sum of a row's A accumulators, as a pairwise tree, then across the lanes.
template <class V, int A>
inline float hsum_acc(const typename V::reg* acc) {
    typename V::reg t[A];
    for (int k = 0; k < A; ++k) t[k] = acc[k];
    for (int step = 1; step < A; step *= 2)
        for (int k = 0; k + step < A; k += 2 * step) t[k] = V::add(t[k], t[k + step]);
    return V::hsum(t[0]);
}

// Passes 2 and 3 of LayerNorm on R rows ld floats apart whose sums are known: the centered
// variance with A accumulators per row (the rows are L1-resident, so no E[x^2] - mean^2
// cancellation), then y = (v - mean) * inv * gamma + beta. y may alias v.
template <class V, int R, int A>
void normalize_rows(const float* v, int64_t ld, const float* sums, const float* gamma,
                    const float* beta, float* y, int64_t n, float eps) {
    using Reg = typename V::reg;
    Reg mean[R], inv[R], acc[R][A];
    for (int r = 0; r < R; ++r) {
        mean[r] = V::set1(sums[r] / static_cast<float>(n));
        for (int k = 0; k < A; ++k) acc[r][k] = V::zero();
    }
    for_vectors_acc<V, A>(n, [&](int64_t c, auto m, int k) {
        for (int r = 0; r < R; ++r) {
            const Reg d = V::keep0(V::sub(V::ld(v + r * ld + c, m), mean[r]), m);
            acc[r][k] = V::fma(d, d, acc[r][k]);
        }
    });
    for (int r = 0; r < R; ++r)
        inv[r] = V::set1(1.0f / std::sqrt(hsum_acc<V, A>(acc[r]) / static_cast<float>(n) + eps));
    for_vectors_acc<V, 1>(n, [&](int64_t c, auto m, int) {
        const Reg g = V::ld(gamma + c, m), b = V::ld(beta + c, m);
        for (int r = 0; r < R; ++r) {
            const Reg t = V::mul(V::sub(V::ld(v + r * ld + c, m), mean[r]), inv[r]);
            V::st(y + r * ld + c, V::fma(t, g, b), m);
        }
    });
}

// LayerNorm of R rows ld floats apart, interleaved so their reduction chains (A accumulators
// per row) and their per-row latencies (sums, square root) overlap: one row at a time, each
// pass was latency-bound (~15 cycles per vector in L1, measured). Every row gets the same
// operations in the same order whatever R, so the grouping of rows never changes a result.
// Pass 1: v = x + res (stored to y first when res is given; y may alias x or res) and its sum;
// passes 2 and 3: normalize_rows.
template <class V, int R>
void layer_norm_rows(const float* x, const float* res, const float* gamma, const float* beta,
                     float* y, int64_t n, int64_t ld, float eps) {
    using Reg = typename V::reg;
    constexpr int A = 4;
    Reg acc[R][A];
    for (int r = 0; r < R; ++r)
        for (int k = 0; k < A; ++k) acc[r][k] = V::zero();
    for_vectors_acc<V, A>(n, [&](int64_t c, auto m, int k) {
        for (int r = 0; r < R; ++r) {
            Reg t = V::ld(x + r * ld + c, m);
            if (res) {
                t = V::add(t, V::ld(res + r * ld + c, m));
                V::st(y + r * ld + c, t, m);
            }
            acc[r][k] = V::add(acc[r][k], t);
        }
    });
    float sums[R];
    for (int r = 0; r < R; ++r) sums[r] = hsum_acc<V, A>(acc[r]);
    normalize_rows<V, R, A>(res ? y : x, ld, sums, gamma, beta, y, n, eps);
}

constexpr int64_t kLayerNormRows = 4;  // rows interleaved by layer_norm_impl

template <class V>
void layer_norm_impl(const float* src, const float* residual, const float* gamma, const float* beta,
                     float* dst, int64_t rows, int64_t cols, float eps) {
    const int64_t groups = (rows + kLayerNormRows - 1) / kLayerNormRows;
    for_each_row(groups, cols * kLayerNormRows, [&](int64_t i) {
        const int64_t r = i * kLayerNormRows, o = r * cols;
        const float* res = residual ? residual + o : nullptr;
        if (rows - r >= kLayerNormRows) {
            layer_norm_rows<V, kLayerNormRows>(src + o, res, gamma, beta, dst + o, cols, cols, eps);
            return;
        }
        for (int64_t j = 0; j < rows - r; ++j)
            layer_norm_rows<V, 1>(src + o + j * cols, res ? res + j * cols : nullptr, gamma, beta,
                                  dst + o + j * cols, cols, cols, eps);
    });
}

template <class V>
void embed_layer_norm_impl(const float* word, const float* pos, const float* type,
                           const int32_t* ids, const int32_t* pos_ids, const int32_t* type_ids,
                           const float* gamma, const float* beta, float* dst, int64_t rows,
                           int64_t cols, float eps) {
    using R = typename V::reg;
    for_each_row(rows, cols, [&](int64_t r) {
        const float* w = word + int64_t{ids[r]} * cols;
        const float* p = pos + (pos_ids ? int64_t{pos_ids[r]} : r) * cols;
        const float* t = type + (type_ids ? int64_t{type_ids[r]} : 0) * cols;
        float* y = dst + r * cols;
        R acc[2] = {V::zero(), V::zero()};
        // Same association as Hugging Face: (word + type) + position.
        for_vectors<V>(cols, [&](int64_t c, auto m, int k) {
            const R e = V::add(V::add(V::ld(w + c, m), V::ld(t + c, m)), V::ld(p + c, m));
            V::st(y + c, e, m);
            acc[k] = V::add(acc[k], e);
        });
        const float sum = hsum_acc<V, 2>(acc);
        normalize_rows<V, 1, 2>(y, cols, &sum, gamma, beta, y, cols, eps);
    });
}

// In place: data[r][c] = Act(data[r][c] + bias[c]), Act one of V's activations (V::gelu,
// V::gelu_tanh, V::silu).
template <class V, typename V::reg (*Act)(typename V::reg)>
void bias_act_impl(float* data, const float* bias, int64_t rows, int64_t cols) {
    for_each_row(rows, cols, [&](int64_t r) {
        float* x = data + r * cols;
        if (bias)
            for_vectors<V>(cols, [&](int64_t c, auto m, int) {
                V::st(x + c, Act(V::add(V::ld(x + c, m), V::ld(bias + c, m))), m);
            });
        else
            for_vectors<V>(cols,
                           [&](int64_t c, auto m, int) { V::st(x + c, Act(V::ld(x + c, m)), m); });
    });
}

// out[r][c] = Act(u[r][c]) * u[r][cols + c] for u [rows][2 cols]: one pass (the gated MLPs).
template <class V, auto Act>
void glu_impl(const float* u, float* out, int64_t rows, int64_t cols) {
    for_each_row(rows, cols, [&](int64_t r) {
        const float* a = u + r * 2 * cols;
        const float* g = a + cols;
        float* y = out + r * cols;
        for_vectors<V>(cols, [&](int64_t c, auto m, int) {
            V::st(y + c, V::mul(Act(V::ld(a + c, m)), V::ld(g + c, m)), m);
        });
    });
}

template <class V>
void bias_residual_impl(float* data, const float* bias, const float* residual, int64_t rows,
                        int64_t cols) {
    if (!bias && !residual) return;
    for_each_row(rows, cols, [&](int64_t r) {
        float* x = data + r * cols;
        const float* res = residual ? residual + r * cols : nullptr;
        // Same association as the reference: x + (bias + res).
        if (bias && res)
            for_vectors<V>(cols, [&](int64_t c, auto m, int) {
                const auto add = V::add(V::ld(bias + c, m), V::ld(res + c, m));
                V::st(x + c, V::add(V::ld(x + c, m), add), m);
            });
        else
            for_vectors<V>(cols, [&](int64_t c, auto m, int) {
                const float* a = bias ? bias : res;
                V::st(x + c, V::add(V::ld(x + c, m), V::ld(a + c, m)), m);
            });
    });
}

// One row of softmax(x * scale + mask). x*scale+mask is rounded like the reference (mul, then
// add) and recomputed in the exp pass instead of being stored.
template <class V, bool HasMask>
void softmax_row(float* x, int64_t n, float scale, const float* mask) {
    using R = typename V::reg;
    const R vscale = V::set1(scale);
    auto value = [&](int64_t c, auto m) {
        R t = V::mul(V::ld(x + c, m), vscale);
        if constexpr (HasMask) t = V::add(t, V::ld(mask + c, m));
        return t;
    };
    R acc[2] = {V::set1(-INFINITY), V::set1(-INFINITY)};
    for_vectors<V>(n,
                   [&](int64_t c, auto m, int k) { acc[k] = V::max_keep(acc[k], value(c, m), m); });
    const R vmax = V::set1(V::hmax(V::max(acc[0], acc[1])));
    acc[0] = acc[1] = V::zero();
    for_vectors<V>(n, [&](int64_t c, auto m, int k) {
        const R e = V::exp(V::sub(value(c, m), vmax));
        V::st(x + c, e, m);
        acc[k] = V::add(acc[k], V::keep0(e, m));
    });
    const R vinv = V::set1(1.0f / V::hsum(V::add(acc[0], acc[1])));
    for_vectors<V>(n,
                   [&](int64_t c, auto m, int) { V::st(x + c, V::mul(V::ld(x + c, m), vinv), m); });
}

template <class V>
void softmax_impl(float* data, int64_t rows, int64_t cols, int64_t ld, float scale,
                  const float* mask) {
    for_each_row(rows, cols, [&](int64_t r) {
        if (mask)
            softmax_row<V, true>(data + r * ld, cols, scale, mask);
        else
            softmax_row<V, false>(data + r * ld, cols, scale, nullptr);
    });
}

template <class V>
void exp_impl(const float* src, float* dst, int64_t n) {
    for_vectors<V>(n,
                   [&](int64_t c, auto m, int) { V::st(dst + c, V::exp(V::ld(src + c, m)), m); });
}

template <class V>
void erf_impl(const float* src, float* dst, int64_t n) {
    for_vectors<V>(n,
                   [&](int64_t c, auto m, int) { V::st(dst + c, V::erf(V::ld(src + c, m)), m); });
}

}  // namespace
}  // namespace sparq

// Defines the public variant functions of namespace `ns` from the traits type V.
#define SPARQ_ELTWISE_DEFINE(ns, V)                                                               \
    namespace sparq::ns {                                                                         \
    void layer_norm(const float* src, const float* residual, const float* gamma,                  \
                    const float* beta, float* dst, int64_t rows, int64_t cols, float eps) {       \
        layer_norm_impl<V>(src, residual, gamma, beta, dst, rows, cols, eps);                     \
    }                                                                                             \
    void bias_gelu(float* data, const float* bias, int64_t rows, int64_t cols) {                  \
        bias_act_impl<V, V::gelu>(data, bias, rows, cols);                                        \
    }                                                                                             \
    void bias_gelu_tanh(float* data, const float* bias, int64_t rows, int64_t cols) {             \
        bias_act_impl<V, V::gelu_tanh>(data, bias, rows, cols);                                   \
    }                                                                                             \
    void bias_silu(float* data, const float* bias, int64_t rows, int64_t cols) {                  \
        bias_act_impl<V, V::silu>(data, bias, rows, cols);                                        \
    }                                                                                             \
    void gelu_glu(const float* u, float* out, int64_t rows, int64_t cols) {                       \
        glu_impl<V, V::gelu>(u, out, rows, cols);                                                 \
    }                                                                                             \
    void silu_glu(const float* u, float* out, int64_t rows, int64_t cols) {                       \
        glu_impl<V, V::silu>(u, out, rows, cols);                                                 \
    }                                                                                             \
    void bias_residual(float* data, const float* bias, const float* residual, int64_t rows,       \
                       int64_t cols) {                                                            \
        bias_residual_impl<V>(data, bias, residual, rows, cols);                                  \
    }                                                                                             \
    void softmax(float* data, int64_t rows, int64_t cols, int64_t ld, float scale,                \
                 const float* mask) {                                                             \
        softmax_impl<V>(data, rows, cols, ld, scale, mask);                                       \
    }                                                                                             \
    void embed_layer_norm(const float* word, const float* pos, const float* type,                 \
                          const int32_t* ids, const int32_t* pos_ids, const int32_t* type_ids,    \
                          const float* gamma, const float* beta, float* dst, int64_t rows,        \
                          int64_t cols, float eps) {                                              \
        embed_layer_norm_impl<V>(word, pos, type, ids, pos_ids, type_ids, gamma, beta, dst, rows, \
                                 cols, eps);                                                      \
    }                                                                                             \
    void exp_f32(const float* src, float* dst, int64_t n) { exp_impl<V>(src, dst, n); }           \
    void erf_f32(const float* src, float* dst, int64_t n) { erf_impl<V>(src, dst, n); }           \
    }
