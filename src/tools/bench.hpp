#pragma once
// Timing loop and statistics shared by `sparq bench` and `sparq peer-bench` (the peers harness
// contract: warm-up >= 2 runs and >= warmup_s, then timed runs until >= min_reps and
// (>= target_s of timing or max_reps)).
#include <cstdint>
#include <functional>
#include <vector>

#include "sparq/model.hpp"

namespace sparq::tools {

struct RepRule {
    double warmup_s = 1.0;
    int64_t warmup_min = 2, warmup_max = 50;
    int64_t min_reps = 5, max_reps = 50;
    double target_s = 3.0;
};

struct Timing {
    std::vector<double> ms;  // timed runs, in order
    int64_t warmup = 0;      // warm-up runs done
    double median_ms = 0, p10_ms = 0, p90_ms = 0, min_ms = 0;
    // CPU time used by other processes during the timed runs, in cores (from /proc/stat minus
    // this process's rusage); negative if /proc/stat is unreadable.
    double ext_load = 0;
};

// Quantile q in [0, 1] of sorted values, linear interpolation (numpy's default).
double quantile(const std::vector<double>& sorted, double q);

// Runs `run` per the rule; `first` (may be empty) is called once right after the first run.
Timing time_runs(const std::function<void()>& run, const RepRule& rule,
                 const std::function<void()>& first = {});

// Approximate FLOPs of one BERT encoder forward over `batch` sequences of `seq` tokens
// (linear layers + attention matmuls; 2 FLOPs per multiply-add).
double encoder_flops(int64_t layers, int64_t hidden, int64_t intermediate, int64_t batch,
                     int64_t seq);

// Seeded random packed batch for timing: per sequence [CLS] random ids [SEP] (ids from
// min(1000, vocab/2) up), token types 0 for the first half and 1 for the second.
PackedBatch random_batch(const Model& m, int64_t batch, int64_t seq, uint64_t seed);

}  // namespace sparq::tools
