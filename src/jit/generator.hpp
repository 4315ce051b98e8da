#pragma once
// Small base for sparq's JIT kernels over Xbyak (System V x86-64 ABI only).
// A kernel takes one argument: a pointer to its argument struct, read with offsetof.
// Code is generated into an auto-growing buffer and made read+execute once by finalize().
// SPARQ_JIT_DUMP=DIR writes each generated kernel's bytes to DIR/<name>.<n>.bin
// (disassemble with: objdump -D -b binary -mi386:x86-64 FILE).
#include <xbyak/xbyak.h>

#include <cstddef>
#include <string>

#include "kernels/linear.hpp"

namespace sparq::jit {

class Generator : public Xbyak::CodeGenerator {
public:
  // huge_pages: code buffers of 2 MB multiples on transparent huge pages, for kernels whose code
  // is megabytes (the register-blocked sparse kernel compiles a matrix's pattern): on 4 KB
  // pages their instruction fetch misses the iTLB every few hundred instructions.
  explicit Generator(std::string name, size_t initial_size = 16 * 1024, bool huge_pages = false);
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

  // The piecewise GELU of kernels/eltwise/gelu_pieces.hpp on zmm registers, in the same float
  // operations as vec512::gelu_pieces_ps (results equal bit for bit). gelu_pieces_tables loads
  // the coefficient tables into zmm16..23 from `table`; gelu_pieces(x) then computes x =
  // gelu(x) with zmm24..28 as temporaries; gelu_pieces_data emits the constants and the tables of
  // GELU `act` (gelu_pieces(act); after the code, at labels `consts` and `table`).
  void gelu_pieces_tables(const Xbyak::Label& table);
  void gelu_pieces(const Xbyak::Zmm& x, const Xbyak::Label& consts);
  void gelu_pieces_data(Xbyak::Label& consts, Xbyak::Label& table, Activation act);

  // Typed entry point of a finalized kernel.
  template <typename Args>
  void call(const Args* args) const {
      reinterpret_cast<void (*)(const Args*)>(entry_)(args);
    }

private:
  static Xbyak::Allocator* huge_allocator();
  std::string name_;
  const void* entry_ = nullptr;
};

}  // namespace sparq::jit
