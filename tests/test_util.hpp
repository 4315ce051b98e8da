#pragma once
// Locations of test inputs: committed fixtures under tests/fixtures, and the shared real data
// (../shared/data beside the repository root, or $SPARQ_SHARED_DATA).
#include <cstdlib>
#include <filesystem>
#include <string>

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

}  // namespace sparq::test

// Skips the current test with a visible message when the shared data folder is absent.
#define SPARQ_REQUIRE_SHARED_DATA(var)                                                      \
    const std::filesystem::path var = ::sparq::test::shared_data_dir();                     \
    if (var.empty())                                                                        \
    GTEST_SKIP() << "shared data not found (set SPARQ_SHARED_DATA or place ../shared/data " \
                    "beside the repository)"
