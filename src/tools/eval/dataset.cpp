#include "tools/eval/dataset.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "sparq/error.hpp"

namespace sparq::tools::eval {

namespace {

// Layout of a named format: columns by header name (header formats) or index.
struct Spec {
    bool header = false;
    size_t columns = 0;    // exact column count of headerless files (0: from the first line)
    bool extra_ok = false; // more columns than `columns` are allowed (STS-B's trailing fields)
    std::string text, pair, label;
};

Spec spec_of(const std::string& format) {
    if (format == "sst2") return {true, 0, false, "sentence", "", "label"};
    if (format == "cola") return {false, 4, false, "3", "", "1"};
    if (format == "mrpc") return {true, 0, false, "#1 String", "#2 String", "Quality"};
    if (format == "rte") return {true, 0, false, "sentence1", "sentence2", "label"};
    if (format == "stsb") return {false, 7, true, "5", "6", "4"};
    if (format == "sms") return {false, 2, false, "1", "", "0"};
    return {true, 0, false, "", "", ""};  // tsv
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool valid_utf8(const std::string& s, size_t* bad_byte) {
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size()), pos = 0;
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + pos, left, &cp);
        if (n < 0) {
            *bad_byte = static_cast<size_t>(pos) + 1;
            return false;
        }
        pos += n;
        left -= n;
    }
    return true;
}

std::string latin1_to_utf8(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t tab = line.find('\t', start);
        out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) return out;
        start = tab + 1;
    }
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Column index of `col` (an index or a header name); -1 for an empty `col`.
int64_t resolve_column(const std::string& col, const std::vector<std::string>& header, size_t ncols,
                       const std::string& what, const std::string& where) {
    if (col.empty()) return -1;
    if (all_digits(col)) {
        size_t i = std::stoul(col);
        if (i >= ncols)
            throw Error(where + ": " + what + " column " + col + " does not exist (the file has " +
                        std::to_string(ncols) + " columns, numbered from 0)");
        return static_cast<int64_t>(i);
    }
    if (header.empty())
        throw Error(where + ": " + what + " column '" + col +
                    "' is a name, but the file has no header (give a 0-based index or --header)");
    for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == col) return static_cast<int64_t>(i);
    for (size_t i = 0; i < header.size(); ++i)
        if (lower(header[i]) == lower(col)) return static_cast<int64_t>(i);
    std::string names;
    for (const auto& h : header) names += (names.empty() ? "'" : ", '") + h + "'";
    throw Error(where + ": no " + what + " column named '" + col + "' in the header (found " + names + ")");
}

std::string first_present(const std::vector<std::string>& header, std::initializer_list<const char*> names) {
    for (const char* n : names)
        for (const auto& h : header)
            if (lower(h) == n) return h;
    return "";
}

}  // namespace

const std::vector<std::string>& format_names() {
    static const std::vector<std::string> names = {"sst2", "cola", "mrpc", "rte",  "stsb",
                                                   "trec", "trec-fine", "sms", "tsv"};
    return names;
}

std::string detect_format(const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path p(path);
    const std::string name = lower(p.filename().string());
    const std::string dir = lower(p.parent_path().filename().string());
    const std::string grand = lower(p.parent_path().parent_path().filename().string());
    if (name.rfind("msr_paraphrase", 0) == 0) return "mrpc";
    if (name.rfind("sts-", 0) == 0) return "stsb";
    if (name.size() > 6 && name.substr(name.size() - 6) == ".label") return "trec";
    if (name.rfind("smsspamcollection", 0) == 0) return "sms";
    if (name.find("in_domain_") == 0 || name.find("out_of_domain_") == 0) return "cola";
    for (const std::string& d : {dir, grand}) {
        if (d == "sst2" || d == "sst-2") return "sst2";
        if (d == "cola") return "cola";
        if (d == "mrpc") return "mrpc";
        if (d == "rte") return "rte";
        if (d == "stsb" || d == "sts-b") return "stsb";
        if (d == "trec") return "trec";
        if (d == "sms_spam" || d == "sms") return "sms";
    }
    return "tsv";
}

