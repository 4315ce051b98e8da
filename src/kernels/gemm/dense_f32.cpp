// Dense f32 weight kernel: oneDNN matmul dst[T][N] = src[T][K] · W[N][K]ᵀ (+ bias, GELU(erf),
// + residual as post-ops). Weights are re-packed once into the layout oneDNN prefers; one
// primitive per (token count, residual or not) is cached in a small LRU list.
#include "kernels/gemm/dense_f32.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <list>
#include <mutex>
#include <unordered_map>

#include "core/buffer.hpp"
#include "core/threading.hpp"
#include "kernels/gemm/onednn.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

constexpr memory::dim kPackTokens = 128;  // token count whose preferred weight layout we pack for
constexpr size_t kCacheSize = 16;         // primitives kept per kernel
constexpr size_t kHugePage = size_t{2} << 20;

// Weight storage on transparent huge pages where the kernel allows it (madvise mode): the
// encoder streams hundreds of MB of weights per forward, 4 KiB pages cost TLB misses.
struct WeightStorage {
    explicit WeightStorage(size_t bytes) {
        size_t align = bytes >= kHugePage ? kHugePage : 64;
        size_t rounded = (bytes + align - 1) / align * align;
        ptr = std::aligned_alloc(align, rounded == 0 ? align : rounded);
        if (!ptr) throw std::bad_alloc();
        if (align == kHugePage && !std::getenv("SPARQ_NO_HUGEPAGES"))
            madvise(ptr, rounded, MADV_HUGEPAGE);
    }
    ~WeightStorage() { std::free(ptr); }
    WeightStorage(const WeightStorage&) = delete;
    WeightStorage& operator=(const WeightStorage&) = delete;
    void* ptr = nullptr;
};

