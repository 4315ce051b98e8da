#pragma once
// How many threads sparq computes with when the user does not say (--threads, threads=0):
// OMP_NUM_THREADS when set, else one per physical core this process may run on (its affinity
// mask, e.g. taskset / numactl / a cpuset; SMT siblings share one core's FMA units), capped by
// the CPU quota of its cgroup rounded up (docker --cpus, Kubernetes CPU limits; v1 and v2).
// Every parallel region splits its work statically, so a thread without a core of its own holds
// back each barrier: a container limited to 2 CPUs on a 64-core host must not run 64 threads.
#include <string>
#include <vector>

namespace sparq {

struct CpuLimits {
    int affinity_cpus = 0;    // CPUs in the affinity mask
    int physical_cores = 0;   // distinct cores among them (affinity_cpus when sysfs is unreadable)
    double quota_cpus = 0;    // cgroup CPU quota in CPUs (0: none)
    int omp_num_threads = 0;  // OMP_NUM_THREADS's first value (0: unset or not a number)
    int threads = 1;          // the default thread count
    std::string why;          // e.g. "2 physical cores", "cgroup CPU quota 1.5"
};

// Read once per process (the environment and cgroup of a process rarely change while it runs).
const CpuLimits& cpu_limits();

namespace cpu_detail {

// cgroup v2 cpu.max ("QUOTA PERIOD" or "max PERIOD"): the quota in CPUs, 0 for none or bad text.
double parse_cpu_max(const std::string& text);
// cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us: the quota in CPUs, 0 for none (-1) or bad text.
double parse_cfs_quota(const std::string& quota, const std::string& period);
// The smallest CPU quota on the path of this process's cgroup (from /proc/self/cgroup's text)
// under `root` (/sys/fs/cgroup), its own cgroup and every ancestor, v2 and v1; 0 for none.
double cgroup_quota(const std::string& root, const std::string& proc_self_cgroup);
// Distinct (package, core) pairs among `cpus`, from `sysfs_cpu` (/sys/devices/system/cpu)
// cpuN/topology/{physical_package_id,core_id}; cpus.size() when any is unreadable.
int count_physical_cores(const std::vector<int>& cpus, const std::string& sysfs_cpu);
// The default from the parts (see CpuLimits), with its reason in *why.
int default_threads(const CpuLimits& parts, std::string* why);

}  // namespace cpu_detail
}  // namespace sparq
