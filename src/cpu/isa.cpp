#include "cpu/isa.hpp"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sparq/error.hpp"

namespace sparq {
namespace {

// AMX-TILE and AMX-INT8 (CPUID.(7,0):EDX bits 24, 25), and Linux's permission for the tile data
// state (arch_prctl ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18; process-wide).
bool amx_tiles() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) return false;
#ifdef SYS_arch_prctl
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
}

Isa probe() {
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    bool vnni = __builtin_cpu_supports("avx512vnni");
    if (avx512 && avx2 && vnni) return amx_tiles() ? Isa::amx : Isa::avx512_vnni;
    if (avx512 && avx2) return Isa::avx512;
    if (avx2) return Isa::avx2;
    return Isa::scalar;
}

std::atomic<int>& cap() {
    static std::atomic<int> c = [] {
        int v = static_cast<int>(cpu_isa());
        if (const char* env = std::getenv("SPARQ_MAX_ISA"); env && *env) {
            int want = static_cast<int>(parse_isa(env));
            if (want < v) v = want;
        }
        return v;
    }();
    return c;
}

}  // namespace

Isa cpu_isa() {
    static const Isa isa = probe();
    return isa;
}

Isa max_isa() { return static_cast<Isa>(cap().load(std::memory_order_relaxed)); }

void set_max_isa(Isa isa) {
    int v = static_cast<int>(isa), hw = static_cast<int>(cpu_isa());
    cap().store(v < hw ? v : hw);
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
        case Isa::avx512_vnni: return "avx512_vnni";
        case Isa::amx:
            return "amx";
    }
    return "?";
}

Isa parse_isa(const char* name) {
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni, Isa::amx})
        if (std::strcmp(name, isa_name(i)) == 0) return i;
    throw Error(std::string("unknown ISA '") + name +
                "' (expected scalar, avx2, avx512, avx512_vnni or amx)");
}

}  // namespace sparq