class DenseF32 final : public LinearKernel {
  public:
    DenseF32(const LinearDesc& d, const DenseF32Options& opts)
        : opts_(opts), act_(d.act), has_bias_(d.bias != nullptr) {
        out_ = d.out;
        in_ = d.in;
        auto& eng = onednn_engine();
        memory::desc user_w({in_, out_}, dt::f32, tag::ba);  // W[N][K] seen as [K][N]
        if (opts_.packed_weights) {
            memory::dim m = opts_.runtime_tokens ? DNNL_RUNTIME_DIM_VAL : kPackTokens;
            memory::desc any_w({in_, out_}, dt::f32, tag::any);
            auto pd = make_pd(m, any_w, Residual::none);
            w_md_ = pd.weights_desc();
        } else {
            w_md_ = user_w;
        }
        storage_ = std::make_unique<WeightStorage>(w_md_.get_size());
        weights_ = memory(w_md_, eng, storage_->ptr);
        memory user(user_w, eng, const_cast<float*>(d.weight));
        dnnl::reorder(user, weights_).execute(onednn_stream(), user, weights_);
        onednn_stream().wait();
        if (d.bias) {
            bias_ = memory({{1, out_}, dt::f32, tag::ab}, eng);
            std::memcpy(bias_.get_data_handle(), d.bias, out_ * sizeof(float));
        }
    }

    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        if (tokens <= 0) return;
        // A binary post-op cannot read the residual from dst itself (in place) and oneDNN 2.6
        // rejects it with runtime dims: both cases use the sum post-op.
        bool binary = opts_.binary_residual && !opts_.runtime_tokens && residual != dst;
        Residual mode = !residual ? Residual::none : binary ? Residual::binary : Residual::sum;
        const Entry e = primitive_for(tokens, mode);  // a copy: shared handle, safe if evicted
        auto& eng = onednn_engine();
        memory::dim m = tokens;
        memory src_m({{m, in_}, dt::f32, tag::ab}, eng, const_cast<float*>(src));
        memory dst_m({{m, out_}, dt::f32, tag::ab}, eng, dst);
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_m}};
        if (bias_) args.emplace(DNNL_ARG_BIAS, bias_);
        if (mode != Residual::none) {
            if (mode == Residual::binary) {
                memory res_m({{m, out_}, dt::f32, tag::ab}, eng, const_cast<float*>(residual));
                args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(e.residual_index) | DNNL_ARG_SRC_1,
                             res_m);
            } else if (residual != dst) {
                std::memcpy(dst, residual, static_cast<size_t>(tokens * out_) * sizeof(float));
            }
        }
        // User scratchpad, one per calling thread: a primitive may run on two threads at once
        // (Encoder's sequence-parallel batches), which oneDNN's library scratchpad forbids.
        thread_local AlignedBuffer<uint8_t> scratch;
        scratch.resize(e.scratch_md.get_size());
        args.emplace(DNNL_ARG_SCRATCHPAD, memory(e.scratch_md, eng, scratch.data()));
        e.prim.execute(onednn_stream(), args);
        onednn_stream().wait();
    }

    std::string name() const override { return "dense_f32_onednn"; }

  private:
    enum class Residual { none, sum, binary };
    struct Entry {
        memory::dim tokens = 0;
        Residual residual = Residual::none;
        int threads = 0;  // num_threads() at creation: oneDNN plans its work for that many
        int residual_index = 0;
        dnnl::matmul prim;
        memory::desc scratch_md;
    };

    dnnl::matmul::primitive_desc make_pd(memory::dim m, const memory::desc& w_md, Residual residual,
                                         int* residual_index = nullptr) const {
        auto& eng = onednn_engine();
        memory::desc src_md({m, in_}, dt::f32, tag::ab);
        memory::desc dst_md({m, out_}, dt::f32, tag::ab);
        memory::desc bias_md({1, out_}, dt::f32, tag::ab);
        dnnl::post_ops ops;
        int idx = 0;
        if (is_gelu(act_)) {
            ops.append_eltwise(1.0f,
                               act_ == Activation::gelu ? dnnl::algorithm::eltwise_gelu_erf
                                                        : dnnl::algorithm::eltwise_gelu_tanh,
                               0.0f, 0.0f);
            ++idx;
        }
        if (residual != Residual::none) {
            if (residual_index) *residual_index = idx;
            if (residual == Residual::binary)
                ops.append_binary(dnnl::algorithm::binary_add, dst_md);
            else
                ops.append_sum(1.0f);
        }
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        auto desc = has_bias_ ? dnnl::matmul::desc(src_md, w_md, bias_md, dst_md)
                              : dnnl::matmul::desc(src_md, w_md, dst_md);
        return dnnl::matmul::primitive_desc(desc, attr, eng);
    }

    Entry primitive_for(int64_t tokens, Residual residual) const {
        std::lock_guard<std::mutex> lock(mu_);
        memory::dim key = opts_.runtime_tokens ? DNNL_RUNTIME_DIM_VAL : tokens;
        const int threads = num_threads();
        for (auto it = cache_.begin(); it != cache_.end(); ++it)
            if (it->tokens == key && it->residual == residual && it->threads == threads) {
                cache_.splice(cache_.begin(), cache_, it);
                return cache_.front();
            }
        Entry e;
        e.tokens = key;
        e.residual = residual;
        e.threads = threads;
        auto pd = make_pd(key, w_md_, residual, &e.residual_index);
        e.scratch_md = pd.scratchpad_desc();
        e.prim = dnnl::matmul(pd);
        cache_.push_front(std::move(e));
        if (cache_.size() > kCacheSize) cache_.pop_back();
        return cache_.front();
    }

    DenseF32Options opts_;
    Activation act_;
    bool has_bias_;
    memory::desc w_md_;
    std::unique_ptr<WeightStorage> storage_;
    memory weights_, bias_;
    mutable std::mutex mu_;
    mutable std::list<Entry> cache_;
};

}  // namespace

std::unique_ptr<LinearKernel> make_dense_f32_variant(const LinearDesc& desc,
                                                     const DenseF32Options& opts) {
    if (!desc.weight || desc.out <= 0 || desc.in <= 0)
        throw Error("dense f32 kernel for '" + desc.name +
                    "': expected a non-empty [out][in] weight, found " + std::to_string(desc.out) +
                    "x" + std::to_string(desc.in));
    return std::make_unique<DenseF32>(desc, opts);
}

std::unique_ptr<LinearKernel> make_dense_f32(const LinearDesc& desc) {
    return make_dense_f32_variant(desc, DenseF32Options{});
}

}  // namespace sparq
