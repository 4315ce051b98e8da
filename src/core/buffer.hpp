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

// std::free-able storage of at least `bytes` bytes, 64-byte aligned; from huge_from bytes up,
// huge-page aligned, rounded up to whole huge pages and advised MADV_HUGEPAGE (unless
// SPARQ_NO_HUGEPAGES is set): large activation and sparse-weight streams otherwise pay a TLB miss
// every 4 KiB. Throws bad_alloc.
void* aligned_storage_alloc(std::size_t bytes, std::size_t huge_from = kHugePageBytes);

// Huge-page threshold for activation buffers and per-thread scratch: their rows are walked with
// large strides (feature-major tiles, per-head rows), so a 4 KiB page per few accesses costs TLB
// walks. From 256 KiB up they take 2 MiB pages (at most one partly used page per buffer).
// Measured with the shared weight-stream chunks below (BERT-base 90% 1x4 int8, s128, three
// interleaved rounds): b1 1T 13.9-14.6 vs 14.5-16.6 ms, b8 1T 107.8-109.5 vs 110.3-117.2 ms, b8 2T
// 55.4-56.7 vs 58.4-59.2 ms; peak RSS unchanged (373 MB).
constexpr std::size_t kActivationHugeFrom = std::size_t{256} << 10;

// Storage for a kernel's weight stream, kept as long as the kernel: from kStreamShareFrom bytes
// up it is carved (64-byte aligned) from shared huge-page chunks of at least kHugePageBytes, so
// a model's many streams below 2 MiB (a BERT-base 90% 1x4 int8 matrix: 0.1-0.5 MiB) sit on huge
// pages without each rounding up to one; a chunk is freed with its last stream. Smaller
// requests come from aligned_storage_alloc. Thread-safe. Release with stream_free; containers
// take it through HugePageAllocator below.
constexpr std::size_t kStreamShareFrom = std::size_t{64} << 10;
void* stream_alloc(std::size_t bytes);
void stream_free(void* p) noexcept;
// Bytes of shared chunks currently held (tests).
std::size_t stream_chunk_bytes();

// Allocator on stream_alloc (for std::vector of large, streamed data such as sparse weights:
// reserve the final size first, freed space inside a shared chunk is not reused).
template <typename T>
struct HugePageAllocator {
    using value_type = T;
    HugePageAllocator() = default;
    template <typename U>
    HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(stream_alloc(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { stream_free(p); }
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

    // Grows (never shrinks) the storage; contents are not preserved. From huge_from bytes up the
    // storage is on huge pages (aligned_storage_alloc).
    void resize(std::size_t n, std::size_t huge_from = kHugePageBytes) {
        if (n <= capacity_) {
            size_ = n;
            return;
        }
        std::free(data_);
        data_ = nullptr;
        size_ = capacity_ = 0;
        data_ = static_cast<T*>(aligned_storage_alloc(n * sizeof(T), huge_from));
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
    buf.resize(n, kActivationHugeFrom);
    return buf.data();
}

}  // namespace sparq
