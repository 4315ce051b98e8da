// Sparse int8 weight kernel on 1x4 blocks. Per run: activations are quantized and packed into
// token tiles ([in/4][tile][4] u8), then every thread takes a range of output rows (balanced by
// blocks) and, tile after tile, computes its rows' int32 sums with the best core allowed by
// max_isa() (JIT vpdpbusd, AVX-512 / AVX2 vpmaddwd, scalar) and dequantizes them straight into
// token-major dst with the fused epilogue. A pair FFN1 -> FFN2 runs chained (s8_run_chain): per
// token tile, FFN1's rows are dequantized feature-major (chain_avx512.cpp) and quantized straight
// into FFN2's packed tile, skipping FFN1's transposes back and FFN2's scales + pack.
#include <omp.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/buffer.hpp"
#include "core/threading.hpp"
#include "jit/spmm_s8_1x4.hpp"
#include "kernels/s8/s8_kernels.hpp"
#include "kernels/s8/spmm_s8_cores.hpp"
#include "sparq/error.hpp"

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
    const int64_t full = d.in / 4;  // whole groups; then the tail group of in % 4 inputs
    int64_t mixed = 0;
    for (int64_t o = 0; o < d.out; ++o) {
        const float* row = d.weight + o * d.in;
        int64_t nonzeros = 0, blocks = 0;
        for (int64_t g = 0; g < full; ++g) {  // branch-free: vectorizes (~4x faster load)
            const int nz = (row[4 * g] != 0.0f) + (row[4 * g + 1] != 0.0f) + (row[4 * g + 2] != 0.0f) +
                           (row[4 * g + 3] != 0.0f);
            nonzeros += nz;
            blocks += nz > 0;
            mixed += nz > 0 && nz < 4;
        }
        if (const int64_t n = d.in - 4 * full) {
            int nz = 0;
            for (int64_t k = 4 * full; k < d.in; ++k) nz += row[k] != 0.0f;
            nonzeros += nz;
            blocks += nz > 0;
            mixed += nz > 0 && nz < n;
        }
        st.nonzeros += nonzeros;
        st.blocks += blocks;
    }
    st.blocked = mixed == 0;
    return st;
}

