#include "core/buffer.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace sparq {

void* aligned_storage_alloc(std::size_t bytes, std::size_t huge_from) {
    const std::size_t align = bytes >= huge_from ? kHugePageBytes : kAlignment;
    const std::size_t rounded = bytes == 0 ? align : (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (!p) throw std::bad_alloc();
    if (align == kHugePageBytes && !std::getenv("SPARQ_NO_HUGEPAGES"))
        madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

namespace {
struct Chunk {
    char* base;
    std::size_t size, used, live;
};
// Never destroyed: kernels held by other static objects (or by Python at interpreter exit) may
// free their streams after this file's statics would be gone.
std::mutex& stream_mu() {
    static auto* mu = new std::mutex;
    return *mu;
}
std::vector<Chunk>& stream_chunks() {
    static auto* chunks = new std::vector<Chunk>;
    return *chunks;
}
}  // namespace

void* stream_alloc(std::size_t bytes) {
    if (bytes < kStreamShareFrom) return aligned_storage_alloc(bytes);
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    std::lock_guard<std::mutex> lock(stream_mu());
    auto& chunks = stream_chunks();
    if (chunks.empty() || chunks.back().size - chunks.back().used < bytes) {
        const std::size_t size = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
        chunks.push_back({static_cast<char*>(aligned_storage_alloc(size)), size, 0, 0});
    }
    Chunk& c = chunks.back();
    void* p = c.base + c.used;
    c.used += bytes;
    ++c.live;
    return p;
}

void stream_free(void* p) noexcept {
    {
        std::lock_guard<std::mutex> lock(stream_mu());
        auto& chunks = stream_chunks();
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        for (auto it = chunks.begin(); it != chunks.end(); ++it) {
            const auto b = reinterpret_cast<std::uintptr_t>(it->base);
            if (a < b || a >= b + it->size) continue;
            if (--it->live == 0) {
                std::free(it->base);
                chunks.erase(it);
            }
            return;
        }
    }
    std::free(p);  // below kStreamShareFrom: its own allocation
}

std::size_t stream_chunk_bytes() {
    std::lock_guard<std::mutex> lock(stream_mu());
    std::size_t n = 0;
    for (const Chunk& c : stream_chunks()) n += c.size;
    return n;
}

}  // namespace sparq
