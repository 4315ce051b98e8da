// Sparse f32 weight kernels: the list of variants, the JIT-driven kernel and the scalar
// reference (also the fallback on CPUs without AVX2).
#include <omp.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "core/buffer.hpp"
#include "core/threading.hpp"
#include "jit/spmm_gen.hpp"
#include "jit/spmm_rb_gen.hpp"
#include "kernels/spmm/sparse_format.hpp"
#include "kernels/spmm/spmm.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

// thread_scratch tags: each thread's packed input group, output tile and FFN1 tile of a chain.
struct XScratch;
struct YScratch;
struct HScratch;

// The list of sparse f32 kernels. Per ISA the first entry is the default (spmm_best_variant).
const SpmmVariant kVariants[] = {
    {"spmm_f32_ref", Isa::scalar, 1, 1, 0},
    {"spmm_f32_4x16_k128-384_avx512", Isa::avx512, 16, 4, 128, 0, 2, 0, 384},
    {"spmm_f32_4x16_k128_avx512", Isa::avx512, 16, 4, 128},
    // Register-blocked (jit/spmm_rb_gen.hpp): fastest with its code in cache, but it is ~10 bytes
    // of code per nonzero, fetched from memory once per call on BERT-base (docs/benchmarks.md,
    // run 16), so not the default.
    {"spmm_f32_rb30_k1024_avx512", Isa::avx512, 16, 1, 1024, 0, 2, 30},
    {"spmm_f32_4x16_k192_avx512", Isa::avx512, 16, 4, 192},
    {"spmm_f32_4x16_k128_r4_avx512", Isa::avx512, 16, 4, 128, 0, 4},
    {"spmm_f32_4x16_k128_unrolled_avx512", Isa::avx512, 16, 4, 128, 4 << 20},
    {"spmm_f32_6x16_k128_avx512", Isa::avx512, 16, 6, 128},
    {"spmm_f32_8x16_k96_avx512", Isa::avx512, 16, 8, 96},
    {"spmm_f32_4x16_avx512", Isa::avx512, 16, 4, 0},
    {"spmm_f32_4x8_k256_avx2", Isa::avx2, 8, 4, 256},
    {"spmm_f32_2x8_avx2", Isa::avx2, 8, 2, 0},
};

// Scalar CSR kernel on token-major data: the portable fallback.
class SpmmRef final : public LinearKernel {
  public:
    explicit SpmmRef(const LinearDesc& d)
        : csr_(csr_from_dense(d.weight, d.out, d.in)), act_(d.act) {
        out_ = d.out;
        in_ = d.in;
        if (d.bias) bias_.assign(d.bias, d.bias + d.out);
    }
    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        int nt = num_threads();
        std::vector<int64_t> bounds = partition_rows(csr_.row_ptr.data(), out_, nt, 16, 1);
        SpmmEpilogue ep{bias_.empty() ? nullptr : bias_.data(), residual, act_};
#pragma omp parallel num_threads(nt)
        {
            int tid = omp_get_thread_num();
            int64_t r0 = bounds[tid], r1 = bounds[tid + 1];
            std::vector<float> tile(static_cast<size_t>(std::max<int64_t>(r1 - r0, 1)));
            for (int64_t t = 0; t < tokens; ++t) {
                const float* x = src + t * in_;
                for (int64_t r = r0; r < r1; ++r) {
                    float acc = 0.0f;
                    for (int32_t k = csr_.row_ptr[r]; k < csr_.row_ptr[r + 1]; ++k)
                        acc += csr_.values[k] * x[csr_.col_idx[k]];
                    tile[r - r0] = acc;
                }
                spmm_detail::unpack_rows_scalar(
                    tile.data(), 1, r0, r1 - r0, 1, dst + t * out_, out_,
                    {ep.bias, residual ? residual + t * out_ : nullptr, act_});
            }
        }
    }
    std::string name() const override { return "spmm_f32_ref"; }

  private:
    CsrMatrix csr_;
    std::vector<float> bias_;
    Activation act_;
};

