// This core's arithmetic peaks, measured rather than taken from a datasheet, so kernel
// efficiencies ("% of peak") use the clock the machine really runs at (a VM's nominal 2.6 GHz
// TSC says nothing about its turbo). One thread:
//   clock:   a chain of dependent 64-bit imul (3 cycles each on Intel cores) -> GHz;
//   vnni:    16 independent vpdpbusd zmm chains (latency 5) -> instructions per cycle and
//            GMAC/s (64 u8 x s8 MACs per instruction);
//   fma:     16 independent vfmadd231ps zmm chains (latency 4) -> per cycle and GFLOP/s
//            (32 flop per instruction);
//   *_loaded: the same instructions each fed by one 64-byte load from L1, as in the sparse
//            kernels (one activation vector per vpdpbusd / FMA) -> the ceiling of that mix. Here
//            (2026-11-26): vpdpbusd 1.81 per cycle alone and zmm loads 1.94 per cycle alone, but
//            1.12-1.20 vpdpbusd per cycle when each has its load (62-66% of the VNNI peak; 1.10
//            with one more broadcast load per 4, the 1x4 kernel's mix); FMA 1.23-1.27 (67-70%).
// Run: build/peak_bench (AVX-512 / VNNI cases skip themselves on CPUs without them).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

#include "cpu/isa.hpp"

namespace {

constexpr int64_t kSteps = 1 << 20;  // loop trips per measurement

// Cycles per second from kSteps x 4 dependent imul (3 cycles each).
double measure_clock_hz() {
    int64_t x = 3;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t n = 0; n < kSteps; ++n)
        asm volatile("imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0" : "+r"(x));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 4.0 * 3.0 * static_cast<double>(kSteps) / s;
}

#define SPARQ_X16(OP)                                                                           \
    OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11) OP(12) OP(13) \
        OP(14) OP(15)
#define SPARQ_VNNI(i) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #i "\n\t"
#define SPARQ_FMA(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n\t"

// Seconds for kSteps x 16 independent instructions of one kind.
template <bool VNNI>
double time_x16() {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t n = 0; n < kSteps; ++n) {
        if (VNNI)
            asm volatile(SPARQ_X16(SPARQ_VNNI)::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
                         "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
                         "xmm14", "xmm15");
        else
            asm volatile(SPARQ_FMA(0) SPARQ_FMA(1) SPARQ_FMA(2) SPARQ_FMA(3) SPARQ_FMA(4)
                             SPARQ_FMA(5) SPARQ_FMA(6) SPARQ_FMA(7) SPARQ_FMA(8) SPARQ_FMA(9)
                                 SPARQ_FMA(10) SPARQ_FMA(11) SPARQ_FMA(12) SPARQ_FMA(13)
                                     SPARQ_FMA(14) SPARQ_FMA(15)::: "xmm0", "xmm1", "xmm2",
                         "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                         "xmm12", "xmm13", "xmm14", "xmm15");
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Load 64 bytes at offset i * 64 into zmm t, then accumulate it into zmm a (10 accumulators,
// 6 load targets: this file is not built with AVX-512 flags, so only zmm0-15 can be clobbered).
#define SPARQ_VNNI_LD(i, a, t) \
    "vmovdqu32 " #i "*64(%0), %%zmm" #t "\n\tvpdpbusd %%zmm30, %%zmm" #t ", %%zmm" #a "\n\t"
#define SPARQ_FMA_LD(i) "vfmadd231ps " #i "*64(%0), %%zmm30, %%zmm" #i "\n\t"

// Seconds for kSteps x 16 independent instructions of one kind, each with a 64-byte L1 load
// (p: 1 KiB).
template <bool VNNI>
double time_x16_loaded(const void* p) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t n = 0; n < kSteps; ++n) {
        if (VNNI)
            asm volatile(SPARQ_VNNI_LD(0, 0, 10) SPARQ_VNNI_LD(1, 1, 11) SPARQ_VNNI_LD(2, 2, 12)
                             SPARQ_VNNI_LD(3, 3, 13) SPARQ_VNNI_LD(4, 4, 14) SPARQ_VNNI_LD(5, 5, 15)
                                 SPARQ_VNNI_LD(6, 6, 10) SPARQ_VNNI_LD(7, 7, 11)
                                     SPARQ_VNNI_LD(8, 8, 12) SPARQ_VNNI_LD(9, 9, 13)
                                         SPARQ_VNNI_LD(10, 0, 14) SPARQ_VNNI_LD(11, 1, 15)
                                             SPARQ_VNNI_LD(12, 2, 10) SPARQ_VNNI_LD(13, 3, 11)
                                                 SPARQ_VNNI_LD(14, 4, 12) SPARQ_VNNI_LD(15, 5, 13)
                         :
                         : "r"(p)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                           "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
        else
            asm volatile(SPARQ_X16(SPARQ_FMA_LD)
                         :
                         : "r"(p)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                           "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bm_clock(benchmark::State& state) {
    double hz = 0;
    for (auto _ : state) hz = measure_clock_hz();
    state.counters["GHz"] = hz * 1e-9;
}
BENCHMARK(bm_clock)->Unit(benchmark::kMillisecond);

// LOADED: each instruction with its own 64-byte L1 load (time_x16_loaded), else register-only.
template <bool VNNI, bool LOADED>
void bm_peak(benchmark::State& state) {
    if (!sparq::has_isa(VNNI ? sparq::Isa::avx512_vnni : sparq::Isa::avx512)) {
        state.SkipWithError(VNNI ? "no AVX512-VNNI" : "no AVX-512");
        return;
    }
    // 1.0f in every lane: normal floats for the FMA (no denormal operands), any bytes for VNNI.
    alignas(64) static float buf[16 * 16];
    for (float& v : buf) v = 1.0f;
    double per_cycle = 0, hz = 0;
    for (auto _ : state) {
        hz = measure_clock_hz();
        const double s = LOADED ? time_x16_loaded<VNNI>(buf) : time_x16<VNNI>();
        per_cycle = 16.0 * static_cast<double>(kSteps) / s / hz;
    }
    state.counters["GHz"] = hz * 1e-9;
    state.counters["per_cycle"] = per_cycle;
    // 64 MACs per vpdpbusd zmm; 2 x 16 flop per vfmadd231ps zmm.
    state.counters[VNNI ? "GMACs" : "GFLOPs"] = per_cycle * hz * (VNNI ? 64 : 32) * 1e-9;
}
BENCHMARK(bm_peak<true, false>)->Name("bm_vnni_peak")->Unit(benchmark::kMillisecond);
BENCHMARK(bm_peak<false, false>)->Name("bm_fma_peak")->Unit(benchmark::kMillisecond);
BENCHMARK(bm_peak<true, true>)->Name("bm_vnni_loaded")->Unit(benchmark::kMillisecond);
BENCHMARK(bm_peak<false, true>)->Name("bm_fma_loaded")->Unit(benchmark::kMillisecond);

}  // namespace
