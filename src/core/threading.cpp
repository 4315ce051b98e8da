#include "core/threading.hpp"

#include <omp.h>

#include "core/cpu_limits.hpp"

namespace sparq {

void set_num_threads(int n) {
    if (n <= 0) n = cpu_limits().threads;
    omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace sparq