// The packed sparse weight of one matrix for one variant (see jit/spmm_gen.hpp for the records).
struct SpmmData {
    static constexpr int64_t kPanel = 128;  // rows per panel (unit of ordering and thread split)
    std::vector<int32_t> row_ptr;           // of the unblocked CSR, for thread balancing
    int64_t chunk = 0, chunks = 1, panels = 0;  // K-block (input features), blocks, row panels
    int rows = 2;                    // output rows per record
    std::vector<int32_t> rec;        // records {begin, end, y offset of each row}, + one of 0s
    std::vector<int32_t> panel_rec;  // [chunks][panels + 1]: first record of each panel
    // Streamed once per token group: on huge pages (see aligned_storage_alloc).
    std::vector<int32_t, HugePageAllocator<int32_t>> offs;  // byte offset of each nonzero's
                                                            // packed activation row
    std::vector<float, HugePageAllocator<float>> vals;
    std::shared_ptr<const jit::SpmmF32UnrolledGen> unrolled;  // null: over the code budget
    std::shared_ptr<const jit::SpmmRbGen> rb;  // the register-blocked kernel (no records)
};

// Row-pair records per chunk, panel by panel (see jit/spmm_gen.hpp). Within a panel rows are
// ordered by nonzero count and paired in that order; an odd row out is paired with the dummy row
// `out` of the y tile. Chunk 0 lists every row (it initialises y), and so does the last chunk
// (its kernel may apply the epilogue to every row), the others only rows with nonzeros in them.
// Data is laid out in record order so the offset/value streams are sequential. Offsets (of x
// rows, and the records' y rows) are in units of `unit` bytes (jit/spmm_gen.hpp).
SpmmData build_spmm_data(const CsrMatrix& csr, int64_t unit, int64_t chunk, int rows) {
    constexpr int64_t kPanel = SpmmData::kPanel;
    const int64_t out = csr.rows;
    const size_t rec_ints = 2 + rows;
    SpmmData m;
    m.rows = rows;
    m.row_ptr = csr.row_ptr;
    BlockedCsr b = block_columns(csr, chunk);
    m.chunk = b.chunk;
    m.chunks = b.chunks;
    m.panels = (out + kPanel - 1) / kPanel;
    m.panel_rec.assign(m.chunks * (m.panels + 1), 0);
    m.offs.reserve(b.nnz() + b.chunks * out);
    m.vals.reserve(b.nnz() + b.chunks * out);
    std::vector<int64_t> order;
    for (int64_t c = 0; c < m.chunks; ++c) {
        const int32_t* rp = b.row_ptr.data() + c * (out + 1);
        auto count = [&](int64_t r) { return r < out ? rp[r + 1] - rp[r] : 0; };
        for (int64_t p = 0; p < m.panels; ++p) {
            m.panel_rec[c * (m.panels + 1) + p] = static_cast<int32_t>(m.rec.size() / rec_ints);
            order.clear();
            for (int64_t r = p * kPanel; r < std::min(out, (p + 1) * kPanel); ++r)
                if (c == 0 || c + 1 == m.chunks || rp[r + 1] > rp[r]) order.push_back(r);
            std::stable_sort(order.begin(), order.end(),
                             [&](int64_t x, int64_t y) { return count(x) < count(y); });
            while (order.size() % rows != 0) order.push_back(out);
            for (size_t j = 0; j < order.size(); j += rows) {
                int32_t n = 0;
                for (int q = 0; q < rows; ++q) n = std::max(n, count(order[j + q]));
                m.rec.push_back(static_cast<int32_t>(m.vals.size()));
                for (int32_t i = 0; i < n; ++i)
                    for (int q = 0; q < rows; ++q) {
                        const int64_t r = order[j + q];
                        const bool real = i < count(r);
                        m.offs.push_back(real ? static_cast<int32_t>(b.col_idx[rp[r] + i] * unit)
                                              : 0);
                        m.vals.push_back(real ? b.values[rp[r] + i] : 0.0f);
                    }
                m.rec.push_back(static_cast<int32_t>(m.vals.size()));
                for (int q = 0; q < rows; ++q)
                    m.rec.push_back(static_cast<int32_t>(order[j + q] * unit));
            }
        }
        m.panel_rec[c * (m.panels + 1) + m.panels] = static_cast<int32_t>(m.rec.size() / rec_ints);
    }
    m.rec.resize(m.rec.size() + rec_ints, 0);  // read by the last record's prefetch of the next
    return m;
}

