#include "tools/prune.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/files.hpp"
#include "model/weights.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "tools/matrix_stats.hpp"
#include "tools/st_file.hpp"

namespace fs = std::filesystem;

namespace sparq::tools {

PruneScope parse_prune_scope(const std::string& s) {
    if (s == "per-matrix") return PruneScope::per_matrix;
    if (s == "global") return PruneScope::global;
    throw Error("unknown pruning scope '" + s + "' (expected per-matrix or global)");
}

PrunePattern parse_prune_pattern(const std::string& s) {
    if (s == "unstructured") return PrunePattern::unstructured;
    if (s == "1x4") return PrunePattern::block_1x4;
    if (s == "4x1") return PrunePattern::block_4x1;
    throw Error("unknown pruning pattern '" + s + "' (expected unstructured, 1x4 or 4x1)");
}

std::vector<uint8_t> smallest_units(const std::vector<float>& scores, int64_t n_prune) {
    const int64_t n = static_cast<int64_t>(scores.size());
    std::vector<uint8_t> keep(scores.size(), 1);
    n_prune = std::clamp<int64_t>(n_prune, 0, n);
    if (n_prune == 0) return keep;
    // Threshold = n_prune-th smallest score; prune everything below it, then ties in index order.
    std::vector<float> sorted(scores);
    std::nth_element(sorted.begin(), sorted.begin() + (n_prune - 1), sorted.end());
    const float thr = sorted[n_prune - 1];
    int64_t pruned = 0;
    for (int64_t i = 0; i < n; ++i)
        if (scores[i] < thr) {
            keep[i] = 0;
            ++pruned;
        }
    for (int64_t i = 0; i < n && pruned < n_prune; ++i)
        if (scores[i] == thr) {
            keep[i] = 0;
            ++pruned;
        }
    return keep;
}

std::vector<float> unit_scores(const float* w, int64_t rows, int64_t cols, PrunePattern p) {
    std::vector<float> s;
    if (p == PrunePattern::unstructured) {
        s.resize(rows * cols);
        for (int64_t i = 0; i < rows * cols; ++i) s[i] = std::fabs(w[i]);
    } else if (p == PrunePattern::block_1x4) {
        s.resize(rows * (cols / 4));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t b = 0; b < cols / 4; ++b) {
                const float* q = w + r * cols + 4 * b;
                s[r * (cols / 4) + b] =
                    std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
            }
    } else {
        s.resize((rows / 4) * cols);
        for (int64_t b = 0; b < rows / 4; ++b)
            for (int64_t c = 0; c < cols; ++c) {
                const float* q = w + 4 * b * cols + c;
                float a = q[0], e = q[cols], f = q[2 * cols], g = q[3 * cols];
                s[b * cols + c] = std::sqrt(a * a + e * e + f * f + g * g);
            }
    }
    return s;
}

namespace {

// Zeroes the elements of matrix `e` belonging to pruned units (+0 is all-zero bits in F32, F16
// and BF16).
void apply_units(StFile& file, const StEntry& e, int64_t rows, int64_t cols, PrunePattern p,
                 const uint8_t* keep) {
    uint8_t* base = file.data(e);
    const size_t es = dtype_size(e.dtype);
    auto zero = [&](int64_t i) { std::memset(base + static_cast<size_t>(i) * es, 0, es); };
    if (p == PrunePattern::unstructured) {
        for (int64_t i = 0; i < rows * cols; ++i)
            if (!keep[i]) zero(i);
    } else if (p == PrunePattern::block_1x4) {
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t b = 0; b < cols / 4; ++b)
                if (!keep[r * (cols / 4) + b])
                    for (int64_t j = 0; j < 4; ++j) zero(r * cols + 4 * b + j);
    } else {
        for (int64_t b = 0; b < rows / 4; ++b)
            for (int64_t c = 0; c < cols; ++c)
                if (!keep[b * cols + c])
                    for (int64_t j = 0; j < 4; ++j) zero((4 * b + j) * cols + c);
    }
}

