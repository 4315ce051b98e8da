// sparq system [--json]: what sparq sees on this machine and what it will do with it by default
// (the CPU, the instruction set its kernels use, the CPUs it may run on and the thread count it
// picks, oneDNN, the f32 planner's dense / sparse rates), for reading a benchmark or a slow run.
#include <oneapi/dnnl/dnnl.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "common.hpp"
#include "core/cpu_limits.hpp"
#include "cpu/isa.hpp"
#include "kernels/planner.hpp"

namespace sparq::cli {

namespace {

// /proc/cpuinfo's first "model name" (empty when there is none, e.g. not Linux / x86).
std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
            std::string v = line.substr(line.find(':') + 1);
            while (!v.empty() && v.front() == ' ') v.erase(0, 1);
            return v;
        }
    return "";
}

nlohmann::ordered_json env_or_null(const char* name) {
    const char* v = std::getenv(name);
    return v ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

// How OpenMP threads wait at the end of a parallel region (libgomp reads these at start-up).
std::string omp_wait() {
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    std::string s;
    if (policy) s = std::string("OMP_WAIT_POLICY=") + policy;
    if (spin)
        s += (s.empty() ? "" : ", ") + std::string("spin GOMP_SPINCOUNT=") + spin +
             " rounds, then sleep";
    if (!policy && !spin) return "libgomp's default (spin 300000 rounds, then sleep)";
    if (!policy && std::string(spin) == kOmpSpinCount)
        s += " (sparq's default; OMP_WAIT_POLICY or GOMP_SPINCOUNT overrides)";
    return s;
}

void run_system(bool json, bool rates) {
    const CpuLimits& l = cpu_limits();
    const char* cap = std::getenv("SPARQ_MAX_ISA");
    const Isa isa = max_isa();  // first: a bad SPARQ_MAX_ISA fails before any output
    const dnnl_version_t* v = dnnl_version();
    const std::string dnnl =
        std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    const SpmmRates* r = rates ? &spmm_rates() : nullptr;
    if (json) {
        nlohmann::ordered_json j;
        j["cpu"] = cpu_model_name();
        j["isa"] = isa_name(isa);
        j["cpu_isa"] = isa_name(cpu_isa());
        j["sparq_max_isa"] = cap ? nlohmann::ordered_json(cap) : nlohmann::ordered_json(nullptr);
        j["affinity_cpus"] = l.affinity_cpus;
        j["physical_cores"] = l.physical_cores;
        j["cgroup_cpu_quota"] = l.quota_cpus;
        j["omp_num_threads"] = l.omp_num_threads;
        j["default_threads"] = l.threads;
        j["default_threads_why"] = l.why;
        j["omp_wait_policy"] = env_or_null("OMP_WAIT_POLICY");
        j["gomp_spincount"] = env_or_null("GOMP_SPINCOUNT");
        j["onednn"] = dnnl;
        if (r) {
            j["f32_dense_gflops"] = r->dense_gflops;
            j["f32_sparse_gflops"] = r->sparse_gflops;
            j["f32_rates_source"] = r->source;
        }
        print_json_line(j);
        return;
    }
    const std::string name = cpu_model_name();
    std::printf("cpu        %s\n", name.empty() ? "(unknown)" : name.c_str());
    std::printf("isa        %s for the kernels (the CPU has %s%s)\n", isa_name(isa),
                isa_name(cpu_isa()),
                cap ? (std::string("; capped by SPARQ_MAX_ISA=") + cap).c_str() : "");
    std::string quota = "none";
    if (l.quota_cpus > 0) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g CPUs", l.quota_cpus);
        quota = buf;
    }
    std::printf("cpus       %d allowed (affinity), %d physical cores, cgroup CPU quota %s\n",
                l.affinity_cpus, l.physical_cores, quota.c_str());
    std::printf("threads    %d by default (%s); --threads N overrides\n", l.threads, l.why.c_str());
    std::printf("wait       %s\n", omp_wait().c_str());
    std::printf("oneDNN     %s\n", dnnl.c_str());
    if (r)
        std::printf("f32 plan   dense %.0f GFLOP/s, sparse %.0f GFLOP/s over nonzeros (%s)\n",
                    r->dense_gflops, r->sparse_gflops, r->source.c_str());
}

}  // namespace

void add_system(CLI::App& app) {
    auto* sub = app.add_subcommand("system", "What sparq sees on this machine (CPU, threads, ISA)");
    sub->footer(
        "Prints the CPU, the instruction set sparq's kernels use (capped by SPARQ_MAX_ISA), the\n"
        "CPUs this process may run on (affinity, physical cores, cgroup CPU quota), the thread\n"
        "count the other commands use without --threads and why, how OpenMP threads wait at a\n"
        "parallel region's end (GOMP_SPINCOUNT=1000 unless you set OMP_WAIT_POLICY or\n"
        "GOMP_SPINCOUNT), the oneDNN version and the f32\n"
        "planner's dense / sparse rates (measured once per CPU and cached; --no-rates skips "
        "them).");
    auto json = std::make_shared<bool>(false), no_rates = std::make_shared<bool>(false);
    sub->add_flag("--json", *json, "Print one JSON object");
    sub->add_flag("--no-rates", *no_rates, "Do not measure or read the planner's rates");
    sub->callback([json, no_rates] { run_system(*json, !*no_rates); });
}

}  // namespace sparq::cli