// Packed data shared by kernels of identical matrices (same shape, content hash and variant).
// epi: the register-blocked kernel's epilogue (its code has it; none for the record kernels).
std::shared_ptr<const SpmmData> spmm_data_for(const LinearDesc& d, const SpmmVariant& v,
                                              int64_t unit, jit::SpmmEpi epi) {
    static std::mutex mu;
    static std::map<std::tuple<uint64_t, int64_t, int64_t, const SpmmVariant*, jit::SpmmEpi>,
                    std::weak_ptr<const SpmmData>>
        cache;
    auto key = std::make_tuple(content_hash(d.weight, d.out * d.in), d.out, d.in, &v, epi);
    {
        std::lock_guard<std::mutex> lock(mu);
        if (auto hit = cache[key].lock()) return hit;
    }
    std::shared_ptr<SpmmData> built;
    const CsrMatrix csr = csr_from_dense(d.weight, d.out, d.in);
    if (v.block_rows > 0) {
        built = std::make_shared<SpmmData>();
        built->row_ptr = csr.row_ptr;
        built->rb = std::make_shared<const jit::SpmmRbGen>(csr, v.block_rows, epi, v.chunk);
    } else {
        built = std::make_shared<SpmmData>(
            build_spmm_data(csr, unit, spmm_chunk(v, d.out, d.in, csr.row_ptr.back()), v.rows));
    }
    if (v.unroll_budget > 0 && v.rows == 2 &&
        jit::SpmmF32UnrolledGen::estimate_bytes(v.vectors, built->rec.size() / 4,
                                                built->offs.size()) <= v.unroll_budget)
        built->unrolled = std::make_shared<const jit::SpmmF32UnrolledGen>(
            v.isa, v.vectors, built->chunks, built->panels, built->rec.data(),
            built->panel_rec.data(), built->offs.data());
    std::shared_ptr<const SpmmData> data = built;
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = cache.begin(); it != cache.end();)  // drop entries of freed kernels
        it = it->second.expired() ? cache.erase(it) : std::next(it);
    cache[key] = data;
    return data;
}

