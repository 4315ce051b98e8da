#pragma once
// Shared plumbing of the `sparq` subcommands: input reading, JSON-lines output, progress bar,
// thread setup and the usage-error type.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "sparq/model.hpp"
#include "tools/results.hpp"

namespace sparq::cli {

// A bad command line that CLI11 cannot detect (exit code 2, like CLI11's own errors).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The "texts" positional of a subcommand, taken verbatim. (CLI11 reads a vector option's value
// "[a, b]" as a list of two, so "[MASK]" alone became "MASK" and "[x, y]" two texts: the
// positional takes one value, the others arrive as the subcommand's extras and are appended in
// order after parsing; an unknown option among them is a usage error; "--" ends the options.)
void add_texts_option(CLI::App* sub, std::vector<std::string>& texts, const std::string& help);
// The arguments after "--" (main() takes them off the command line; add_texts_option's
// subcommand appends them to its texts and empties this).
std::vector<std::string>& trailing_texts();

// Texts from positional arguments, else from --file (one per line), else from stdin (one per
// line). Lines keep their content except a trailing '\r'. Throws sparq::Error naming the source
// and line number of invalid UTF-8.
std::vector<std::string> read_texts(const std::vector<std::string>& args, const std::string& file);

// Throws sparq::Error if `s` is not valid UTF-8 (`where` names the input, e.g. "stdin line 3").
void check_utf8(const std::string& s, const std::string& where);

// A float as the JSON number with the shortest decimal that round-trips it (tools/results.hpp).
using tools::json_float;
using tools::json_floats;
using tools::splade_json;

// Writes one JSON object per line to stdout (UTF-8, no ASCII escaping) and flushes.
void print_json_line(const nlohmann::ordered_json& j);

// Sets sparq's (and oneDNN's) thread count; n <= 0: the default (core/cpu_limits.hpp).
void setup_threads(int n);

// The load options of the commands that take --threads and add_kernel_options' flags.
LoadOptions load_options(int threads, const std::string& kernels, const std::string& precision,
                         const std::string& attention);
// Loads a model directory with a clear error for a missing directory.
std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& opts);
// The model's tokenizer, or sparq::Error if the directory has none.
const Tokenizer& require_tokenizer(const Model& m, const std::string& dir);
// Throws sparq::Error if `dir` is not an existing directory.
void require_model_dir(const std::string& dir);

// A progress bar on stderr, drawn only when stderr is a terminal and total >= min_total.
class Progress {
  public:
    Progress(std::string label, int64_t total, int64_t min_total = 64);
    ~Progress();
    void advance(int64_t n = 1);
    void clear();  // erases the bar (redrawn by the next advance)

  private:
    void draw();
    std::string label_;
    int64_t total_, done_ = 0;
    bool on_ = false;
    int last_permille_ = -1;
};

// CLI11 check for a floating-point option in [lo, hi]; unlike CLI::Range it also rejects nan.
CLI::Validator number_range(double lo, double hi, bool lo_open = false);  // lo_open: (lo, hi]
// --threads N on `sub` (default 0: core/cpu_limits.hpp).
void add_threads_option(CLI::App* sub, int& threads);
// --batch-size (texts per packed batch, default 32) and --max-length (truncation, default: the
// model's maximum; 0 in max_length).
void add_batch_options(CLI::App* sub, size_t& batch_size, size_t& max_length);
// Adds --kernels auto|dense|sparse and --precision f32|int8 (the weight-kernel choice at load)
// and --attention auto|f32|int8 (the attention matmuls).
void add_kernel_options(CLI::App* sub, std::string& kernels, std::string& precision,
                        std::string& attention);
// --attention auto|f32|int8 on `sub` under `name` (compare has one per model).
void add_attention_option(CLI::App* sub, std::string& attention,
                          const std::string& name = "--attention");

using tools::task_name;  // "base", "sequence-classification", ...


// Subcommand registration, one per cli/cmd_*.cpp file.
void add_tokenize(CLI::App& app);
void add_embed(CLI::App& app);
void add_classify(CLI::App& app);
void add_fill_mask(CLI::App& app);
void add_rerank(CLI::App& app);
void add_zero_shot(CLI::App& app);
void add_inspect(CLI::App& app);
void add_bench(CLI::App& app);
void add_prune(CLI::App& app);
void add_peer_bench(CLI::App& app);
void add_eval(CLI::App& app);
void add_tradeoff(CLI::App& app);
void add_quantize(CLI::App& app);
void add_compare(CLI::App& app);
void add_vocab(CLI::App& app);
void add_system(CLI::App& app);

// GOMP_SPINCOUNT the `sparq` command runs with unless the user set a wait policy (cli/main.cpp).
inline constexpr const char* kOmpSpinCount = "1000";
void add_serve(CLI::App& app);

}  // namespace sparq::cli
