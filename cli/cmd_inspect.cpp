// sparq inspect MODEL [--plan] [--json]
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common.hpp"
#include "model/safetensors.hpp"
#include "model/weights.hpp"
#include "sparq/error.hpp"
#include "sparq/tokenizer.hpp"
#include "tools/matrix_stats.hpp"

namespace sparq::cli {

namespace {
struct InspectArgs {
    std::string model, kernels = "auto", precision = "f32", attention = "auto";
    bool plan = false, json = false;
    int threads = 0;
};

std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

std::string with_commas(int64_t n) {
    std::string s = std::to_string(n), r;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) r += ',';
        r += s[i];
    }
    return r;
}

void run_inspect(const InspectArgs& a) {
    namespace fs = std::filesystem;
    require_model_dir(a.model);
    const std::string dir = SentenceEmbeddingConfig::model_dir(a.model);  // ST: 0_Transformer/
    ModelConfig cfg = ModelConfig::from_file((fs::path(dir) / "config.json").string());
    const std::string st = weights_file(dir);  // model.safetensors or pytorch_model.bin
    // Validates every tensor the config needs (names, shapes), as loading would.
    (void)load_bert_weights(dir, cfg);
    SafeTensorsFile file(st);

    int64_t total = 0, enc_total = 0, enc_zeros = 0;
    std::map<std::string, int64_t> dtypes;
    nlohmann::ordered_json mats = nlohmann::ordered_json::array();
    struct Row {
        const TensorInfo* e;
        std::string dtype;
        tools::MatrixStats s;
        bool encoder;
    };
    std::vector<Row> rows;
    for (const auto& e : file.tensors()) {
        total += e.numel();
        dtypes[dtype_name(e.dtype)] += e.numel();
        if (e.shape.size() != 2) continue;
        bool enc = tools::is_encoder_linear_weight(e.name);
        // int8 (I8) encoder weights of a quantized directory count too: a zero stays zero.
        const bool i8 = enc && e.dtype == DType::i8;
        if (!dtype_is_float(e.dtype) && !i8) continue;
        if (!enc && !tools::is_head_weight(e.name) && !tools::is_embedding_weight(e.name)) continue;
        std::vector<float> w;
        if (i8) {
            const auto q = file.bytes(e);
            w.resize(q.size());
            for (size_t i = 0; i < q.size(); ++i) w[i] = static_cast<float>(static_cast<int8_t>(q[i]));
        } else {
            w = file.read_f32(e);
        }
        Row r{&e, dtype_name(e.dtype), tools::matrix_stats(w.data(), e.shape[0], e.shape[1]), enc};
        if (enc) {
            enc_total += e.numel();
            enc_zeros += r.s.zeros;
        }
        rows.push_back(r);
    }
    std::sort(rows.begin(), rows.end(),
              [](const Row& x, const Row& y) { return x.e->name < y.e->name; });
    // The tokenizer as loading reads it: the loaded model's with --plan, else read here (a broken
    // one is reported, not fatal).
    std::string plan, tokenizer = "(none: the model takes token ids)";
    if (a.plan) {
        setup_threads(a.threads);
        const LoadOptions lo = load_options(a.threads, a.kernels, a.precision, a.attention);
        const auto model = load_model(a.model, lo);
        plan = model->plan_report();
        while (!plan.empty() && plan.back() == '\n') plan.pop_back();
        if (const Tokenizer* tok = model->tokenizer()) tokenizer = tok->description();
    } else if (Tokenizer::files_exist(dir)) {
        try {
            tokenizer = Tokenizer::from_dir(dir).description();
        } catch (const Error& e) {
            tokenizer = std::string("not loadable: ") + e.what();
        }
    }
    const std::string arch = cfg.architectures.empty() ? "(none)" : cfg.architectures.front();
    const double enc_sparsity = enc_total ? double(enc_zeros) / enc_total : 0.0;

    if (a.json) {
        nlohmann::ordered_json j;
        j["model"] = a.model;
        j["model_type"] = cfg.model_type;
        j["architecture"] = arch;
        j["task"] = task_name(cfg.task);
        j["layers"] = cfg.num_layers;
        j["hidden"] = cfg.hidden_size;
        j["heads"] = cfg.num_heads;
        j["intermediate"] = cfg.intermediate_size;
        j["vocab_size"] = cfg.vocab_size;
        j["max_position_embeddings"] = cfg.max_position_embeddings;
        j["tokenizer"] = tokenizer;
        if (cfg.task == Task::sequence_classification || cfg.task == Task::token_classification) {
            nlohmann::ordered_json labels = nlohmann::ordered_json::array();
            for (int64_t i = 0; i < cfg.num_labels; ++i) labels.push_back(cfg.label(i));
            j["labels"] = labels;
        }
        j["dtypes"] = dtypes;
        j["parameters"] = {{"total", total}, {"encoder_linear_weights", enc_total}};
        j["encoder_sparsity"] = enc_sparsity;
        for (auto& r : rows)
            mats.push_back({{"name", r.e->name},
                            {"shape", r.e->shape},
                            {"dtype", r.dtype},
                            {"encoder_linear", r.encoder},
                            {"zeros", r.s.zeros},
                            {"sparsity", r.s.sparsity()},
                            {"blocks_1x4", r.s.blocks_1x4},
                            {"zero_blocks_1x4", r.s.zero_blocks_1x4},
                            {"blocks_4x1", r.s.blocks_4x1},
                            {"zero_blocks_4x1", r.s.zero_blocks_4x1}});
        j["matrices"] = mats;
        if (a.plan) j["plan"] = plan;
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }
    std::printf("model         %s\n", a.model.c_str());
    std::printf("architecture  %s (%s, task: %s)\n", arch.c_str(), cfg.model_type.c_str(),
                task_name(cfg.task).c_str());
    std::printf(
        "shape         %lld layers, hidden %lld, %lld heads, intermediate %lld, vocab %lld, max "
        "positions %lld\n",
        (long long)cfg.num_layers, (long long)cfg.hidden_size, (long long)cfg.num_heads,
        (long long)cfg.intermediate_size, (long long)cfg.vocab_size,
        (long long)cfg.max_position_embeddings);
    std::printf("tokenizer     %s\n", tokenizer.c_str());
    if (cfg.task == Task::sequence_classification || cfg.task == Task::token_classification) {
        std::string labels;
        for (int64_t i = 0; i < cfg.num_labels; ++i) labels += (i ? ", " : "") + cfg.label(i);
        std::printf("labels        %s\n", labels.c_str());
    }
    std::string dt;
    for (auto& [k, v] : dtypes) dt += (dt.empty() ? "" : ", ") + k + " " + with_commas(v);
    std::printf("parameters    %s total (%s); encoder linear weights %s (%.1f%%)\n",
                with_commas(total).c_str(), dt.c_str(), with_commas(enc_total).c_str(),
                total ? 100.0 * enc_total / total : 0.0);
    std::printf("encoder sparsity  %.2f%% (%s of %s encoder linear weights are zero)\n\n",
                100 * enc_sparsity, with_commas(enc_zeros).c_str(), with_commas(enc_total).c_str());
    size_t w = 4;
    for (auto& r : rows) w = std::max(w, r.e->name.size());
    std::printf("%-*s  %-12s  %-5s  %9s  %16s  %16s\n", int(w), "name", "shape", "dtype",
                "sparsity", "zero 1x4 blocks", "zero 4x1 blocks");
    for (auto& r : rows)
        std::printf("%-*s  %-12s  %-5s  %8.2f%%  %15.2f%%  %15.2f%%\n", int(w), r.e->name.c_str(),
                    shape_str(r.e->shape).c_str(), r.dtype.c_str(), 100 * r.s.sparsity(),
                    100 * r.s.zero_block_share_1x4(), 100 * r.s.zero_block_share_4x1());
    std::printf(
        "(zero NxM blocks: share of the matrix's 1x4 / 4x1 blocks that are entirely zero;\n"
        " a matrix pruned with that pattern shows the same value as its sparsity)\n");
    if (a.plan) std::printf("\nkernel plan\n%s\n", plan.c_str());
}
}  // namespace

void add_inspect(CLI::App& app) {
    auto a = std::make_shared<InspectArgs>();
    auto* sub = app.add_subcommand(
        "inspect", "Architecture, parameter counts, per-matrix sparsity and kernel plan");
    sub->footer(
        "Describe a model: architecture, task, size, parameter counts and, per weight matrix,\n"
        "shape, sparsity and all-zero 1x4 / 4x1 block shares. --plan loads the model and adds the\n"
        "weight kernel chosen for every matrix and why.");
    sub->add_option("model", a->model, "Model directory")->required();
    sub->add_flag("--plan", a->plan, "Load the model and show the per-matrix kernel plan");
    sub->add_flag("--json", a->json, "Print one JSON object instead of tables");
    sub->add_option("--kernels", a->kernels, "Kernel choice for --plan: auto | dense | sparse")
        ->check(CLI::IsMember({"auto", "dense", "sparse"}));
    sub->add_option("--precision", a->precision, "Precision for --plan: f32 | int8")
        ->check(CLI::IsMember({"f32", "int8"}));
    add_attention_option(sub, a->attention);
    add_threads_option(sub, a->threads);
    sub->callback([a] { run_inspect(*a); });
}

}  // namespace sparq::cli
