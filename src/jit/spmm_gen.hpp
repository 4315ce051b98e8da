#pragma once
// JIT generator of the sparse f32 row kernel (AVX-512 zmm or AVX2 ymm).
//
// One call runs `records` records {begin, end, y_0 .. y_{R-1}} (R = rows, 2 or 4) of one K chunk
// and one token group:
//   for k in [begin, end) step R, for j < R:  y_j += vals[k+j] * x[offs[k+j]]
// where y_j are the nv*lanes floats at byte offset y_j * scale of y, and x[off] the nv*lanes
// floats at byte offset off * scale of the group's packed feature-major activations. Offsets are
// in units of a row of the narrowest group the data serves (off = column * unit, unit = lanes * 4
// bytes when the variant's groups are a power of two vectors), so one copy of the data runs token
// groups of 1, 2, 4 or 8 vectors' width (scale = the group's row bytes / unit).
// The nonzeros of R rows are interleaved (shorter rows padded with zero weights) so each row has
// its own accumulator set, with no per-row reduction or odd tail; records of a row panel are
// ordered by nonzero count, so grouped rows have near-equal counts and the loop-exit branch sees
// runs of equal trip counts. The sparsity pattern is data (int32 byte offsets + values in
// nonzero order), so the code is ~250 bytes whatever the matrix; R, nv and the register width
// are baked in. Steady state: per two nonzeros one 64-bit load of their offsets and one of their
// weights into general registers, a vpbroadcastd from each (AVX-512; AVX2: vmovd + register
// vbroadcastss), and nv FMAs each with an x operand in memory: the vector load slots carry only x,
// one per FMA (87% of the FMA peak measured with long rows and x in L1, nv = 4; 78% when the
// weights were broadcast from memory, a vector load each). Per record, besides the weight
// streams' prefetch: the next record's y rows (prefetchw) and SpmmArgs::prefetch's lines.
#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/isa.hpp"
#include "jit/generator.hpp"
#include "kernels/linear.hpp"

namespace sparq::jit {

struct SpmmArgs {
    const float* x;       // packed activations of one token group, [in][group]
    float* y;             // output tile, feature-major, [out + 1][group]
    const int32_t* rec;   // records {begin, end, y_0 .. y_{R-1}} ((end - begin) % R == 0), then
                          // one more whose y offsets are in y (each record prefetches the next's)
    const int32_t* offs;  // offset into x of each nonzero's activation row (bytes / scale)
    const float* vals;    // nonzero values
    int64_t records;      // records to run
    int64_t accumulate;   // 0: y = sum, 1: y += sum
    const float* bias = nullptr;  // epilogue kernels: bias of each row, record y offset r << shift
    // Activations to bring into L2 for what comes after this call, kSpmmPrefetchLines 64-byte
    // lines per record from here on (the next K chunk's packed activations, or the next token
    // group's; x itself when there is nothing to fetch). Prefetches past an allocation's end
    // do not fault.
    const void* prefetch = nullptr;
};

constexpr int kSpmmPrefetchLines = 2;

// What a kernel does to its sums before storing them (the last K chunk's kernel only): nothing;
// y = sum + bias[row]; or y = gelu(sum + bias[row]) with the piecewise GELU of
// kernels/eltwise/gelu_pieces.hpp (erf form, or tanh form for bias_gelu_tanh), in the same float
// operations as vec512::gelu_pieces_ps (so the results equal a separate bias + GELU pass bit for
// bit). The row of a record's y offset is offset >> bias_shift (the unit is 1 << bias_shift bytes).
enum class SpmmEpi { none, bias, bias_gelu, bias_gelu_tanh };

// The epilogue of bias + activation `act`, and the activation of an epilogue (none for none and
// bias).
constexpr SpmmEpi spmm_epi(Activation act) {
    return act == Activation::gelu        ? SpmmEpi::bias_gelu
           : act == Activation::gelu_tanh ? SpmmEpi::bias_gelu_tanh
                                          : SpmmEpi::bias;
}
constexpr Activation spmm_epi_act(SpmmEpi epi) {
    return epi == SpmmEpi::bias_gelu        ? Activation::gelu
           : epi == SpmmEpi::bias_gelu_tanh ? Activation::gelu_tanh
                                            : Activation::none;
}

class SpmmF32Gen : public Generator {
  public:
    // isa: avx512 (zmm, 16 lanes) or avx2 (ymm, 8 lanes); nv: token vectors; rows: R (2 or 4);
    // needs rows * (nv + 1) <= 32 (zmm) or 16 (ymm) vector registers. An epilogue needs AVX-512,
    // rows == 2 and nv <= 4. scale (1, 2, 4 or 8): the group's row bytes over the offsets' unit.
    SpmmF32Gen(Isa isa, int nv, int rows = 2, SpmmEpi epi = SpmmEpi::none, int bias_shift = 0,
               int scale = 1);
    void operator()(const SpmmArgs& a) const { call(&a); }
};

// Generated once per (isa, nv, rows, epi, bias_shift, scale) and shared (thread-safe).
std::shared_ptr<const SpmmF32Gen> spmm_f32_kernel(Isa isa, int nv, int rows = 2,
                                                  SpmmEpi epi = SpmmEpi::none, int bias_shift = 0,
                                                  int scale = 1);

}  // namespace sparq::jit

namespace sparq::jit {

struct SpmmUnrolledArgs {
    const float* x;     // packed activations of one full token group
    float* y;           // output tile (row-pair records' ya/yb are byte offsets into it)
    const float* vals;  // nonzero values, as laid out by the records
    int64_t panels;     // panels to run from the entry point
    const void* entry;  // code address of (chunk, first panel), from entry()
};

// The same computation as SpmmF32Gen for full token groups, with the records unrolled into code:
// every nonzero's activation offset is an address displacement (no index load, no loop), its
// value a displacement into `vals`; rows' y offsets are displacements too (SparseDNN style).
// Code size grows ~50 bytes per nonzero at nv=4 (vs 8 bytes of data for the loop kernel), so the
// front end, not the FMA ports, bounds it. Measured (bench/spmm_bench BM_Variants, 1 thread,
// T=128, 768x768): at 95% zeros (1.5 MB of code) 17 GFLOP/s vs 66 for the loop kernel; at 99%
// (~300 KB) 14 vs 24. Every BERT-base matrix at any useful sparsity exceeds the 32 KB L1i, so
// the planner never picks it; it stays in the variant list as the measured alternative.
class SpmmF32UnrolledGen : public Generator {
  public:
    // rec/panel_rec/offs as in SpmmData (kernels/spmm): chunks x panels blocks of records.
    SpmmF32UnrolledGen(Isa isa, int nv, int64_t chunks, int64_t panels, const int32_t* rec,
                       const int32_t* panel_rec, const int32_t* offs);
    // Entry point of panel p of chunk c (run panels p.. with args.panels).
    const void* entry(int64_t c, int64_t p) const { return base_ + entries_[c * panels_ + p]; }
    void operator()(const SpmmUnrolledArgs& a) const { call(&a); }
    // Estimated code bytes for `records` records holding `slots` nonzero slots (budget check).
    static int64_t estimate_bytes(int nv, int64_t pairs, int64_t slots);

  private:
    int64_t panels_ = 0;
    std::vector<size_t> entries_;
    const uint8_t* base_ = nullptr;
};

}  // namespace sparq::jit
