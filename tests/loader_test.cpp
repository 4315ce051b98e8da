// Model loading: config.json parsing, the safetensors reader/writer and load_bert_weights, on the
// committed fixtures (tests/fixtures, made by tools/make_fixtures.py) and on broken files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/safetensors.hpp"
#include "model/weights.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "sparq/tokenizer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace sparq {
namespace {

const char* const kFixtures[] = {"tiny_base", "tiny_cls",  "tiny_tok",   "tiny_qa",
                                 "tiny_f16",  "tiny_bf16", "tiny_sparse"};

fs::path fixture(const std::string& name) { return test::fixtures_dir() / name; }

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

json reference(const std::string& name) {
    return json::parse(read_file(fixture(name) / "reference.json"));
}

// The sparq::Error message thrown by f, or a test failure if it throws nothing (or another type).
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected sparq::Error";
    return "";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

class TempDir {
  public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = fs::temp_directory_path() /
                ("sparq_loader_" + std::to_string(::getpid()) + "_" + info->name());
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& s) const { return path_ / s; }

  private:
    fs::path path_;
};

// A safetensors file from a literal header and data (length prefix computed unless given).
std::string raw_safetensors(const std::string& header, const std::string& data,
                            std::optional<uint64_t> header_len = std::nullopt) {
    uint64_t n = header_len.value_or(header.size());
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return s + header + data;
}

// An editable in-memory copy of a safetensors file.
struct OwnedTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;
};

std::vector<OwnedTensor> read_all(const fs::path& p) {
    SafeTensorsFile f(p.string());
    std::vector<OwnedTensor> out;
    for (const auto& t : f.tensors()) {
        auto b = f.bytes(t);
        out.push_back({t.name, t.dtype, t.shape, {b.begin(), b.end()}});
    }
    return out;
}

void write_all(const fs::path& p, const std::vector<OwnedTensor>& ts,
               const std::map<std::string, std::string>& meta = {}) {
    std::vector<TensorToWrite> w;
    for (const auto& t : ts)
        w.push_back({t.name, t.dtype, t.shape, {t.bytes.data(), t.bytes.size()}});
    write_safetensors(p.string(), w, meta);
}

// Copies fixture `name` into dir, passing its tensors through `edit` (and config through edit_cfg).
void copy_fixture(const std::string& name, const fs::path& dir,
                  const std::function<void(std::vector<OwnedTensor>&)>& edit,
                  const std::function<void(json&)>& edit_cfg = nullptr) {
    auto ts = read_all(fixture(name) / "model.safetensors");
    if (edit) edit(ts);
    write_all(dir / "model.safetensors", ts);
    json cfg = json::parse(read_file(fixture(name) / "config.json"));
    if (edit_cfg) edit_cfg(cfg);
    write_file(dir / "config.json", cfg.dump(2));
}

OwnedTensor* find_tensor(std::vector<OwnedTensor>& ts, const std::string& name) {
    for (auto& t : ts)
        if (t.name == name) return &t;
    ADD_FAILURE() << "no tensor " << name;
    return nullptr;
}

void erase_tensor(std::vector<OwnedTensor>& ts, const std::string& name) {
    auto n = ts.size();
    std::erase_if(ts, [&](const OwnedTensor& t) { return t.name == name; });
    ASSERT_EQ(ts.size(), n - 1) << name;
}

BertWeights load_dir(const fs::path& dir) {
    ModelConfig cfg = ModelConfig::from_file((dir / "config.json").string());
    return load_bert_weights(dir.string(), cfg);
}

// ------------------------------------------------------------------------------------------------
// config.json

TEST(Config, FixturesParse) {
    for (const char* name : kFixtures) {
        SCOPED_TRACE(name);
        ModelConfig c = ModelConfig::from_file((fixture(name) / "config.json").string());
        EXPECT_EQ(c.model_type, "bert");
        EXPECT_EQ(c.vocab_size, 390);
        EXPECT_EQ(c.hidden_size, 32);
        EXPECT_EQ(c.num_layers, 2);
        EXPECT_EQ(c.num_heads, 4);
        EXPECT_EQ(c.intermediate_size, 64);
        EXPECT_EQ(c.max_position_embeddings, 128);
        EXPECT_EQ(c.type_vocab_size, 2);
        EXPECT_EQ(c.pad_token_id, 0);
        EXPECT_EQ(c.hidden_act, "gelu");
        EXPECT_EQ(c.architectures.size(), 1u);
    }
}

TEST(Config, TasksLabelsAndEps) {
    auto load = [](const char* n) {
        return ModelConfig::from_file((fixture(n) / "config.json").string());
    };
    ModelConfig base = load("tiny_base");
    EXPECT_EQ(base.task, Task::base);
    EXPECT_EQ(base.num_labels, 2);
    EXPECT_TRUE(base.id2label.empty());
    EXPECT_EQ(base.label(1), "LABEL_1");
    EXPECT_FLOAT_EQ(base.layer_norm_eps, 1e-12f);

    ModelConfig cls = load("tiny_cls");
    EXPECT_EQ(cls.task, Task::sequence_classification);
    EXPECT_EQ(cls.num_labels, 2);  // from id2label (the file has no num_labels key)
    EXPECT_EQ(cls.label(0), "negative");
    EXPECT_EQ(cls.label(1), "positive");
    EXPECT_EQ(cls.label(7), "LABEL_7");
    EXPECT_EQ(cls.problem_type, "single_label_classification");

    ModelConfig tok = load("tiny_tok");
    EXPECT_EQ(tok.task, Task::token_classification);
    EXPECT_EQ(tok.num_labels, 5);
    EXPECT_EQ(tok.label(3), "B-LOC");
    EXPECT_FLOAT_EQ(tok.layer_norm_eps, 1e-5f);

    EXPECT_EQ(load("tiny_qa").task, Task::question_answering);
    EXPECT_EQ(load("tiny_f16").task, Task::sequence_classification);
    EXPECT_EQ(load("tiny_bf16").task, Task::base);
}

class ConfigFile : public ::testing::Test {
  protected:
    // tiny_cls's config.json with `edit` applied, parsed.
    ModelConfig parse(const std::function<void(json&)>& edit) {
        json j = json::parse(read_file(fixture("tiny_cls") / "config.json"));
        edit(j);
        write_file(path(), j.dump());
        return ModelConfig::from_file(path());
    }
    std::string error(const std::function<void(json&)>& edit) {
        return error_of([&] { parse(edit); });
    }
    std::string path() const { return (dir_ / "config.json").string(); }
    TempDir dir_;
};

TEST_F(ConfigFile, NotJson) {
    write_file(path(), "{\"hidden_size\": 32,");
    std::string m = error_of([&] { ModelConfig::from_file(path()); });
    EXPECT_HAS(m, path());
    EXPECT_HAS(m, "not valid JSON");
    write_file(path(), "[1, 2]");
    EXPECT_HAS(error_of([&] { ModelConfig::from_file(path()); }), "expected a JSON object");
    EXPECT_HAS(error_of([&] { ModelConfig::from_file((dir_ / "absent.json").string()); }),
               "cannot open");
}

TEST_F(ConfigFile, MissingRequiredField) {
    for (const char* f : {"hidden_size", "vocab_size", "num_hidden_layers", "num_attention_heads",
                          "intermediate_size"}) {
        std::string m = error([&](json& j) { j.erase(f); });
        EXPECT_HAS(m, path());
        EXPECT_HAS(m, std::string("missing required field '") + f + "'");
    }
    std::string m = error([](json& j) { j["hidden_size"] = nullptr; });
    EXPECT_HAS(m, "missing required field 'hidden_size'");
}

TEST_F(ConfigFile, WrongTypes) {
    std::string m = error([](json& j) { j["hidden_size"] = "32"; });
    EXPECT_HAS(m, "field 'hidden_size' must be an integer, found string");
    m = error([](json& j) { j["num_hidden_layers"] = 2.5; });
    EXPECT_HAS(m, "field 'num_hidden_layers' must be an integer, found number 2.5");
    m = error([](json& j) { j["layer_norm_eps"] = "1e-12"; });
    EXPECT_HAS(m, "field 'layer_norm_eps' must be a number");
    m = error([](json& j) { j["hidden_act"] = 3; });
    EXPECT_HAS(m, "field 'hidden_act' must be a string");
    m = error([](json& j) { j["architectures"] = "BertModel"; });
    EXPECT_HAS(m, "field 'architectures' must be an array");
    m = error([](json& j) { j["id2label"] = json::array({"a", "b"}); });
    EXPECT_HAS(m, "field 'id2label' must be an object");
    m = error([](json& j) { j["num_attention_heads"] = 0; });
    EXPECT_HAS(m, "field 'num_attention_heads' must be >= 1, found 0");
    m = error([](json& j) { j["layer_norm_eps"] = -1.0; });
    EXPECT_HAS(m, "layer_norm_eps");
    m = error([](json& j) { j["layer_norm_eps"] = 1e-60; });  // 0 as the float LayerNorm uses
    EXPECT_HAS(m, "field 'layer_norm_eps' must be a positive number");
}

