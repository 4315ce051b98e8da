#include "core/buffer.hpp"

#include <sys/mman.h>

namespace sparq {

void* aligned_storage_alloc(std::size_t bytes) {
    const std::size_t align = bytes >= kHugePageBytes ? kHugePageBytes : kAlignment;
    const std::size_t rounded = bytes == 0 ? align : (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (!p) throw std::bad_alloc();
    if (align == kHugePageBytes && !std::getenv("SPARQ_NO_HUGEPAGES"))
        madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

}  // namespace sparq
