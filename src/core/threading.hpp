#pragma once
// All threading in sparq (own kernels and oneDNN) runs on OpenMP; this is the one knob.
#include <cstdint>

namespace sparq {

// Sets the thread count for sparq kernels and oneDNN (n <= 0: all hardware threads).
void set_num_threads(int n);
// Current thread count used for parallel regions.
int num_threads();

// Splits [0, n) into `parts` near-equal ranges; returns range `i` as [begin, end).
inline void split_range(int64_t n, int parts, int i, int64_t& begin, int64_t& end) {
    int64_t base = n / parts, rem = n % parts;
    begin = i * base + (i < rem ? i : rem);
    end = begin + base + (i < rem ? 1 : 0);
}

}  // namespace sparq
