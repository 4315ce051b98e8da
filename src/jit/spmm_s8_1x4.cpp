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
    const Reg64 src = r8, blk = r9, rowp = r10, comp = r11, dst = r12, rows = r13;
    const Reg64 cnt = r14, off0 = rax, off1 = rdx, p = rbx;
    // zmm0..V-1: accumulators A, zmm8..8+V-1: accumulators B, zmm16..19: activations,
    // zmm20/21: broadcast weights.
    auto accA = [](int v) { return Zmm(v); };
    auto accB = [](int v) { return Zmm(8 + v); };
    auto act = [](int i) { return Zmm(16 + (i & 3)); };
    const Zmm w0(20), w1(21);
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

    Label l_row, l_pair, l_tail, l_store, l_end, l_init_done, l_load;
    test(rows, rows);
    jle(l_end, T_NEAR);
    L(l_row);
    {
        movsxd(p, dword[rowp]);
        movsxd(cnt, dword[rowp + 4]);
        sub(cnt, p);
        lea(p, ptr[blk + p * 8]);
        for (int v = 0; v < V; ++v) vpxord(accB(v), accB(v), accB(v));
        test(accum, accum);
        jnz(l_load, T_NEAR);
        vpbroadcastd(w0, dword[comp]);
        for (int v = 0; v < V; ++v) vpsubd(accA(v), accB(v), w0);  // 0 - comp
        jmp(l_init_done, T_NEAR);
        L(l_load);
        for (int v = 0; v < V; ++v) vmovdqu32(accA(v), zword[dst + 64 * v]);
        L(l_init_done);
        cmp(cnt, 2);
        jl(l_tail, T_NEAR);
        L(l_pair);
        {
            prefetcht0(ptr[p + 1024]);
            movsxd(off0, dword[p]);
            movsxd(off1, dword[p + 8]);
            vpbroadcastd(w0, dword[p + 4]);
            vpbroadcastd(w1, dword[p + 12]);
            for (int v = 0; v < V; ++v) {
                vmovdqu32(act(2 * v), zword[src + off0 * scale + 64 * v]);
                vpdpbusd(accA(v), act(2 * v), w0);
                vmovdqu32(act(2 * v + 1), zword[src + off1 * scale + 64 * v]);
                vpdpbusd(accB(v), act(2 * v + 1), w1);
            }
            add(p, 16);
            sub(cnt, 2);
            cmp(cnt, 2);
            jge(l_pair, T_NEAR);
        }
        L(l_tail);
        test(cnt, cnt);
        jz(l_store, T_NEAR);
        movsxd(off0, dword[p]);
        vpbroadcastd(w0, dword[p + 4]);
        for (int v = 0; v < V; ++v) {
            vmovdqu32(act(v), zword[src + off0 * scale + 64 * v]);
            vpdpbusd(accA(v), act(v), w0);
        }
        L(l_store);
        for (int v = 0; v < V; ++v) {
            vpaddd(accA(v), accA(v), accB(v));
            vmovdqu32(zword[dst + 64 * v], accA(v));
        }
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
