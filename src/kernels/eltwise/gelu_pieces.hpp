#pragma once
// Piecewise-cubic GELU (erf form) of the AVX-512 epilogues (vec512::gelu_pieces_ps in
// vec_math_avx512.hpp): c[k][j] is the coefficient of f^k on interval j = [j, j + 1) / kPerUnit
// of |x|, f the position inside it. Within 1e-6 of the exact erf-GELU (7e-7 measured;
// tests/s8_kernels_test.cpp) at ~17 vector ops, against ~26 for erf by a rational function
// (vec512::gelu_erf_ps) and ~40 cycles of vdivps for a rational with a true division.
namespace sparq {

struct GeluPieces {
    static constexpr float kRange = 6.0f, kPerUnit = 32.0f / 6.0f;
    static constexpr float kLast = 5.9999995f;  // largest float below kRange
    static constexpr int kDegree = 3;
    alignas(64) float c[kDegree + 1][32];
};

// The table, fitted once (Chebyshev interpolation of the exact erf-GELU in double).
const GeluPieces& gelu_pieces();

}  // namespace sparq
