// Scalar reference of the int8 weight kernels: exact int32 accumulation of s8 x s8 products, then
// the dequantization epilogue every int8 kernel shares (s8::epilogue_tm with the exact GELU).
#include <vector>

#include "kernels/s8/s8_kernels.hpp"

namespace sparq {
namespace {

class LinearS8Ref final : public S8LinearKernel {
public:
    LinearS8Ref(const LinearDesc& d, const QuantOptions& o) : S8LinearKernel(d, o) {}

    void accumulate(const int8_t* src_q, int32_t* acc, int64_t tokens) const override {
        const int64_t in_pad = qw_.in_pad;
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t o = 0; o < out_; ++o) {
                int32_t sum = 0;
                const int8_t* x = src_q + t * in_pad;
                const int8_t* w = qw_.q.data() + o * in_pad;
                for (int64_t k = 0; k < in_pad; ++k) sum += static_cast<int32_t>(x[k]) * w[k];
                acc[t * out_ + o] = sum;
            }
    }

    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        std::vector<float> scales(tokens), inv(tokens);
        activation_scales(src, tokens, in_, opts_, scales.data(), inv.data());
        std::vector<int8_t> q(tokens * qw_.in_pad);
        quantize_activations(src, tokens, in_, qw_.in_pad, inv.data(), q.data());
        std::vector<int32_t> acc(tokens * out_);
        accumulate(q.data(), acc.data(), tokens);
        s8::epilogue_tm(acc.data(), out_, tokens, out_, scales.data(), qw_.scale.data(),
                        bias_.empty() ? nullptr : bias_.data(), act_, residual, dst, true);
    }

    std::string name() const override { return "linear_s8_ref"; }
};

}  // namespace

std::unique_ptr<S8LinearKernel> make_linear_s8_ref(const LinearDesc& desc, const QuantOptions& opts) {
    return std::make_unique<LinearS8Ref>(desc, opts);
}

}  // namespace sparq