TEST_F(ConfigFile, UnsupportedValues) {
    std::string m = error([](json& j) { j["hidden_act"] = "relu"; });
    EXPECT_HAS(m, "hidden_act 'relu' is not supported");
    EXPECT_HAS(m, "\"gelu_new\"");
    m = error([](json& j) { j["model_type"] = "funnel"; });
    EXPECT_HAS(m, "model_type 'funnel' is not supported");
    m = error([](json& j) {
        j["model_type"] = "albert";
        j["num_hidden_groups"] = 3;  // of 2 layers
    });
    EXPECT_HAS(m, "num_hidden_groups 3 exceeds num_hidden_layers 2");
    m = error([](json& j) {
        j["model_type"] = "deberta";
        j["talking_head"] = true;
    });
    EXPECT_HAS(m, "talking_head true");
    // RoBERTa positions start at pad_token_id + 1: a table with no room left is refused.
    m = error([](json& j) {
        j["model_type"] = "roberta";
        j["max_position_embeddings"] = 2;
        j["pad_token_id"] = 1;
    });
    EXPECT_HAS(m, "leaves no position");
    // DistilBERT names its sizes differently: a BERT config relabelled lacks them.
    m = error([](json& j) { j["model_type"] = "distilbert"; });
    EXPECT_HAS(m, "missing required field 'dim'");
    m = error([](json& j) { j["position_embedding_type"] = "relative_key"; });
    EXPECT_HAS(m, "position_embedding_type 'relative_key' is not supported");
    m = error([](json& j) { j["num_attention_heads"] = 5; });
    EXPECT_HAS(m, "hidden_size 32 is not a multiple of num_attention_heads 5");
    m = error([](json& j) { j["problem_type"] = "ranking"; });
    EXPECT_HAS(m, "problem_type 'ranking'");
    m = error([](json& j) { j["pad_token_id"] = 390; });
    EXPECT_HAS(m, "pad_token_id 390 is outside the vocabulary");
}

// The tanh GELU under its three names; ALBERT's sharing options, its defaults (embedding_size
// 128, gelu_new, one group of one layer) and the order its layers run in (HF's
// int(i / (num_hidden_layers / num_hidden_groups)), every inner layer of the group).
TEST_F(ConfigFile, TanhGeluAndAlbertSharing) {
    for (const char* act : {"gelu_new", "gelu_fast", "gelu_pytorch_tanh"}) {
        ModelConfig c = parse([&](json& j) { j["hidden_act"] = act; });
        EXPECT_EQ(c.hidden_act, "gelu_new") << act;
        EXPECT_TRUE(c.gelu_tanh()) << act;
    }
    EXPECT_FALSE(parse([](json&) {}).gelu_tanh());
    ModelConfig a = parse([](json& j) {
        j["model_type"] = "albert";
        j.erase("hidden_act");
    });
    EXPECT_EQ(a.family, "albert");
    EXPECT_EQ(a.embedding_size, 128);
    EXPECT_TRUE(a.embedding_projection());
    EXPECT_EQ(a.hidden_act, "gelu_new");
    EXPECT_EQ(a.distinct_layers(), 1);
    EXPECT_EQ(a.layer_order(), (std::vector<int64_t>{0, 0}));
    ModelConfig b = parse([](json& j) {
        j["model_type"] = "albert";
        j["num_hidden_layers"] = 5;
        j["num_hidden_groups"] = 2;
        j["inner_group_num"] = 2;
        j["embedding_size"] = 32;  // = hidden: still projected (embedding_hidden_mapping_in)
    });
    EXPECT_TRUE(b.embedding_projection());
    EXPECT_EQ(b.distinct_layers(), 4);
    // 5 / 2 = 2.5 layers per group: applications 0, 1, 2 run group 0, 3 and 4 group 1.
    EXPECT_EQ(b.layer_order(), (std::vector<int64_t>{0, 1, 0, 1, 0, 1, 2, 3, 2, 3}));
    EXPECT_EQ(parse([](json&) {}).layer_order(), (std::vector<int64_t>{0, 1}));
}

TEST_F(ConfigFile, Labels) {
    std::string m = error([](json& j) { j["num_labels"] = 3; });
    EXPECT_HAS(m, "num_labels 3 does not match the 2 entries of id2label");
    m = error([](json& j) { j["id2label"] = {{"zero", "a"}}; });
    EXPECT_HAS(m, "id2label key 'zero' is not a non-negative integer");
    m = error([](json& j) { j["id2label"] = {{"0", 1.5}}; });
    EXPECT_HAS(m, "id2label['0'] must be a string");
    m = error([](json& j) { j["id2label"] = {{"0", nullptr}}; });
    EXPECT_HAS(m, "id2label['0'] must be a string");
    // Integer labels (some fine-tunes' {"0": 0, "1": 1}) read as their decimal text.
    ModelConfig ints = parse([](json& j) { j["id2label"] = {{"0", 0}, {"1", 7}}; });
    EXPECT_EQ(ints.label(0), "0");
    EXPECT_EQ(ints.label(1), "7");

    ModelConfig c = parse([](json& j) {
        j.erase("id2label");
        j["num_labels"] = 3;
    });
    EXPECT_EQ(c.num_labels, 3);
    EXPECT_EQ(c.label(2), "LABEL_2");
    c = parse([](json& j) { j["num_labels"] = 2; });
    EXPECT_EQ(c.num_labels, 2);
    // Ids must be 0..num_labels-1: a gap would leave a logit unnamed and a name unused.
    m = error([](json& j) { j["id2label"] = {{"0", "a"}, {"5", "b"}}; });
    EXPECT_HAS(m, "id2label has label id 5, expected ids 0..1 (num_labels 2)");
    m = error([](json& j) {
        j["id2label"] = {{"1", "a"}, {"2", "b"}};
        j["num_labels"] = 2;
    });
    EXPECT_HAS(m, "id2label has label id 2, expected ids 0..1");
    c = parse([](json& j) { j["id2label"] = {{"0", "a"}, {"1", "b"}, {"2", "c"}}; });
    EXPECT_EQ(c.num_labels, 3);
    EXPECT_EQ(c.label(2), "c");
}

TEST_F(ConfigFile, ArchitecturesAndDefaults) {
    ModelConfig c = parse([](json& j) { j["architectures"] = {"BertForMaskedLM"}; });
    EXPECT_EQ(c.task, Task::base);
    c = parse([](json& j) { j.erase("architectures"); });
    EXPECT_EQ(c.task, Task::base);
    c = parse([](json& j) {
        j.erase("model_type");  // old configs: taken as BERT
        j.erase("max_position_embeddings");
        j.erase("type_vocab_size");
        j.erase("layer_norm_eps");
        j.erase("hidden_act");
        j.erase("pad_token_id");
        j.erase("position_embedding_type");
        j["problem_type"] = nullptr;
    });
    EXPECT_EQ(c.model_type, "bert");
    EXPECT_EQ(c.max_position_embeddings, 512);
    EXPECT_EQ(c.type_vocab_size, 2);
    EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-12f);
    EXPECT_EQ(c.hidden_act, "gelu");
    EXPECT_TRUE(c.problem_type.empty());

    ::testing::internal::CaptureStderr();
    c = parse([](json& j) { j["architectures"] = {"BertForPretrainingWithRetrieval"}; });
    std::string warn = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(c.task, Task::base);
    EXPECT_HAS(warn, "BertForPretrainingWithRetrieval");

    // ...ForMultipleChoice: one output whatever num_labels / id2label say (HF's checkpoints keep
    // the default two labels).
    c = parse([](json& j) {
        j["architectures"] = {"BertForMultipleChoice"};
        j["id2label"] = {{"0", "LABEL_0"}, {"1", "LABEL_1"}};
        j["problem_type"] = "single_label_classification";
    });
    EXPECT_EQ(c.task, Task::multiple_choice);
    EXPECT_EQ(c.num_labels, 1);
    EXPECT_TRUE(c.id2label.empty());
    EXPECT_TRUE(c.problem_type.empty());
    EXPECT_TRUE(c.sequence_head());
}

