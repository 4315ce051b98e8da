// The `sparq` command: subcommands live in cli/cmd_*.cpp. Every failure ends as one line
// "sparq: error: ..." on stderr: exit code 2 for a bad command line, 1 for anything else.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>

#include "common.hpp"

namespace {

int fail(const std::string& msg, int code) {
    std::string line = msg;
    for (auto& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cerr << "sparq: error: " << line << '\n';
    return code;
}

// OpenMP threads wait for each other at the end of every parallel region (~100 per BERT-base
// forward). libgomp's default wait spins 300,000 rounds (milliseconds) before it sleeps: as fast
// as any on an idle machine, but when the threads outnumber the free cores (two 2-thread sparq
// processes on 2 cores, a busy neighbour) a spinning thread holds the core its partner needs, and
// a forward can take 3-30x as long. 1000 rounds (~20 us), what libgomp itself uses when it knows
// its threads outnumber the CPUs, costs nothing measurable on an idle machine and keeps two
// such processes at about twice one's time (docs/benchmarks.md, run 25). libgomp reads
// GOMP_SPINCOUNT once, when it is loaded (before main; the C library resets the environment
// after any earlier hook), so the command re-executes itself with it set — unless the user chose
// a wait policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set) or runs it under valgrind (which would
// not follow the exec). If the exec fails, the command runs with libgomp's default.
void polite_omp_wait(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
    const char* preload = std::getenv("LD_PRELOAD");
    if (preload && std::strstr(preload, "vgpreload")) return;
    if (setenv("GOMP_SPINCOUNT", sparq::cli::kOmpSpinCount, 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("GOMP_SPINCOUNT");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"sparq: sparse and int8 inference for BERT-family encoders"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "sparq 0.1.0");
    using namespace sparq::cli;
    add_tokenize(app);
    add_embed(app);
    add_classify(app);
    add_fill_mask(app);
    add_rerank(app);
    add_zero_shot(app);
    add_inspect(app);
    add_bench(app);
    add_prune(app);
    add_peer_bench(app);
    add_eval(app);
    add_tradeoff(app);
    add_quantize(app);
    add_compare(app);
    add_vocab(app);
    add_serve(app);
    add_system(app);
    const CLI::App* cmd = nullptr;  // the subcommand argv[1] names, if any
    if (argc > 1 && argv[1][0] != '-') {
        std::string names;
        for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
            if (sub->get_name() == argv[1]) cmd = sub;
            if (!sub->get_group().empty()) names += (names.empty() ? "" : ", ") + sub->get_name();
        }
        if (!cmd)
            return fail(
                std::string("unknown command '") + argv[1] + "' (expected one of " + names + ")",
                2);
    }
    // Commands that run no parallel region need no wait policy (nor the exec's ~5 ms).
    if (cmd && cmd->get_name() != "tokenize" && cmd->get_name() != "vocab") polite_omp_wait(argv);
    try {
        // Arguments after "--" are texts, whatever they look like: kept out of CLI11 (which would
        // hand them to a positional already full) and appended by add_texts_option.
        // (Only for the commands that take texts; the others get "--" as CLI11 handles it.)
        std::vector<std::string> args(argv + 1, argv + argc);
        auto dashes = std::find(args.begin(), args.end(), std::string("--"));
        if (cmd && cmd->get_option_no_throw("texts") && dashes != args.end()) {
            trailing_texts().assign(dashes + 1, args.end());
            args.erase(dashes, args.end());
        }
        std::reverse(args.begin(), args.end());  // CLI11 takes them last first
        app.name(argv[0]);
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        return fail(std::string(e.what()) + " (run with --help for usage)", 2);
    } catch (const UsageError& e) {
        return fail(std::string(e.what()) + " (run with --help for usage)", 2);
    } catch (const std::bad_alloc&) {
        return fail(
            "out of memory (fewer texts per batch, a shorter --max-length or a smaller "
            "--batch / --seq need less)",
            1);
    } catch (const std::exception& e) {
        return fail(e.what(), 1);
    } catch (...) {
        return fail("unexpected internal error", 1);
    }
    // A full disk or a closed stdout must not pass for success with truncated output.
    std::cout.flush();
    errno = 0;
    const bool flushed = std::fflush(stdout) == 0;
    if (!flushed || std::ferror(stdout) || !std::cout)
        return fail(std::string("cannot write standard output") +
                        (errno ? std::string(": ") + std::strerror(errno) : std::string()),
                    1);
    return 0;
}
