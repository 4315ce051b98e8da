#include "common.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/threading.hpp"
#include "sparq/error.hpp"

namespace sparq::cli {

void check_utf8(const std::string& s, const std::string& where) {
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size()), pos = 0;
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + pos, left, &cp);
        if (n < 0)
            throw Error(where + ": invalid UTF-8 at byte " + std::to_string(pos + 1) +
                        " (expected UTF-8 text)");
        pos += n;
        left -= n;
    }
}

namespace {
std::vector<std::string> read_lines(std::istream& in, const std::string& source) {
    std::vector<std::string> out;
    std::string line;
    for (size_t no = 1; std::getline(in, line); ++no) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        check_utf8(line, source + " line " + std::to_string(no));
        out.push_back(std::move(line));
    }
    return out;
}
}  // namespace

std::vector<std::string>& trailing_texts() {
    static std::vector<std::string> t;
    return t;
}

void add_texts_option(CLI::App* sub, std::vector<std::string>& texts, const std::string& help) {
    sub->add_option("texts", texts, help)->allow_extra_args(false);
    sub->allow_extras();
    sub->parse_complete_callback([sub, &texts] {
        for (const std::string& r : sub->remaining()) {
            const bool number =
                r.size() > 1 && (std::isdigit(static_cast<unsigned char>(r[1])) || r[1] == '.');
            if (r.size() > 1 && r[0] == '-' && !number) throw CLI::ExtrasError({r});
            texts.push_back(r);
        }
        for (std::string& t : trailing_texts()) texts.push_back(std::move(t));
        trailing_texts().clear();
    });
}

std::vector<std::string> read_texts(const std::vector<std::string>& args, const std::string& file) {
    if (!args.empty() && !file.empty())
        throw UsageError("give texts as arguments or --file, not both");
    if (!args.empty()) {
        for (size_t i = 0; i < args.size(); ++i)
            check_utf8(args[i], "argument " + std::to_string(i + 1));
        return args;
    }
    if (!file.empty()) {
        std::error_code ec;
        if (std::filesystem::is_directory(file, ec))
            throw Error("input file '" + file + "' is a directory, expected a text file");
        std::ifstream in(file, std::ios::binary);
        if (!in) throw Error("cannot open input file '" + file + "'");
        auto lines = read_lines(in, file);
        if (in.bad()) throw Error("cannot read input file '" + file + "'");
        return lines;
    }
    struct stat st {};
    if (::fstat(STDIN_FILENO, &st) == 0 && S_ISDIR(st.st_mode))
        throw Error("stdin is a directory, expected text (give texts as arguments, --file or a pipe)");
    auto lines = read_lines(std::cin, "stdin");
    if (std::cin.bad()) throw Error("cannot read stdin");
    return lines;
}

namespace {
// The progress bar currently drawn on stderr (null if none): cleared before stdout lines so a
// terminal showing both stays readable.
Progress* g_progress = nullptr;
}  // namespace

void print_json_line(const nlohmann::ordered_json& j) {
    static const bool stdout_tty = ::isatty(STDOUT_FILENO);
    if (g_progress && stdout_tty) g_progress->clear();
    std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    std::cout.flush();
}

void setup_threads(int n) { set_num_threads(n); }

void require_model_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    if (!fs::exists(dir)) throw Error("model directory '" + dir + "' does not exist");
    if (!fs::is_directory(dir)) throw Error("model path '" + dir + "' is not a directory");
}

LoadOptions load_options(int threads, const std::string& kernels, const std::string& precision,
                         const std::string& attention) {
    LoadOptions lo;
    lo.threads = threads;
    lo.kernels = kernels;
    lo.precision = precision;
    lo.attention = attention;
    return lo;
}

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& opts) {
    require_model_dir(dir);
    return Model::load(dir, opts);
}

const Tokenizer& require_tokenizer(const Model& m, const std::string& dir) {
    const Tokenizer* t = m.tokenizer();
    if (!t)
        throw Error("model directory '" + dir +
                    "' has no tokenizer (expected vocab.txt, tokenizer.json or vocab.json + merges.txt)");
    return *t;
}

Progress::Progress(std::string label, int64_t total, int64_t min_total)
    : label_(std::move(label)), total_(total), on_(total >= min_total && ::isatty(STDERR_FILENO)) {
    if (on_) {
        g_progress = this;
        draw();
    }
}

Progress::~Progress() {
    if (on_) {
        clear();
        g_progress = nullptr;
    }
}

void Progress::clear() {
    if (!on_) return;  // never drawn: nothing to erase (and stderr may be a file)
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    last_permille_ = -1;
}

void Progress::advance(int64_t n) {
    done_ += n;
    if (on_) draw();
}

void Progress::draw() {
    int permille = total_ ? static_cast<int>(1000 * done_ / total_) : 1000;
    if (permille == last_permille_) return;
    last_permille_ = permille;
    const int width = 30, filled = permille * width / 1000;
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_));
    std::fflush(stderr);
}

void add_attention_option(CLI::App* sub, std::string& attention, const std::string& name) {
    sub->add_option(name, attention,
                    "Attention matmuls: auto | f32 | int8 (auto: int8 with --precision int8 or a "
                    "quantized model, on AVX512-VNNI)")
        ->check(CLI::IsMember({"auto", "f32", "int8"}));
}

void add_kernel_options(CLI::App* sub, std::string& kernels, std::string& precision,
                        std::string& attention) {
    sub->add_option("--kernels", kernels, "auto | dense | sparse")
        ->check(CLI::IsMember({"auto", "dense", "sparse"}));
    sub->add_option("--precision", precision, "f32 | int8")->check(CLI::IsMember({"f32", "int8"}));
    add_attention_option(sub, attention);
}

CLI::Validator number_range(double lo, double hi, bool lo_open) {
    std::ostringstream os;
    if (lo_open)
        os << "above " << lo << ", up to " << hi;
    else
        os << lo << " to " << hi;
    const std::string range = os.str();
    return CLI::Validator(
        [lo, hi, lo_open, range](std::string& s) -> std::string {
            double v = 0;
            if (!CLI::detail::lexical_cast(s, v)) return "Value " + s + " is not a number";
            if (!((lo_open ? v > lo : v >= lo) && v <= hi))
                return "Value " + s + " not in range " + range;
            return {};
        },
        "NUMBER:[" + range + "]");
}

void add_batch_options(CLI::App* sub, size_t& batch_size, size_t& max_length) {
    sub->add_option("--batch-size", batch_size, "Texts per packed batch (default 32)")
        ->check(CLI::Range(size_t(1), size_t(1) << 20));
    sub->add_option("--max-length", max_length, "Truncate to N tokens (default: the model's maximum)")
        ->check(CLI::Range(size_t(2), size_t(1) << 20));
}

void add_threads_option(CLI::App* sub, int& threads) {
    sub->add_option("--threads", threads,
                    "Threads to compute with (default: OMP_NUM_THREADS, else one per physical core "
                    "this process may use, within its cgroup CPU quota)")
        ->check(CLI::Range(1, 4096));
}

}  // namespace sparq::cli
