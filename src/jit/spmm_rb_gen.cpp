#include "jit/spmm_rb_gen.hpp"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <tuple>

namespace sparq::jit {

SpmmRbGen::SpmmRbGen(const CsrMatrix& csr, int block_rows, SpmmEpi epi, int64_t chunk)
    : Generator("spmm_f32_rb" + std::to_string(block_rows) + "_avx512",
                static_cast<size_t>(csr.nnz()) * 8 + 4096, /*huge_pages=*/true) {
    assert(block_rows >= 1 && block_rows <= kMaxRows && csr.rows >= 1 && csr.cols >= 1);
    const int64_t rows = csr.rows;
    const int64_t nb = (rows + block_rows - 1) / block_rows;
    chunk_ = chunk > 0 && chunk < csr.cols ? chunk : csr.cols;
    chunks_ = (csr.cols + chunk_ - 1) / chunk_;
    block_row_.resize(nb + 1);
    for (int64_t b = 0; b <= nb; ++b) block_row_[b] = b * rows / nb;  // sizes differ by <= 1
    block_nnz_.resize(nb + 1);
    for (int64_t b = 0; b <= nb; ++b) block_nnz_[b] = csr.row_ptr[block_row_[b]];  // CSR: int32
    w_.reserve(csr.nnz());

    const Xbyak::Reg64 rx = r8, ry = r9, rw = rdx, rvec = rcx, rxs = r10, rys = r11, rb = rsi,
                       cx = r12, cy = r13, cn = r14, cw = rax, rbias = r15;
    const bool gelu = is_gelu(spmm_epi_act(epi));
    Xbyak::Label l_done, l_consts, l_table;
    preamble();
    mov(rx, ptr[reg_args + offsetof(SpmmRbArgs, x)]);
    mov(ry, ptr[reg_args + offsetof(SpmmRbArgs, y)]);
    mov(rvec, ptr[reg_args + offsetof(SpmmRbArgs, vectors)]);
    mov(rxs, ptr[reg_args + offsetof(SpmmRbArgs, x_step)]);
    mov(rys, ptr[reg_args + offsetof(SpmmRbArgs, y_step)]);
    mov(rb, ptr[reg_args + offsetof(SpmmRbArgs, blocks)]);
    mov(rw, ptr[reg_args + offsetof(SpmmRbArgs, w)]);
    mov(rbias, ptr[reg_args + offsetof(SpmmRbArgs, bias)]);
    jmp(ptr[reg_args + offsetof(SpmmRbArgs, entry)]);

    // (column, row in block, value) of one block of one chunk, column-major.
    std::vector<std::tuple<int32_t, int, float>> nz;
    std::vector<int32_t> next(csr.row_ptr.begin(), csr.row_ptr.end() - 1);  // per row: next nonzero
    entries_.resize(chunks_ * nb);
    for (int64_t c = 0; c < chunks_; ++c) {
        const int32_t col_end = static_cast<int32_t>(std::min(csr.cols, (c + 1) * chunk_));
        const bool first = c == 0, last = c + 1 == chunks_;
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t r0 = block_row_[b], nr = block_row_[b + 1] - r0;
            nz.clear();
            for (int64_t j = 0; j < nr; ++j) {
                int32_t& i = next[r0 + j];
                for (; i < csr.row_ptr[r0 + j + 1] && csr.col_idx[i] < col_end; ++i)
                    nz.emplace_back(csr.col_idx[i], static_cast<int>(j), csr.values[i]);
            }
            std::sort(nz.begin(), nz.end(), [](const auto& a, const auto& o) {
                return std::tie(std::get<0>(a), std::get<1>(a)) <
                       std::tie(std::get<0>(o), std::get<1>(o));
            });
            const int64_t w0 = static_cast<int64_t>(w_.size());
            for (const auto& t : nz) w_.push_back(std::get<2>(t));

            align(16);
            entries_[c * nb + b] = static_cast<int64_t>(getSize());
            mov(cx, rx);
            mov(cy, ry);
            mov(cn, rvec);
            Xbyak::Label l_vec;
            L(l_vec);
            auto acc = [](int64_t j) { return Xbyak::Zmm(static_cast<int>(j)); };
            auto y_row = [&](int64_t j) { return ptr[cy + (r0 + j) * 64]; };
            // cw points 512 bytes past the next weight so 8-bit displacements (scaled by 4 for a
            // broadcast) reach 256 weights before the pointer moves.
            lea(cw, ptr[rw + (w0 * 4 + 512)]);
            int disp = -512;
            for (int64_t j = 0; j < nr; ++j) {
                if (first)
                    vxorps(acc(j), acc(j), acc(j));
                else
                    vmovups(acc(j), y_row(j));  // the previous chunks' partial sums
            }
            int32_t col = -1;
            int xr = 30;
            for (const auto& [k, j, v] : nz) {
                if (k != col) {
                    col = k;
                    xr = xr == 30 ? 31 : 30;  // alternate so a load need not wait for the last use
                    vmovups(Xbyak::Zmm(xr), ptr[cx + int64_t{k} * 64]);
                }
                if (disp > 508) {
                    add(cw, 1024);
                    disp -= 1024;
                }
                vfmadd231ps(acc(j), Xbyak::Zmm(xr), ptr_b[cw + disp]);
                disp += 4;
            }
            if (last && epi != SpmmEpi::none)
                for (int64_t j = 0; j < nr; ++j)
                    vaddps(acc(j), acc(j), ptr_b[rbias + (r0 + j) * 4]);
            if (last && gelu) {
                // The GELU's tables and temporaries take zmm16..28: the sums there are stored and
                // done one at a time through zmm0 after the others.
                constexpr int kFree = 16;
                for (int64_t j = kFree; j < nr; ++j) vmovups(y_row(j), acc(j));
                gelu_pieces_tables(l_table);
                for (int64_t j = 0; j < nr; ++j) {
                    const Xbyak::Zmm a = acc(j < kFree ? j : 0);
                    if (j >= kFree) vmovups(a, y_row(j));
                    gelu_pieces(a, l_consts);
                    vmovups(y_row(j), a);
                }
            } else {
                for (int64_t j = 0; j < nr; ++j) vmovups(y_row(j), acc(j));
            }
            add(cx, rxs);
            add(cy, rys);
            dec(cn);
            jnz(l_vec, T_NEAR);
            dec(rb);
            jz(l_done, T_NEAR);
        }
    }
    L(l_done);
    postamble();
    if (gelu) gelu_pieces_data(l_consts, l_table, spmm_epi_act(epi));
    finalize();
    base_ = getCode();
}

void SpmmRbGen::run(const float* x, int64_t x_step, float* y, int64_t y_step, int64_t vectors,
                    int64_t b0, int64_t b1, const float* bias) const {
    if (b1 <= b0 || vectors < 1) return;
    const int64_t nb = blocks();
    SpmmRbArgs a{x, y, vectors, x_step, y_step, b1 - b0, nullptr, w_.data(), bias};
    for (int64_t c = 0; c < chunks_; ++c) {
        a.entry = base_ + entries_[c * nb + b0];
        call(&a);
    }
}

}  // namespace sparq::jit
