// sparq prune MODEL OUT --sparsity S [--scope ..] [--pattern ..] [--override REGEX=S ...]
#include <cstdio>
#include <memory>

#include "common.hpp"
#include "tools/prune.hpp"

namespace sparq::cli {

namespace {
struct PruneArgs {
    std::string model, out, scope = "per-matrix", pattern = "unstructured";
    double sparsity = 0;
    std::vector<std::string> overrides;
    bool embeddings = false, heads = false, force = false;
};

std::string shape_str(int64_t r, int64_t c) {
    return "[" + std::to_string(r) + ", " + std::to_string(c) + "]";
}

void run_prune(const PruneArgs& a) {
    tools::PruneOptions o;
    o.sparsity = a.sparsity + 0.0;  // -0 -> 0 (printed as a target)
    o.scope = tools::parse_prune_scope(a.scope);
    o.pattern = tools::parse_prune_pattern(a.pattern);
    o.include_embeddings = a.embeddings;
    o.include_heads = a.heads;
    o.force = a.force;
    for (const auto& ov : a.overrides) {
        auto eq = ov.rfind('=');
        if (eq == std::string::npos || eq == 0)
            throw UsageError("--override expects REGEX=SPARSITY, got '" + ov + "'");
        std::string num = ov.substr(eq + 1);
        double s = 0;  // parsed as --sparsity is (CLI11: 1e-400 is 0, not an error)
        if (!CLI::detail::lexical_cast(num, s))
            throw UsageError("--override '" + ov + "': '" + num + "' is not a number");
        s += 0.0;  // -0 -> 0
        if (!(s >= 0.0 && s <= 1.0))
            throw UsageError("--override '" + ov + "': sparsity must be in [0, 1]");
        const std::string why = tools::override_regex_error(ov.substr(0, eq));
        if (!why.empty()) throw UsageError(why);
        o.overrides.emplace_back(ov.substr(0, eq), s);
    }
    tools::PruneReport rep = tools::prune_model_dir(a.model, a.out, o);

    size_t w = 4;
    for (auto& m : rep.matrices) w = std::max(w, m.name.size());
    std::printf("%-*s  %-12s  %-5s  %8s  %8s  %8s\n", int(w), "name", "shape", "dtype", "before",
                "target", "after");
    for (auto& m : rep.matrices)
        std::printf("%-*s  %-12s  %-5s  %7.2f%%  %7.2f%%  %7.2f%%%s\n", int(w), m.name.c_str(),
                    shape_str(m.rows, m.cols).c_str(), m.dtype.c_str(), 100 * m.before,
                    100 * m.target, 100 * m.after, m.global ? "  (global)" : "");
    std::printf("pruned %zu matrices (%s, %s): %lld of %lld weights zero, %.2f%% -> %.2f%%\n",
                rep.matrices.size(), a.scope.c_str(), a.pattern.c_str(),
                static_cast<long long>(rep.zeros_after), static_cast<long long>(rep.total),
                100.0 * rep.zeros_before / std::max<int64_t>(rep.total, 1),
                100.0 * rep.zeros_after / std::max<int64_t>(rep.total, 1));
    std::printf("wrote %s/model.safetensors\n", a.out.c_str());
}
}  // namespace

void add_prune(CLI::App& app) {
    auto a = std::make_shared<PruneArgs>();
    auto* sub =
        app.add_subcommand("prune", "Magnitude-prune encoder weights into a new model directory");
    sub->footer(
        "Magnitude-prune the encoder linear weights (Q, K, V, attention output, FFN in/out) and\n"
        "write OUT as a Hugging Face directory: model.safetensors (same dtype as the input, zeros\n"
        "in place, every other tensor byte-identical), config.json and the tokenizer files.\n"
        "Unstructured pruning zeroes the smallest |w|; 1x4 / 4x1 zero whole blocks (1 output row "
        "x\n"
        "4 consecutive inputs / 4 consecutive output rows x 1 input of the stored [out][in]\n"
        "weight) with the smallest L2 norm. Global scope ranks all selected weights together by\n"
        "raw magnitude (not normalized per matrix), so matrices end up with different sparsities.");
    sub->add_option("model", a->model, "Input model directory")->required();
    sub->add_option("out", a->out, "Output directory (created; must differ from MODEL)")
        ->required();
    sub->add_option("--sparsity,-s", a->sparsity, "Share of weights to zero, in [0, 1]")
        ->required()
        ->check(number_range(0.0, 1.0));
    sub->add_option("--scope", a->scope, "per-matrix (each matrix at S) or global (S over all)")
        ->check(CLI::IsMember({"per-matrix", "global"}));
    sub->add_option("--pattern", a->pattern, "unstructured | 1x4 | 4x1")
        ->check(CLI::IsMember({"unstructured", "1x4", "4x1"}));
    sub->add_option(
           "--override", a->overrides,
           "REGEX=S: matrices whose name matches REGEX (RE2 syntax, searched) get sparsity S,\n"
           "per matrix, outside the global pool; first matching override wins; repeatable")
        ->allow_extra_args(false);
    sub->add_flag("--include-embeddings", a->embeddings,
                  "Also prune word/position/token-type embeddings");
    sub->add_flag("--include-heads", a->heads,
                  "Also prune pooler, classifier and qa_outputs weights");
    sub->add_flag("--force", a->force,
                  "Write into a non-empty OUT (its model files are replaced, other files stay)");
    sub->callback([a] { run_prune(*a); });
}

}  // namespace sparq::cli