int64_t count_zeros(const std::vector<float>& w) { return std::count(w.begin(), w.end(), 0.0f); }

}  // namespace

std::string override_regex_error(const std::string& re) {
    const RE2 r(re, RE2::Quiet);
    return r.ok() ? ""
                  : "override '" + re + "' is not a valid regular expression (" + r.error() + ")";
}

PruneReport prune_tensors(StFile& file, const PruneOptions& opts) {
    if (!(opts.sparsity >= 0.0 && opts.sparsity <= 1.0))
        throw Error("sparsity must be in [0, 1], got " + std::to_string(opts.sparsity));
    std::vector<std::unique_ptr<RE2>> override_re;
    for (auto& [re, s] : opts.overrides) {
        if (!(s >= 0.0 && s <= 1.0))
            throw Error("override '" + re + "': sparsity must be in [0, 1], got " +
                        std::to_string(s));
        override_re.push_back(std::make_unique<RE2>(re, RE2::Quiet));  // compiled once
        if (!override_re.back()->ok()) throw Error(override_regex_error(re));
    }
    std::vector<int> override_hits(opts.overrides.size(), 0);

    struct Item {
        const StEntry* entry;
        int64_t rows, cols;
        double target;
        bool global;
        std::vector<float> values;
    };
    std::vector<Item> items;
    for (const StEntry& e : file.tensors) {
        bool selected = is_encoder_linear_weight(e.name) ||
                        (opts.include_embeddings && is_embedding_weight(e.name)) ||
                        (opts.include_heads && is_head_weight(e.name));
        if (!selected) continue;
        if (e.shape.size() != 2)
            throw Error("tensor '" + e.name + "' has " + std::to_string(e.shape.size()) +
                        " dimensions, expected a 2-D weight");
        if (!e.is_float())
            throw Error("tensor '" + e.name + "' has dtype " + e.dtype +
                        ", expected F32, F16 or BF16");
        Item it{&e, e.shape[0], e.shape[1], opts.sparsity, opts.scope == PruneScope::global, {}};
        if (opts.pattern == PrunePattern::block_1x4 && it.cols % 4)
            throw Error("tensor '" + e.name + "' has " + std::to_string(it.cols) +
                        " columns, 1x4 blocks need a multiple of 4");
        if (opts.pattern == PrunePattern::block_4x1 && it.rows % 4)
            throw Error("tensor '" + e.name + "' has " + std::to_string(it.rows) +
                        " rows, 4x1 blocks need a multiple of 4");
        for (size_t k = 0; k < override_re.size(); ++k)
            if (RE2::PartialMatch(e.name, *override_re[k])) {
                it.target = opts.overrides[k].second;
                it.global = false;
                ++override_hits[k];
                break;
            }
        if (it.rows == 0 || it.cols == 0)
            throw Error("tensor '" + e.name + "' has shape [" + std::to_string(it.rows) + ", " +
                        std::to_string(it.cols) + "], expected a non-empty 2-D weight");
        it.values = file.to_f32(e);
        // Magnitude ranking is meaningless with NaN (and inf would survive any sparsity).
        for (size_t i = 0; i < it.values.size(); ++i)
            if (!std::isfinite(it.values[i]))
                throw Error("tensor '" + e.name + "': value " + std::to_string(it.values[i]) +
                            " at flat index " + std::to_string(i) + " is not finite");
        items.push_back(std::move(it));
    }
    if (items.empty())
        throw Error(
            "no encoder linear weights found (expected names like "
            "'encoder.layer.0.attention.self.query.weight')");
    for (size_t k = 0; k < override_hits.size(); ++k)
        if (!override_hits[k])
            throw Error("override '" + opts.overrides[k].first + "' matches none of the " +
                        std::to_string(items.size()) + " weights selected for pruning");

    PruneReport rep;
    auto record = [&](const Item& it, int64_t zeros_before) {
        std::vector<float> now = file.to_f32(*it.entry);
        PrunedMatrix m;
        m.name = it.entry->name;
        m.dtype = it.entry->dtype;
        m.rows = it.rows;
        m.cols = it.cols;
        m.target = it.target;
        m.global = it.global;
        const double n = double(it.rows * it.cols);
        m.before = zeros_before / n;
        m.zeros_after = count_zeros(now);
        m.after = m.zeros_after / n;
        rep.total += it.rows * it.cols;
        rep.zeros_before += zeros_before;
        rep.zeros_after += m.zeros_after;
        rep.matrices.push_back(m);
    };

    // Global pool: all selected, non-overridden matrices ranked together by raw unit score.
    std::vector<float> pool;
    std::vector<size_t> pool_begin;
    for (auto& it : items)
        if (it.global) {
            pool_begin.push_back(pool.size());
            auto s = unit_scores(it.values.data(), it.rows, it.cols, opts.pattern);
            pool.insert(pool.end(), s.begin(), s.end());
        }
    std::vector<uint8_t> pool_keep;
    if (!pool.empty())
        pool_keep = smallest_units(pool, std::llround(opts.sparsity * double(pool.size())));

    size_t g = 0;
    for (auto& it : items) {
        int64_t zeros_before = count_zeros(it.values);
        if (it.global) {
            apply_units(file, *it.entry, it.rows, it.cols, opts.pattern,
                        pool_keep.data() + pool_begin[g++]);
        } else {
            auto s = unit_scores(it.values.data(), it.rows, it.cols, opts.pattern);
            auto keep = smallest_units(s, std::llround(it.target * double(s.size())));
            apply_units(file, *it.entry, it.rows, it.cols, opts.pattern, keep.data());
        }
        record(it, zeros_before);
    }
    return rep;
}

