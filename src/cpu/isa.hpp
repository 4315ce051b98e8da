#pragma once
// CPU instruction-set probe, done once and cached. SPARQ_MAX_ISA
// (scalar|avx2|avx512|avx512_vnni|amx) caps what dispatch may use, so lower-ISA kernels can be
// tested on this machine. `amx` is AVX512-VNNI plus the AMX-INT8 tiles, with the Linux permission
// to use them (arch_prctl ARCH_REQ_XCOMP_PERM, asked once by the probe).
namespace sparq {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, avx512_vnni = 3, amx = 4 };

// Highest ISA both supported by the CPU and allowed by SPARQ_MAX_ISA (or set_max_isa).
Isa max_isa();
// True if kernels of `isa` may run (supported by the CPU and under the cap).
inline bool has_isa(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(max_isa()); }
// What the CPU itself supports, ignoring the cap.
Isa cpu_isa();
// Overrides the cap at run time (tests); pass cpu_isa() to lift it.
void set_max_isa(Isa isa);
const char* isa_name(Isa isa);
// Parses "scalar", "avx2", "avx512", "avx512_vnni", "amx"; throws sparq::Error otherwise.
Isa parse_isa(const char* name);

}  // namespace sparq
