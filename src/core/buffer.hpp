#pragma once
// Aligned, uninitialised heap storage for kernel operands (64-byte aligned: one cache line,
// one AVX-512 vector).
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace sparq {

constexpr std::size_t kAlignment = 64;

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
        std::size_t bytes = (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
        data_ = static_cast<T*>(std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes));
        if (!data_) throw std::bad_alloc();
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

}  // namespace sparq