namespace {

constexpr int kMaxVecs = 4;     // full token tiles of 64 tokens (measured: 32 and 128 slower on BERT shapes)
constexpr int64_t kRowChunk = 64;  // rows computed before their epilogue runs
constexpr int64_t kChunkGroups = 256;  // K chunk: 1024 inputs = 64 KiB of a 64-token tile
                                       // (measured: 256 and 512 inputs are slower)

// thread_scratch tags: each thread's int32 row sums, packed tile(s), FFN1 output and token maxima.
struct AccScratch;
struct PackScratch;
struct Pack2Scratch;
struct HiddenScratch;
struct MaxScratch;

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
        blocks_.reserve(std::max<size_t>(blocks.size(), 1));  // one allocation; data() never null
        blocks_.assign(blocks.begin(), blocks.end());
        isa_ = std::min(max_isa(), Isa::avx512_vnni);  // no tile kernels here
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
        run_split(src, dst, tokens, residual, 0, 0, nullptr, false);
    }

    bool run_by_units(const float* src, float* dst, int64_t tokens, int64_t sections,
                      int64_t units) const override {
        if (sections < 1 || units < 1 || out_ % (sections * units) != 0) return false;
        run_split(src, dst, tokens, nullptr, sections, units, nullptr, false);
        return true;
    }

    // run(); with sections > 0, threads take the rows of run_by_units instead of whole token
    // tiles or rows balanced by blocks, and dst is in run_by_units' unit-major layout. With
    // tfm_absmax, src is TFM (s8_kernels.hpp) with those per-token maxima; with dst_tfm (no
    // sections, no residual), dst is TFM.
    void run_split(const float* src, float* dst, int64_t tokens, const float* residual,
                   int64_t sections, int64_t units, const float* tfm_absmax, bool dst_tfm,
                   const S8Team* team = nullptr, const S8QK8* qk8 = nullptr) const {
        const int64_t in_pad = qw_.in_pad;
        const auto tiles = token_tiles(tokens, in_pad, 16 * kMaxVecs);
        const int64_t tpad = static_cast<int64_t>(tiles.size()) * 16 * kMaxVecs;
        thread_local AlignedBuffer<float> scales, inv;
        thread_local AlignedBuffer<uint8_t> packed;
        scales.resize(tpad);
        inv.resize(tpad);
        std::fill(scales.data() + tokens, scales.data() + tpad, 0.0f);  // padding: finite, unused
        if (opts_.act_scale != ActScale::per_token)
            activation_scales(src, tokens, in_, opts_, scales.data(), inv.data());
        const float* bias = bias_.empty() ? nullptr : bias_.data();
        float* sc = scales.data();
        float* iv = inv.data();
        // Output rows r = (s * units + u) * per + f go to dst[u][t][s * per + f] (run_by_units'
        // unit-major layout; without sections one unit and one section: token-major dst[t][r]),
        // so rows [a, b) of one (section, unit) block have row stride ld and start at row_at(a).
        const int64_t nsec = sections > 0 ? sections : 1, nunit = sections > 0 ? units : 1;
        const int64_t per = out_ / (nsec * nunit), ld = nsec * per;
        auto row_at = [&](int64_t r) {
            const int64_t block = r / per, s = block / nunit, u = block % nunit;
            return u * tokens * ld + s * per + r % per;
        };
        // Rows [r0, r1) of one tile packed at p, in chunks whose int32 sums stay in L1 until the
        // epilogue reads them; one epilogue call per (section, unit) block of a chunk.
        auto rows_of_tile = [&](const TokenTile& tile, const uint8_t* p, int64_t r0, int64_t r1,
                                int32_t* acc) {
            for (int64_t c0 = r0; c0 < r1; c0 += kRowChunk) {
                const int64_t c1 = std::min(c0 + kRowChunk, r1);
                compute(p, static_cast<int>(tile.width / 16), c0, c1, acc);
                if (dst_tfm) {
                    tfm_epilogue(acc, tile, c0, c1, sc, bias, act_, dst);
                    continue;
                }
                if (qk8) {  // rows below 2h int8 into qk8, the V rows head-major into qk8->v
                    const int64_t mid = std::clamp(2 * qk8->h, c0, c1), d = qk8->d;
                    if (c0 < mid)
                        s8::epilogue_qk8_avx512(acc, tile.width, tile.width, c0, mid, sc + tile.t0,
                                                qw_.scale.data(), bias, *qk8, tile.t0);
                    for (int64_t a = mid; a < c1; a += d)
                        s8::epilogue_fm(
                            acc + (a - c0) * tile.width, tile.width, tile.count, 0, d, d,
                            sc + tile.t0, qw_.scale.data() + a, bias ? bias + a : nullptr, act_,
                            nullptr, qk8->v + (((a - 2 * qk8->h) / d) * qk8->tpad + tile.t0) * d);
                    continue;
                }
                for (int64_t a = c0, b; a < c1; a = b) {
                    b = std::min(c1, (a / per + 1) * per);
                    const int64_t at = row_at(a) + tile.t0 * ld;
                    s8::epilogue_fm(acc + (a - c0) * tile.width, tile.width, tile.count, 0, b - a,
                                    ld, sc + tile.t0, qw_.scale.data() + a,
                                    bias ? bias + a : nullptr, act_,
                                    residual ? residual + at : nullptr, dst + at);
                }
            }
        };
        const int64_t ntiles = static_cast<int64_t>(tiles.size());
        const int nt = team ? team->n : num_threads();
        // Threads take whole token tiles when they divide evenly (no barrier; each thread packs
        // and reads only its own tile, in its own scratch: at b1 s128 on 2 threads, BERT-base 90%
        // 1x4, QKV 1.70 -> 1.55 ms and attention output 0.76 -> 0.62 ms), else all tiles are
        // packed first (shared) and threads take rows balanced by blocks. A team's threads each
        // call this and take their tiles (the buffers above are each thread's own).
        // (qk8: always whole tiles, so each row chunk starts at a head.)
        const bool by_tiles =
            team || nt == 1 || qk8 || (sections == 0 && (ntiles % nt == 0 || ntiles >= 4 * nt));
        uint8_t* const pk =
            by_tiles
                ? nullptr
                : (packed.resize(packed_bytes(tiles, in_pad), kActivationHugeFrom), packed.data());
        auto body = [&](int n, int id) {
            SPARQ_REGION(sections > 0 ? "s8 by units" : "s8");
            int32_t* const acc = thread_scratch<int32_t, AccScratch>(kRowChunk * 16 * kMaxVecs);
            if (by_tiles) {
                uint8_t* const p = thread_scratch<uint8_t, PackScratch>(in_pad * 16 * kMaxVecs);
                for (int64_t i = id; i < ntiles; i += n) {
                    pack_tile(src, tiles[i], sc, iv, p, tfm_absmax);
                    rows_of_tile(tiles[i], p, 0, out_, acc);
                }
                return;
            }
            int64_t tb, te;
            split_range(ntiles, n, id, tb, te);
            for (int64_t i = tb; i < te; ++i)
                pack_tile(src, tiles[i], sc, iv, pk + tiles[i].offset, tfm_absmax);
#pragma omp barrier
            if (sections > 0) {
                int64_t u0, u1;
                split_range(units, n, id, u0, u1);
                for (const TokenTile& tile : tiles)
                    for (int64_t s = 0; s < sections; ++s)
                        rows_of_tile(tile, pk + tile.offset, (s * units + u0) * per,
                                     (s * units + u1) * per, acc);
                return;
            }
            int64_t r0, r1;
            row_range(n, id, r0, r1);
            for (const TokenTile& tile : tiles) rows_of_tile(tile, pk + tile.offset, r0, r1, acc);
        };
        if (team) {
            body(team->n, team->id);
        } else if (nt == 1) {
            body(1, 0);
        } else {
#pragma omp parallel num_threads(nt)
            body(omp_get_num_threads(), omp_get_thread_num());
        }
    }

    // Whether a core of this ISA leaves the AVX-512 feature-major steps (chain, TFM) usable.
    static bool avx512_core(Isa i) { return static_cast<int>(i) >= static_cast<int>(Isa::avx512); }
    // Whether TFM input and output apply (s8_tfm_capable).
    bool tfm_capable() const {
        return opts_.act_scale == ActScale::per_token && has_isa(Isa::avx512) && avx512_core(isa_);
    }
    int64_t out() const { return out_; }

    // Whether run_chain(next, ...) applies (see s8_run_chain).
    bool chains_with(const SparseS8& next) const {
        return next.in_ == out_ && next.opts_.act_scale != ActScale::per_tensor &&
               has_isa(Isa::avx512) && avx512_core(isa_) && avx512_core(next.isa_);
    }

    // dst = next(this(src)) through feature-major tiles (s8_run_chain). Threads take whole token
    // tiles when they divide evenly (no barrier); otherwise rows, with three barriers per call.
    void run_chain(const SparseS8& next, const float* src, float* dst, int64_t tokens,
                   const float* residual, S8ChainTrace* trace, const float* tfm_absmax,
                   bool dst_tfm, const S8Team* team = nullptr) const {
        const int64_t in_pad = qw_.in_pad, mid = out_, mid_pad = next.qw_.in_pad, out2 = next.out_;
        const int64_t groups2 = mid_pad / 4, full = 16 * kMaxVecs;
        const auto tiles = token_tiles(tokens, in_pad, full);
        const auto tiles2 = token_tiles(tokens, mid_pad, full);  // same tokens, offsets for mid_pad
        const int64_t ntiles = static_cast<int64_t>(tiles.size()), tpad = ntiles * full;
        const int nt = team ? team->n : num_threads();
        const bool by_tiles = team || nt == 1 || ntiles % nt == 0 || ntiles >= 4 * nt;
        thread_local AlignedBuffer<float> sc1, iv1, sc2, hbuf, maxbuf;
        thread_local AlignedBuffer<uint8_t> pk1, pk2;
        sc1.resize(tpad);
        iv1.resize(tpad);
        sc2.resize(tpad);
        std::fill(sc1.data(), sc1.data() + tpad, 0.0f);  // padding tokens: finite, unused
        if (!by_tiles) {  // shared by the threads (by_tiles: each thread's own, in the region)
            pk1.resize(packed_bytes(tiles, in_pad), kActivationHugeFrom);
            pk2.resize(packed_bytes(tiles2, mid_pad), kActivationHugeFrom);
            hbuf.resize(ntiles * mid * full, kActivationHugeFrom);
            maxbuf.resize(nt * tpad);
        }
        if (opts_.act_scale != ActScale::per_token)
            activation_scales(src, tokens, in_, opts_, sc1.data(), iv1.data());
        if (trace) {
            trace->q.assign(tokens * mid_pad, 0);
            trace->scales.assign(tokens, 0.0f);
        }
        // thread_local: take the caller's buffers here, not inside the parallel region.
        float* const s1 = sc1.data();
        float* const i1 = iv1.data();
        float* const s2 = sc2.data();
        float* const hb = hbuf.data();
        float* const mb = maxbuf.data();
        uint8_t* const pb1 = pk1.data();
        uint8_t* const pb2 = pk2.data();
        const float* bias1 = bias_.empty() ? nullptr : bias_.data();
        const float* bias2 = next.bias_.empty() ? nullptr : next.bias_.data();

        // FFN1 rows [r0, r1) of tile `tile` packed at p1 -> h (feature-major, width per row).
        auto ffn1 = [&](const TokenTile& tile, const uint8_t* p1, int64_t r0, int64_t r1, float* h, float* tmax,
                        int32_t* acc) {
            for (int64_t c0 = r0; c0 < r1; c0 += kRowChunk) {
                const int64_t c1 = std::min(c0 + kRowChunk, r1);
                compute(p1, static_cast<int>(tile.width / 16), c0, c1, acc);
                s8::fm_dequant_rows_avx512(acc, tile.width, tile.width, c0, c1, s1 + tile.t0,
                                           qw_.scale.data(), bias1, act_, h + c0 * tile.width,
                                           tile.width, tmax);
            }
        };
        // FFN2 rows [r0, r1) of tile `tile` packed at p2 -> dst with the token-major epilogue.
        auto ffn2 = [&](const TokenTile& tile, const uint8_t* p2, int64_t r0, int64_t r1, int32_t* acc) {
            for (int64_t c0 = r0; c0 < r1; c0 += kRowChunk) {
                const int64_t c1 = std::min(c0 + kRowChunk, r1);
                next.compute(p2, static_cast<int>(tile.width / 16), c0, c1, acc);
                if (dst_tfm) {
                    next.tfm_epilogue(acc, tile, c0, c1, s2, bias2, next.act_, dst);
                    continue;
                }
                s8::epilogue_fm(acc, tile.width, tile.count, c0, c1, out2, s2 + tile.t0, next.qw_.scale.data(),
                                bias2, next.act_, residual ? residual + tile.t0 * out2 : nullptr,
                                dst + tile.t0 * out2);
            }
        };
        // Second's scales of one tile from its tokens' absmax (inv: [width], zero for padding;
        // scales into sc[t0 + j] unless sc is null).
        auto scales2 = [&](const TokenTile& tile, const float* tmax, float* inv, float* sc) {
            for (int64_t j = 0; j < tile.width; ++j) {
                float s = 0.0f, iv = 0.0f;
                if (j < tile.count) {
                    if (next.opts_.act_scale == ActScale::fixed) {
                        activation_scales(nullptr, 1, 0, next.opts_, &s, &iv);
                    } else {
                        s = scale_for(tmax[j]);
                        iv = inv_scale_for(tmax[j]);
                    }
                }
                inv[j] = iv;
                if (sc) sc[tile.t0 + j] = s;
            }
        };
        auto record = [&](const TokenTile& tile, const uint8_t* p2) {
            for (int64_t j = 0; j < tile.count; ++j) {
                trace->scales[tile.t0 + j] = s2[tile.t0 + j];
                for (int64_t k = 0; k < mid_pad; ++k)
                    trace->q[(tile.t0 + j) * mid_pad + k] =
                        static_cast<int8_t>(p2[((k / 4) * tile.width + j) * 4 + k % 4] - 128);
            }
        };

        auto body = [&](int n, int id) {
            SPARQ_REGION("s8 chain");
            int32_t* const acc = thread_scratch<int32_t, AccScratch>(kRowChunk * full);
            if (by_tiles) {
                uint8_t* const p1 = thread_scratch<uint8_t, PackScratch>(in_pad * full);
                uint8_t* const p2 = thread_scratch<uint8_t, Pack2Scratch>(mid_pad * full);
                float* const h = thread_scratch<float, HiddenScratch>(mid * full);
                float* const tmax = thread_scratch<float, MaxScratch>(full);
                alignas(64) float inv[16 * kMaxVecs];
                for (int64_t i = id; i < ntiles; i += n) {
                    const TokenTile& tile = tiles[i];
                    pack_tile(src, tile, s1, i1, p1, tfm_absmax);
                    std::fill(tmax, tmax + tile.width, 0.0f);
                    ffn1(tile, p1, 0, mid, h, tmax, acc);
                    scales2(tile, tmax, inv, s2);
                    s8::fm_quantize_pack_avx512(h, tile.width, mid, 0, groups2, tile.width, inv, p2);
                    if (trace) record(tile, p2);
                    ffn2(tile, p2, 0, out2, acc);
                }
                return;
            }
            int64_t tb, te;
            split_range(ntiles, n, id, tb, te);
            for (int64_t i = tb; i < te; ++i)
                pack_tile(src, tiles[i], s1, i1, pb1 + tiles[i].offset, tfm_absmax);
            float* const tmax = mb + id * tpad;
            std::fill(tmax, tmax + tpad, 0.0f);
#pragma omp barrier
            int64_t r0, r1;
            row_range(n, id, r0, r1);
            for (int64_t i = 0; i < ntiles; ++i)
                ffn1(tiles[i], pb1 + tiles[i].offset, r0, r1, hb + i * mid * full,
                     tmax + tiles[i].t0, acc);
#pragma omp barrier
            // Quantize: each thread a slice of each tile's groups (all threads' maxima combined).
            alignas(64) float m[16 * kMaxVecs], inv[16 * kMaxVecs];
            for (int64_t i = 0; i < ntiles; ++i) {
                const TokenTile& tile = tiles[i];
                int64_t g0, g1;
                split_range(groups2, n, id, g0, g1);
                if (g0 == g1) continue;
                for (int64_t j = 0; j < tile.width; ++j) {
                    m[j] = 0.0f;
                    for (int t = 0; t < n; ++t) m[j] = std::max(m[j], mb[t * tpad + tile.t0 + j]);
                }
                scales2(tile, m, inv, g0 == 0 ? s2 : nullptr);
                s8::fm_quantize_pack_avx512(hb + i * mid * full, tile.width, mid, g0, g1, tile.width, inv,
                                            pb2 + tiles2[i].offset);
            }
#pragma omp barrier
            if (trace && id == 0)
                for (int64_t i = 0; i < ntiles; ++i) record(tiles[i], pb2 + tiles2[i].offset);
            next.row_range(n, id, r0, r1);
            for (int64_t i = 0; i < ntiles; ++i)
                ffn2(tiles[i], pb2 + tiles2[i].offset, r0, r1, acc);
        };
        if (team) {
            body(team->n, team->id);
        } else if (nt == 1) {
            body(1, 0);
        } else {
#pragma omp parallel num_threads(nt)
            body(omp_get_num_threads(), omp_get_thread_num());
        }
    }

    std::string name() const override {
        return std::string(blocked_ ? "spmm_s8_1x4_" : "spmm_s8_1x4g_") + isa_name(isa_);
    }
    double fill() const { return fill_; }