Dataset read_dataset(const std::string& path, const ReadOptions& opts) {
    namespace fs = std::filesystem;
    Dataset ds;
    ds.path = path;
    ds.format = opts.format.empty() ? detect_format(path) : opts.format;
    const auto& names = format_names();
    if (std::find(names.begin(), names.end(), ds.format) == names.end()) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throw Error("unknown dataset format '" + ds.format + "' (expected one of " + list + ")");
    }
    if (!fs::exists(path)) throw Error("dataset file '" + path + "' does not exist");
    if (fs::is_directory(path)) throw Error("dataset path '" + path + "' is a directory, expected a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open dataset file '" + path + "'");

    const bool trec = ds.format == "trec" || ds.format == "trec-fine";
    Spec spec = spec_of(ds.format);
    if (opts.header) spec.header = *opts.header;
    if (!opts.text_col.empty()) spec.text = opts.text_col;
    if (!opts.pair_col.empty()) spec.pair = opts.pair_col;
    if (!opts.label_col.empty()) spec.label = opts.label_col;

    std::vector<std::string> header;
    int64_t text_i = -1, pair_i = -1, label_i = -1;
    size_t ncols = 0;
    bool resolved = false;
    std::string line;
    for (int64_t no = 1; std::getline(in, line); ++no) {
        if (opts.limit && ds.examples.size() >= opts.limit) break;
        const std::string where = path + ":" + std::to_string(no);
        if (no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        size_t bad = 0;
        if (!valid_utf8(line, &bad)) {
            if (!trec)
                throw Error(where + ": invalid UTF-8 at byte " + std::to_string(bad) + " (expected UTF-8 text)");
            line = latin1_to_utf8(line);  // the original TREC files are ISO-8859-1
        }
        if (line.empty()) continue;
        if (trec) {
            const size_t sp = line.find(' ');
            const std::string tag = line.substr(0, sp);
            const size_t colon = tag.find(':');
            if (sp == std::string::npos || colon == std::string::npos || colon == 0)
                throw Error(where + ": expected 'COARSE:fine question', found '" + line.substr(0, 40) + "'");
            Example e;
            e.label = ds.format == "trec" ? tag.substr(0, colon) : tag;
            e.text = line.substr(sp + 1);
            e.line = no;
            ds.examples.push_back(std::move(e));
            continue;
        }
        std::vector<std::string> cols = split_tabs(line);
        if (!resolved) {
            resolved = true;
            if (ds.format == "stsb" && !opts.header && !cols.empty() && cols[0] == "index") {
                // GLUE's STS-B/dev.tsv: header "index ... sentence1 sentence2 score"
                spec = {true, 0, true, "sentence1", "sentence2", "score"};
                if (!opts.text_col.empty()) spec.text = opts.text_col;
                if (!opts.pair_col.empty()) spec.pair = opts.pair_col;
                if (!opts.label_col.empty()) spec.label = opts.label_col;
            }
            ncols = spec.columns ? spec.columns : cols.size();
            if (spec.header) {
                header = cols;
                ncols = cols.size();
            }
            if (ds.format == "tsv") {
                if (spec.text.empty()) spec.text = header.empty() ? "0" : first_present(header, {"sentence", "text", "sentence1"});
                if (spec.text.empty()) spec.text = "0";
                if (spec.pair.empty() && !header.empty() && lower(spec.text) == "sentence1")
                    spec.pair = first_present(header, {"sentence2"});
                if (spec.label.empty() && !header.empty()) spec.label = first_present(header, {"label", "score"});
                if (spec.label.empty()) spec.label = std::to_string(ncols - 1);
            }
            text_i = resolve_column(spec.text, header, ncols, "text", where);
            pair_i = resolve_column(spec.pair, header, ncols, "pair", where);
            label_i = resolve_column(spec.label, header, ncols, "label", where);
            if (spec.header) continue;
        }
        if (cols.size() != ncols && !(spec.extra_ok && cols.size() > ncols))
            throw Error(where + ": expected " + std::to_string(ncols) + (spec.extra_ok ? " or more" : "") +
                        " tab-separated columns, found " + std::to_string(cols.size()));
        Example e;
        e.text = cols[text_i];
        if (pair_i >= 0) e.pair = cols[pair_i];
        e.label = cols[label_i];
        while (!e.label.empty() && std::isspace(static_cast<unsigned char>(e.label.back()))) e.label.pop_back();
        while (!e.label.empty() && std::isspace(static_cast<unsigned char>(e.label.front()))) e.label.erase(0, 1);
        e.line = no;
        if (e.label.empty()) throw Error(where + ": empty label (column " + std::to_string(label_i) + ")");
        ds.examples.push_back(std::move(e));
    }
    if (in.bad()) throw Error("error reading dataset file '" + path + "'");
    if (ds.examples.empty()) throw Error("dataset file '" + path + "' has no examples (format " + ds.format + ")");
    return ds;
}

}  // namespace sparq::tools::eval
