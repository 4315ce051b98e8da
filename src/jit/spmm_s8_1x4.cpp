#include "jit/spmm_s8_1x4.hpp"

#include <cassert>
#include <cstddef>
#include <string>

namespace sparq::jit {

using namespace Xbyak;

SpmmS8Vnni::SpmmS8Vnni(int vecs)
    : Generator("spmm_s8_1x4_vnni_v" + std::to_string(vecs), 4096), vecs_(vecs) {
    assert(vecs == 1 || vecs == 2 || vecs == 4 || vecs == 8);
    generate();
    finalize();
}

void SpmmS8Vnni::generate() {
    const int V = vecs_;
    // S independent accumulator sets (S * V chains hide the 5-cycle vpdpbusd latency at two per
    // cycle); blocks go round-robin to the sets, U = S blocks per loop iteration.
    const int S = V <= 4 ? 4 : 2;
    const Reg64 src = r8, blk = r9, rowp = r10, comp = r11, dst = r12, rows = r13;
    const Reg64 cnt = r14, p = rbx;
    const Reg64 offs[4] = {rax, rdx, rsi, rbp};
    // zmm0..S*V-1: accumulators (set s, vector v in zmm s * V + v), zmm16..23: activations,
    // zmm24..27: broadcast weights.
    auto acc = [V](int s, int v) { return Zmm(s * V + v); };
    auto act = [](int i) { return Zmm(16 + (i & 7)); };
    auto wgt = [](int s) { return Zmm(24 + s); };
    const int scale = V;  // offsets are group * 64; a tile of V vectors has groups of V * 64 bytes
    const int ld = 64 * V;

    preamble();
    mov(src, ptr[reg_args + offsetof(SpmmS8Args, src)]);
    mov(blk, ptr[reg_args + offsetof(SpmmS8Args, blocks)]);
    mov(rowp, ptr[reg_args + offsetof(SpmmS8Args, row_ptr)]);
    mov(comp, ptr[reg_args + offsetof(SpmmS8Args, comp)]);
    mov(dst, ptr[reg_args + offsetof(SpmmS8Args, dst)]);
    mov(rows, ptr[reg_args + offsetof(SpmmS8Args, rows)]);
    const Reg64 accum = r15;
    mov(accum, ptr[reg_args + offsetof(SpmmS8Args, accumulate)]);

    Label l_row, l_group, l_tail, l_one, l_store, l_end, l_init_done, l_load;
    test(rows, rows);
    jle(l_end, T_NEAR);
    L(l_row);
    {
        movsxd(p, dword[rowp]);
        movsxd(cnt, dword[rowp + 4]);
        sub(cnt, p);
        lea(p, ptr[blk + p * 8]);
        for (int s = 1; s < S; ++s)
            for (int v = 0; v < V; ++v) vpxord(acc(s, v), acc(s, v), acc(s, v));
        test(accum, accum);
        jnz(l_load, T_NEAR);
        vpbroadcastd(wgt(0), dword[comp]);
        for (int v = 0; v < V; ++v) vpsubd(acc(0, v), acc(1, v), wgt(0));  // 0 - comp
        jmp(l_init_done, T_NEAR);
        L(l_load);
        for (int v = 0; v < V; ++v) vmovdqu32(acc(0, v), zword[dst + 64 * v]);
        L(l_init_done);
        cmp(cnt, S);
        jl(l_tail, T_NEAR);
        L(l_group);
        {
            // The block list 1 KiB ahead, 2 KiB with one or two vectors: those run a block in
            // ~3.4 cycles at 95% zeros, so 1 KiB (128 blocks) is about one memory latency
            // ahead; 2 KiB made BERT-base b1 s8 / s16 8-11% faster, s64 / s128 unchanged
            // (docs/benchmarks.md, run 24).
            prefetcht0(ptr[p + (V <= 2 ? 2048 : 1024)]);
            // Each block's offset and weights in one general-register load: a broadcast from
            // memory would take a vector load slot, and the activation loads fill those.
            for (int s = 0; s < S; ++s) {
                mov(rcx, qword[p + 8 * s]);
                movsxd(offs[s], ecx);
                shr(rcx, 32);
                vpbroadcastd(wgt(s), ecx);
            }
            int i = 0;
            for (int v = 0; v < V; ++v)
                for (int s = 0; s < S; ++s, ++i) {
                    vmovdqu32(act(i), zword[src + offs[s] * scale + 64 * v]);
                    vpdpbusd(acc(s, v), act(i), wgt(s));
                }
            add(p, 8 * S);
            sub(cnt, S);
            cmp(cnt, S);
            jge(l_group, T_NEAR);
        }
        L(l_tail);
        test(cnt, cnt);
        jz(l_store, T_NEAR);
        L(l_one);
        {
            movsxd(offs[0], dword[p]);
            vpbroadcastd(wgt(0), dword[p + 4]);
            for (int v = 0; v < V; ++v) {
                vmovdqu32(act(v), zword[src + offs[0] * scale + 64 * v]);
                vpdpbusd(acc(0, v), act(v), wgt(0));
            }
            add(p, 8);
            dec(cnt);
            jnz(l_one, T_NEAR);
        }
        L(l_store);
        for (int step = 1; step < S; step *= 2)
            for (int s = 0; s + step < S; s += 2 * step)
                for (int v = 0; v < V; ++v) vpaddd(acc(s, v), acc(s, v), acc(s + step, v));
        for (int v = 0; v < V; ++v) vmovdqu32(zword[dst + 64 * v], acc(0, v));
        add(rowp, 4);
        add(comp, 4);
        add(dst, ld);
        dec(rows);
        jnz(l_row, T_NEAR);
    }
    L(l_end);
    postamble();
}

}  // namespace sparq::jit
