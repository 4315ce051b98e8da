#pragma once
// Aligned, uninitialised heap storage for kernel operands (64-byte aligned: one cache line,
// one AVX-512 vector; allocations of 2 MiB or more on transparent huge pages, see
// aligned_storage_alloc).
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace sparq {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// std::free-able storage of at least `bytes` bytes, 64-byte aligned; from kHugePageBytes up,
// huge-page aligned and advised MADV_HUGEPAGE (unless SPARQ_NO_HUGEPAGES is set): large
// activation and sparse-weight streams otherwise pay a TLB miss every 4 KiB. Throws bad_alloc.
void* aligned_storage_alloc(std::size_t bytes);

// Allocator on aligned_storage_alloc (for std::vector of large, streamed data).
template <typename T>
struct HugePageAllocator {
    using value_type = T;
    HugePageAllocator() = default;
    template <typename U>
    HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(aligned_storage_alloc(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { std::free(p); }
    friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) { return true; }
};

template <typename T>
class AlignedBuffer {
public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t n) { resize(n); }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    AlignedBuffer(AlignedBuffer&& o) noexcept { swap(o); }
    AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
        swap(o);
        return *this;
    }
    ~AlignedBuffer() { std::free(data_); }

    // Grows (never shrinks) the storage; contents are not preserved.
    void resize(std::size_t n) {
        if (n <= capacity_) {
            size_ = n;
            return;
        }
        std::free(data_);
        data_ = nullptr;
        size_ = capacity_ = 0;
        data_ = static_cast<T*>(aligned_storage_alloc(n * sizeof(T)));
        size_ = capacity_ = n;
    }
    void zero() { std::memset(static_cast<void*>(data_), 0, size_ * sizeof(T)); }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }

private:
    void swap(AlignedBuffer& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        std::swap(capacity_, o.capacity_);
    }
    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

// The calling thread's own scratch of at least n elements, one per (T, Tag) and thread (contents
// not kept between calls): allocated by the thread that computes in it. Kernels take their
// per-thread working memory (accumulators, packed tiles, attention scores) here rather than as
// slices of one buffer the calling thread allocated: measured on this 2-core VM, 1x4 int8 QKV at
// b1 s128 on two threads ran 98 us with the slices and 85 us with own buffers (the same kernel on
// one thread, 64 tokens: 79 us). Data that other threads read stays in shared buffers.
template <typename T, typename Tag>
T* thread_scratch(std::size_t n) {
    thread_local AlignedBuffer<T> buf;
    buf.resize(n);
    return buf.data();
}

}  // namespace sparq
