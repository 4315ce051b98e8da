// AlignedBuffer / HugePageAllocator (on the shared stream chunks): alignment (64 B, 2 MiB from
// kHugePageBytes up, with and without SPARQ_NO_HUGEPAGES), growth, and storage that holds what is
// written to it; thread_scratch gives each thread and tag its own buffer.
#include "core/buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <thread>
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

struct TagA;
struct TagB;

TEST(Buffer, ThreadScratchIsPerThreadAndTag) {
    int32_t* a = thread_scratch<int32_t, TagA>(100);
    EXPECT_TRUE(aligned_to(a, kAlignment));
    for (int i = 0; i < 100; ++i) a[i] = i;
    int32_t* again = thread_scratch<int32_t, TagA>(50);
    EXPECT_EQ(again, a);  // same thread and tag: the same storage
    EXPECT_EQ(a[99], 99);
    int32_t* b = thread_scratch<int32_t, TagB>(100);
    EXPECT_NE(b, a);  // another tag: another buffer
    int32_t* other = nullptr;
    std::thread t([&] {
        other = thread_scratch<int32_t, TagA>(100);
        for (int i = 0; i < 100; ++i) other[i] = -1;
    });
    t.join();
    EXPECT_NE(other, a);  // another thread: its own buffer, ours untouched
    EXPECT_EQ(a[0], 0);
    EXPECT_EQ(a[99], 99);
    int32_t* grown = thread_scratch<int32_t, TagA>(1 << 20);
    grown[(1 << 20) - 1] = 3;
    EXPECT_EQ(grown[(1 << 20) - 1], 3);
}

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// Weight streams from kStreamShareFrom up share huge-page chunks (aligned, disjoint, each holding
// what is written to it); a chunk goes with its last stream; smaller streams and streams larger
// than a huge page work too.
TEST(Buffer, StreamsShareHugePageChunks) {
    using Stream = std::vector<int32_t, HugePageAllocator<int32_t>>;
    const std::size_t before = stream_chunk_bytes();
    {
        std::vector<Stream> streams;
        const std::size_t sizes[] = {kStreamShareFrom / 4, 100000, 3, kHugePageBytes / 4 + 7,
                                     70000};
        for (std::size_t n : sizes) streams.emplace_back(n);
        EXPECT_GE(stream_chunk_bytes(),
                  before + 2 * kHugePageBytes);  // the > 2 MiB one: 4 MiB chunk
        EXPECT_LE(stream_chunk_bytes(), before + 3 * kHugePageBytes);  // the others share
        for (std::size_t s = 0; s < streams.size(); ++s) {
            ASSERT_EQ(streams[s].size(), sizes[s]);
            EXPECT_TRUE(aligned_to(streams[s].data(), kAlignment));
            for (std::size_t i = 0; i < sizes[s]; ++i)
                streams[s][i] = static_cast<int32_t>(s * 1000003 + i);
        }
        for (std::size_t s = 0; s < streams.size(); ++s)
            for (std::size_t i = 0; i < sizes[s]; i += 97)
                ASSERT_EQ(streams[s][i], static_cast<int32_t>(s * 1000003 + i)) << s;
        Stream moved = std::move(streams[0]);
        EXPECT_TRUE(streams[0].empty());
        EXPECT_EQ(moved.size(), sizes[0]);
    }
    EXPECT_EQ(stream_chunk_bytes(), before);  // every chunk released with its streams
}

}  // namespace
}  // namespace sparq
