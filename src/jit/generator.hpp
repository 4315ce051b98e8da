#pragma once
// Small base for sparq's JIT kernels over Xbyak (System V x86-64 ABI only).
// A kernel takes one argument: a pointer to its argument struct, read with offsetof.
// Code is generated into an auto-growing buffer and made read+execute once by finalize().
// SPARQ_JIT_DUMP=DIR writes each generated kernel's bytes to DIR/<name>.<n>.bin
// (disassemble with: objdump -D -b binary -mi386:x86-64 FILE).
#include <xbyak/xbyak.h>

#include <cstddef>
#include <string>

namespace sparq::jit {

class Generator : public Xbyak::CodeGenerator {
public:
    explicit Generator(std::string name, size_t initial_size = 16 * 1024);
    ~Generator() override = default;

    // Argument register (rdi) holding the pointer to the kernel's argument struct.
    const Xbyak::Reg64 reg_args = rdi;

    // Saves callee-saved GPRs (rbx, rbp, r12-r15); call first in generate().
    void preamble();
    // Restores them, vzeroupper, ret.
    void postamble();
    // Resolves labels, makes the code executable, dumps it if SPARQ_JIT_DUMP is set.
    // Returns the entry point.
    const void* finalize();

    const std::string& kernel_name() const { return name_; }
    size_t code_size() const { return getSize(); }

    // Typed entry point of a finalized kernel.
    template <typename Args>
    void call(const Args* args) const {
        reinterpret_cast<void (*)(const Args*)>(entry_)(args);
    }

private:
    std::string name_;
    const void* entry_ = nullptr;
};

}  // namespace sparq::jit
