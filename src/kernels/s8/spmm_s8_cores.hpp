#pragma once
// Non-JIT integer cores of the sparse int8 1x4 kernel, same contract as jit::SpmmS8Vnni
// (jit/spmm_s8_1x4.hpp) for a tile of 16 * vecs tokens. Exact on every ISA: the AVX-512 and AVX2
// cores split u8 activations and s8 weights into 16-bit halves and use vpmaddwd (no saturation;
// vpmaddubsw, which saturates int16 pair sums of u8 * s8, is never used).
#include "jit/spmm_s8_1x4.hpp"

namespace sparq::s8 {

void spmm_s8_scalar(const jit::SpmmS8Args& a, int vecs);
void spmm_s8_avx512(const jit::SpmmS8Args& a, int vecs);
void spmm_s8_avx2(const jit::SpmmS8Args& a, int vecs);

}  // namespace sparq::s8
