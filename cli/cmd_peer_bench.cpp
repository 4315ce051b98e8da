// sparq peer-bench: the external-engine contract of the peers harness
// (../shared/tools/peers/README.md, "Plugging in our engine"):
//   sparq peer-bench --variant NAME --model-dir DIR --inputs DIR --shapes 1x128,8x128 --threads N
//       --warmup-s W --min-reps R --max-reps X --target-s T [--dump-dir D]
//       [--kernels auto|dense|sparse] [--precision f32|int8]
// reads INPUTS/b{B}_s{S}/{input_ids,attention_mask,token_type_ids}.i64 (int64 [B][S]) and prints
// one JSON line per shape. Rows are packed: only attended tokens (a mask prefix) are computed;
// the dump holds zeros at masked positions.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common.hpp"
#include "core/threading.hpp"
#include "sparq/error.hpp"
#include "tools/bench.hpp"

namespace sparq::cli {

namespace {
struct PeerArgs {
    std::string variant, model_dir, inputs, shapes = "1x128", dump_dir, kernels = "auto",
                                            precision = "f32", attention = "auto";
    int threads = 1;
    double warmup_s = 1, target_s = 3;
    int64_t min_reps = 5, max_reps = 50;
};

std::vector<int64_t> read_i64(const std::filesystem::path& p, int64_t n) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error("cannot open input '" + p.string() + "'");
    std::vector<int64_t> v(static_cast<size_t>(n));
    in.read(reinterpret_cast<char*>(v.data()), n * 8);
    if (in.gcount() != n * 8 || in.peek() != EOF)
        throw Error("input '" + p.string() + "' does not hold " + std::to_string(n) +
                    " int64 values");
    return v;
}

struct Shape {
    int64_t batch, seq;
};

std::vector<Shape> parse_shapes(const std::string& s) {
    std::vector<Shape> out;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t comma = s.find(',', pos);
        std::string item =
            s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        size_t x = item.find('x');
        try {
            if (x == std::string::npos) throw std::invalid_argument(item);
            size_t u1 = 0, u2 = 0;
            Shape sh{std::stoll(item.substr(0, x), &u1), std::stoll(item.substr(x + 1), &u2)};
            if (u1 != x || u2 != item.size() - x - 1 || sh.batch < 1 || sh.seq < 1 ||
                sh.batch > 65536 || sh.seq > 65536)
                throw std::invalid_argument(item);
            out.push_back(sh);
        } catch (const std::exception&) {
            throw UsageError("--shapes: '" + item + "' is not BATCHxSEQ (e.g. 1x128)");
        }
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return out;
}

// Reads one shape's inputs and packs the attended prefix of every row (pack_padded).
PackedBatch read_inputs(const std::filesystem::path& dir, const Shape& sh, const ModelConfig& cfg) {
    const int64_t n = sh.batch * sh.seq;
    auto ids = read_i64(dir / "input_ids.i64", n);
    auto mask = read_i64(dir / "attention_mask.i64", n);
    auto types = read_i64(dir / "token_type_ids.i64", n);
    for (int64_t i = 0; i < n; ++i)
        if (mask[i] == 1 && (ids[i] < 0 || ids[i] >= cfg.vocab_size))
            throw Error(dir.string() + ": input id " + std::to_string(ids[i]) +
                        " outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
    PaddedInput in;
    in.input_ids = ids.data();
    in.attention_mask = mask.data();
    in.token_type_ids = types.data();
    in.batch = sh.batch;
    in.seq = sh.seq;
    return pack_padded(in);
}

void dump_hidden(const std::filesystem::path& path, const HiddenStates& hs, const Shape& sh) {
    std::vector<float> out = unpack_padded(hs, sh.seq);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(out.data()),
            static_cast<std::streamsize>(out.size() * 4));
    if (!f) throw Error("failed writing '" + path.string() + "'");
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

void run_peer_bench(const PeerArgs& a) {
    namespace fs = std::filesystem;
    auto shapes = parse_shapes(a.shapes);
    setup_threads(a.threads);
    const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
    const auto t0 = std::chrono::steady_clock::now();
    auto model = load_model(a.model_dir, lo);
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!a.dump_dir.empty()) fs::create_directories(a.dump_dir);
    tools::RepRule rule;
    rule.warmup_s = a.warmup_s;
    rule.min_reps = a.min_reps;
    rule.max_reps = a.max_reps;
    rule.target_s = a.target_s;
    for (const Shape& sh : shapes) {
        const std::string tag = "b" + std::to_string(sh.batch) + "_s" + std::to_string(sh.seq);
        PackedBatch batch = read_inputs(fs::path(a.inputs) / tag, sh, model->config());
        HiddenStates out;
        auto first = [&] {
            if (!a.dump_dir.empty()) dump_hidden(fs::path(a.dump_dir) / (tag + ".f32"), out, sh);
        };
        tools::Timing t = tools::time_runs([&] { out = model->encode(batch); }, rule, first);
        nlohmann::ordered_json j;
        j["engine"] = "sparq";
        j["variant"] = a.variant;
        j["model"] = a.model_dir;
        j["batch"] = sh.batch;
        j["seq"] = sh.seq;
        j["threads"] = a.threads;
        j["median_ms"] = round3(t.median_ms);
        j["p10_ms"] = round3(t.p10_ms);
        j["p90_ms"] = round3(t.p90_ms);
        j["min_ms"] = round3(t.min_ms);
        j["reps"] = t.ms.size();
        j["warmup"] = t.warmup;
        j["throughput_seq_s"] = round3(sh.batch * 1000.0 / t.median_ms);
        j["load_s"] = std::round(load_s * 100) / 100;
        if (t.ext_load >= 0) j["ext_load"] = std::round(t.ext_load * 100) / 100;
        j["kernels"] = a.kernels;
        j["precision"] = a.precision;
        print_json_line(j);
    }
}
}  // namespace

void add_peer_bench(CLI::App& app) {
    auto a = std::make_shared<PeerArgs>();
    auto* sub = app.add_subcommand(
        "peer-bench",
        "Engine entry point for ../shared/tools/peers/run_peers.sh --engine (see "
        "docs/cli.md); one JSON line per shape");
    sub->group("");  // advanced: hidden from `sparq --help`
    sub->add_option("--variant", a->variant, "Variant name reported in the JSON lines")->required();
    sub->add_option("--model-dir", a->model_dir,
                    "Model directory (config.json + model.safetensors)")
        ->required();
    sub->add_option("--inputs", a->inputs, "Inputs directory with b{B}_s{S}/*.i64")->required();
    sub->add_option("--shapes", a->shapes, "BATCHxSEQ list, comma separated");
    sub->add_option("--threads", a->threads, "Threads")->check(CLI::Range(1, 4096));
    sub->add_option("--warmup-s", a->warmup_s, "Warm-up seconds (>= 2 runs)")
        ->check(number_range(0.0, 3600.0));
    sub->add_option("--min-reps", a->min_reps, "Minimum timed runs")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    sub->add_option("--max-reps", a->max_reps, "Maximum timed runs")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    sub->add_option("--target-s", a->target_s, "Timed seconds to reach")
        ->check(number_range(0.0, 3600.0));
    sub->add_option("--dump-dir", a->dump_dir,
                    "Write the first run's last_hidden_state as b{B}_s{S}.f32");
    add_kernel_options(sub, a->kernels, a->precision, a->attention);
    sub->callback([a] { run_peer_bench(*a); });
}

}  // namespace sparq::cli
