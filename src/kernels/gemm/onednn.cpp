#include "kernels/gemm/onednn.hpp"

namespace sparq {

dnnl::engine& onednn_engine() {
    static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

// One stream per calling thread: models used from several threads never share a stream.
dnnl::stream& onednn_stream() {
    thread_local dnnl::stream s(onednn_engine());
    return s;
}

}  // namespace sparq
