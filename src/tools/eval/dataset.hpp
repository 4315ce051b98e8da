#pragma once
// Labelled evaluation sets read from their original files: GLUE TSVs (SST-2, CoLA, MRPC, RTE),
// the STS Benchmark release, TREC label files, the SMS Spam Collection and generic TSV.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sparq::tools::eval {

struct Example {
    std::string text;
    std::optional<std::string> pair;  // second segment of pair tasks
    std::string label;                // gold label as written in the file (name, id or score)
    int64_t line = 0;                 // 1-based line number in the file
};

struct Dataset {
    std::string path;
    std::string format;  // sst2 | cola | mrpc | rte | stsb | trec | trec-fine | sms | tsv
    std::vector<Example> examples;
    bool has_pair() const { return !examples.empty() && examples.front().pair.has_value(); }
};

// Columns and header of the generic "tsv" format (and overrides of the named formats). A column
// is a 0-based index ("3") or, when the file has a header, a header name ("sentence").
struct ReadOptions {
    std::string format;  // empty: detect_format(path)
    std::string text_col, pair_col, label_col;
    std::optional<bool> header;  // generic tsv default: true
    size_t limit = 0;            // keep the first N examples (0: all)
};

// The named formats, in the order `--format` lists them.
const std::vector<std::string>& format_names();

// Format guessed from the file name and its parent directory; "tsv" when nothing matches.
std::string detect_format(const std::string& path);

// Reads the examples; throws sparq::Error naming file:line for a line with the wrong number of
// columns, invalid UTF-8 or an empty label, and for a missing file or an empty dataset.
Dataset read_dataset(const std::string& path, const ReadOptions& opts = {});

}  // namespace sparq::tools::eval