private:
  // Activation scales (per-token mode) and quantize + pack of one token tile of src into dst
  // (the tile's first byte). With tfm_absmax (per-token mode only), src is TFM and the scales
  // come from those maxima: the same scales and bytes as from token-major src.
  void pack_tile(const float* src, const TokenTile& tile, float* sc, float* iv, uint8_t* dst,
                 const float* tfm_absmax = nullptr) const {
      if (tfm_absmax) {
          alignas(64) float inv[s8::kTfmTile];
          for (int64_t j = 0; j < tile.width; ++j) {
              const float m = tfm_absmax[tile.t0 + j];
              inv[j] = j < tile.count ? inv_scale_for(m) : 0.0f;
              if (j < tile.count) {
                  sc[tile.t0 + j] = scale_for(m);
                  iv[tile.t0 + j] = inv[j];
              }
          }
          s8::fm_quantize_pack_avx512(src + tile.t0 * in_, s8::kTfmTile, in_, 0, qw_.in_pad / 4,
                                      tile.width, inv, dst);
          return;
      }
      if (opts_.act_scale == ActScale::per_token) {
          scale_quantize_pack_u8(src + tile.t0 * in_, tile.count, tile.width, in_, qw_.in_pad,
                                 sc + tile.t0, iv + tile.t0, dst);
          return;
      }
      TokenTile at = tile;
      at.offset = 0;
      quantize_pack_u8(src, in_, qw_.in_pad, iv, {at}, dst);
  }
  // Rows [c0, c1) of one tile's int32 sums acc [c1 - c0][width] dequantized into TFM dst (the
  // same operations per value as epilogue_fm without a residual).
  void tfm_epilogue(const int32_t* acc, const TokenTile& tile, int64_t c0, int64_t c1,
                    const float* sc, const float* bias, Activation act, float* dst) const {
      s8::fm_dequant_rows_avx512(acc, tile.width, tile.width, c0, c1, sc + tile.t0,
                                 qw_.scale.data(), bias, act,
                                 dst + tile.t0 * out_ + c0 * s8::kTfmTile, s8::kTfmTile, nullptr);
  }
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
    // On shared huge pages (the core streams it per tile).
    std::vector<jit::S8Block, HugePageAllocator<jit::S8Block>> blocks_;
    std::array<std::unique_ptr<jit::SpmmS8Vnni>, 4> jit_;
    bool blocked_ = true;
    double fill_ = 1.0;
};

}  // namespace

