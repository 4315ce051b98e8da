// Scalar reference of a linear layer with its epilogue: the definition every weight kernel
// (dense, sparse, int8) is tested against.
#include <cmath>
#include <vector>

#include "kernels/linear.hpp"

namespace sparq {
namespace {

class LinearRef final : public LinearKernel {
public:
    explicit LinearRef(const LinearDesc& d)
        : w_(d.weight, d.weight + d.out * d.in), act_(d.act) {
        out_ = d.out;
        in_ = d.in;
        if (d.bias) b_.assign(d.bias, d.bias + d.out);
    }
    void run(const float* src, float* dst, int64_t tokens, const float* residual) const override {
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t o = 0; o < out_; ++o) {
                double acc = b_.empty() ? 0.0 : b_[o];
                for (int64_t i = 0; i < in_; ++i)
                    acc += static_cast<double>(src[t * in_ + i]) * w_[o * in_ + i];
                float v = static_cast<float>(acc);
                v = activate(v, act_);
                if (residual) v += residual[t * out_ + o];
                dst[t * out_ + o] = v;
            }
    }
    std::string name() const override { return "linear_f32_ref"; }

private:
    std::vector<float> w_, b_;
    Activation act_;
};

}  // namespace

float activate(float v, Activation act) {
    switch (act) {
        case Activation::none:
            break;
        case Activation::gelu:
            return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
        case Activation::gelu_tanh:
            return 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
    return v;
}

std::unique_ptr<LinearKernel> make_linear_ref(const LinearDesc& desc) {
    return std::make_unique<LinearRef>(desc);
}

}  // namespace sparq
