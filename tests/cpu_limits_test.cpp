// The default thread count: cgroup CPU quotas (v1 and v2, own cgroup and ancestors), physical
// cores from sysfs topology, OMP_NUM_THREADS, on fake /sys trees.
#include "core/cpu_limits.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_util.hpp"

namespace sparq {
namespace {

using namespace cpu_detail;

// Writes `content` at root/rel, creating the directories.
void put(const test::TempDir& t, const std::string& rel, const std::string& content) {
    std::filesystem::create_directories((t.path() / rel).parent_path());
    t.write(rel, content);
}

TEST(CpuLimits, ParsesCgroupV2CpuMax) {
    EXPECT_DOUBLE_EQ(parse_cpu_max("150000 100000\n"), 1.5);
    EXPECT_DOUBLE_EQ(parse_cpu_max("200000 100000"), 2.0);
    EXPECT_EQ(parse_cpu_max("max 100000"), 0);
    for (const char* bad : {"", "100000", "abc 100000", "100000 0", "-5 100000", "1e5 100000"})
        EXPECT_EQ(parse_cpu_max(bad), 0) << bad;
}

TEST(CpuLimits, ParsesCgroupV1Quota) {
    EXPECT_DOUBLE_EQ(parse_cfs_quota("50000", "100000"), 0.5);
    EXPECT_EQ(parse_cfs_quota("-1", "100000"), 0);
    EXPECT_EQ(parse_cfs_quota("", "100000"), 0);
    EXPECT_EQ(parse_cfs_quota("100000", "x"), 0);
}

TEST(CpuLimits, CgroupV2TakesTheTightestOnThePath) {
    test::TempDir t;
    put(t, "cpu.max", "max 100000\n");
    put(t, "kubepods/cpu.max", "300000 100000\n");
    put(t, "kubepods/pod1/cpu.max", "max 100000\n");
    put(t, "kubepods/pod1/ctr/cpu.max", "250000 100000\n");
    EXPECT_DOUBLE_EQ(cgroup_quota(t.dir(), "0::/kubepods/pod1/ctr\n"), 2.5);
    EXPECT_DOUBLE_EQ(cgroup_quota(t.dir(), "0::/kubepods/pod1\n"), 3.0);  // an ancestor's limit
    EXPECT_EQ(cgroup_quota(t.dir(), "0::/\n"), 0);
    EXPECT_EQ(cgroup_quota(t.dir(), "0::/elsewhere\n"), 0);  // missing files: no limit
    EXPECT_EQ(cgroup_quota(t.dir(), ""), 0);
    EXPECT_EQ(cgroup_quota(t.dir(), "garbage without colons\n"), 0);
}

TEST(CpuLimits, CgroupV1ReadsTheCpuController) {
    test::TempDir t;
    put(t, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "150000\n");
    put(t, "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    put(t, "cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    put(t, "cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    const std::string self = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n";
    EXPECT_DOUBLE_EQ(cgroup_quota(t.dir(), self), 1.5);
    // Mounted as "cpu" alone, and a controller list without "cpu" is not read.
    test::TempDir u;
    put(u, "cpu/x/cpu.cfs_quota_us", "100000");
    put(u, "cpu/x/cpu.cfs_period_us", "100000");
    EXPECT_DOUBLE_EQ(cgroup_quota(u.dir(), "1:cpu:/x\n"), 1.0);
    EXPECT_EQ(cgroup_quota(u.dir(), "2:cpuacct:/x\n"), 0);
}

TEST(CpuLimits, CountsPhysicalCoresAmongAllowedCpus) {
    test::TempDir t;
    // 2 packages x 2 cores x 2 SMT threads: cpuN -> (package N/4, core (N/2)%2).
    for (int cpu = 0; cpu < 8; ++cpu) {
        const std::string dir = "cpu" + std::to_string(cpu) + "/topology/";
        put(t, dir + "physical_package_id", std::to_string(cpu / 4) + "\n");
        put(t, dir + "core_id", std::to_string((cpu / 2) % 2) + "\n");
    }
    EXPECT_EQ(count_physical_cores({0, 1, 2, 3, 4, 5, 6, 7}, t.dir()), 4);
    EXPECT_EQ(count_physical_cores({0, 1}, t.dir()), 1);     // SMT siblings
    EXPECT_EQ(count_physical_cores({0, 4}, t.dir()), 2);     // same core id, other package
    EXPECT_EQ(count_physical_cores({0, 2, 9}, t.dir()), 3);  // cpu9 unreadable: count CPUs
}

TEST(CpuLimits, DefaultThreads) {
    std::string why;
    CpuLimits p;
    p.affinity_cpus = 8;
    p.physical_cores = 4;
    EXPECT_EQ(default_threads(p, &why), 4);
    EXPECT_EQ(why, "4 physical cores (8 CPUs)");
    p.quota_cpus = 1.5;
    EXPECT_EQ(default_threads(p, &why), 2);  // rounded up
    EXPECT_EQ(why, "cgroup CPU quota 1.5");
    p.quota_cpus = 0.2;
    EXPECT_EQ(default_threads(p, &why), 1);
    p.quota_cpus = 16;  // above the cores: the cores
    EXPECT_EQ(default_threads(p, &why), 4);
    p.omp_num_threads = 3;
    EXPECT_EQ(default_threads(p, &why), 3);
    EXPECT_EQ(why, "OMP_NUM_THREADS");
    CpuLimits one;
    one.affinity_cpus = one.physical_cores = 1;
    EXPECT_EQ(default_threads(one, &why), 1);
    EXPECT_EQ(why, "1 physical core");
    CpuLimits none;  // nothing readable
    EXPECT_EQ(default_threads(none, &why), 1);
}

// This process's own limits are consistent (whatever machine runs the test).
TEST(CpuLimits, ThisProcess) {
    const CpuLimits& l = cpu_limits();
    EXPECT_GE(l.affinity_cpus, 1);
    EXPECT_GE(l.physical_cores, 1);
    EXPECT_LE(l.physical_cores, l.affinity_cpus);
    EXPECT_GE(l.threads, 1);
    EXPECT_FALSE(l.why.empty());
}

}  // namespace
}  // namespace sparq