bool s8_run_chain(const LinearKernel& first, const LinearKernel& second, const float* src, float* dst,
                  int64_t tokens, const float* residual, S8ChainTrace* trace) {
    const auto* a = dynamic_cast<const SparseS8*>(&first);
    const auto* b = dynamic_cast<const SparseS8*>(&second);
    if (!a || !b || tokens < 1 || !a->chains_with(*b))
        return dense_s8_run_chain(first, second, src, dst, tokens, residual, trace);
    a->run_chain(*b, src, dst, tokens, residual, trace, nullptr, false);
    return true;
}

bool s8_tfm_capable(const LinearKernel& k) {
    const auto* s = dynamic_cast<const SparseS8*>(&k);
    return s && s->tfm_capable();
}

void s8_run_tfm(const LinearKernel& k, const float* src, const float* src_absmax, float* dst,
                bool dst_tfm, int64_t tokens, int64_t sections, int64_t units, const S8Team* team,
                const S8QK8* qk8) {
    const auto* s = dynamic_cast<const SparseS8*>(&k);
    if (!s || !s->tfm_capable() || tokens < 1 || (dst_tfm && sections > 0) ||
        (team && sections > 0) ||
        (sections > 0 && (units < 1 || s->out() % (sections * units) != 0)))
        throw Error("s8_run_tfm: kernel or arguments do not support the TFM layout");
    if (qk8 && (dst_tfm || sections > 0 || qk8->d < 16 || qk8->d % 16 != 0 || 64 % qk8->d != 0 ||
                qk8->h % qk8->d != 0 || s->out() != 3 * qk8->h ||
                qk8->tpad < (tokens + 63) / 64 * 64 + 16))
        throw Error(
            "s8_run_tfm: int8 Q/K output needs a token-major QKV kernel of 3 x hidden rows, "
            "heads of 16, 32 or 64 rows and tpad >= tokens rounded up to 64, plus 16");
    s->run_split(src, dst, tokens, nullptr, sections, units, src_absmax, dst_tfm, team, qk8);
}

