#include "jit/spmm_gen.hpp"

#include <cassert>
#include <map>
#include <mutex>
#include <utility>

namespace sparq::jit {

SpmmF32Gen::SpmmF32Gen(Isa isa, int nv)
    : Generator(std::string("spmm_f32_") + std::to_string(nv) + "v_" + isa_name(isa), 4096) {
    const bool zmm = isa >= Isa::avx512;
    const int vbytes = zmm ? 64 : 32;
    assert(nv >= 1 && nv <= (zmm ? 8 : 7));
    auto vec = [&](int i) -> Xbyak::Xmm {
        if (zmm) return Xbyak::Zmm(i);
        return Xbyak::Ymm(i);
    };
    // Accumulators: set A = v0..v(nv-1), set B = v(nv)..v(2nv-1); broadcast weights in the top two.
    const int top = zmm ? 31 : 15;
    const Xbyak::Xmm w0 = vec(top), w1 = vec(top - 1);
    const Xbyak::Reg64 rx = r8, ry = r9, rrec = r10, roff = r11, rval = r12, rn = r13, rk = r14,
                       rend = r15, ro0 = rax, ro1 = rbx, racc = rcx, ya = rbp, yb = rsi;

    preamble();
    mov(rx, ptr[reg_args + offsetof(SpmmArgs, x)]);
    mov(ry, ptr[reg_args + offsetof(SpmmArgs, y)]);
    mov(rrec, ptr[reg_args + offsetof(SpmmArgs, rec)]);
    mov(roff, ptr[reg_args + offsetof(SpmmArgs, offs)]);
    mov(rval, ptr[reg_args + offsetof(SpmmArgs, vals)]);
    mov(rn, ptr[reg_args + offsetof(SpmmArgs, pairs)]);
    mov(racc, ptr[reg_args + offsetof(SpmmArgs, accumulate)]);

    // Accumulators: row a in v0..v(nv-1), row b in v(nv)..v(2nv-1); broadcast weights on top.
    Xbyak::Label l_rec, l_load, l_pair, l_store, l_done;
    test(rn, rn);
    jz(l_done, T_NEAR);
    L(l_rec);
    movsxd(rk, dword[rrec]);
    movsxd(rend, dword[rrec + 4]);
    movsxd(ya, dword[rrec + 8]);
    movsxd(yb, dword[rrec + 12]);
    add(ya, ry);
    add(yb, ry);
    test(racc, racc);
    jnz(l_load, T_NEAR);
    for (int v = 0; v < 2 * nv; ++v) vxorps(vec(v), vec(v), vec(v));
    cmp(rk, rend);
    jl(l_pair, T_NEAR);
    jmp(l_store, T_NEAR);
    L(l_load);
    for (int v = 0; v < nv; ++v) {
        vmovups(vec(v), ptr[ya + v * vbytes]);
        vmovups(vec(nv + v), ptr[yb + v * vbytes]);
    }
    cmp(rk, rend);
    jge(l_store, T_NEAR);
    align(16);
    L(l_pair);
    mov(ro0.cvt32(), dword[roff + rk * 4]);
    mov(ro1.cvt32(), dword[roff + rk * 4 + 4]);
    vbroadcastss(w0, dword[rval + rk * 4]);
    vbroadcastss(w1, dword[rval + rk * 4 + 4]);
    for (int v = 0; v < nv; ++v) {
        vfmadd231ps(vec(v), w0, ptr[rx + ro0 + v * vbytes]);
        vfmadd231ps(vec(nv + v), w1, ptr[rx + ro1 + v * vbytes]);
    }
    add(rk, 2);
    cmp(rk, rend);
    jl(l_pair, T_NEAR);
    L(l_store);
    for (int v = 0; v < nv; ++v) {
        vmovups(ptr[ya + v * vbytes], vec(v));
        vmovups(ptr[yb + v * vbytes], vec(nv + v));
    }
    add(rrec, 16);
    dec(rn);
    jnz(l_rec, T_NEAR);
    L(l_done);
    postamble();
    finalize();
}

std::shared_ptr<const SpmmF32Gen> spmm_f32_kernel(Isa isa, int nv) {
    static std::mutex mu;
    static std::map<std::pair<int, int>, std::shared_ptr<const SpmmF32Gen>> cache;
    std::lock_guard<std::mutex> lock(mu);
    auto key = std::make_pair(static_cast<int>(isa), nv);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    auto k = std::make_shared<const SpmmF32Gen>(isa, nv);
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