// The JIT kernels on packed token groups: row-pair records over K-blocked CSR with byte offsets
// (jit/spmm_gen.hpp), or the register-blocked code of the matrix (jit/spmm_rb_gen.hpp), run on
// batches of token groups.
class SpmmJit final : public LinearKernel {
  public:
    SpmmJit(const LinearDesc& d, const SpmmVariant& v) : v_(v), act_(d.act) {
        out_ = d.out;
        in_ = d.in;
        group_ = int64_t{v.lanes} * v.vectors;
        // Narrower groups for fewer tokens (lanes, 2 lanes, ... up to the group) from the same
        // data, its offsets in units of one vector's bytes: a group of 16 tokens in a 64-token
        // layout uses one line in four of every activation and output row, and those rows, 256
        // bytes apart, map to a quarter of L1's sets (docs/benchmarks.md, run 24). Record kernels
        // with a power-of-two number of vectors (up to 8: the address scale).
        narrow_ = v.block_rows == 0 && v.unroll_budget == 0 && v.vectors <= 8 &&
                  (v.vectors & (v.vectors - 1)) == 0;
        unit_ = narrow_ ? int64_t{v.lanes} * 4 : group_ * 4;
        if ((in_ + 1) * group_ * 4 > INT32_MAX || (out_ + 1) * group_ * 4 > INT32_MAX)
            throw Error("sparse weight '" + d.name + "': " + std::to_string(out_) + "x" +
                        std::to_string(in_) + " exceeds the kernel's 32-bit offsets");
        if (d.bias) bias_.assign(d.bias, d.bias + d.out);
        const jit::SpmmEpi epi = jit::spmm_epi(d.act);
        const bool epi_ok = (d.bias || is_gelu(d.act)) && jit::spmm_epi_act(epi) == d.act &&
                            std::getenv("SPARQ_NO_JIT_EPILOGUE") == nullptr;
        if (v.block_rows > 0) {
            // The register-blocked kernel: bias and GELU in its code when asked.
            fuse_ = epi_ok;
            if (fuse_) bias_.resize(out_, 0.0f);  // zeros without a bias
            data_ = spmm_data_for(d, v, unit_, fuse_ ? epi : jit::SpmmEpi::none);
            // Token groups (vectors) per call of the register-blocked kernel: its code is fetched
            // once per call and reused across them; a K chunk of 8 vectors' activations (1024
            // inputs: 512 KB) stays in L2. 16 measured slower at b8 s128 (x out of L2).
            batch_ = 8;
            return;
        }
        data_ = spmm_data_for(d, v, unit_, jit::SpmmEpi::none);
        for (int s = 0; s < (narrow_ ? kScales : 1) && (int64_t{v.lanes} << s) <= group_; ++s)
            for (int nv = 1; nv <= (narrow_ ? 1 << s : v.vectors); ++nv)
                kernels_[s].push_back(jit::spmm_f32_kernel(v.isa, nv, v.rows, jit::SpmmEpi::none, 0,
                                                           scale_of(v.lanes << s)));
        // Bias and GELU in the last K chunk's kernel, on the sums still in registers (AVX-512,
        // row pairs, up to 4 vectors, power-of-two groups; not the unrolled kernels).
        // SPARQ_NO_JIT_EPILOGUE=1 keeps them in the separate pass (same numbers).
        fuse_ = epi_ok && v.isa >= Isa::avx512 && v.lanes == 16 && v.rows == 2 && v.vectors <= 4 &&
                (unit_ & (unit_ - 1)) == 0 && !data_->unrolled;
        if (fuse_) {
            bias_.resize(out_ + 1, 0.0f);  // + the dummy row of odd pairs; zeros without a bias
            int shift = 0;
            while ((int64_t{1} << shift) < unit_) ++shift;
            for (int s = 0; s < kScales; ++s)
                for (int nv = 1; nv <= static_cast<int>(kernels_[s].size()); ++nv)
                    epi_kernels_[s].push_back(jit::spmm_f32_kernel(v.isa, nv, v.rows, epi, shift,
                                                                   scale_of(v.lanes << s)));
        }
    }

    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        assert(has_isa(v_.isa) && tokens >= 1);
        // Thread split: by token groups when they divide evenly (no barrier, no shared data),
        // else by rows balanced by nonzeros (one barrier after packing all groups).
        if (splits_by_groups(tokens)) return run_groups(src, false, dst, false, tokens, residual);
        const int64_t gs = group_for(tokens), groups = (tokens + gs - 1) / gs;
        static thread_local AlignedBuffer<float> xbuf;  // all groups packed, read by every thread
        const int nt = num_threads();
        xbuf.resize(groups * in_ * gs);
        // thread_local: take the caller's buffer here, not inside the parallel region.
        float* const xbase = xbuf.data();
        const std::vector<int64_t> bounds = row_bounds(nt);
        const int64_t slice = 64;  // features per packing job
        const int64_t slices = (in_ + slice - 1) / slice;
        const Isa isa = v_.isa;
#pragma omp parallel num_threads(nt)
        {
            SPARQ_REGION("spmm by rows");
            const int tid = omp_get_thread_num();
            const int64_t tile = (out_ + 1) * gs;
            float* const yp = thread_scratch<float, YScratch>(batch_ * tile);
#pragma omp for schedule(static)
            for (int64_t j = 0; j < groups * slices; ++j) {
                const int64_t g = j / slices, i0 = (j % slices) * slice;
                const int64_t count = std::min(gs, tokens - g * gs);
                spmm_pack_tokens(isa, src + g * gs * in_ + i0, in_, std::min(slice, in_ - i0),
                                 count, gs, v_.lanes, xbase + (g * in_ + i0) * gs);
            }
            const int64_t r0 = bounds[tid], r1 = bounds[tid + 1];
            for (int64_t g0 = 0; g0 < groups && r1 > r0; g0 += batch_) {
                const int64_t n = std::min(batch_, groups - g0);
                const float* ahead = g0 + n < groups ? xbase + (g0 + n) * in_ * gs : nullptr;
                const Batch b{g0, 1, n, tokens, gs, ahead};
                run_tiles(xbase + g0 * in_ * gs, in_ * gs, yp, tile, b, r0, r1);
                unpack_tiles(yp, b, r0, r1, dst, residual);
            }
        }
    }

    // Whether run() splits `tokens` across the threads by whole token groups.
    bool splits_by_groups(int64_t tokens) const {
        const int64_t gs = group_for(tokens), groups = (tokens + gs - 1) / gs;
        const int nt = num_threads();
        return groups % nt == 0 || groups >= 4 * nt;
    }
    // The token group of a run over `tokens` tokens: the variant's, or for fewer tokens the
    // narrowest power-of-two number of vectors that holds them (narrow_ kernels).
    int64_t group_for(int64_t tokens) const {
        int64_t gs = v_.lanes;
        while (narrow_ && gs < group_ && gs < tokens) gs *= 2;
        return narrow_ ? gs : group_;
    }
    bool fuses_epilogue() const { return fuse_; }
    int lanes() const { return v_.lanes; }

    // run() split by token groups (group g on thread g % threads), with src and/or dst either
    // token-major or in the stream layout (spmm.hpp; a packed dst gets bias and activation in
    // place, and no residual).
    void run_groups(const float* src, bool src_packed, float* dst, bool dst_packed, int64_t tokens,
                    const float* residual) const {
        assert(!(dst_packed && residual));
        const int64_t gs = group_for(tokens), groups = (tokens + gs - 1) / gs;
        const int nt = num_threads();
#pragma omp parallel num_threads(nt)
        {
            SPARQ_REGION("spmm");
            const int tid = omp_get_thread_num();
            for (int64_t g = tid; g < groups; g += nt * batch_) {
                const int64_t n = std::min(batch_, (groups - g + nt - 1) / nt);
                const float* ahead = next_packed(src, src_packed, g + nt * batch_, groups, gs);
                const Batch b{g, nt, n, tokens, gs, ahead};
                int64_t xs = 0;
                const float* xp = packed_inputs(src, src_packed, b, &xs);
                write_groups(xp, xs, b, dst, dst_packed, residual);
            }
        }
    }

    // Token groups g0, g0 + step, ... (n of them) of a run over `tokens` tokens, run by one
    // thread in one kernel call.
    struct Batch {
        int64_t g0, step, n, tokens;
        int64_t size;  // tokens per group (group_for(tokens))
        // Packed inputs of the group the thread runs after this batch, prefetched into L2 during
        // the batch's last K chunk (null: not packed yet, or none).
        const float* next_x = nullptr;
        int64_t group(int64_t i) const { return g0 + i * step; }
        int64_t count(int64_t i) const { return std::min(size, tokens - group(i) * size); }
    };

    // Group g's tile of stream src (null: src is token-major, or g is past the last group).
    const float* next_packed(const float* src, bool src_packed, int64_t g, int64_t groups,
                             int64_t gs) const {
        return src_packed && g < groups ? src + g * (in_ + 1) * gs : nullptr;
    }

    // The batch's token groups of src as this kernel's packed inputs, the i-th at the returned
    // pointer + i * *xs floats: their tiles in the stream when src is one, else src's tokens
    // packed into the calling thread's scratch.
    const float* packed_inputs(const float* src, bool src_packed, const Batch& b,
                               int64_t* xs) const {
        if (src_packed) {
            *xs = b.step * (in_ + 1) * b.size;
            return src + b.g0 * (in_ + 1) * b.size;
        }
        *xs = in_ * b.size;
        float* const xb = thread_scratch<float, XScratch>(b.n * in_ * b.size);
        for (int64_t i = 0; i < b.n; ++i)
            spmm_pack_tokens(v_.isa, src + b.group(i) * b.size * in_, in_, in_, b.count(i), b.size,
                             v_.lanes, xb + i * *xs);
        return xb;
    }

    // The batch's groups (packed at xp, stride xs floats) into dst: their stream tiles, bias and
    // activation in place, when dst_packed; else token-major through the calling thread's tiles
    // (with the residual).
    void write_groups(const float* xp, int64_t xs, const Batch& b, float* dst, bool dst_packed,
                      const float* residual) const {
        const int64_t tile = (out_ + 1) * b.size;
        if (dst_packed) {
            finish_tiles(xp, xs, dst + b.g0 * tile, b.step * tile, b);
            return;
        }
        float* const yp = thread_scratch<float, YScratch>(b.n * tile);
        run_tiles(xp, xs, yp, tile, b, 0, out_);
        unpack_tiles(yp, b, 0, out_, dst, residual);
    }

    // Rows [r0, r1) of the batch's feature-major tiles (the i-th at yp + i * (out + 1) * group)
    // into token-major dst with the epilogue the kernel did not apply (bias and activation
    // unless fuse_) and the residual; dst and residual point at the run's first token.
    void unpack_tiles(const float* yp, const Batch& b, int64_t r0, int64_t r1, float* dst,
                      const float* residual) const {
        const int64_t tile = (out_ + 1) * b.size;
        SpmmEpilogue ep{bias_.empty() || fuse_ ? nullptr : bias_.data(), nullptr,
                        fuse_ ? Activation::none : act_};
        for (int64_t i = 0; i < b.n; ++i) {
            const int64_t at = b.group(i) * b.size * out_;
            ep.residual = residual ? residual + at : nullptr;
            spmm_unpack_rows(v_.isa, yp + i * tile + r0 * b.size, b.size, r0, r1 - r0, b.count(i),
                             dst + at, out_, ep);
        }
    }

    // All rows of the batch's packed groups into feature-major tiles (the i-th at yp + i * ys)
    // with bias and activation applied (inside the kernel when fuse_, else by a pass over each).
    void finish_tiles(const float* xp, int64_t xs, float* yp, int64_t ys, const Batch& b) const {
        run_tiles(xp, xs, yp, ys, b, 0, out_);
        if (!fuse_)
            for (int64_t i = 0; i < b.n; ++i)
                spmm_bias_act_rows(v_.isa, yp + i * ys, b.size, out_, width_of(b.count(i)),
                                   bias_.empty() ? nullptr : bias_.data(), act_);
    }

    // Row bounds of `parts` threads for run()'s split by rows, balanced by nonzeros, on panel
    // (record kernels) or block (register-blocked kernel) boundaries.
    std::vector<int64_t> row_bounds(int parts) const {
        const SpmmData& m = *data_;
        if (!m.rb) return partition_rows(m.row_ptr.data(), out_, parts, kPanel, 2 * m.chunks);
        std::vector<int64_t> bounds =
            partition_rows(m.rb->block_nnz().data(), m.rb->blocks(), parts, 1, 64);
        for (int64_t& r : bounds) r = m.rb->block_row(r);
        return bounds;
    }

    // Token slots the kernels compute for a group of `count` tokens (whole vectors).
    int64_t width_of(int64_t count) const { return (count + v_.lanes - 1) / v_.lanes * v_.lanes; }

    // Rows [r0, r1) (on row_bounds' boundaries) of the batch's packed groups (the i-th at xp +
    // i * xs floats), feature-major into the tiles at yp + i * ys: the sums, with bias and
    // activation when fuse_ (then the callers' epilogues skip them).
    void run_tiles(const float* xp, int64_t xs, float* yp, int64_t ys, const Batch& b, int64_t r0,
                   int64_t r1) const {
        const SpmmData& m = *data_;
        if (m.rb) {
            m.rb->run(xp, xs * 4, yp, ys * 4, b.n, m.rb->block_at(r0), m.rb->block_at(r1),
                      fuse_ ? bias_.data() : nullptr);
            return;
        }
        for (int64_t i = 0; i < b.n; ++i)
            run_tile(xp + i * xs, yp + i * ys, r0, r1, b.count(i), b.size,
                     i + 1 < b.n ? xp + (i + 1) * xs : b.next_x);
    }

    // Rows [r0, r1) (r0 on a panel boundary) for one packed token group, feature-major in y (the
    // record kernels); next_x (may be null): the packed inputs to prefetch in the last K chunk.
    void run_tile(const float* xp, float* yp, int64_t r0, int64_t r1, int64_t count, int64_t gs,
                  const float* next_x) const {
        const int nv = static_cast<int>((count + v_.lanes - 1) / v_.lanes);
        int s = 0;  // kernels_[s]: groups of lanes << s tokens
        while (narrow_ && (int64_t{v_.lanes} << s) < gs) ++s;
        const jit::SpmmF32Gen& k = *kernels_[s][nv - 1];
        const SpmmData& m = *data_;
        const int64_t p0 = r0 / kPanel, p1 = (r1 + kPanel - 1) / kPanel;
        if (m.unrolled && nv == v_.vectors) {  // (never narrow_)
            jit::SpmmUnrolledArgs u{xp, yp, m.vals.data(), p1 - p0, nullptr};
            for (int64_t c = 0; c < m.chunks && p1 > p0; ++c) {
                u.entry = m.unrolled->entry(c, p0);
                (*m.unrolled)(u);
            }
            return;
        }
        jit::SpmmArgs a;
        a.x = xp;
        a.y = yp;
        a.offs = m.offs.data();
        a.vals = m.vals.data();
        a.bias = fuse_ ? bias_.data() : nullptr;
        for (int64_t c = 0; c < m.chunks; ++c) {
            const int32_t* pr = m.panel_rec.data() + c * (m.panels + 1);
            a.rec = m.rec.data() + (2 + m.rows) * int64_t{pr[p0]};
            a.records = pr[p1] - pr[p0];
            a.accumulate = c > 0;
            a.prefetch = c + 1 < m.chunks ? xp + (c + 1) * m.chunk * gs : next_x ? next_x : xp;
            (fuse_ && c + 1 == m.chunks ? *epi_kernels_[s][nv - 1] : k)(a);
        }
    }

    // Whether run_chain(next, ...) applies: next consumes this kernel's output in the same
    // packed layout, and the thread split is by token groups.
    bool chains_with(const SpmmJit& next, int64_t tokens) const {
        return next.in_ == out_ && next.group_for(tokens) == group_for(tokens) &&
               next.v_.isa == v_.isa && next.v_.lanes == v_.lanes && splits_by_groups(tokens);
    }

    // dst = next(this(src)) with this kernel's output kept feature-major between the two (its
    // epilogue applied in place, no unpack/pack of the intermediate). src and/or dst may be in
    // the stream layout (a packed dst: next's bias and activation in place, no residual).
    // Needs chains_with.
    void run_chain(const SpmmJit& next, const float* src, bool src_packed, float* dst,
                   bool dst_packed, int64_t tokens, const float* residual) const {
        assert(chains_with(next, tokens) && tokens >= 1 && !(dst_packed && residual));
        const int64_t gs = group_for(tokens), groups = (tokens + gs - 1) / gs;
        const int64_t batch = std::min(batch_, next.batch_), tile = (out_ + 1) * gs;
        const int nt = num_threads();
#pragma omp parallel num_threads(nt)
        {
            SPARQ_REGION("spmm chain");
            const int tid = omp_get_thread_num();
            float* const hp = thread_scratch<float, HScratch>(batch * tile);
            for (int64_t g = tid; g < groups; g += nt * batch) {
                const int64_t n = std::min(batch, (groups - g + nt - 1) / nt);
                const float* ahead = next_packed(src, src_packed, g + nt * batch, groups, gs);
                const Batch b{g, nt, n, tokens, gs, ahead};
                int64_t xs = 0;
                const float* xp = packed_inputs(src, src_packed, b, &xs);
                finish_tiles(xp, xs, hp, tile, b);
                next.write_groups(hp, tile, b, dst, dst_packed, residual);
            }
        }
    }

    std::string name() const override {
        std::string n = v_.name;
        if (v_.max_chunk > v_.chunk) {  // "k<chunk>-<max_chunk>": the block this matrix got
            const std::string range =
                "_k" + std::to_string(v_.chunk) + "-" + std::to_string(v_.max_chunk) + "_";
            const size_t at = n.find(range);
            assert(at != std::string::npos);
            n.replace(at, range.size(), "_k" + std::to_string(data_->chunk) + "_");
        }
        return v_.unroll_budget > 0 && !data_->unrolled ? n + "_loop" : n;
    }

  private:
    static constexpr int64_t kPanel = SpmmData::kPanel;
    const SpmmVariant& v_;
    Activation act_;
    static constexpr int kScales = 4;  // groups of lanes << s tokens, s < kScales (narrow_)
    // The address scale of groups of gs tokens: their row bytes over the offsets' unit.
    int scale_of(int64_t gs) const { return narrow_ ? static_cast<int>(gs / v_.lanes) : 1; }
    int64_t group_ = 0;    // tokens per group of a full-width run
    bool narrow_ = false;  // runs of fewer tokens use narrower groups (group_for)
    int64_t unit_ = 0;     // bytes per unit of the data's offsets
    int64_t batch_ = 1;    // token groups per kernel call (run_tiles)
    std::shared_ptr<const SpmmData> data_;
    std::vector<float> bias_;  // [out] or empty; when fuse_: [out + 1] (zeros without a bias)
    // [s][nv - 1]: for groups of lanes << s tokens (narrow_; else [0] for group_), nv vectors.
    std::vector<std::shared_ptr<const jit::SpmmF32Gen>> kernels_[kScales];
    bool fuse_ = false;  // bias/activation in the last K chunk's kernel (epi_kernels_)
    std::vector<std::shared_ptr<const jit::SpmmF32Gen>> epi_kernels_[kScales];
};

}  // namespace

