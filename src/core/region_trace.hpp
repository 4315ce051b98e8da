#pragma once
// Parallel-region trace, a developer tool for thread balance. With SPARQ_REGION_TRACE=FILE in
// the environment (or after region_trace::start()), every instrumented parallel region records,
// for each thread of its team, when that thread entered and left its share (TSC ticks); at exit
// the records go to FILE, one line per thread share: "thread index label begin end" (index: the
// record's position among that thread's records). scripts/region_trace.py summarizes a file: per
// label, each thread's mean time in the region, the skew of the threads' exits (time the faster
// thread waits at the region's end) and the serial gap before the region. Off (the default), a
// region costs one load and branch.
//
// Instrumenting a region: SPARQ_REGION("label"); as the first statement of the code each thread
// runs in it (labels are string literals).
#include <x86intrin.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sparq::region_trace {

struct Record {
    const char* label;
    int thread;
    uint64_t begin, end;
};

// Whether regions record (SPARQ_REGION_TRACE set at the first call, or start() called).
bool enabled();
// Starts recording in memory (no file unless SPARQ_REGION_TRACE names one); clears old records.
void start();
// Stops recording (records stay until the next start()).
void stop();
// The records so far, thread by thread, in each thread's order.
std::vector<Record> records();
// Called by Scope: appends one record for the calling thread (omp_get_thread_num()).
void add(const char* label, uint64_t begin, uint64_t end);

class Scope {
  public:
    explicit Scope(const char* label) : label_(enabled() ? label : nullptr) {
        if (label_) begin_ = __rdtsc();
    }
    ~Scope() {
        if (label_) add(label_, begin_, __rdtsc());
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

  private:
    const char* label_;
    uint64_t begin_ = 0;
};

}  // namespace sparq::region_trace

#define SPARQ_REGION_CAT2(a, b) a##b
#define SPARQ_REGION_CAT(a, b) SPARQ_REGION_CAT2(a, b)
#define SPARQ_REGION(label) \
    ::sparq::region_trace::Scope SPARQ_REGION_CAT(sparq_region_, __LINE__)(label)