void s8_run_chain_tfm(const LinearKernel& first, const LinearKernel& second, const float* src,
                      const float* src_absmax, float* dst, bool dst_tfm, int64_t tokens,
                      const S8Team* team) {
    const auto* a = dynamic_cast<const SparseS8*>(&first);
    const auto* b = dynamic_cast<const SparseS8*>(&second);
    if (!a || !b || !a->tfm_capable() || !b->tfm_capable() || !a->chains_with(*b) || tokens < 1)
        throw Error("s8_run_chain_tfm: kernels do not chain in the TFM layout");
    a->run_chain(*b, src, dst, tokens, nullptr, nullptr, src_absmax, dst_tfm, team);
}

std::unique_ptr<S8LinearKernel> make_sparse_s8(const LinearDesc& desc, const QuantOptions& opts) {
    return std::make_unique<SparseS8>(desc, opts);
}

double estimate_sparse_s8_ns(int64_t out, int64_t in, int64_t blocks, int64_t tokens) {
    // One core, fitted on bench/s8_bench.cpp (BERT-base shapes at 80/90/95% 1x4 and the H 128 /
    // 256 shapes at 95%, T = 64..512): ~0.33 ns per block per 16-token vector (vpdpbusd core,
    // 0.30-0.33 measured), ~0.16 ns per input and per output of each token (scales + quantize +
    // pack, and the dequantize + transpose epilogue; 0.15 on the small shapes, up to 0.25 on the
    // 3072-wide BERT FFN), ~0.5 us fixed (0.2-0.5 us at T = 64 on the H 128 shapes); plus the
    // stream of the block list (8 bytes per block) from memory, as for dense int8.
    return 0.33 * blocks * ((tokens + 15) / 16) + 0.16 * (out + in) * tokens +
           kS8WeightNsPerByte * 8.0 * blocks + 500.0;
}

}  // namespace sparq
