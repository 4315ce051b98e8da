// Table of the vector-math variants, and their scalar (libm) twins.
#include <cmath>

#include "kernels/eltwise/eltwise.hpp"

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

}  // namespace sparq
