#include "jit/spmm_gen.hpp"

#include <cassert>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

namespace sparq::jit {
namespace {
constexpr int kPrefetchBytes = 1024;  // distance of the weight-stream prefetch
}  // namespace

SpmmF32Gen::SpmmF32Gen(Isa isa, int nv, int rows, SpmmEpi epi, int bias_shift, int scale)
    : Generator(std::string("spmm_f32_") + std::to_string(rows) + "r" + std::to_string(nv) + "v" +
                    (scale > 1 ? "x" + std::to_string(scale) : "") +
                    (epi == SpmmEpi::bias_gelu        ? "_gelu"
                     : epi == SpmmEpi::bias_gelu_tanh ? "_gelu_tanh"
                     : epi == SpmmEpi::bias           ? "_bias"
                                                      : "") +
                    "_" + isa_name(isa),
                4096) {
    const bool zmm = isa >= Isa::avx512;
    const int vbytes = zmm ? 64 : 32;
    const int nreg = zmm ? 32 : 16;
    assert((rows == 2 || rows == 4) && nv >= 1 && rows * nv + rows <= nreg);
    assert(scale == 1 || scale == 2 || scale == 4 || scale == 8);
    assert(epi == SpmmEpi::none || (zmm && rows == 2 && nv <= 4));
    const bool gelu = is_gelu(spmm_epi_act(epi));
    Xbyak::Label l_consts, l_table;
    auto vec = [&](int i) -> Xbyak::Xmm {
        if (zmm) return Xbyak::Zmm(i);
        return Xbyak::Ymm(i);
    };
    // Accumulators of row j: v(j*nv) .. v(j*nv + nv-1); broadcast weights in the top `rows`.
    auto acc = [&](int j, int v) { return vec(j * nv + v); };
    auto w = [&](int j) { return vec(nreg - 1 - j); };
    const Xbyak::Reg64 rx = r8, ry = r9, rrec = r10, roff = r11, rval = r12, rn = r13, rk = r14,
                       rend = r15, racc = rcx;
    const Xbyak::Reg64 ro[4] = {rax, rbx, rbp, rsi};  // nonzero offsets; y offsets outside the loop
    const int rec_bytes = 4 * (2 + rows);

    preamble();
    mov(rx, ptr[reg_args + offsetof(SpmmArgs, x)]);
    mov(ry, ptr[reg_args + offsetof(SpmmArgs, y)]);
    mov(rrec, ptr[reg_args + offsetof(SpmmArgs, rec)]);
    mov(roff, ptr[reg_args + offsetof(SpmmArgs, offs)]);
    mov(rval, ptr[reg_args + offsetof(SpmmArgs, vals)]);
    mov(rn, ptr[reg_args + offsetof(SpmmArgs, records)]);
    mov(racc, ptr[reg_args + offsetof(SpmmArgs, accumulate)]);
    // Epilogue (rows == 2): ro[2] holds the bias array; zmm16..23 the GELU tables (lo/hi halves
    // of the four coefficient rows), zmm24..28 temporaries.
    const Xbyak::Reg64 rbias = ro[2];
    if (epi != SpmmEpi::none) mov(rbias, ptr[reg_args + offsetof(SpmmArgs, bias)]);
    if (gelu) gelu_pieces_tables(l_table);
    const Xbyak::Reg64 rpf = reg_args;  // the last argument read: reg_args is free after it
    mov(rpf, ptr[reg_args + offsetof(SpmmArgs, prefetch)]);

    Xbyak::Label l_rec, l_load, l_check, l_loop, l_store, l_done;
    test(rn, rn);
    jz(l_done, T_NEAR);
    L(l_rec);
    movsxd(rk, dword[rrec]);
    movsxd(rend, dword[rrec + 4]);
    // The weight streams are read once per call, usually cold (each layer its own matrix): one
    // line of each ahead per record (a record consumes ~1.6 lines of each at 90-95% zeros, the
    // hardware prefetcher covering the rest), two with one or two vectors, whose records run 2-4x
    // faster than the prefetcher keeps up with: +3-15% on BERT-base's linear layers at 8-32 tokens
    // (docs/benchmarks.md, run 24); four vectors gained nothing from the second line.
    for (int i = 0; i < (nv <= 2 ? 2 : 1); ++i) {
        prefetcht0(ptr[roff + rk * 4 + kPrefetchBytes + 64 * i]);
        prefetcht0(ptr[rval + rk * 4 + kPrefetchBytes + 64 * i]);
    }
    // The next record's rows of y, for writing: ~one record (100-200 cycles) ahead of its loads
    // and stores, which find them in L2 or farther (the tile outgrows L1; the first chunk's
    // stores go to lines not in cache at all). Then the caller's lines for the next K chunk or
    // token group, whose first touches are otherwise scattered misses to L3 or memory once the
    // activations outgrow L2 (8 x 128 tokens of BERT-base). Each 2-4% on BERT-base's linear
    // layers at 8 x 128 tokens, ~0 at 128 (docs/benchmarks.md, run 23); y two or three records
    // ahead, or 1 or 3 x lines per record, no better. The record list ends with a zero record
    // for the last record's read-ahead.
    for (int j = 0; j < rows; ++j) {
        movsxd(rdx, dword[rrec + rec_bytes + 8 + 4 * j]);
        for (int v = 0; v < nv; ++v) prefetchw(ptr[ry + rdx * scale + v * vbytes]);
    }
    for (int i = 0; i < kSpmmPrefetchLines; ++i) prefetcht1(ptr[rpf + 64 * i]);
    add(rpf, 64 * kSpmmPrefetchLines);
    for (int j = 0; j < rows; ++j) {
        movsxd(ro[j], dword[rrec + 8 + 4 * j]);
        lea(ro[j], ptr[ry + ro[j] * scale]);
    }
    test(racc, racc);
    jnz(l_load, T_NEAR);
    for (int v = 0; v < rows * nv; ++v) vxorps(vec(v), vec(v), vec(v));
    jmp(l_check, T_NEAR);
    L(l_load);
    for (int j = 0; j < rows; ++j)
        for (int v = 0; v < nv; ++v) vmovups(acc(j, v), ptr[ro[j] + v * vbytes]);
    L(l_check);  // the loop reuses ro[] for nonzero offsets; y addresses are reloaded at the store
    cmp(rk, rend);
    jge(l_store, T_NEAR);
    align(16);
    L(l_loop);
    // Offsets two at a time: one 64-bit load split in registers (the load ports are the bound:
    // 1-3% faster on the BERT-base FFN at T=384, bench/spmm_bench FfnChain).
    for (int j = 0; j < rows; j += 2) {
        mov(ro[j + 1], qword[roff + rk * 4 + 4 * j]);
        mov(ro[j].cvt32(), ro[j + 1].cvt32());
        shr(ro[j + 1], 32);
    }
    // Weights two at a time through a general register: a broadcast from memory would take a
    // vector load slot, and the x operands fill those. AVX-512: EVEX vpbroadcastd from r32;
    // AVX2: vmovd, then a register vbroadcastss.
    auto broadcast_edx = [&](const Xbyak::Xmm& v) {
        if (zmm) return vpbroadcastd(v, edx);
        const Xbyak::Xmm lo(v.getIdx());
        vmovd(lo, edx);
        vbroadcastss(v, lo);
    };
    for (int j = 0; j < rows; j += 2) {
        mov(rdx, qword[rval + rk * 4 + 4 * j]);
        broadcast_edx(w(j));
        shr(rdx, 32);
        broadcast_edx(w(j + 1));
    }
    for (int v = 0; v < nv; ++v)
        for (int j = 0; j < rows; ++j)
            vfmadd231ps(acc(j, v), w(j), ptr[rx + ro[j] * scale + v * vbytes]);
    add(rk, rows);
    cmp(rk, rend);
    jl(l_loop, T_NEAR);
    L(l_store);
    for (int j = 0; j < rows; ++j) {
        movsxd(ro[j], dword[rrec + 8 + 4 * j]);
        if (epi != SpmmEpi::none) {
            mov(rdx, ro[j]);
            shr(rdx, bias_shift - 2);  // row * 4: the bias' byte offset
            vbroadcastss(w(j), dword[rbias + rdx]);
            for (int v = 0; v < nv; ++v) {
                const Xbyak::Zmm x = Xbyak::Zmm(j * nv + v);
                vaddps(x, x, w(j));
                if (gelu) gelu_pieces(x, l_consts);
            }
        }
        lea(ro[j], ptr[ry + ro[j] * scale]);
        for (int v = 0; v < nv; ++v) vmovups(ptr[ro[j] + v * vbytes], acc(j, v));
    }
    add(rrec, rec_bytes);
    dec(rn);
    jnz(l_rec, T_NEAR);
    L(l_done);
    postamble();
    if (gelu) gelu_pieces_data(l_consts, l_table, spmm_epi_act(epi));
    finalize();
}

std::shared_ptr<const SpmmF32Gen> spmm_f32_kernel(Isa isa, int nv, int rows, SpmmEpi epi,
                                                  int bias_shift, int scale) {
    static std::mutex mu;
    static std::map<std::tuple<int, int, int, int, int, int>, std::shared_ptr<const SpmmF32Gen>>
        cache;
    std::lock_guard<std::mutex> lock(mu);
    auto key =
        std::make_tuple(static_cast<int>(isa), nv, rows, static_cast<int>(epi), bias_shift, scale);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    auto k = std::make_shared<const SpmmF32Gen>(isa, nv, rows, epi, bias_shift, scale);
    cache.emplace(key, k);
    return k;
}

int64_t SpmmF32UnrolledGen::estimate_bytes(int nv, int64_t pairs, int64_t slots) {
    // per nonzero slot: broadcast (10 B) + nv FMAs (10 B); per record: y loads/stores + glue.
    return slots * (10 + 10 * nv) + pairs * (2 * nv * 2 * 10 + 16) + 4096;
}

SpmmF32UnrolledGen::SpmmF32UnrolledGen(Isa isa, int nv, int64_t chunks, int64_t panels,
                                       const int32_t* rec, const int32_t* panel_rec,
                                       const int32_t* offs)
    : Generator(std::string("spmm_f32_unrolled_") + std::to_string(nv) + "v_" + isa_name(isa),
                1 << 16),
      panels_(panels) {
    const bool zmm = isa >= Isa::avx512;
    const int vbytes = zmm ? 64 : 32;
    assert(nv >= 1 && 2 * nv + 2 <= (zmm ? 32 : 16));
    auto vec = [&](int i) -> Xbyak::Xmm {
        if (zmm) return Xbyak::Zmm(i);
        return Xbyak::Ymm(i);
    };
    const int top = zmm ? 31 : 15;
    const Xbyak::Xmm w0 = vec(top), w1 = vec(top - 1);
    const Xbyak::Reg64 rx = r8, ry = r9, rval = rsi, rn = r13;
    Xbyak::Label l_done;
    preamble();
    mov(rx, ptr[reg_args + offsetof(SpmmUnrolledArgs, x)]);
    mov(ry, ptr[reg_args + offsetof(SpmmUnrolledArgs, y)]);
    mov(rval, ptr[reg_args + offsetof(SpmmUnrolledArgs, vals)]);
    mov(rn, ptr[reg_args + offsetof(SpmmUnrolledArgs, panels)]);
    jmp(ptr[reg_args + offsetof(SpmmUnrolledArgs, entry)]);
    entries_.resize(chunks * panels);
    for (int64_t c = 0; c < chunks; ++c) {
        for (int64_t p = 0; p < panels; ++p) {
            align(16);
            entries_[c * panels + p] = getSize();
            const int32_t* pr = panel_rec + c * (panels + 1);
            for (int32_t j = pr[p]; j < pr[p + 1]; ++j) {
                const int32_t* r = rec + 4 * int64_t{j};
                for (int v = 0; v < nv; ++v) {
                    if (c == 0) {
                        vxorps(vec(v), vec(v), vec(v));
                        vxorps(vec(nv + v), vec(nv + v), vec(nv + v));
                    } else {
                        vmovups(vec(v), ptr[ry + r[2] + v * vbytes]);
                        vmovups(vec(nv + v), ptr[ry + r[3] + v * vbytes]);
                    }
                }
                for (int32_t k = r[0]; k < r[1]; k += 2) {
                    vbroadcastss(w0, dword[rval + k * 4]);
                    vbroadcastss(w1, dword[rval + k * 4 + 4]);
                    for (int v = 0; v < nv; ++v) {
                        vfmadd231ps(vec(v), w0, ptr[rx + offs[k] + v * vbytes]);
                        vfmadd231ps(vec(nv + v), w1, ptr[rx + offs[k + 1] + v * vbytes]);
                    }
                }
                for (int v = 0; v < nv; ++v) {
                    vmovups(ptr[ry + r[2] + v * vbytes], vec(v));
                    vmovups(ptr[ry + r[3] + v * vbytes], vec(nv + v));
                }
            }
            dec(rn);
            jz(l_done, T_NEAR);
        }
        jmp(l_done, T_NEAR);
    }
    L(l_done);
    postamble();
    finalize();
    base_ = getCode();
}

}  // namespace sparq::jit
