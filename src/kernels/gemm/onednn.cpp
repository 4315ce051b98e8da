#include "kernels/gemm/onednn.hpp"

namespace sparq {

dnnl::engine& onednn_engine() {
    static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

dnnl::stream& onednn_stream() {
    static dnnl::stream s(onednn_engine());
    return s;
}

}  // namespace sparq
