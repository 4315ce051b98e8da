#pragma once
// All threading in sparq (own kernels and oneDNN) runs on OpenMP; this is the one knob.
#include <omp.h>

#include <cstdint>

#include "core/region_trace.hpp"

namespace sparq {

// Sets the thread count for sparq kernels and oneDNN (n <= 0: cpu_limits().threads, the cores
// this process may use; see core/cpu_limits.hpp).
void set_num_threads(int n);
// Current thread count used for parallel regions.
int num_threads();

// Splits [0, n) into `parts` near-equal ranges; returns range `i` as [begin, end).
inline void split_range(int64_t n, int parts, int i, int64_t& begin, int64_t& end) {
    int64_t base = n / parts, rem = n % parts;
    begin = i * base + (i < rem ? i : rem);
    end = begin + base + (i < rem ? 1 : 0);
}

// Calls fn(begin, end) once per thread of a parallel region of `threads` threads, with that
// thread's near-equal share of [0, n) (empty shares skipped); on the caller alone when
// threads <= 1.
template <typename Fn>
void parallel_ranges(int64_t n, int threads, Fn&& fn) {
    if (threads <= 1) {
        if (n > 0) fn(int64_t{0}, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        SPARQ_REGION("rows");
        int64_t b, e;
        split_range(n, omp_get_num_threads(), omp_get_thread_num(), b, e);
        if (b < e) fn(b, e);
    }
}

}  // namespace sparq
