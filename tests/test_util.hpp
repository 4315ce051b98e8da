#pragma once
// Locations of test inputs: committed fixtures under tests/fixtures, and the shared real data
// (../shared/data beside the repository root, or $SPARQ_SHARED_DATA); small helpers the test
// suites share.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "kernels/linear.hpp"
#include "sparq/error.hpp"

namespace sparq::test {

inline std::filesystem::path source_dir() {
    if (const char* env = std::getenv("SPARQ_SOURCE_DIR"); env && *env) return env;
#ifdef SPARQ_SOURCE_DIR
    return SPARQ_SOURCE_DIR;
#else
    return std::filesystem::current_path();
#endif
}

inline std::filesystem::path fixtures_dir() { return source_dir() / "tests" / "fixtures"; }

// Empty path if the shared data folder is absent (a user's fresh clone): tests then GTEST_SKIP.
inline std::filesystem::path shared_data_dir() {
    std::filesystem::path p;
    if (const char* env = std::getenv("SPARQ_SHARED_DATA"); env && *env)
        p = env;
    else
        p = source_dir().parent_path() / "shared" / "data";
    return std::filesystem::is_directory(p) ? p : std::filesystem::path();
}

// A fresh directory under the system temp dir, removed when the test ends.
class TempDir {
  public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("sparq_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::string dir() const { return path_.string(); }
    // Writes `content` to the file `name` in the directory; returns its path.
    std::string write(const std::string& name, const std::string& content) const {
        std::ofstream(path_ / name, std::ios::binary) << content;
        return (path_ / name).string();
    }

  private:
    std::filesystem::path path_;
};

// n values drawn from N(mean, sd²) with a fixed seed.
inline std::vector<float> normal_vector(size_t n, uint32_t seed, float sd = 1.0f,
                                        float mean = 0.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

// "[a, b, c]", for failure messages.
template <class T>
std::string show(const std::vector<T>& v) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    os << ']';
    return os.str();
}

// An activation's name, for failure messages.
inline const char* act_name(Activation act) {
    switch (act) {
        case Activation::none:
            return "none";
        case Activation::gelu:
            return "gelu";
        case Activation::gelu_tanh:
            return "gelu_tanh";
    }
    return "?";
}

// The exact activations in double (the definitions of Activation), for accuracy tests.
inline double gelu_erf_exact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
inline double gelu_tanh_exact(double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

// The sparq::Error message of f, or "<no sparq::Error>" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const sparq::Error& e) {
        return e.what();
    }
    return "<no sparq::Error>";
}

}  // namespace sparq::test

// Skips the current test with a visible message when the shared data folder is absent.
#define SPARQ_REQUIRE_SHARED_DATA(var)                                                      \
    const std::filesystem::path var = ::sparq::test::shared_data_dir();                     \
    if (var.empty())                                                                        \
    GTEST_SKIP() << "shared data not found (set SPARQ_SHARED_DATA or place ../shared/data " \
                    "beside the repository)"