// Configs as published on the Hugging Face hub (trimmed of nothing that matters here).
TEST_F(ConfigFile, RealWorldConfigs) {
    // prajjwal1/bert-tiny: no model_type, no architectures.
    write_file(path(), R"({"hidden_size": 128, "hidden_act": "gelu", "initializer_range": 0.02,
        "vocab_size": 30522, "hidden_dropout_prob": 0.1, "num_attention_heads": 2,
        "type_vocab_size": 2, "max_position_embeddings": 512, "num_hidden_layers": 2,
        "intermediate_size": 512, "attention_probs_dropout_prob": 0.1})");
    ModelConfig c = ModelConfig::from_file(path());
    EXPECT_EQ(c.task, Task::base);
    EXPECT_EQ(c.hidden_size, 128);
    EXPECT_EQ(c.num_heads, 2);
    // sentence-transformers/all-MiniLM-L6-v2
    write_file(path(), R"({"_name_or_path": "nreimers/MiniLM-L6-H384-uncased",
        "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1,
        "gradient_checkpointing": false, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
        "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
        "position_embedding_type": "absolute", "transformers_version": "4.8.2",
        "type_vocab_size": 2, "use_cache": true, "vocab_size": 30522})");
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.num_layers, 6);
    EXPECT_EQ(c.intermediate_size, 1536);
    // An NER model with the legacy "_num_labels" key and id2label.
    write_file(path(), R"({"_num_labels": 3, "architectures": ["BertForTokenClassification"],
        "hidden_act": "gelu", "hidden_size": 768, "id2label": {"0": "O", "1": "B-MISC",
        "2": "I-MISC"}, "intermediate_size": 3072, "label2id": {"O": 0, "B-MISC": 1, "I-MISC": 2},
        "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 12,
        "output_past": true, "vocab_size": 28996})");
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.task, Task::token_classification);
    EXPECT_EQ(c.num_labels, 3);
    EXPECT_EQ(c.label(1), "B-MISC");
    // A cross-encoder with one regression-style output.
    write_file(path(), R"({"architectures": ["BertForSequenceClassification"],
        "hidden_act": "gelu", "hidden_size": 384, "id2label": {"0": "LABEL_0"},
        "intermediate_size": 1536, "label2id": {"LABEL_0": 0}, "model_type": "bert",
        "num_attention_heads": 12, "num_hidden_layers": 6, "vocab_size": 30522})");
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.num_labels, 1);
    // distilbert-base-uncased-finetuned-sst-2-english: DistilBERT's own keys, no token types,
    // pre_classifier + ReLU head, LayerNorm eps fixed at 1e-12.
    const std::string distil = R"({"activation": "gelu", "architectures":
        ["DistilBertForSequenceClassification"], "attention_dropout": 0.1, "dim": 768,
        "dropout": 0.1, "finetuning_task": "sst-2", "hidden_dim": 3072, "id2label": {"0":
        "NEGATIVE", "1": "POSITIVE"}, "initializer_range": 0.02, "label2id": {"NEGATIVE": 0,
        "POSITIVE": 1}, "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": 12,
        "n_layers": 6, "output_past": true, "pad_token_id": 0, "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": false, "tie_weights_": true,
        "vocab_size": 30522})";
    write_file(path(), distil);
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.model_type, "distilbert");
    EXPECT_EQ(c.task, Task::sequence_classification);
    EXPECT_EQ(c.hidden_size, 768);
    EXPECT_EQ(c.num_layers, 6);
    EXPECT_EQ(c.num_heads, 12);
    EXPECT_EQ(c.intermediate_size, 3072);
    EXPECT_EQ(c.max_tokens(), 512);
    EXPECT_FALSE(c.token_types);
    EXPECT_EQ(c.pooler_act, ModelConfig::PoolerAct::relu);
    EXPECT_EQ(c.layer_norm_eps, 1e-12f);
    EXPECT_EQ(c.label(1), "POSITIVE");
    // google/electra-small-discriminator: embedding_size 128 below hidden_size 256.
    write_file(path(),
               R"({"architectures": ["ElectraForPreTraining"], "attention_probs_dropout_prob":
        0.1, "embedding_size": 128, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": 256, "initializer_range": 0.02, "intermediate_size": 1024,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "electra",
        "num_attention_heads": 4, "num_hidden_layers": 12, "pad_token_id": 0,
        "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 30522})");
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.task, Task::base);
    EXPECT_EQ(c.embedding_width(), 128);
    EXPECT_EQ(c.hidden_size, 256);
    EXPECT_TRUE(c.token_types);
    EXPECT_EQ(c.pooler_act, ModelConfig::PoolerAct::gelu);
    std::string relu = distil;
    relu.replace(relu.find("\"gelu\""), 6, "\"relu\"");
    write_file(path(), relu);
    EXPECT_HAS(error_of([&] { ModelConfig::from_file(path()); }),
               "activation 'relu' is not supported");
    // sentence-transformers/all-mpnet-base-v2's config.json: no token types, RoBERTa's positions
    // (pad 1: 512 tokens of the 514 positions), 32 relative position buckets.
    const std::string mpnet =
        R"({"architectures": ["MPNetForMaskedLM"], "attention_probs_dropout_prob": 0.1,
        "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
        "layer_norm_eps": 1e-05, "max_position_embeddings": 514, "model_type": "mpnet",
        "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
        "relative_attention_num_buckets": 32, "torch_dtype": "float32",
        "transformers_version": "4.8.2", "vocab_size": 30527})";
    write_file(path(), mpnet);
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.task, Task::base);
    EXPECT_FALSE(c.token_types);
    EXPECT_EQ(c.max_tokens(), 512);
    EXPECT_EQ(c.relative_attention_buckets, 32);
    EXPECT_EQ(c.layer_norm_eps, 1e-5f);
    // xlm-roberta-base: RoBERTa's architecture (family "roberta", "roberta." names).
    write_file(path(),
               R"({"architectures": ["XLMRobertaForMaskedLM"], "attention_probs_dropout_prob":
        0.1, "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob":
        0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
        "layer_norm_eps": 1e-05, "max_position_embeddings": 514, "model_type": "xlm-roberta",
        "num_attention_heads": 12, "num_hidden_layers": 12, "output_past": true,
        "pad_token_id": 1, "position_embedding_type": "absolute", "type_vocab_size": 1,
        "vocab_size": 250002})");
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.model_type, "xlm-roberta");
    EXPECT_EQ(c.family, "roberta");
    EXPECT_EQ(c.max_tokens(), 512);
    EXPECT_EQ(c.type_vocab_size, 1);
    // microsoft/deberta-v3-base's config.json: no absolute positions or token types, 256 log
    // buckets over 512 positions, c2p + p2c on shared keys, LayerNorm'ed relative embeddings.
    const std::string deberta =
        R"({"model_type": "deberta-v2", "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
        "intermediate_size": 3072, "max_position_embeddings": 512, "relative_attention": true,
        "position_buckets": 256, "norm_rel_ebd": "layer_norm", "share_att_key": true,
        "pos_att_type": "p2c|c2p", "layer_norm_eps": 1e-7, "max_relative_positions": -1,
        "position_biased_input": false, "num_attention_heads": 12, "num_hidden_layers": 12,
        "type_vocab_size": 0, "vocab_size": 128100})";
    write_file(path(), deberta);
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.family, "deberta");
    EXPECT_FALSE(c.token_types);
    EXPECT_FALSE(c.position_embeddings);
    EXPECT_EQ(c.max_tokens(), 512);
    EXPECT_TRUE(c.disentangled.on && c.disentangled.c2p && c.disentangled.p2c);
    EXPECT_TRUE(c.disentangled.layer_norm);
    EXPECT_EQ(c.disentangled.span, 256);
    EXPECT_EQ(c.disentangled.buckets, 256);
    EXPECT_EQ(c.disentangled.max_position, 512);
    EXPECT_EQ(c.layer_norm_eps, 1e-7f);
    EXPECT_EQ(c.pooler_act, ModelConfig::PoolerAct::gelu);
    EXPECT_FALSE(c.disentangled.own_pos_proj);
    // share_att_key false (or absent: Hugging Face's default): the layers' own projections.
    for (const std::string& to :
         {std::string("\"share_att_key\": false"), std::string("\"x\": 0")}) {
        std::string own = deberta;
        own.replace(own.find("\"share_att_key\": true"), 21, to);
        write_file(path(), own);
        EXPECT_TRUE(ModelConfig::from_file(path()).disentangled.own_pos_proj) << to;
    }
    // What sparq does not compute is refused, naming the field.
    for (const auto& [from, to, what] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"\"pos_att_type\": \"p2c|c2p\"", "\"pos_att_type\": \"p2p\"", "pos_att_type 'p2p'"},
             {"\"norm_rel_ebd\": \"layer_norm\"", "\"norm_rel_ebd\": \"batch_norm\"",
              "norm_rel_ebd 'batch_norm'"},
             {"\"type_vocab_size\": 0", "\"type_vocab_size\": 0, \"conv_kernel_size\": 3",
              "conv_kernel_size"},
             {"\"type_vocab_size\": 0", "\"type_vocab_size\": 0, \"embedding_size\": 128",
              "embedding_size other than hidden_size"},
             {"\"relative_attention\": true", "\"relative_attention\": 1",
              "field 'relative_attention' must be true or false"}}) {
        std::string bad = deberta;
        bad.replace(bad.find(from), from.size(), to);
        write_file(path(), bad);
        EXPECT_HAS(error_of([&] { ModelConfig::from_file(path()); }), what);
    }
    // microsoft/deberta-base's config.json (DeBERTa v1): its own position projections, no
    // buckets, no LayerNorm of the relative embeddings, whatever v2 options a config carries.
    const std::string deberta_v1 =
        R"({"model_type": "deberta", "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
        "intermediate_size": 3072, "max_position_embeddings": 512, "relative_attention": true,
        "pos_att_type": "c2p|p2c", "layer_norm_eps": 1e-7, "max_relative_positions": -1,
        "position_biased_input": false, "num_attention_heads": 12, "num_hidden_layers": 12,
        "type_vocab_size": 0, "vocab_size": 50265, "position_buckets": 256,
        "norm_rel_ebd": "layer_norm", "share_att_key": false})";
    write_file(path(), deberta_v1);
    c = ModelConfig::from_file(path());
    EXPECT_EQ(c.family, "deberta");
    EXPECT_TRUE(c.deberta() && c.deberta_v1());
    EXPECT_FALSE(c.token_types || c.position_embeddings);
    EXPECT_TRUE(c.disentangled.on && c.disentangled.c2p && c.disentangled.p2c);
    EXPECT_TRUE(c.disentangled.own_pos_proj);
    EXPECT_FALSE(c.disentangled.layer_norm);
    EXPECT_EQ(c.disentangled.buckets, 0);
    EXPECT_EQ(c.disentangled.span, 512);
    EXPECT_EQ(c.disentangled.max_position, 512);
    EXPECT_EQ(c.disentangled.scale_factor, 3);
    // Without relative_attention the scores keep pos_att_type's scale (Hugging Face's
    // scale_factor), and nothing else of it.
    std::string plain = deberta_v1;
    plain.replace(plain.find("\"relative_attention\": true"), 26, "\"relative_attention\": false");
    write_file(path(), plain);
    c = ModelConfig::from_file(path());
    EXPECT_FALSE(c.disentangled.on || c.disentangled.c2p || c.disentangled.p2c);
    EXPECT_EQ(c.disentangled.scale_factor, 3);
    // answerdotai/ModernBERT-base's config.json: pre-norm, rotary, every third layer global, the
    // others within +-64 tokens; its unused layer_norm_eps / position_embedding_type are ignored.
    const std::string modern =
        R"({"architectures": ["ModernBertForMaskedLM"], "attention_bias": false,
        "attention_dropout": 0.0, "bos_token_id": 50281, "classifier_activation": "gelu",
        "classifier_bias": false, "classifier_dropout": 0.0, "classifier_pooling": "mean",
        "cls_token_id": 50281, "decoder_bias": true, "deterministic_flash_attn": false,
        "embedding_dropout": 0.0, "eos_token_id": 50282, "global_attn_every_n_layers": 3,
        "global_rope_theta": 160000.0, "gradient_checkpointing": false,
        "hidden_activation": "gelu", "hidden_size": 768, "initializer_cutoff_factor": 2.0,
        "initializer_range": 0.02, "intermediate_size": 1152, "layer_norm_eps": 1e-05,
        "local_attention": 128, "local_rope_theta": 10000.0, "max_position_embeddings": 8192,
        "mlp_bias": false, "mlp_dropout": 0.0, "model_type": "modernbert", "norm_bias": false,
        "norm_eps": 1e-05, "num_attention_heads": 12, "num_hidden_layers": 22,
        "pad_token_id": 50283, "position_embedding_type": "absolute", "reference_compile": true,
        "sep_token_id": 50282, "sparse_pred_ignore_index": -100, "sparse_prediction": false,
        "torch_dtype": "float32", "transformers_version": "4.47.0.dev0", "vocab_size": 50368})";
    write_file(path(), modern);
    c = ModelConfig::from_file(path());
    EXPECT_TRUE(c.modernbert());
    EXPECT_EQ(c.family, "modernbert");
    EXPECT_EQ(c.task, Task::base);
    EXPECT_FALSE(c.token_types || c.position_embeddings);
    EXPECT_EQ(c.max_tokens(), 8192);
    EXPECT_EQ(c.modern.window, 64);
    EXPECT_EQ(c.modern.global_every, 3);
    EXPECT_FALSE(c.modern.local(0) || c.modern.local(3) || c.modern.local(21));
    EXPECT_TRUE(c.modern.local(1) && c.modern.local(2) && c.modern.local(20));
    EXPECT_EQ(c.modern.global_theta, 160000.0);
    EXPECT_EQ(c.modern.local_theta, 10000.0);
    EXPECT_TRUE(c.modern.mean_pooling && c.modern.decoder_bias);
    EXPECT_FALSE(c.modern.norm_bias || c.modern.attention_bias || c.modern.mlp_bias ||
                 c.modern.classifier_bias);
    EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-5f);
    EXPECT_EQ(c.pad_token_id, 50283);
    std::string modern_null = modern;  // local_rope_theta null: the global base
    modern_null.replace(modern_null.find("\"local_rope_theta\": 10000.0"), 27,
                        "\"local_rope_theta\": null");
    write_file(path(), modern_null);
    EXPECT_EQ(ModelConfig::from_file(path()).modern.local_theta, 160000.0);
    std::string modern_pos = modern;  // no max_position_embeddings: HF's 8192
    modern_pos.replace(modern_pos.find("\"max_position_embeddings\": 8192,"), 32, "");
    write_file(path(), modern_pos);
    EXPECT_EQ(ModelConfig::from_file(path()).max_tokens(), 8192);
    std::string modern_eps = modern;  // its LayerNorms' eps is norm_eps (layer_norm_eps unused)
    modern_eps.replace(modern_eps.find("\"norm_eps\": 1e-05"), 17, "\"norm_eps\": 0.0");
    write_file(path(), modern_eps);
    EXPECT_HAS(error_of([&] { ModelConfig::from_file(path()); }),
               "field 'norm_eps' must be a positive number");
    std::string b64 = mpnet;
    b64.replace(b64.find("\"relative_attention_num_buckets\": 32"), 36,
                "\"relative_attention_num_buckets\": 64");
    write_file(path(), b64);
    EXPECT_HAS(error_of([&] { ModelConfig::from_file(path()); }),
               "relative_attention_num_buckets 64 is not supported");
}

