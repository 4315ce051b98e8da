// AVX2 pack/unpack of the sparse kernels' token groups (8-token vectors).
#include "kernels/spmm/spmm.hpp"

namespace sparq::spmm_detail {

void pack_tokens_avx2(const float* src, int64_t ld, int64_t in, int64_t count, int64_t group, int lanes,
                      float* dst) {
    pack_tokens_scalar(src, ld, in, count, group, lanes, dst);
}

void unpack_rows_avx2(const float* src, int64_t group, int64_t r0, int64_t rows, int64_t count,
                      float* dst, int64_t ld, const SpmmEpilogue& ep) {
    unpack_rows_scalar(src, group, r0, rows, count, dst, ld, ep);
}

}  // namespace sparq::spmm_detail