const SpmmVariant* spmm_variants(int* count) {
    *count = static_cast<int>(sizeof(kVariants) / sizeof(kVariants[0]));
    return kVariants;
}

int64_t spmm_chunk(const SpmmVariant& v, int64_t out, int64_t in, int64_t nnz) {
    if (v.max_chunk <= v.chunk || nnz <= 0) return v.chunk;
    constexpr int64_t kNnzPerBlock = 12, kStep = 64;
    // Columns holding kNnzPerBlock nonzeros of an average row, rounded up to kStep.
    const int64_t cols = (kNnzPerBlock * out * in + nnz - 1) / nnz;
    return std::clamp<int64_t>((cols + kStep - 1) / kStep * kStep, v.chunk, v.max_chunk);
}

const SpmmVariant& spmm_best_variant(int64_t out, int64_t in) {
    // SPARQ_SPMM_VARIANT=name picks a variant by name (benchmarks; ignored when unknown or not
    // runnable here).
    if (const char* want = std::getenv("SPARQ_SPMM_VARIANT"))
        for (const SpmmVariant& v : kVariants)
            if (v.name == std::string(want) && has_isa(v.isa)) return v;
    const SpmmVariant* pick = &kVariants[0];
    for (const SpmmVariant& v : kVariants)
        if (has_isa(v.isa) && static_cast<int>(v.isa) > static_cast<int>(pick->isa)) pick = &v;
    return *pick;
}