// ------------------------------------------------------------------------------------------------
// sentence-transformers directories (modules.json)

TEST(SentenceEmbedding, ModulesPoolingNormalizeAndLength) {
    TempDir d;
    // A plain Hugging Face directory: mean pooling, not normalized, the model's length.
    SentenceEmbeddingConfig c = SentenceEmbeddingConfig::from_dir(d.path().string());
    EXPECT_FALSE(c.present);
    EXPECT_EQ(c.pooling, Pooling::mean);
    EXPECT_FALSE(c.normalize);
    EXPECT_EQ(c.max_length, 0u);
    const std::string tr = R"({"idx": 0, "name": "0", "path": "", "type":
        "sentence_transformers.models.Transformer"})";
    const std::string pool = R"({"idx": 1, "name": "1", "path": "1_Pooling", "type":
        "sentence_transformers.models.Pooling"})";
    const std::string norm = R"({"idx": 2, "name": "2", "path": "2_Normalize", "type":
        "sentence_transformers.models.Normalize"})";
    fs::create_directories(d / "1_Pooling");
    auto pooling_cfg = [&](const std::string& modes) {
        write_file(d / "1_Pooling" / "config.json",
                   "{\"word_embedding_dimension\": 32, " + modes + "}");
    };
    write_file(d / "modules.json", "[" + tr + "," + pool + "," + norm + "]");
    pooling_cfg(R"("pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true)");
    write_file(d / "sentence_bert_config.json",
               R"({"max_seq_length": 256, "do_lower_case": false})");
    c = SentenceEmbeddingConfig::from_dir(d.path().string());
    EXPECT_TRUE(c.present);
    EXPECT_EQ(c.pooling, Pooling::mean);
    EXPECT_TRUE(c.normalize);
    EXPECT_EQ(c.max_length, 256u);
    write_file(d / "modules.json", "[" + tr + "," + pool + "]");
    pooling_cfg(R"("pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false)");
    c = SentenceEmbeddingConfig::from_dir(d.path().string());
    EXPECT_EQ(c.pooling, Pooling::cls);
    EXPECT_FALSE(c.normalize);
    pooling_cfg(R"("pooling_mode_max_tokens": true)");
    EXPECT_EQ(SentenceEmbeddingConfig::from_dir(d.path().string()).pooling, Pooling::max);

    // What sparq would compute wrong is refused, naming the file.
    auto err = [&] {
        return error_of([&] { SentenceEmbeddingConfig::from_dir(d.path().string()); });
    };
    pooling_cfg(R"("pooling_mode_mean_sqrt_len_tokens": true)");
    EXPECT_HAS(err(), "pooling mode 'mean_sqrt_len' is not supported");
    pooling_cfg(R"("pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true)");
    EXPECT_HAS(err(), "together");
    pooling_cfg(R"("pooling_mode_cls_token": false)");
    EXPECT_HAS(err(), "no pooling mode");
    pooling_cfg(R"("pooling_mode_cls_token": "yes")");
    EXPECT_HAS(err(), "'pooling_mode_cls_token' must be true or false");
    pooling_cfg(R"("pooling_mode_mean_tokens": true)");
    write_file(d / "modules.json", "[" + tr + "," + pool + R"(, {"idx": 2, "name": "2", "path":
        "2_LSTM", "type": "sentence_transformers.models.LSTM"}])");
    EXPECT_HAS(err(), "module 'sentence_transformers.models.LSTM' (2_LSTM) is not supported");
    // A Dense module is run, so its config must be there (tests/cli/sentence_transformers.sh
    // checks its vectors).
    write_file(d / "modules.json", "[" + tr + "," + pool + R"(, {"idx": 2, "name": "2", "path":
        "2_Dense", "type": "sentence_transformers.models.Dense"}])");
    EXPECT_HAS(err(), "2_Dense/config.json: cannot open");
    write_file(d / "modules.json", "[" + tr + "]");
    EXPECT_HAS(err(), "no Pooling module");
    write_file(d / "modules.json", "{}");
    EXPECT_HAS(err(), "modules.json: expected a JSON array");
    write_file(d / "modules.json", "[" + tr + "," + pool + "]");
    write_file(d / "sentence_bert_config.json", R"({"max_seq_length": 1})");
    EXPECT_HAS(err(), "max_seq_length");
    fs::remove(d / "1_Pooling" / "config.json");
    write_file(d / "sentence_bert_config.json", R"({"max_seq_length": 64})");
    EXPECT_HAS(err(), "1_Pooling/config.json: cannot open");
}