PruneReport prune_model_dir(const std::string& given_dir, const std::string& out_dir,
                            const PruneOptions& opts) {
    if (!fs::is_directory(given_dir))
        throw Error("model directory '" + given_dir + "' " +
                    (fs::exists(given_dir) ? "is not a directory" : "does not exist"));
    // A sentence-transformers directory in the older layout keeps its model in a subfolder.
    const std::string model_dir = SentenceEmbeddingConfig::model_dir(given_dir);
    const fs::path src(model_dir), dst(out_dir);
    const fs::path st = weights_file(src.string());  // model.safetensors or pytorch_model.bin
    require_regular_file((src / "config.json").string());
    if (!fs::is_regular_file(src / "config.json"))
        throw Error("'" + (src / "config.json").string() + "' not found");
    std::error_code ec;
    if (fs::exists(dst) && fs::equivalent(src, dst, ec))
        throw Error("output directory '" + out_dir +
                    "' is the model directory; choose another one");
    if (fs::exists(dst)) {
        if (!fs::is_directory(dst))
            throw Error("output '" + out_dir + "' exists and is not a directory");
        if (!fs::is_empty(dst) && !opts.force)
            throw Error("output directory '" + out_dir +
                        "' is not empty (use --force to overwrite)");
    }
    StFile file = StFile::read_weights(st.string());  // a .bin re-encoded as safetensors
    PruneReport rep = prune_tensors(file, opts);      // validates the pruned tensors
    {
        // The source must load as a model (config.json, every tensor it needs with its shape):
        // else a pruned copy sparq cannot run would be written and reported as fine.
        const ModelConfig cfg = ModelConfig::from_file((src / "config.json").string());
        (void)load_bert_weights(model_dir, cfg);
    }
    if (opts.force) clear_model_files(dst.string());  // no stale tokenizer or pooling mixed in
    fs::create_directories(dst);
    file.write((dst / "model.safetensors").string());
    copy_model_side_files(given_dir, dst.string());
    return rep;
}

}  // namespace sparq::tools
