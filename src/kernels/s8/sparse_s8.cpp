// Sparse int8 weight kernel on 1x4 blocks. Per run: activations are quantized and packed into
// token tiles ([in/4][tile][4] u8), then every thread takes a range of output rows (balanced by
// blocks) and, tile after tile, computes its rows' int32 sums with the best core allowed by
// max_isa() (JIT vpdpbusd, AVX-512 / AVX2 vpmaddwd, scalar) and dequantizes them straight into
// token-major dst with the fused epilogue.
#include <omp.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/buffer.hpp"
#include "core/threading.hpp"
#include "jit/spmm_s8_1x4.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/spmm_s8_cores.hpp"

namespace sparq {

namespace s8 {
void spmm_s8_scalar(const jit::SpmmS8Args& a, int vecs) {
    const int width = 16 * vecs;
    for (int64_t r = 0; r < a.rows; ++r) {
        int32_t* d = a.dst + r * width;
        if (!a.accumulate)
            for (int j = 0; j < width; ++j) d[j] = -a.comp[r];
        for (int32_t b = a.row_ptr[r]; b < a.row_ptr[r + 1]; ++b) {
            const jit::S8Block blk = a.blocks[b];
            const uint8_t* s = a.src + static_cast<int64_t>(blk.offset) * vecs;
            for (int j = 0; j < width; ++j)
                for (int i = 0; i < 4; ++i)
                    d[j] += static_cast<int32_t>(s[4 * j + i]) *
                            static_cast<int8_t>(static_cast<uint32_t>(blk.weights) >> (8 * i));
        }
    }
}
}  // namespace s8

BlockStats block_stats_s8(const LinearDesc& d) {
    BlockStats st;
    st.blocked = true;
    for (int64_t o = 0; o < d.out; ++o)
        for (int64_t g = 0; g < (d.in + 3) / 4; ++g) {
            int nz = 0, n = 0;
            for (int64_t k = 4 * g; k < std::min(4 * g + 4, d.in); ++k, ++n) nz += d.weight[o * d.in + k] != 0.0f;
            st.nonzeros += nz;
            st.blocks += nz > 0;
            if (nz != 0 && nz != n) st.blocked = false;
        }
    return st;
}

namespace {

constexpr int kMaxVecs = 4;     // full token tiles of 64 tokens (measured: 32 and 128 slower on BERT shapes)
constexpr int64_t kRowChunk = 64;  // rows computed before their epilogue runs
constexpr int64_t kChunkGroups = 256;  // K chunk: 1024 inputs = 64 KiB of a 64-token tile
                                       // (measured: 256 and 512 inputs are slower)

int vec_index(int vecs) { return vecs == 1 ? 0 : vecs == 2 ? 1 : vecs == 4 ? 2 : 3; }

class SparseS8 final : public S8LinearKernel {
public:
    SparseS8(const LinearDesc& d, const QuantOptions& o) : S8LinearKernel(d, o) {
        const BlockStats st = block_stats_s8(d);
        blocked_ = st.blocked;
        fill_ = st.fill();
        const int64_t groups = qw_.in_pad / 4;
        chunks_ = (groups + kChunkGroups - 1) / kChunkGroups;
        // Blocks ordered by K chunk, then row: chunk c of row r is
        // blocks_[row_ptr_[c * (out + 1) + r], row_ptr_[c * (out + 1) + r + 1]).
        row_ptr_.resize(chunks_ * (out_ + 1));
        row_cost_.assign(out_ + 1, 0);
        std::vector<jit::S8Block> blocks;
        for (int64_t c = 0; c < chunks_; ++c) {
            for (int64_t r = 0; r < out_; ++r) {
                row_ptr_[c * (out_ + 1) + r] = static_cast<int32_t>(blocks.size());
                const int8_t* w = qw_.q.data() + r * qw_.in_pad;
                for (int64_t g = c * kChunkGroups; g < std::min(groups, (c + 1) * kChunkGroups); ++g) {
                    uint32_t dword = 0;
                    for (int i = 0; i < 4; ++i)
                        dword |= static_cast<uint32_t>(static_cast<uint8_t>(w[4 * g + i])) << (8 * i);
                    if (dword) {
                        blocks.push_back({static_cast<int32_t>(g * 64), static_cast<int32_t>(dword)});
                        ++row_cost_[r + 1];
                    }
                }
            }
            row_ptr_[c * (out_ + 1) + out_] = static_cast<int32_t>(blocks.size());
        }
        for (int64_t r = 0; r < out_; ++r) row_cost_[r + 1] += row_cost_[r] + 1;  // blocks + 1 per row
        nblocks_ = static_cast<int64_t>(blocks.size());
        blocks_.resize(std::max<size_t>(blocks.size(), 1));
        std::copy(blocks.begin(), blocks.end(), blocks_.data());
        isa_ = max_isa();
        if (isa_ == Isa::avx512_vnni)
            for (int vecs = 1; vecs <= kMaxVecs; vecs *= 2)  // tile widths token_tiles() produces
                jit_[vec_index(vecs)] = std::make_unique<jit::SpmmS8Vnni>(vecs);
    }