// ------------------------------------------------------------------------------------------------
// safetensors reader

TEST(SafeTensors, HalfAndBfloatConversion) {
    EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
    EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
    EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
    EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));     // smallest normal
    EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
    EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)) && f16_to_f32(0x8000) == 0.0f);
    EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
    EXPECT_EQ(f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
    EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(bf16_to_f32(0xc0a0), -5.0f);
    EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));
    EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));
}

TEST(SafeTensors, FixtureHeaders) {
    for (const char* name : kFixtures) {
        SCOPED_TRACE(name);
        SafeTensorsFile f((fixture(name) / "model.safetensors").string());
        EXPECT_EQ(f.metadata().at("format"), "pt");
        EXPECT_GE(f.tensors().size(), 39u);
        for (std::size_t i = 1; i < f.tensors().size(); ++i)
            EXPECT_LT(f.tensors()[i - 1].name, f.tensors()[i].name);
        json ref = reference(name);
        const std::string dtype = ref["weights_dtype"];
        for (const auto& t : f.tensors()) EXPECT_EQ(dtype_name(t.dtype), dtype) << t.name;
        EXPECT_EQ(f.find("no.such.tensor"), nullptr);
    }
    SafeTensorsFile sparse((fixture("tiny_sparse") / "model.safetensors").string());
    EXPECT_EQ(sparse.metadata().at("sparsity"), "0.9");
}

// The python side wrote a few values of some tensors exactly as sparq must read them.
TEST(SafeTensors, ProbeValuesExact) {
    for (const char* name : kFixtures) {
        SCOPED_TRACE(name);
        SafeTensorsFile f((fixture(name) / "model.safetensors").string());
        json ref = reference(name);
        ASSERT_GE(ref["probes"].size(), 4u);
        for (const auto& p : ref["probes"]) {
            const TensorInfo* t = f.find(p["tensor"].get<std::string>());
            ASSERT_NE(t, nullptr) << p["tensor"];
            EXPECT_EQ(dtype_name(t->dtype), p["dtype"].get<std::string>());
            EXPECT_EQ(t->shape, p["shape"].get<std::vector<int64_t>>());
            std::vector<float> v = f.read_f32(*t);
            auto idx = p["flat_index"].get<std::vector<int64_t>>();
            auto val = p["values"].get<std::vector<double>>();
            for (std::size_t i = 0; i < idx.size(); ++i)
                EXPECT_EQ(v[static_cast<std::size_t>(idx[i])], static_cast<float>(val[i]))
                    << p["tensor"] << "[" << idx[i] << "]";
        }
    }
}

class BrokenFile : public ::testing::Test {
  protected:
    std::string open_error(const std::string& contents) {
        write_file(path(), contents);
        return error_of([&] { SafeTensorsFile f(path()); });
    }
    std::string path() const { return (dir_ / "model.safetensors").string(); }
    TempDir dir_;
};

TEST_F(BrokenFile, ShorterThanLengthPrefix) {
    std::string m = open_error("");
    EXPECT_HAS(m, path());
    EXPECT_HAS(m, "file is 0 bytes, shorter than the 8-byte");
    EXPECT_HAS(open_error(std::string("\x10\0\0", 3)), "file is 3 bytes");
    EXPECT_HAS(error_of([&] { SafeTensorsFile f((dir_ / "absent").string()); }), "cannot open");
}

TEST_F(BrokenFile, HeaderLengthOutsideFile) {
    std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    std::string m = open_error(raw_safetensors(h, "abcd", h.size() + 5));
    EXPECT_HAS(m, "header length " + std::to_string(h.size() + 5) + " bytes points past the end");
    EXPECT_HAS(m, std::to_string(8 + h.size() + 4) + "-byte file");
}

TEST_F(BrokenFile, AbsurdHeaderLength) {
    std::string m = open_error(raw_safetensors("{}", "", uint64_t(1) << 60));
    EXPECT_HAS(m, "header length 1152921504606846976 bytes exceeds the 100 MB limit");
    m = open_error(raw_safetensors("{}", "", ~uint64_t(0)));
    EXPECT_HAS(m, "exceeds the 100 MB limit");
}

TEST_F(BrokenFile, HeaderNotJson) {
    std::string m = open_error(raw_safetensors("{\"a\": {\"dtype\": \"F32\",", "1234"));
    EXPECT_HAS(m, path());
    EXPECT_HAS(m, "header is not valid JSON");
    EXPECT_HAS(open_error(raw_safetensors("\x89PNG\r\n\x1a\n", "")), "header is not valid JSON");
    EXPECT_HAS(open_error(raw_safetensors("[1,2,3] ", "")), "header must be a JSON object");
}

TEST_F(BrokenFile, DataOffsetsBeyondData) {
    std::string h = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                    R"("x":{"dtype":"F32","shape":[100],"data_offsets":[16,416]}})";
    std::string m = open_error(raw_safetensors(h, std::string(16, '\0')));
    EXPECT_HAS(m, "tensor 'x'");
    EXPECT_HAS(m, "data_offsets [16, 416] lie outside the data region (16 bytes)");
    // A truncated real file: the tensors at the end of the data region are cut off.
    std::string full = read_file(fixture("tiny_base") / "model.safetensors");
    m = open_error(full.substr(0, full.size() / 2));
    EXPECT_HAS(m, "lie outside the data region");
}

TEST_F(BrokenFile, OffsetsNotMatchingShape) {
    std::string h = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})";
    std::string m = open_error(raw_safetensors(h, std::string(16, '\0')));
    EXPECT_HAS(m, "tensor 'w'");
    EXPECT_HAS(m, "hold 16 bytes but shape [2, 3] of F32 needs 24");
    h = R"({"w":{"dtype":"BF16","shape":[4294967296,4294967296],"data_offsets":[0,16]}})";
    EXPECT_HAS(open_error(raw_safetensors(h, std::string(16, '\0'))), "needs more than 2^64");
    h = R"({"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}})";
    EXPECT_HAS(open_error(raw_safetensors(h, std::string(16, '\0'))), "non-negative integers");
    h = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})";
    EXPECT_HAS(open_error(raw_safetensors(h, std::string(16, '\0'))), "end before begin");
    h = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0]}})";
    EXPECT_HAS(open_error(raw_safetensors(h, std::string(16, '\0'))), "'data_offsets' must be");
    h = R"({"w":{"shape":[4],"data_offsets":[0,16]}})";
    EXPECT_HAS(open_error(raw_safetensors(h, std::string(16, '\0'))), "'dtype'");
    h = R"({"w":[1,2]})";
    EXPECT_HAS(open_error(raw_safetensors(h, std::string(16, '\0'))), "must be an object");
}

TEST_F(BrokenFile, OverlappingOffsets) {
    std::string h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                    R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
    std::string m = open_error(raw_safetensors(h, std::string(24, '\0')));
    EXPECT_HAS(m, "tensor 'b'");
    EXPECT_HAS(m, "overlap tensor 'a' [0, 16]");
    // Empty tensors may sit anywhere; adjacent tensors do not overlap.
    h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
        R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]},)"
        R"("b":{"dtype":"I8","shape":[8],"data_offsets":[16,24]}})";
    write_file(path(), raw_safetensors(h, std::string(24, '\0')));
    SafeTensorsFile f(path());
    EXPECT_EQ(f.tensors().size(), 3u);
    EXPECT_EQ(f.find("e")->numel(), 0);
}

TEST_F(BrokenFile, UnknownDtype) {
    std::string h = R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})";
    std::string m = open_error(raw_safetensors(h, std::string(4, '\0')));
    EXPECT_HAS(m, "tensor 'w'");
    EXPECT_HAS(m, "unsupported dtype 'F8_E4M3'");
}

// JSON keeps the last of two same-named entries; a header naming a tensor twice is corrupt.
TEST_F(BrokenFile, DuplicateTensorName) {
    std::string h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    std::string m = open_error(raw_safetensors(h, std::string(8, '\0')));
    EXPECT_HAS(m, path());
    EXPECT_HAS(m, "header names tensor 'w' twice");
    // The same key inside an entry or the metadata is JSON's business, not a duplicate tensor.
    h = R"({"__metadata__":{"k":"a"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    write_file(path(), raw_safetensors(h, std::string(4, '\0')));
    EXPECT_EQ(SafeTensorsFile(path()).tensors().size(), 1u);
}

TEST_F(BrokenFile, IntegerTensorsReadRawNotAsFloat) {
    std::string data = {'\x01', '\xff', '\x7f', '\x80', '\x02', '\0',
                        '\0',   '\0',   '\0',   '\0',   '\0',   '\0'};
    std::string h =
        R"({"__metadata__":{"k":"v"},"q":{"dtype":"I8","shape":[2,2],"data_offsets":[0,4]},)"
        R"("n":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}})";
    write_file(path(), raw_safetensors(h, data));
    SafeTensorsFile f(path());
    EXPECT_EQ(f.metadata().at("k"), "v");
    const TensorInfo* q = f.find("q");
    ASSERT_NE(q, nullptr);
    auto b = f.bytes(*q);
    ASSERT_EQ(b.size(), 4u);
    EXPECT_EQ(static_cast<int8_t>(b[1]), -1);
    EXPECT_EQ(static_cast<int8_t>(b[3]), -128);
    int64_t n;
    std::memcpy(&n, f.bytes(*f.find("n")).data(), 8);
    EXPECT_EQ(n, 2);
    std::string m = error_of([&] { f.read_f32(*q); });
    EXPECT_HAS(m, "tensor 'q': expected a float dtype (F32, F16, BF16, F64), found I8");
}

