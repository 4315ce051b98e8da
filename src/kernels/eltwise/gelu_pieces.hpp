#pragma once
// Piecewise-cubic GELU of the AVX-512 epilogues (vec512::gelu_pieces_ps in vec_math_avx512.hpp and
// its JIT twin, jit::Generator::gelu_pieces): c[k][j] is the coefficient of f^k on interval j =
// [j, j + 1) / kPerUnit of |x|, f the position inside it. One table per GELU form, the same code
// for both: each form has gelu(-a) = gelu(a) - a and gelu(a) = a beyond kRange (off by < 1e-8).
// Within 1e-6 of the exact GELU (6.4e-7 measured for either form; tests/s8_kernels_test.cpp) at
// ~17 vector ops, against ~26 for erf by a rational function
// (vec512::gelu_erf_ps) and ~40 cycles of vdivps for a rational with a true division.
#include "kernels/linear.hpp"

namespace sparq {

struct GeluPieces {
    static constexpr float kRange = 6.0f, kPerUnit = 32.0f / 6.0f;
    static constexpr float kLast = 5.9999995f;  // largest float below kRange
    static constexpr int kDegree = 3;
    alignas(64) float c[kDegree + 1][32];
};

// The table of GELU `act`, fitted once (Chebyshev interpolation of the exact GELU in double):
// the tanh form's for Activation::gelu_tanh, else the erf form's (Activation::none gets it too,
// for code that loads a table it then does not use).
const GeluPieces& gelu_pieces(Activation act);

}  // namespace sparq
