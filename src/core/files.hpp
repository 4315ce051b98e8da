#pragma once
// Checks on the files of a model directory before they are opened.
#include <filesystem>
#include <string>

#include "sparq/error.hpp"

namespace sparq {

// Throws sparq::Error "PATH: not a regular file" when PATH exists but is a FIFO, a device, a
// socket or a directory: opening a FIFO for reading waits for a writer, which would hang the
// command. A missing path passes (the caller reports it in its own words).
inline void require_regular_file(const std::string& path) {
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);  // follows symlinks
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
        throw Error(path + ": not a regular file");
}

}  // namespace sparq