// Every truncation point of the header and many corrupted header bytes either open (and then every
// tensor reads inside the mapping) or throw sparq::Error -- never crash or read out of bounds.
TEST_F(BrokenFile, CorruptionSweep) {
    const std::string full = read_file(fixture("tiny_f16") / "model.safetensors");
    uint64_t n = 0;
    std::memcpy(&n, full.data(), 8);
    int opened = 0, rejected = 0;
    auto attempt = [&](const std::string& bytes) {
        write_file(path(), bytes);
        try {
            SafeTensorsFile f(path());
            for (const auto& t : f.tensors())
                if (dtype_is_float(t.dtype)) f.read_f32(t);
            ++opened;
        } catch (const Error&) {
            ++rejected;
        }
    };
    for (uint64_t cut = 0; cut < 8 + n + 64; cut += 7) attempt(full.substr(0, cut));
    uint32_t state = 12345;
    for (int i = 0; i < 300; ++i) {
        std::string bad = full;
        for (int k = 0; k < 1 + i % 3; ++k) {
            state = state * 1664525u + 1013904223u;
            std::size_t pos = (state >> 8) % (8 + n);
            bad[pos] = static_cast<char>("0123456789[]{},:\"x\x00\xff"[(state >> 3) % 20]);
        }
        attempt(bad);
    }
    EXPECT_GT(rejected, 300);
    EXPECT_GT(opened, 0);  // e.g. digits changed inside "seed" metadata
}

// ------------------------------------------------------------------------------------------------
// safetensors writer

TEST(SafeTensorsWriter, ByteIdenticalToPythonWriter) {
    // tools/bert_reference.py's writer follows the HF layout (also for mixed dtypes); ours must
    // produce the same bytes.
    TempDir dir;
    for (fs::path src :
         {fixture("tiny_base") / "model.safetensors", fixture("tiny_f16") / "model.safetensors",
          fixture("tiny_sparse") / "model.safetensors",
          test::fixtures_dir() / "dtypes.safetensors"}) {
        SCOPED_TRACE(src.string());
        SafeTensorsFile f(src.string());
        write_all(dir / "out.safetensors", read_all(src), f.metadata());
        EXPECT_TRUE(read_file(dir / "out.safetensors") == read_file(src));
    }
}

// Every dtype, written by the python writer, reads back as python says (floats exactly).
TEST(SafeTensors, EveryDtypeFromPython) {
    SafeTensorsFile f((test::fixtures_dir() / "dtypes.safetensors").string());
    const json expected = json::parse(read_file(test::fixtures_dir() / "dtypes.json"));
    EXPECT_EQ(f.metadata().at("note"), "one tensor per dtype");
    ASSERT_EQ(f.tensors().size(), expected.size());
    for (const auto& [name, e] : expected.items()) {
        SCOPED_TRACE(name);
        const TensorInfo* t = f.find(name);
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(dtype_name(t->dtype), e["dtype"].get<std::string>());
        EXPECT_EQ(t->shape, e["shape"].get<std::vector<int64_t>>());
        ASSERT_EQ(static_cast<std::size_t>(t->numel()), e["values"].size());
        if (dtype_is_float(t->dtype)) {
            std::vector<float> v = f.read_f32(*t);
            for (std::size_t i = 0; i < v.size(); ++i) {
                float want = static_cast<float>(e["values"][i].get<double>());
                EXPECT_EQ(v[i], want) << i;
                EXPECT_EQ(std::signbit(v[i]), std::signbit(want)) << i;
            }
            continue;
        }
        auto b = f.bytes(*t);
        const std::size_t size = dtype_size(t->dtype);
        for (std::size_t i = 0; i < static_cast<std::size_t>(t->numel()); ++i) {
            int64_t got = 0;
            const std::byte* p = b.data() + i * size;
            switch (t->dtype) {
                case DType::i64:
                    std::memcpy(&got, p, 8);
                    break;
                case DType::i32: {
                    int32_t x;
                    std::memcpy(&x, p, 4);
                    got = x;
                    break;
                }
                case DType::i8:
                    got = static_cast<int8_t>(*p);
                    break;
                case DType::u8:
                case DType::boolean:
                    got = static_cast<uint8_t>(*p);
                    break;
                default:
                    FAIL() << "unexpected dtype";
            }
            EXPECT_EQ(got, e["values"][i].get<int64_t>()) << i;
        }
    }
}

TEST(SafeTensorsWriter, RoundTripMixedDtypes) {
    TempDir dir;
    const fs::path p = dir / "mixed.safetensors";
    std::vector<float> w = {1.5f, -2.25f, 3.0f, 1e-30f, -0.0f, 7.0f};
    std::vector<int8_t> q = {-128, -1, 0, 1, 127};
    std::vector<uint16_t> h = {0x3c00, 0xc000, 0x0001};
    std::vector<int64_t> ids = {0, 1, 2, 3};
    auto bytes = [](const auto& v) {
        return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()),
                                          v.size() * sizeof(v[0]));
    };
    std::vector<TensorToWrite> ts = {
        {"z.int8", DType::i8, {5}, bytes(q)}, f32_tensor("a.weight", {2, 3}, w.data()),
        {"half", DType::f16, {3}, bytes(h)},  {"ids", DType::i64, {1, 4}, bytes(ids)},
        {"empty", DType::f32, {0, 4}, {}},
    };
    write_safetensors(p.string(), ts, {{"format", "pt"}, {"sparsity", "0.9"}});

    const std::string raw = read_file(p);
    uint64_t n = 0;
    std::memcpy(&n, raw.data(), 8);
    EXPECT_EQ(n % 8, 0u);
    const std::string header = raw.substr(8, n);
    EXPECT_EQ(header.rfind("{\"__metadata__\":{\"format\":\"pt\",\"sparsity\":\"0.9\"},"
                           "\"ids\":{\"dtype\":\"I64\",\"shape\":[1,4],\"data_offsets\":[0,32]},"
                           "\"a.weight\":",
                           0),
              0u)
        << header;
    EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));
    EXPECT_EQ(raw.size(), 8 + n + 24 + 5 + 6 + 32);

    SafeTensorsFile f(p.string());
    EXPECT_EQ(f.metadata().at("sparsity"), "0.9");
    ASSERT_EQ(f.tensors().size(), 5u);
    EXPECT_EQ(f.read_f32(*f.find("a.weight")), w);
    EXPECT_EQ(f.find("a.weight")->shape, (std::vector<int64_t>{2, 3}));
    // The HF writer's order: I64, F32, F16, I8 (keeps alignment), then name; header likewise.
    EXPECT_EQ(f.find("ids")->begin, 0u);
    EXPECT_EQ(f.find("a.weight")->begin, 32u);
    EXPECT_EQ(f.find("half")->begin, 56u);
    EXPECT_EQ(f.find("z.int8")->begin, 62u);
    std::vector<float> hv = f.read_f32(*f.find("half"));
    EXPECT_EQ(hv, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)}));
    auto qb = f.bytes(*f.find("z.int8"));
    EXPECT_EQ(std::memcmp(qb.data(), q.data(), 5), 0);
    EXPECT_EQ(f.find("empty")->numel(), 0);

    // Overwrites atomically and leaves no temporary behind.
    write_safetensors(p.string(), {f32_tensor("only", {1}, w.data())});
    EXPECT_EQ(SafeTensorsFile(p.string()).tensors().size(), 1u);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SafeTensorsWriter, RejectsBadInput) {
    TempDir dir;
    const std::string p = (dir / "x.safetensors").string();
    std::vector<float> w(4, 1.0f);
    std::string m = error_of([&] {
        write_safetensors(p, {f32_tensor("a", {4}, w.data()), f32_tensor("a", {2}, w.data())});
    });
    EXPECT_HAS(m, "duplicate tensor name 'a'");
    m = error_of([&] {
        TensorToWrite t = f32_tensor("a", {4}, w.data());
        t.shape = {5};
        write_safetensors(p, {t});
    });
    EXPECT_HAS(m, "tensor 'a': shape [5] of F32 needs 20 bytes, got 16");
    EXPECT_HAS(error_of([&] { write_safetensors(p, {f32_tensor("__metadata__", {4}, w.data())}); }),
               "invalid tensor name");
    EXPECT_HAS(error_of([&] {
                   write_safetensors((dir / "no_such_dir" / "x").string(),
                                     {f32_tensor("a", {4}, w.data())});
               }),
               "cannot create temporary file");
    EXPECT_FALSE(fs::exists(p));
}

// ------------------------------------------------------------------------------------------------
// load_bert_weights

void expect_shape(const Tensor& t, std::vector<int64_t> shape) {
    EXPECT_EQ(t.shape, shape) << t.name;
    EXPECT_EQ(t.data.size(), static_cast<std::size_t>(t.numel())) << t.name;
}

