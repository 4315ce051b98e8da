#include <gtest/gtest.h>

#include "cpu/isa.hpp"
#include "sparq/error.hpp"

using namespace sparq;

TEST(Isa, CapLowersAndRestores) {
    Isa hw = cpu_isa();
    set_max_isa(Isa::scalar);
    EXPECT_EQ(max_isa(), Isa::scalar);
    EXPECT_FALSE(has_isa(Isa::avx2));
    set_max_isa(Isa::avx512_vnni);  // a VNNI CPU without AMX: no tile kernels
    EXPECT_FALSE(has_isa(Isa::amx));
    set_max_isa(Isa::amx);
    EXPECT_EQ(max_isa(), hw);  // never above what the CPU has
}

TEST(Isa, ParseNames) {
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni, Isa::amx})
        EXPECT_EQ(parse_isa(isa_name(i)), i);
    EXPECT_THROW(parse_isa("sse9"), Error);
}
