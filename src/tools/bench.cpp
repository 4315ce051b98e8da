#include "tools/bench.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <fstream>
#include <sstream>

namespace sparq::tools {

double quantile(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    double pos = (sorted.size() - 1) * q;
    size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Jiffies of all CPUs spent busy (everything but idle and iowait); -1 if unreadable.
long long busy_jiffies() {
    std::ifstream f("/proc/stat");
    std::string line, cpu;
    if (!std::getline(f, line)) return -1;
    std::istringstream in(line);
    in >> cpu;
    long long v, total = 0;
    int i = 0;
    while (in >> v) {
        if (i != 3 && i != 4) total += v;
        ++i;
    }
    return i >= 5 ? total : -1;
}

double own_cpu_s() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec * 1e-6;
}

}  // namespace

Timing time_runs(const std::function<void()>& run, const RepRule& rule,
                 const std::function<void()>& first) {
    Timing t;
    double warm = 0;
    while (t.warmup < rule.warmup_min || (warm < rule.warmup_s && t.warmup < rule.warmup_max)) {
        auto t0 = clock_type::now();
        run();
        warm += seconds_since(t0);
        ++t.warmup;
        if (t.warmup == 1 && first) first();
    }
    const long long j0 = busy_jiffies();
    const double c0 = own_cpu_s();
    const auto w0 = clock_type::now();
    double total = 0;
    while (static_cast<int64_t>(t.ms.size()) < rule.min_reps ||
           (total < rule.target_s && static_cast<int64_t>(t.ms.size()) < rule.max_reps)) {
        auto t0 = clock_type::now();
        run();
        double dt = seconds_since(t0);
        t.ms.push_back(dt * 1e3);
        total += dt;
    }
    const double wall = seconds_since(w0);
    const long long j1 = busy_jiffies();
    if (j0 < 0 || j1 < 0 || wall <= 0) {
        t.ext_load = -1;
    } else {
        const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
        t.ext_load = std::max(0.0, ((j1 - j0) / hz - (own_cpu_s() - c0)) / wall);
    }
    std::vector<double> s = t.ms;
    std::sort(s.begin(), s.end());
    t.median_ms = quantile(s, 0.5);
    t.p10_ms = quantile(s, 0.1);
    t.p90_ms = quantile(s, 0.9);
    t.min_ms = s.empty() ? 0 : s.front();
    return t;
}

double encoder_flops(int64_t layers, int64_t hidden, int64_t intermediate, int64_t batch,
                     int64_t seq) {
    const double tokens = double(batch) * seq;
    const double linear = 2.0 * tokens * (4.0 * hidden * hidden + 2.0 * hidden * intermediate);
    const double attention = 2.0 * 2.0 * batch * double(seq) * seq * hidden;  // QK^T and PV
    return layers * (linear + attention);
}

PackedBatch random_batch(const Model& m, int64_t batch, int64_t seq, uint64_t seed) {
    const ModelConfig& cfg = m.config();
    const Tokenizer* tok = m.tokenizer();
    const int32_t cls = tok ? tok->cls_id() : 101, sep = tok ? tok->sep_id() : 102;
    const int32_t lo = static_cast<int32_t>(std::min<int64_t>(1000, cfg.vocab_size / 2));
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> id(lo, static_cast<int32_t>(cfg.vocab_size - 1));
    PackedBatch b;
    b.offsets.push_back(0);
    for (int64_t s = 0; s < batch; ++s) {
        for (int64_t t = 0; t < seq; ++t) {
            int32_t v = id(rng);
            if (t == 0 && cls >= 0 && cls < cfg.vocab_size) v = cls;
            if (t == seq - 1 && seq > 1 && sep >= 0 && sep < cfg.vocab_size) v = sep;
            b.input_ids.push_back(v);
            b.token_type_ids.push_back(cfg.type_vocab_size > 1 && t >= seq / 2 ? 1 : 0);
        }
        b.offsets.push_back(b.offsets.back() + seq);
    }
    return b;
}

}  // namespace sparq::tools