TEST(Weights, EveryFixtureLoadsWithShapes) {
    for (const char* name : kFixtures) {
        SCOPED_TRACE(name);
        ModelConfig cfg = ModelConfig::from_file((fixture(name) / "config.json").string());
        BertWeights w = load_bert_weights(fixture(name).string(), cfg);
        const std::string prefix = cfg.task == Task::base ? "" : "bert.";
        expect_shape(w.word_emb, {390, 32});
        EXPECT_EQ(w.word_emb.name, prefix + "embeddings.word_embeddings.weight");
        expect_shape(w.pos_emb, {128, 32});
        expect_shape(w.type_emb, {2, 32});
        expect_shape(w.emb_ln_g, {32});
        expect_shape(w.emb_ln_b, {32});
        ASSERT_EQ(w.layers.size(), 2u);
        for (const auto& l : w.layers) {
            for (const Tensor* t : {&l.q_w, &l.k_w, &l.v_w, &l.ao_w}) expect_shape(*t, {32, 32});
            for (const Tensor* t :
                 {&l.q_b, &l.k_b, &l.v_b, &l.ao_b, &l.ln1_g, &l.ln1_b, &l.o_b, &l.ln2_g, &l.ln2_b})
                expect_shape(*t, {32});
            expect_shape(l.i_w, {64, 32});
            expect_shape(l.i_b, {64});
            expect_shape(l.o_w, {32, 64});
        }
        EXPECT_EQ(w.layers[1].ln2_g.name, prefix + "encoder.layer.1.output.LayerNorm.weight");
        const bool has_pooler = cfg.task == Task::base || cfg.task == Task::sequence_classification;
        EXPECT_EQ(w.pooler_w.empty(), !has_pooler);
        if (has_pooler) {
            expect_shape(w.pooler_w, {32, 32});
            expect_shape(w.pooler_b, {32});
        }
        if (cfg.task == Task::sequence_classification || cfg.task == Task::token_classification) {
            expect_shape(w.classifier_w, {cfg.num_labels, 32});
            expect_shape(w.classifier_b, {cfg.num_labels});
            EXPECT_EQ(w.classifier_w.name, "classifier.weight");
        } else {
            EXPECT_TRUE(w.classifier_w.empty());
        }
        if (cfg.task == Task::question_answering) {
            expect_shape(w.qa_w, {2, 32});
            expect_shape(w.qa_b, {2});
        } else {
            EXPECT_TRUE(w.qa_w.empty());
        }
    }
}

const Tensor* by_name(const BertWeights& w, const std::string& name) {
    std::vector<const Tensor*> all = {&w.word_emb,     &w.pos_emb,  &w.type_emb, &w.emb_ln_g,
                                      &w.emb_ln_b,     &w.pooler_w, &w.pooler_b, &w.classifier_w,
                                      &w.classifier_b, &w.qa_w,     &w.qa_b};
    for (const auto& l : w.layers)
        for (const Tensor* t :
             {&l.q_w, &l.q_b, &l.k_w, &l.k_b, &l.v_w, &l.v_b, &l.ao_w, &l.ao_b, &l.ln1_g, &l.ln1_b,
              &l.i_w, &l.i_b, &l.o_w, &l.o_b, &l.ln2_g, &l.ln2_b})
            all.push_back(t);
    for (const Tensor* t : all)
        if (t->name == name) return t;
    return nullptr;
}

TEST(Weights, ProbeValuesExact) {
    for (const char* name : kFixtures) {
        SCOPED_TRACE(name);
        BertWeights w = load_dir(fixture(name));
        const json ref = reference(name);
        ASSERT_GE(ref["probes"].size(), 4u);
        for (const auto& p : ref["probes"]) {
            const Tensor* t = by_name(w, p["tensor"]);
            ASSERT_NE(t, nullptr) << p["tensor"];
            auto idx = p["flat_index"].get<std::vector<int64_t>>();
            auto val = p["values"].get<std::vector<double>>();
            for (std::size_t i = 0; i < idx.size(); ++i)
                EXPECT_EQ(t->data[static_cast<std::size_t>(idx[i])], static_cast<float>(val[i]));
        }
    }
}

// tiny_f16 / tiny_bf16 hold tiny_cls / tiny_base rounded: every element within half an ulp.
TEST(Weights, ReducedPrecisionMatchesF32Source) {
    struct Pair {
        const char* reduced;
        const char* source;
        float rel;  // half an ulp, relative
        float abs;  // subnormal range (f16)
    };
    for (Pair pr : {Pair{"tiny_f16", "tiny_cls", std::ldexp(1.0f, -11), std::ldexp(1.0f, -25)},
                    Pair{"tiny_bf16", "tiny_base", std::ldexp(1.0f, -8), 0.0f}}) {
        SCOPED_TRACE(pr.reduced);
        BertWeights r = load_dir(fixture(pr.reduced));
        BertWeights s = load_dir(fixture(pr.source));
        std::vector<std::pair<const Tensor*, const Tensor*>> pairs = {
            {&r.word_emb, &s.word_emb},           {&r.pos_emb, &s.pos_emb},
            {&r.pooler_w, &s.pooler_w},           {&r.layers[0].q_w, &s.layers[0].q_w},
            {&r.layers[1].i_w, &s.layers[1].i_w}, {&r.layers[1].ln2_g, &s.layers[1].ln2_g},
            {&r.classifier_w, &s.classifier_w}};
        int64_t differ = 0;
        for (auto [a, b] : pairs) {
            ASSERT_EQ(a->data.size(), b->data.size()) << a->name;
            for (std::size_t i = 0; i < a->data.size(); ++i) {
                float x = a->data[i], y = b->data[i];
                ASSERT_LE(std::fabs(x - y), pr.rel * std::fabs(y) + pr.abs)
                    << a->name << "[" << i << "]";
                differ += x != y;
            }
        }
        EXPECT_GT(differ, 1000);  // the values really were rounded
    }
}

// The texts in reference.json tokenize (sparq's WordPiece, vocab.txt + tokenizer_config.json) to
// the input_ids the reference outputs were computed for.
TEST(Fixtures, TextsTokenizeToReferenceIds) {
    for (const char* name : kFixtures) {
        SCOPED_TRACE(name);
        Tokenizer tok = Tokenizer::from_dir(fixture(name).string());
        const json ref = reference(name);
        int checked = 0;
        for (const auto& c : ref["cases"]) {
            if (!c.contains("texts")) continue;
            for (std::size_t b = 0; b < c["texts"].size(); ++b) {
                const auto& t = c["texts"][b];
                std::optional<std::string> pair;
                if (t.size() > 1 && t[1].is_string()) pair = t[1].get<std::string>();
                Encoding e = tok.encode(t[0].get<std::string>(), pair);
                auto ids = c["input_ids"][b].get<std::vector<int32_t>>();
                auto mask = c["attention_mask"][b].get<std::vector<int32_t>>();
                auto types = c["token_type_ids"][b].get<std::vector<int32_t>>();
                std::size_t len = static_cast<std::size_t>(std::count(mask.begin(), mask.end(), 1));
                ids.resize(len);
                types.resize(len);
                EXPECT_EQ(e.ids, ids) << c["name"] << " #" << b;
                EXPECT_EQ(e.type_ids, types) << c["name"] << " #" << b;
                EXPECT_EQ(e.tokens, c["tokens"][b].get<std::vector<std::string>>());
                ++checked;
            }
        }
        EXPECT_EQ(checked, 6);
    }
}

TEST(Weights, SparseFixtureIsNinetyPercentZero) {
    BertWeights w = load_dir(fixture("tiny_sparse"));
    BertWeights dense = load_dir(fixture("tiny_cls"));
    json ref = reference("tiny_sparse");
    ASSERT_EQ(ref["sparsity"].size(), 12u);
    for (std::size_t li = 0; li < 2; ++li) {
        const auto& l = w.layers[li];
        const auto& d = dense.layers[li];
        std::vector<std::pair<const Tensor*, const Tensor*>> mats = {
            {&l.q_w, &d.q_w},   {&l.k_w, &d.k_w}, {&l.v_w, &d.v_w},
            {&l.ao_w, &d.ao_w}, {&l.i_w, &d.i_w}, {&l.o_w, &d.o_w}};
        for (auto [t, dt] : mats) {
            int64_t zeros = 0;
            float max_dropped = 0, min_kept = INFINITY;
            for (std::size_t i = 0; i < t->data.size(); ++i) {
                if (t->data[i] == 0.0f) {
                    ++zeros;
                    max_dropped = std::max(max_dropped, std::fabs(dt->data[i]));
                } else {
                    EXPECT_EQ(t->data[i], dt->data[i]);
                    min_kept = std::min(min_kept, std::fabs(t->data[i]));
                }
            }
            EXPECT_EQ(zeros, std::llround(0.9 * t->numel())) << t->name;
            EXPECT_LE(max_dropped, min_kept) << t->name;  // pruned by magnitude
            EXPECT_NEAR(ref["sparsity"][t->name].get<double>(), 0.9, 1e-3);
        }
    }
    EXPECT_EQ(
        std::memcmp(w.word_emb.data.data(), dense.word_emb.data.data(), w.word_emb.data.size() * 4),
        0);  // embeddings untouched
}

