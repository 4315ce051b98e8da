#include <gtest/gtest.h>

#include <cstddef>

#include "jit/generator.hpp"

namespace {
struct AddArgs {
    const float* a;
    float* out;
};

// A minimal kernel: *out = *a + 1 — proves the preamble/postamble and offsetof convention.
class AddOne : public sparq::jit::Generator {
public:
    AddOne() : Generator("add_one") {
        preamble();
        mov(rax, ptr[reg_args + offsetof(AddArgs, a)]);
        mov(rbx, ptr[reg_args + offsetof(AddArgs, out)]);
        movss(xmm0, ptr[rax]);
        mov(ecx, 0x3f800000);  // 1.0f
        movd(xmm1, ecx);
        addss(xmm0, xmm1);
        movss(ptr[rbx], xmm0);
        postamble();
        finalize();
    }
};
}  // namespace

TEST(JitGenerator, RunsGeneratedCodeAndKeepsCalleeSavedRegisters) {
    AddOne k;
    float a = 2.5f, out = 0;
    AddArgs args{&a, &out};
    k.call(&args);
    EXPECT_FLOAT_EQ(out, 3.5f);
    EXPECT_GT(k.code_size(), 0u);
}
