#pragma once
// The one oneDNN CPU engine and stream sparq uses (created on first use).
#include <dnnl.hpp>

namespace sparq {

dnnl::engine& onednn_engine();
dnnl::stream& onednn_stream();

}  // namespace sparq