TEST(Weights, LegacyLayerNormNamesAndExtraTensors) {
    TempDir dir;
    // A BertForMaskedLM-style file: "bert." prefix, gamma/beta names, MLM head and a position_ids
    // buffer sparq does not use, no pooler.
    copy_fixture(
        "tiny_base", dir.path(),
        [](std::vector<OwnedTensor>& ts) {
            for (auto& t : ts) {
                std::string n = t.name;
                if (n.ends_with("LayerNorm.weight")) n.replace(n.size() - 6, 6, "gamma");
                if (n.ends_with("LayerNorm.bias")) n.replace(n.size() - 4, 4, "beta");
                t.name = "bert." + n;
            }
            std::erase_if(ts, [](const OwnedTensor& t) {
                return t.name.find("pooler") != std::string::npos;
            });
            ts.push_back(
                {"cls.predictions.bias", DType::f32, {390}, std::vector<std::byte>(390 * 4)});
            std::vector<std::byte> pos(128 * 8);
            ts.push_back({"bert.embeddings.position_ids", DType::i64, {1, 128}, pos});
        },
        [](json& c) { c["architectures"] = {"BertForMaskedLM"}; });
    BertWeights w = load_dir(dir.path());
    BertWeights ref = load_dir(fixture("tiny_base"));
    EXPECT_EQ(w.emb_ln_g.name, "bert.embeddings.LayerNorm.gamma");
    EXPECT_EQ(w.layers[1].ln1_b.name, "bert.encoder.layer.1.attention.output.LayerNorm.beta");
    EXPECT_EQ(std::memcmp(w.layers[1].ln1_b.data.data(), ref.layers[1].ln1_b.data.data(), 32 * 4),
              0);
    EXPECT_EQ(std::memcmp(w.layers[0].i_w.data.data(), ref.layers[0].i_w.data.data(), 64 * 32 * 4),
              0);
    EXPECT_TRUE(w.pooler_w.empty());
}

TEST(Weights, MissingTensor) {
    TempDir dir;
    copy_fixture("tiny_cls", dir.path(),
                 [](auto& ts) { erase_tensor(ts, "bert.encoder.layer.1.output.dense.bias"); });
    std::string m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m, "missing tensor 'bert.encoder.layer.1.output.dense.bias' in");
    EXPECT_HAS(m, "model.safetensors (needed by BertForSequenceClassification)");

    copy_fixture("tiny_cls", dir.path(), [](auto& ts) {
        erase_tensor(ts, "bert.pooler.dense.weight");
        erase_tensor(ts, "bert.pooler.dense.bias");
    });
    m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m, "missing tensor 'bert.pooler.dense.weight'");

    copy_fixture("tiny_qa", dir.path(), [](auto& ts) { erase_tensor(ts, "qa_outputs.bias"); });
    m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m, "missing tensor 'qa_outputs.bias'");
    EXPECT_HAS(m, "needed by BertForQuestionAnswering");

    // A pooler weight without its bias is an error even where the pooler is optional.
    copy_fixture("tiny_base", dir.path(), [](auto& ts) { erase_tensor(ts, "pooler.dense.bias"); });
    EXPECT_HAS(error_of([&] { load_dir(dir.path()); }), "missing tensor 'pooler.dense.bias'");

    // MPNet: a missing tensor is named as MPNet names it, the relative position bias included.
    copy_fixture("tiny_mpnet_cls", dir.path(),
                 [](auto& ts) { erase_tensor(ts, "mpnet.encoder.layer.1.attention.attn.k.bias"); });
    EXPECT_HAS(error_of([&] { load_dir(dir.path()); }),
               "missing tensor 'mpnet.encoder.layer.1.attention.attn.k.bias'");
    copy_fixture("tiny_mpnet", dir.path(),
                 [](auto& ts) { erase_tensor(ts, "encoder.relative_attention_bias.weight"); });
    m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m, "missing tensor 'encoder.relative_attention_bias.weight'");
    EXPECT_HAS(m, "needed by MPNetModel");

    // No encoder at all (e.g. a file of another model family).
    copy_fixture("tiny_base", dir.path(), [](auto& ts) {
        for (auto& t : ts) t.name = "roberta." + t.name;
    });
    m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m, "missing tensor 'embeddings.word_embeddings.weight'");
    EXPECT_HAS(m, "needed by BertModel");
}

TEST(Weights, WrongShape) {
    TempDir dir;
    copy_fixture("tiny_cls", dir.path(), [](auto& ts) {
        auto* t = find_tensor(ts, "bert.encoder.layer.1.attention.self.query.weight");
        t->shape = {32, 16};
        t->bytes.resize(32 * 16 * 4);
    });
    std::string m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m,
               "tensor 'bert.encoder.layer.1.attention.self.query.weight': expected shape "
               "[32, 32], found [32, 16]");

    // The config disagrees with the file: 3 labels in config.json, 2 rows in the classifier.
    copy_fixture("tiny_cls", dir.path(), nullptr, [](json& c) {
        c["id2label"] = {{"0", "a"}, {"1", "b"}, {"2", "c"}};
    });
    m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m, "tensor 'classifier.weight': expected shape [3, 32], found [2, 32]");

    copy_fixture("tiny_base", dir.path(), nullptr,
                 [](json& c) { c["max_position_embeddings"] = 512; });
    m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m,
               "tensor 'embeddings.position_embeddings.weight': expected shape [512, 32], found "
               "[128, 32]");
}

TEST(Weights, BadValuesAndDtypes) {
    TempDir dir;
    copy_fixture("tiny_base", dir.path(), [](auto& ts) {
        auto* t = find_tensor(ts, "encoder.layer.0.intermediate.dense.weight");
        float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(t->bytes.data() + 4 * 5, &nan, 4);
    });
    std::string m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m,
               "tensor 'encoder.layer.0.intermediate.dense.weight': value nan at flat index 5 is "
               "not finite");

    copy_fixture("tiny_base", dir.path(), [](auto& ts) {
        auto* t = find_tensor(ts, "encoder.layer.0.attention.self.key.weight");
        t->dtype = DType::i32;
    });
    m = error_of([&] { load_dir(dir.path()); });
    EXPECT_HAS(m,
               "tensor 'encoder.layer.0.attention.self.key.weight': expected a float dtype "
               "(F32, F16, BF16), found I32");
}

// The tokenizer files of a model directory are read strictly too, and must fit the model.
TEST(Weights, TokenizerFilesOfAModelDir) {
    TempDir dir;
    copy_fixture("tiny_cls", dir.path(), nullptr);
    const std::string vocab = read_file(fixture("tiny_cls") / "vocab.txt");
    const std::string vt = (dir / "vocab.txt").string();

    write_file(dir / "vocab.txt", vocab + "caf\xc3\n");  // a truncated 2-byte sequence
    EXPECT_HAS(error_of([&] { Tokenizer::from_dir(dir.path().string()); }),
               "vocabulary file '" + vt + "' line 391: invalid UTF-8 at byte 4");

    // More tokens than embedding rows: the extra ids would index past the table.
    write_file(dir / "vocab.txt", vocab + "extra1\nextra2\n");
    EXPECT_HAS(error_of([&] { Model::load(dir.path().string(), {}); }),
               "the tokenizer has 392 tokens but config.json has vocab_size 390");
    // Fewer is fine (HF pads vocab_size up; the unused rows are never looked up).
    write_file(dir / "vocab.txt", vocab.substr(0, vocab.rfind('\n', vocab.size() - 2) + 1));
    EXPECT_EQ(Model::load(dir.path().string(), {})->tokenizer()->vocab_size(), 389u);

    write_file(dir / "vocab.txt", vocab);
    for (const char* bad : {"0", "-1", "0.5"}) {
        write_file(dir / "tokenizer_config.json", std::string("{\"model_max_length\": ") + bad + "}");
        EXPECT_HAS(error_of([&] { Tokenizer::from_dir(dir.path().string()); }),
                   std::string("'model_max_length' must be a positive token count, found ") + bad);
    }
    // HF's "no limit" sentinel is still ignored.
    write_file(dir / "tokenizer_config.json", R"({"model_max_length": 1e30})");
    EXPECT_EQ(Tokenizer::from_dir(dir.path().string()).options().max_length, 512u);
}

TEST(Weights, MissingFileAndExtraLayers) {
    TempDir dir;
    copy_fixture("tiny_base", dir.path(), nullptr);
    fs::remove(dir / "model.safetensors");
    ModelConfig cfg = ModelConfig::from_file((dir / "config.json").string());
    EXPECT_HAS(error_of([&] { load_bert_weights(dir.path().string(), cfg); }),
               "model.safetensors: not found");
    write_file(dir / "pytorch_model.bin", "x");  // read when there is no safetensors file
    EXPECT_HAS(error_of([&] { load_bert_weights(dir.path().string(), cfg); }),
               "pytorch_model.bin: not a zip archive");
    fs::remove(dir / "pytorch_model.bin");

    // A config with fewer layers than the file loads the first layers and warns.
    copy_fixture("tiny_base", dir.path(), nullptr, [](json& c) { c["num_hidden_layers"] = 1; });
    ::testing::internal::CaptureStderr();
    BertWeights w = load_dir(dir.path());
    std::string warn = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(w.layers.size(), 1u);
    EXPECT_HAS(warn, "holds 2 encoder layers but config.json has num_hidden_layers=1");
}

}  // namespace
}  // namespace sparq
