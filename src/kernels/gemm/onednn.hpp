#pragma once
// The one oneDNN CPU engine sparq uses, and a stream per calling thread (created on first use).
#include <dnnl.hpp>

namespace sparq {

dnnl::engine& onednn_engine();
dnnl::stream& onednn_stream();

}  // namespace sparq
