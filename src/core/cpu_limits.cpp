#include "core/cpu_limits.hpp"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

namespace sparq {
namespace cpu_detail {
namespace {

// The file's first line, or "" when it cannot be read.
std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (in) std::getline(in, line);
    return line;
}

// A whole decimal integer (optionally negative), or false.
bool to_int64(const std::string& s, long long* v) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    *v = std::strtoll(s.c_str(), &end, 10);
    return errno == 0 && end != s.c_str() && *end == '\0';
}

// The smaller positive limit (0 is none).
double tighter(double a, double b) { return a <= 0 ? b : b <= 0 ? a : std::min(a, b); }

// "/a/b" -> {"/a/b", "/a", ""}: a cgroup and its ancestors, as suffixes of the mount point.
std::vector<std::string> cgroup_chain(std::string path) {
    std::vector<std::string> out;
    while (!path.empty() && path.back() == '/') path.pop_back();
    for (;;) {
        out.push_back(path);
        if (path.empty()) break;
        path.resize(path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
    }
    return out;
}

}  // namespace

double parse_cfs_quota(const std::string& quota, const std::string& period) {
    long long q = 0, p = 0;
    if (!to_int64(quota, &q) || !to_int64(period, &p) || q <= 0 || p <= 0) return 0;
    return static_cast<double>(q) / static_cast<double>(p);
}

double parse_cpu_max(const std::string& text) {
    std::istringstream in(text);
    std::string quota, period;
    if (!(in >> quota >> period)) return 0;
    return parse_cfs_quota(quota, period);  // "max" is no number: no quota
}

double cgroup_quota(const std::string& root, const std::string& proc_self_cgroup) {
    double limit = 0;
    std::istringstream lines(proc_self_cgroup);
    std::string line;
    while (std::getline(lines, line)) {
        // "ID:CONTROLLERS:PATH"; v2 is "0::PATH", v1 lists its controllers ("cpu,cpuacct").
        const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (controllers.empty()) {
            for (const std::string& dir : cgroup_chain(path))
                limit = tighter(limit, parse_cpu_max(first_line(root + dir + "/cpu.max")));
            continue;
        }
        std::set<std::string> names;
        std::istringstream cs(controllers);
        for (std::string c; std::getline(cs, c, ',');) names.insert(c);
        if (!names.count("cpu")) continue;
        // The v1 hierarchy is mounted as "cpu,cpuacct" (often with "cpu" a link to it) or "cpu".
        for (const std::string& mount : {root + "/" + controllers, root + "/cpu"})
            for (const std::string& dir : cgroup_chain(path))
                limit =
                    tighter(limit, parse_cfs_quota(first_line(mount + dir + "/cpu.cfs_quota_us"),
                                                   first_line(mount + dir + "/cpu.cfs_period_us")));
    }
    return limit;
}

int count_physical_cores(const std::vector<int>& cpus, const std::string& sysfs_cpu) {
    std::set<std::pair<long long, long long>> cores;
    for (int cpu : cpus) {
        const std::string dir = sysfs_cpu + "/cpu" + std::to_string(cpu) + "/topology/";
        long long package = 0, core = 0;
        if (!to_int64(first_line(dir + "physical_package_id"), &package) ||
            !to_int64(first_line(dir + "core_id"), &core))
            return static_cast<int>(cpus.size());
        cores.insert({package, core});
    }
    return static_cast<int>(cores.size());
}

int default_threads(const CpuLimits& p, std::string* why) {
    if (p.omp_num_threads > 0) {
        *why = "OMP_NUM_THREADS";
        return p.omp_num_threads;
    }
    int n = p.physical_cores > 0 ? p.physical_cores : std::max(p.affinity_cpus, 1);
    *why = std::to_string(n) + (p.physical_cores > 0 ? " physical core" : " CPU") +
           (n == 1 ? "" : "s") +
           (p.affinity_cpus > p.physical_cores && p.physical_cores > 0
                ? " (" + std::to_string(p.affinity_cpus) + " CPUs)"
                : "");
    // A quota is CPU time per period, not cores: threads beyond it are stopped together for the
    // rest of each period once the quota is spent. Rounded up (as Java and .NET do): measured on
    // 2 cores, BERT-base 90% b1 s128, 2 threads under a 1.5-CPU quota run a median forward in
    // 24-25 ms with p90 50-51 vs 44-46 / 48-49 on 1 thread; under 1.0, 26-27 ms but p90 73-76
    // vs 39-40 / 41-43.
    const int quota_threads = static_cast<int>(std::ceil(p.quota_cpus - 1e-9));
    if (p.quota_cpus > 0 && quota_threads < n) {
        n = std::max(1, quota_threads);
        std::ostringstream q;
        q << "cgroup CPU quota " << p.quota_cpus;
        *why = q.str();
    }
    return n;
}

}  // namespace cpu_detail

const CpuLimits& cpu_limits() {
    static const CpuLimits limits = [] {
        CpuLimits l;
        std::vector<int> cpus;
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof(set), &set) == 0)
            for (int c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &set)) cpus.push_back(c);
        l.affinity_cpus = static_cast<int>(cpus.size());
        if (cpus.empty())  // no mask readable (or over CPU_SETSIZE CPUs): every online CPU
            l.affinity_cpus = static_cast<int>(std::thread::hardware_concurrency());
        l.physical_cores =
            cpus.empty() ? 0 : cpu_detail::count_physical_cores(cpus, "/sys/devices/system/cpu");
        std::ifstream in("/proc/self/cgroup");
        const std::string text((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
        l.quota_cpus = cpu_detail::cgroup_quota("/sys/fs/cgroup", text);
        if (const char* env = std::getenv("OMP_NUM_THREADS")) {
            // "4" or a nested list "4,2": the outer level's count.
            long long v = 0;
            std::string first = env;
            first = first.substr(0, first.find(','));
            if (cpu_detail::to_int64(first, &v) && v > 0 && v <= 4096)
                l.omp_num_threads = static_cast<int>(v);
        }
        l.threads = cpu_detail::default_threads(l, &l.why);
        return l;
    }();
    return limits;
}

}  // namespace sparq