    int64_t blocks() const { return nblocks_; }

    void accumulate(const int8_t* src_q, int32_t* acc, int64_t tokens) const override {
        const int64_t in_pad = qw_.in_pad;
        auto tiles = token_tiles(tokens, in_pad, 16 * kMaxVecs);
        std::vector<uint8_t> packed(packed_bytes(tiles, in_pad));
        for (const TokenTile& tile : tiles)
            for (int64_t j = 0; j < tile.width; ++j)
                for (int64_t k = 0; k < in_pad; ++k)
                    packed[tile.offset + ((k / 4) * tile.width + j) * 4 + k % 4] = static_cast<uint8_t>(
                        (j < tile.count ? src_q[(tile.t0 + j) * in_pad + k] : 0) + 128);
        std::vector<int32_t> rows(out_ * 16 * kMaxVecs);
        for (const TokenTile& tile : tiles) {
            compute(packed.data() + tile.offset, static_cast<int>(tile.width / 16), 0, out_, rows.data());
            for (int64_t j = 0; j < tile.count; ++j)
                for (int64_t o = 0; o < out_; ++o) acc[(tile.t0 + j) * out_ + o] = rows[o * tile.width + j];
        }
    }

    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        const int64_t in_pad = qw_.in_pad;
        const auto tiles = token_tiles(tokens, in_pad, 16 * kMaxVecs);
        thread_local AlignedBuffer<float> scales, inv;
        thread_local AlignedBuffer<uint8_t> packed;
        thread_local AlignedBuffer<int32_t> rows;
        scales.resize(tokens);
        inv.resize(tokens);
        packed.resize(packed_bytes(tiles, in_pad));
        rows.resize(out_ * 16 * kMaxVecs);
        if (opts_.act_scale != ActScale::per_token)
            activation_scales(src, tokens, in_, opts_, scales.data(), inv.data());
        const float* bias = bias_.empty() ? nullptr : bias_.data();
        float* sc = scales.data();
        float* iv = inv.data();
        uint8_t* pk = packed.data();
        int32_t* rw = rows.data();
#pragma omp parallel
        {
            const int nt = omp_get_num_threads(), id = omp_get_thread_num();
            int64_t tb, te;
            split_range(static_cast<int64_t>(tiles.size()), nt, id, tb, te);
            for (int64_t i = tb; i < te; ++i) {
                const TokenTile& tile = tiles[i];
                if (opts_.act_scale == ActScale::per_token)
                    activation_scales(src + tile.t0 * in_, tile.count, in_, opts_, sc + tile.t0, iv + tile.t0);
                std::vector<TokenTile> one{tile};
                quantize_pack_u8(src, in_, in_pad, iv, one, pk);
            }
#pragma omp barrier
            int64_t r0, r1;
            row_range(nt, id, r0, r1);
            // Rows in chunks whose int32 sums stay in L1 until the epilogue reads them.
            int32_t* acc = rw + r0 * 16 * kMaxVecs;  // disjoint per thread
            for (const TokenTile& tile : tiles)
                for (int64_t c0 = r0; c0 < r1; c0 += kRowChunk) {
                    const int64_t c1 = std::min(c0 + kRowChunk, r1);
                    const int64_t width = tile.width;
                    compute(pk + tile.offset, static_cast<int>(width / 16), c0, c1, acc);
                    s8::epilogue_fm(acc, width, tile.count, c0, c1, out_, sc + tile.t0, qw_.scale.data(), bias,
                                    act_, residual ? residual + tile.t0 * out_ : nullptr, dst + tile.t0 * out_);
                }
        }
    }

