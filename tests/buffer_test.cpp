// AlignedBuffer / HugePageAllocator: alignment (64 B, 2 MiB from kHugePageBytes up, with and
// without SPARQ_NO_HUGEPAGES), growth, and storage that holds what is written to it.
#include "core/buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace sparq {
namespace {

bool aligned_to(const void* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

void check_sizes() {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{17},
                          kHugePageBytes / sizeof(float) - 1, kHugePageBytes / sizeof(float),
                          kHugePageBytes / sizeof(float) * 3 + 5}) {
        SCOPED_TRACE(n);
        AlignedBuffer<float> b(n);
        if (n == 0) continue;  // nothing allocated
        ASSERT_NE(b.data(), nullptr);
        EXPECT_EQ(b.size(), n);
        EXPECT_TRUE(aligned_to(b.data(), kAlignment));
        if (n * sizeof(float) >= kHugePageBytes) EXPECT_TRUE(aligned_to(b.data(), kHugePageBytes));
        for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<float>(i);
        for (std::size_t i = 0; i < n; i += 4099) ASSERT_EQ(b[i], static_cast<float>(i));
        ASSERT_EQ(b[n - 1], static_cast<float>(n - 1));
    }
}

TEST(Buffer, AlignmentAndContents) {
    check_sizes();
    setenv("SPARQ_NO_HUGEPAGES", "1", 1);
    check_sizes();
    unsetenv("SPARQ_NO_HUGEPAGES");
}

TEST(Buffer, GrowsNeverShrinks) {
    AlignedBuffer<int32_t> b(10);
    const int32_t* small = b.data();
    b.resize(5);
    EXPECT_EQ(b.data(), small);
    EXPECT_EQ(b.size(), 5u);
    b.resize(kHugePageBytes);  // 8 MiB of int32
    EXPECT_TRUE(aligned_to(b.data(), kHugePageBytes));
    EXPECT_EQ(b.size(), kHugePageBytes);
    b[kHugePageBytes - 1] = 7;
    EXPECT_EQ(b[kHugePageBytes - 1], 7);
}

TEST(Buffer, HugePageAllocatorVector) {
    std::vector<float, HugePageAllocator<float>> v;
    for (int i = 0; i < 1 << 20; ++i) v.push_back(static_cast<float>(i));  // crosses 2 MiB
    EXPECT_TRUE(aligned_to(v.data(), kHugePageBytes));
    for (int i = 0; i < 1 << 20; i += 1021) ASSERT_EQ(v[i], static_cast<float>(i));
    std::vector<int32_t, HugePageAllocator<int32_t>> s(3, 5);
    EXPECT_TRUE(aligned_to(s.data(), kAlignment));
    EXPECT_EQ(s[2], 5);
}

}  // namespace
}  // namespace sparq
