#include "core/region_trace.hpp"

#include <omp.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace sparq::region_trace {
namespace {

constexpr int kSlots = 256;  // thread numbers beyond share the last slot

struct Slot {
    std::mutex mu;  // threads outside OpenMP teams all report as thread 0
    std::vector<Record> recs;
};

struct State {
    std::atomic<bool> on{false};
    std::string file;  // written at exit when set
    std::array<Slot, kSlots> slots;

    State() {
        const char* f = std::getenv("SPARQ_REGION_TRACE");
        if (f && *f) {
            file = f;
            on = true;
        }
    }
    ~State() {
        if (file.empty()) return;
        FILE* out = std::fopen(file.c_str(), "w");
        if (!out) {
            std::fprintf(stderr, "sparq: cannot write the region trace to %s\n", file.c_str());
            return;
        }
        for (Slot& s : slots)
            for (size_t i = 0; i < s.recs.size(); ++i)
                std::fprintf(out, "%d %zu %s %llu %llu\n", s.recs[i].thread, i, s.recs[i].label,
                             static_cast<unsigned long long>(s.recs[i].begin),
                             static_cast<unsigned long long>(s.recs[i].end));
        std::fclose(out);
    }
};

State& state() {
    static State s;
    return s;
}

}  // namespace

bool enabled() { return state().on.load(std::memory_order_relaxed); }

void start() {
    State& s = state();
    for (Slot& slot : s.slots) {
        std::lock_guard<std::mutex> g(slot.mu);
        slot.recs.clear();
    }
    s.on = true;
}

void stop() { state().on = false; }

std::vector<Record> records() {
    std::vector<Record> all;
    for (Slot& slot : state().slots) {
        std::lock_guard<std::mutex> g(slot.mu);
        all.insert(all.end(), slot.recs.begin(), slot.recs.end());
    }
    return all;
}

void add(const char* label, uint64_t begin, uint64_t end) {
    const int t = omp_get_thread_num();
    Slot& slot = state().slots[t < kSlots ? t : kSlots - 1];
    std::lock_guard<std::mutex> g(slot.mu);
    slot.recs.push_back({label, t, begin, end});
}

}  // namespace sparq::region_trace
