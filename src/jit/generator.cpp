#include "jit/generator.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "core/buffer.hpp"
#include "kernels/eltwise/gelu_pieces.hpp"
#include "sparq/error.hpp"

namespace sparq::jit {
namespace {

// Code buffers on transparent huge pages: fresh 2 MB-aligned mappings (memory the heap has
// already touched stays on 4 KB pages) of 2 MB multiples (AutoGrow doubles them), so xbyak's
// read+execute protection covers whole huge pages.
size_t huge_multiple(size_t n) {
    return (n + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
}

struct HugeCodeAllocator final : Xbyak::Allocator {
    uint8_t* alloc(size_t size) override {
        const size_t len = huge_multiple(size);
        void* m = mmap(nullptr, len + kHugePageBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) throw std::bad_alloc();
        const auto at = reinterpret_cast<uintptr_t>(m);
        const uintptr_t p = huge_multiple(at);
        if (p > at) munmap(m, p - at);  // the slack before and after the aligned range
        if (at + kHugePageBytes > p)
            munmap(reinterpret_cast<void*>(p + len), at + kHugePageBytes - p);
        if (!std::getenv("SPARQ_NO_HUGEPAGES"))
            madvise(reinterpret_cast<void*>(p), len, MADV_HUGEPAGE);
        std::lock_guard<std::mutex> lock(mu_);
        sizes_[p] = len;
        return reinterpret_cast<uint8_t*>(p);
    }
    void free(uint8_t* p) override {
        if (!p) return;
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sizes_.find(reinterpret_cast<uintptr_t>(p));
        if (it == sizes_.end()) return;
        munmap(p, it->second);
        sizes_.erase(it);
    }
    std::mutex mu_;
    std::map<uintptr_t, size_t> sizes_;
};

}  // namespace

Generator::Generator(std::string name, size_t initial_size, bool huge_pages)
    : Xbyak::CodeGenerator(huge_pages ? huge_multiple(initial_size) : initial_size, Xbyak::AutoGrow,
                           huge_pages ? huge_allocator() : nullptr),
      name_(std::move(name)) {}

Xbyak::Allocator* Generator::huge_allocator() {
    static auto* a = new HugeCodeAllocator;  // never destroyed: kernels may outlive statics
    return a;
}

void Generator::preamble() {
    push(rbx);
    push(rbp);
    push(r12);
    push(r13);
    push(r14);
    push(r15);
}

void Generator::postamble() {
    pop(r15);
    pop(r14);
    pop(r13);
    pop(r12);
    pop(rbp);
    pop(rbx);
    vzeroupper();
    ret();
}

namespace {
uint32_t bits_of(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
}
}  // namespace

// Tables: lo of coefficient k in zmm16 + k, hi in zmm20 + k.
void Generator::gelu_pieces(const Xbyak::Zmm& x, const Xbyak::Label& consts) {
    const Xbyak::Zmm a(24), s(25), i(26), p(27), t(28);
    auto lo = [](int k) { return Xbyak::Zmm(16 + k); };
    auto hi = [](int k) { return Xbyak::Zmm(20 + k); };
    vpandd(a, x, ptr_b[rip + consts]);         // |x|
    vbroadcastss(s, dword[rip + consts + 4]);  // min(kLast, a): a when a is NaN
    vminps(s, s, a);
    vmulps(s, s, ptr_b[rip + consts + 8]);  // * kPerUnit
    vcvttps2dq(i, s);
    vcvtdq2ps(t, i);
    vsubps(s, s, t);  // f
    constexpr int kDeg = GeluPieces::kDegree;
    vmovaps(p, lo(kDeg));
    vpermt2ps(p, i, hi(kDeg));
    for (int k = kDeg - 1; k >= 0; --k) {
        vmovaps(t, lo(k));
        vpermt2ps(t, i, hi(k));
        vfmadd213ps(p, s, t);  // p = p * f + c_k
    }
    vcmpps(k1, a, ptr_b[rip + consts + 12], 0x1D);  // a >= kRange (_CMP_GE_OQ)
    vmovaps(p | k1, a);
    vpmovd2m(k2, x);  // sign bits
    vsubps(p | k2, p, a);
    vmovaps(x, p);
}

void Generator::gelu_pieces_tables(const Xbyak::Label& table) {
    for (int k = 0; k < 8; ++k) vmovups(Xbyak::Zmm(16 + k), ptr[rip + table + 64 * k]);
}

void Generator::gelu_pieces_data(Xbyak::Label& consts, Xbyak::Label& table, Activation act) {
    // |x| mask, kLast, kPerUnit, kRange; the coefficient tables.
    align(64);
    L(consts);
    dd(0x7fffffffu);
    for (float f : {GeluPieces::kLast, GeluPieces::kPerUnit, GeluPieces::kRange}) dd(bits_of(f));
    align(64);
    L(table);
    const GeluPieces& t = sparq::gelu_pieces(act);
    for (int half = 0; half < 2; ++half)  // lo (intervals 0..15) of rows 0..3, then hi
        for (int k = 0; k <= GeluPieces::kDegree; ++k)
            for (int j = 0; j < 16; ++j) dd(bits_of(t.c[k][16 * half + j]));
}

const void* Generator::finalize() {
    try {
        ready();  // resolves AutoGrow addresses and sets R+X protection
    } catch (const Xbyak::Error& e) {
        throw Error("JIT kernel '" + name_ + "' failed to generate: " + e.what());
    }
    entry_ = getCode();
    if (const char* dir = std::getenv("SPARQ_JIT_DUMP"); dir && *dir) {
        static std::atomic<int> counter{0};
        std::string path = std::string(dir) + "/" + name_ + "." + std::to_string(counter++) + ".bin";
        if (FILE* f = std::fopen(path.c_str(), "wb")) {
            std::fwrite(getCode(), 1, getSize(), f);
            std::fclose(f);
        }
    }
    return entry_;
}

}  // namespace sparq::jit
