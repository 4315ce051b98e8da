// Table of the vector-math variants, and their scalar (libm) twins.
#include <cmath>
#include <utility>

#include "kernels/eltwise/eltwise.hpp"
#include "kernels/eltwise/gelu_pieces.hpp"

namespace sparq {

void ref::exp_f32(const float* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = std::exp(src[i]);
}
void ref::erf_f32(const float* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = std::erf(src[i]);
}

const VecMathOps* vec_math_variants(int* count) {
    static const VecMathOps table[] = {
        {Isa::scalar, ref::exp_f32, ref::erf_f32},
        {Isa::avx2, avx2::exp_f32, avx2::erf_f32},
        {Isa::avx512, avx512::exp_f32, avx512::erf_f32},
    };
    *count = static_cast<int>(sizeof(table) / sizeof(table[0]));
    return table;
}

namespace {

// The piecewise cubic of `gelu` (gelu_pieces.hpp): per interval, the cubic through the GELU at the
// Chebyshev nodes.
GeluPieces fit_gelu_pieces(double (*gelu)(double)) {
    GeluPieces t{};
    const double h = 1.0 / GeluPieces::kPerUnit;
    constexpr int kDeg = GeluPieces::kDegree;
    for (int j = 0; j < 32; ++j) {
        // Interpolate at the kDeg + 1 Chebyshev nodes of [0, 1] (in f), solve the Vandermonde
        // system.
        double a[kDeg + 1][kDeg + 2];
        for (int r = 0; r <= kDeg; ++r) {
            const double f = 0.5 - 0.5 * std::cos((2 * r + 1) * M_PI / (2 * (kDeg + 1)));
            double pw = 1.0;
            for (int k = 0; k <= kDeg; ++k, pw *= f) a[r][k] = pw;
            a[r][kDeg + 1] = gelu(h * (j + f));
        }
        for (int c = 0; c <= kDeg; ++c) {  // Gauss-Jordan with partial pivoting
            int piv = c;
            for (int r = c + 1; r <= kDeg; ++r)
                if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
            for (int k = 0; k <= kDeg + 1; ++k) std::swap(a[c][k], a[piv][k]);
            for (int r = 0; r <= kDeg; ++r) {
                if (r == c) continue;
                const double m = a[r][c] / a[c][c];
                for (int k = c; k <= kDeg + 1; ++k) a[r][k] -= m * a[c][k];
            }
        }
        for (int k = 0; k <= kDeg; ++k) t.c[k][j] = static_cast<float>(a[k][kDeg + 1] / a[k][k]);
    }
    return t;
}

double gelu_erf_exact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_exact(double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

}  // namespace

const GeluPieces& gelu_pieces(Activation act) {
    static const GeluPieces erf_table = fit_gelu_pieces(gelu_erf_exact);
    static const GeluPieces tanh_table = fit_gelu_pieces(gelu_tanh_exact);
    return act == Activation::gelu_tanh ? tanh_table : erf_table;
}

}  // namespace sparq