bool spmm_run_chain(const LinearKernel& first, const LinearKernel& second, const float* src,
                    float* dst, int64_t tokens, const float* residual) {
    const auto* a = dynamic_cast<const SpmmJit*>(&first);
    const auto* b = dynamic_cast<const SpmmJit*>(&second);
    if (!a || !b || tokens < 1 || !a->chains_with(*b, tokens)) return false;
    a->run_chain(*b, src, false, dst, false, tokens, residual);
    return true;
}

bool spmm_fuses_epilogue(const LinearKernel& k) {
    const auto* s = dynamic_cast<const SpmmJit*>(&k);
    return s && s->fuses_epilogue();
}

int64_t spmm_group(const LinearKernel& k, int64_t tokens) {
    const auto* s = dynamic_cast<const SpmmJit*>(&k);
    return s ? s->group_for(tokens) : 0;
}

int64_t spmm_stream_group(const LinearKernel* const* kernels, int64_t n, int64_t tokens) {
    int64_t group = 0;
    for (int64_t i = 0; i < n; ++i) {
        const auto* k = dynamic_cast<const SpmmJit*>(kernels[i]);
        if (!k || k->lanes() != 16 || !k->splits_by_groups(tokens) ||
            (group && k->group_for(tokens) != group))
            return 0;
        group = k->group_for(tokens);
    }
    return tokens >= 1 ? group : 0;
}

void spmm_run_stream(const LinearKernel& k, const float* src, bool src_packed, float* dst,
                     bool dst_packed, int64_t tokens) {
    const auto& s = dynamic_cast<const SpmmJit&>(k);
    assert(s.splits_by_groups(tokens));
    s.run_groups(src, src_packed, dst, dst_packed, tokens, nullptr);
}

void spmm_run_chain_stream(const LinearKernel& first, const LinearKernel& second, const float* src,
                           float* dst, int64_t tokens) {
    const auto& a = dynamic_cast<const SpmmJit&>(first);
    const auto& b = dynamic_cast<const SpmmJit&>(second);
    a.run_chain(b, src, true, dst, true, tokens, nullptr);
}

std::unique_ptr<LinearKernel> make_sparse_f32(const LinearDesc& desc, const SpmmVariant* variant) {
    const SpmmVariant& v = variant ? *variant : spmm_best_variant(desc.out, desc.in);
    assert(has_isa(v.isa));
    if (v.isa == Isa::scalar) return std::make_unique<SpmmRef>(desc);
    return std::make_unique<SpmmJit>(desc, v);
}

}  // namespace sparq