    std::string name() const override {
        return std::string(blocked_ ? "spmm_s8_1x4_" : "spmm_s8_1x4g_") + isa_name(isa_);
    }
    double fill() const { return fill_; }

private:
    // Rows [r0, r1) of one tile of 16 * vecs tokens into acc [r1 - r0][16 * vecs], K chunk by
    // K chunk (each chunk's activations stay in cache across the rows).
    void compute(const uint8_t* tile, int vecs, int64_t r0, int64_t r1, int32_t* acc) const {
        for (int64_t c = 0; c < chunks_; ++c) {
            jit::SpmmS8Args a{tile, blocks_.data(), row_ptr_.data() + c * (out_ + 1) + r0,
                              qw_.comp.data() + r0, acc, r1 - r0, c > 0};
            switch (isa_) {
                case Isa::avx512_vnni: (*jit_[vec_index(vecs)])(a); break;
                case Isa::avx512: s8::spmm_s8_avx512(a, vecs); break;
                case Isa::avx2: s8::spmm_s8_avx2(a, vecs); break;
                default: s8::spmm_s8_scalar(a, vecs); break;
            }
        }
    }
    // Rows of thread id: equal shares of (blocks + rows), so threads get equal work.
    void row_range(int nt, int id, int64_t& r0, int64_t& r1) const {
        const int64_t total = row_cost_[out_];
        auto find = [&](int64_t target) {
            int64_t lo = 0, hi = out_;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (row_cost_[mid] < target) lo = mid + 1; else hi = mid;
            }
            return lo;
        };
        r0 = find(total * id / nt);
        r1 = id + 1 == nt ? out_ : find(total * (id + 1) / nt);
    }

    int64_t chunks_ = 1, nblocks_ = 0;
    std::vector<int32_t> row_ptr_;   // [chunks][out + 1]
    std::vector<int64_t> row_cost_;  // prefix sums of (blocks + 1) per row, for thread balance
    AlignedBuffer<jit::S8Block> blocks_;
    std::array<std::unique_ptr<jit::SpmmS8Vnni>, 4> jit_;
    bool blocked_ = true;
    double fill_ = 1.0;
};

}  // namespace

std::unique_ptr<S8LinearKernel> make_sparse_s8(const LinearDesc& desc, const QuantOptions& opts) {
    return std::make_unique<SparseS8>(desc, opts);
}

double estimate_sparse_s8_ns(int64_t out, int64_t in, int64_t blocks, int64_t tokens) {
    // One core, fitted on bench/s8_bench.cpp (BERT-base shapes, T = 128/1024, 1x4 blocks):
    // ~0.3 ns per block per 16-token vector (vpdpbusd core), ~0.17 ns per output (dequantize +
    // transpose epilogue), ~0.15 ns per input (scales + quantize + pack), ~5 us fixed.
    return 0.3 * blocks * ((tokens + 15) / 16) + 0.17 * out * tokens + 0.15 * in * tokens + 5000.0;
}

}  // namespace sparq
