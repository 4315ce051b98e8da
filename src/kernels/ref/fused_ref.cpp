// Scalar references of the fused element-wise operators: the definition of correct, and the
// fallback on CPUs without AVX2. Accumulates in double where it matters for the reference.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/fused.hpp"
#include "kernels/linear.hpp"

namespace sparq::ref {
namespace {
void bias_act(float* data, const float* bias, int64_t rows, int64_t cols, Activation act) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            data[r * cols + c] = activate(data[r * cols + c] + (bias ? bias[c] : 0.0f), act);
}
}  // namespace

void layer_norm(const float* src, const float* residual, const float* gamma, const float* beta,
                float* dst, int64_t rows, int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* x = src + r * cols;
        const float* res = residual ? residual + r * cols : nullptr;
        float* y = dst + r * cols;
        double sum = 0, sq = 0;
        for (int64_t c = 0; c < cols; ++c) {
            double v = x[c] + (res ? res[c] : 0.0f);
            sum += v;
            sq += v * v;
        }
        double mean = sum / cols;
        double var = sq / cols - mean * mean;
        if (var < 0) var = 0;
        double inv = 1.0 / std::sqrt(var + eps);
        for (int64_t c = 0; c < cols; ++c) {
            double v = x[c] + (res ? res[c] : 0.0f);
            y[c] = static_cast<float>((v - mean) * inv * gamma[c] + beta[c]);
        }
    }
}

void bias_gelu(float* data, const float* bias, int64_t rows, int64_t cols) {
    bias_act(data, bias, rows, cols, Activation::gelu);
}
void bias_gelu_tanh(float* data, const float* bias, int64_t rows, int64_t cols) {
    bias_act(data, bias, rows, cols, Activation::gelu_tanh);
}
void bias_silu(float* data, const float* bias, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows * cols; ++i) {
        const double x = data[i] + (bias ? bias[i % cols] : 0.0f);
        data[i] = static_cast<float>(x / (1.0 + std::exp(-x)));
    }
}

// The gated activations: act of the first half (the in-place op above), times the second half.
namespace {
void glu(const float* u, float* out, int64_t rows, int64_t cols,
         void (*act)(float*, const float*, int64_t, int64_t)) {
    for (int64_t r = 0; r < rows; ++r) {
        float* y = out + r * cols;
        std::copy(u + r * 2 * cols, u + r * 2 * cols + cols, y);
        act(y, nullptr, 1, cols);
        for (int64_t c = 0; c < cols; ++c) y[c] *= u[r * 2 * cols + cols + c];
    }
}
}  // namespace
void gelu_glu(const float* u, float* out, int64_t rows, int64_t cols) {
    glu(u, out, rows, cols, bias_gelu);
}
void silu_glu(const float* u, float* out, int64_t rows, int64_t cols) {
    glu(u, out, rows, cols, bias_silu);
}

void bias_residual(float* data, const float* bias, const float* residual, int64_t rows,
                   int64_t cols) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            data[r * cols + c] += (bias ? bias[c] : 0.0f) + (residual ? residual[r * cols + c] : 0.0f);
}

void softmax(float* data, int64_t rows, int64_t cols, int64_t ld, float scale, const float* mask) {
    for (int64_t r = 0; r < rows; ++r) {
        float* x = data + r * ld;
        float mx = -INFINITY;
        for (int64_t c = 0; c < cols; ++c) {
            x[c] = x[c] * scale + (mask ? mask[c] : 0.0f);
            mx = std::max(mx, x[c]);
        }
        double sum = 0;
        for (int64_t c = 0; c < cols; ++c) {
            x[c] = std::exp(x[c] - mx);
            sum += x[c];
        }
        float inv = static_cast<float>(1.0 / sum);
        for (int64_t c = 0; c < cols; ++c) x[c] *= inv;
    }
}

void embed_layer_norm(const float* word, const float* pos, const float* type, const int32_t* ids,
                      const int32_t* pos_ids, const int32_t* type_ids, const float* gamma,
                      const float* beta, float* dst, int64_t rows, int64_t cols, float eps) {
    std::vector<float> row(cols);
    for (int64_t r = 0; r < rows; ++r) {
        const float* w = word + int64_t{ids[r]} * cols;
        const float* p = pos + (pos_ids ? int64_t{pos_ids[r]} : r) * cols;
        const float* t = type + (type_ids ? int64_t{type_ids[r]} : 0) * cols;
        for (int64_t c = 0; c < cols; ++c) row[c] = (w[c] + t[c]) + p[c];
        layer_norm(row.data(), nullptr, gamma, beta, dst + r * cols, 1, cols, eps);
    }
}

}  // namespace sparq::ref
