// `sparq serve` (tools::Server): every endpoint's reply against the model called directly with
// the same inputs (one JSON format with the CLI, tools/results.hpp), the refusals of bad
// requests with their status codes, and one real HTTP round trip on a free port (including
// httplib's own 413 for a body over the limit, answered in JSON).
#include "tools/serve.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sparq/model.hpp"
#include "test_util.hpp"
#include "tools/results.hpp"

namespace sparq {
namespace {

using json = nlohmann::ordered_json;  // keeps the order of keys ("scores" are in decreasing order)
using tools::Server;

std::unique_ptr<Model> load(const char* name) {
    LoadOptions o;
    o.threads = 1;
    return Model::load((test::fixtures_dir() / name).string(), o);
}

tools::ServeOptions options() {
    tools::ServeOptions o;
    o.threads = 1;
    o.port = 0;
    o.max_texts = 4;
    o.batch_size = 3;  // requests of 4 texts run two forward passes
    o.max_length = 128;
    return o;
}

json ok(const Server& s, const std::string& method, const std::string& path, const std::string& body = "") {
    const Server::Reply r = s.handle(method, path, body);
    EXPECT_EQ(r.status, 200) << path << " " << body << " -> " << r.body;
    return json::parse(r.body);
}

// The status and error message of a refused request.
std::pair<int, std::string> refused(const Server& s, const std::string& method, const std::string& path,
                                    const std::string& body = "") {
    const Server::Reply r = s.handle(method, path, body);
    const json j = json::parse(r.body);
    EXPECT_TRUE(j.contains("error")) << r.body;
    return {r.status, j.value("error", "")};
}

PackedBatch batch_of(const Model& m, const std::vector<std::string>& texts, const char* pair = nullptr) {
    std::vector<Encoding> encs;
    for (const auto& t : texts)
        encs.push_back(m.tokenizer()->encode(t, pair ? std::optional<std::string_view>(pair) : std::nullopt, 128));
    return PackedBatch::from(encs);
}

const std::vector<std::string> kTexts = {"the movie was great", "a dull , boring film", "hello world",
                                         "what a wonderful day"};

TEST(Serve, EmbedEqualsTheModel) {
    auto m = load("tiny_cls");
    Server s(*m, "tiny", options());
    const json j = ok(s, "POST", "/embed", json{{"texts", kTexts}}.dump());
    EXPECT_EQ(j["model"], "tiny");
    const auto want = m->embed(batch_of(*m, kTexts), Pooling::mean, false);
    ASSERT_EQ(j["embeddings"].size(), kTexts.size());
    for (size_t i = 0; i < kTexts.size(); ++i) {
        ASSERT_EQ(j["embeddings"][i].size(), want[i].size());
        for (size_t k = 0; k < want[i].size(); ++k)
            EXPECT_EQ(j["embeddings"][i][k].get<double>(), tools::json_float(want[i][k])) << i << " " << k;
        EXPECT_EQ(j["tokens"][i], batch_of(*m, {kTexts[i]}).num_tokens());
    }
    // CLS pooling, L2-normalized, one "text".
    const json c = ok(s, "POST", "/embed", json{{"text", kTexts[1]}, {"pooling", "cls"}, {"normalize", true}}.dump());
    const auto wc = m->embed(batch_of(*m, {kTexts[1]}), Pooling::cls, true);
    ASSERT_EQ(c["embeddings"].size(), 1u);
    double norm = 0;
    for (size_t k = 0; k < wc[0].size(); ++k) {
        EXPECT_EQ(c["embeddings"][0][k].get<double>(), tools::json_float(wc[0][k]));
        norm += c["embeddings"][0][k].get<double>() * c["embeddings"][0][k].get<double>();
    }
    EXPECT_NEAR(norm, 1.0, 1e-5);
    EXPECT_EQ(ok(s, "POST", "/embed", R"({"texts": []})")["embeddings"].size(), 0u);
}

// A sentence-transformers directory's pooling and normalization are /embed's defaults (the
// request's fields still override them) and /info reports them.
TEST(Serve, EmbedDefaultsFromSentenceTransformersConfig) {
    auto m = load("tiny_cls");
    tools::ServeOptions o = options();
    o.embedding.present = true;
    o.embedding.pooling = Pooling::max;
    o.embedding.normalize = true;
    Server s(*m, "tiny", o);
    const auto want = m->embed(batch_of(*m, {kTexts[0]}), Pooling::max, true);
    const json j = ok(s, "POST", "/embed", json{{"text", kTexts[0]}}.dump());
    ASSERT_EQ(j["embeddings"][0].size(), want[0].size());
    for (size_t k = 0; k < want[0].size(); ++k)
        EXPECT_EQ(j["embeddings"][0][k].get<double>(), tools::json_float(want[0][k])) << k;
    const auto plain = m->embed(batch_of(*m, {kTexts[0]}), Pooling::mean, false);
    const json p = ok(s, "POST", "/embed",
                      json{{"text", kTexts[0]}, {"pooling", "mean"}, {"normalize", false}}.dump());
    for (size_t k = 0; k < plain[0].size(); ++k)
        EXPECT_EQ(p["embeddings"][0][k].get<double>(), tools::json_float(plain[0][k])) << k;
    const json info = ok(s, "GET", "/info", "");
    EXPECT_EQ(info["embedding"]["pooling"], "max");
    EXPECT_EQ(info["embedding"]["normalize"], true);
    EXPECT_EQ(info["embedding"]["sentence_transformers"], true);
}

// Prompts and truncate_dim on /embed: a named prompt (the default one when none is asked for)
// goes before each text and, with include_prompt false, its tokens ([CLS] + prompt) are left out
// of the pooling; truncate_dim keeps the first dimensions; /info reports the prompts.
TEST(Serve, EmbedPromptsAndTruncation) {
    auto m = load("tiny_cls");
    tools::ServeOptions o = options();
    o.embedding.prompts = {{"query", "query : "}, {"doc", "passage : "}};
    o.embedding.default_prompt_name = "query";
    o.embedding.include_prompt = false;
    Server s(*m, "tiny", o);
    const int64_t skip = static_cast<int64_t>(m->tokenizer()->encode("query : ").size()) - 1;
    ASSERT_GT(skip, 1);
    const auto want = m->embed(batch_of(*m, {"query : " + kTexts[0]}), Pooling::mean, false, skip);
    const json j = ok(s, "POST", "/embed", json{{"text", kTexts[0]}}.dump());
    for (size_t k = 0; k < want[0].size(); ++k)
        EXPECT_EQ(j["embeddings"][0][k].get<double>(), tools::json_float(want[0][k])) << k;
    const json t = ok(s, "POST", "/embed",
                      json{{"text", kTexts[0]}, {"prompt", ""}, {"truncate_dim", 5}}.dump());
    const auto plain = m->embed(batch_of(*m, {kTexts[0]}), Pooling::mean, false);
    ASSERT_EQ(t["embeddings"][0].size(), 5u);
    for (size_t k = 0; k < 5; ++k)
        EXPECT_EQ(t["embeddings"][0][k].get<double>(), tools::json_float(plain[0][k])) << k;
    auto [status, msg] =
        refused(s, "POST", "/embed", json{{"text", "x"}, {"prompt_name", "nope"}}.dump());
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("prompt name 'nope'"), std::string::npos) << msg;
    std::tie(status, msg) =
        refused(s, "POST", "/embed", json{{"text", "x"}, {"truncate_dim", 33}}.dump());
    EXPECT_EQ(status, 400);
    EXPECT_EQ(ok(s, "GET", "/info")["embedding"]["prompts"]["doc"], "passage : ");
}

// POST /fill-mask: the model's masked-LM predictions for each text, as `sparq fill-mask` prints
// them, batched across texts (4 texts, batch size 3: two passes); a text without a mask and a
// model without the head are refused.
TEST(Serve, FillMaskEqualsTheModel) {
    auto m = load("tiny_mlm");
    Server s(*m, "tiny", options());
    const std::vector<std::string> texts = {"the [MASK] was great !",
                                            "she thought the old [MASK] was [MASK] .",
                                            "[MASK] wrote the book", "a [MASK] day"};
    const json j = ok(s, "POST", "/fill-mask", json{{"texts", texts}, {"top_k", 3}}.dump());
    ASSERT_EQ(j["results"].size(), texts.size());
    for (size_t k = 0; k < texts.size(); ++k) {
        const std::vector<Encoding> e = {m->tokenizer()->encode(texts[k], std::nullopt, 128)};
        const auto want =
            tools::fill_mask_json(*m->tokenizer(), e, m->fill_mask(PackedBatch::from(e), 3));
        EXPECT_EQ(j["results"][k]["masks"].dump(), want.at(0).dump()) << k;
    }
    EXPECT_EQ(j["results"][1]["masks"].size(), 2u);
    EXPECT_EQ(ok(s, "POST", "/fill-mask",
                 json{{"text", texts[0]}}.dump())["results"][0]["masks"][0]["predictions"]
                  .size(),
              5u);
    auto [status, msg] =
        refused(s, "POST", "/fill-mask", R"({"texts": ["the [MASK] was", "no mask"]})");
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("text 1 has no mask token"), std::string::npos) << msg;
    std::tie(status, msg) = refused(s, "POST", "/fill-mask", R"({"text": "a [MASK]", "top_k": 0})");
    EXPECT_EQ(status, 400);
    auto base = load("tiny_base");
    Server sb(*base, "base", options());
    std::tie(status, msg) = refused(sb, "POST", "/fill-mask", R"({"text": "a [MASK]"})");
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("masked-LM head"), std::string::npos) << msg;
}

// POST /embed on a SPLADE model (a SparseEncoder directory's pooling): each text's nonzero
// vocabulary weights, largest first, equal to the model's vectors (4 texts, batch size 3: two
// passes); "pooling": "splade" on request; truncate_dim and OpenAI's /v1/embeddings refused; /info
// gives the vocabulary as the size.
TEST(Serve, SpladeEmbedEqualsTheModel) {
    auto m = load("tiny_mlm");
    tools::ServeOptions o = options();
    o.embedding.present = true;
    o.embedding.pooling = Pooling::splade;
    Server s(*m, "splade", o);
    const std::vector<std::string> texts = {"the movie was great !", "a",
                                            "she thought the old house", "hello world"};
    const json j = ok(s, "POST", "/embed", json{{"texts", texts}}.dump());
    ASSERT_EQ(j["embeddings"].size(), texts.size());
    for (size_t k = 0; k < texts.size(); ++k) {
        const std::vector<Encoding> e = {m->tokenizer()->encode(texts[k], std::nullopt, 128)};
        const auto v = m->embed(PackedBatch::from(e), Pooling::splade, false)[0];
        const auto want = sparse_entries(v);
        const json& got = j["embeddings"][k];
        ASSERT_EQ(got["indices"].size(), want.size()) << k;
        ASSERT_GT(want.size(), 10u);
        for (size_t i = 0; i < want.size(); ++i) {
            EXPECT_EQ(got["indices"][i].get<int32_t>(), want[i].first);
            EXPECT_EQ(got["tokens"][i], m->tokenizer()->id_to_token(want[i].first));
            EXPECT_FLOAT_EQ(got["values"][i].get<float>(), want[i].second);
        }
        // The CLI's object (one formatting code for both).
        EXPECT_EQ(got.dump(), tools::splade_json(v, *m->tokenizer()).dump());
    }
    auto base = load("tiny_base");
    Server sb(*base, "base", options());  // mean pooling by default; SPLADE on request
    const json r = ok(s, "POST", "/embed", json{{"text", "a"}, {"pooling", "splade"}}.dump());
    EXPECT_EQ(r["embeddings"][0], j["embeddings"][1]);
    auto [status, msg] =
        refused(s, "POST", "/embed", json{{"text", "a"}, {"truncate_dim", 4}}.dump());
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("does not apply to SPLADE"), std::string::npos) << msg;
    const Server::Reply openai = s.handle("POST", "/v1/embeddings", R"({"input": "a"})");
    EXPECT_EQ(openai.status, 400);
    msg = json::parse(openai.body)["error"].value("message", "");  // OpenAI's error shape
    EXPECT_NE(msg.find("SPLADE model"), std::string::npos) << openai.body;
    std::tie(status, msg) =
        refused(sb, "POST", "/embed", json{{"text", "a"}, {"pooling", "splade"}}.dump());
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("no masked-LM head"), std::string::npos) << msg;
    EXPECT_EQ(ok(s, "GET", "/info")["embedding"]["size"], 390);
    EXPECT_EQ(ok(s, "GET", "/info")["embedding"]["pooling"], "splade");
}

// POST /rerank: each (query, document) pair through the classifier (4 documents, batch size 3:
// two passes), P(label 1) of the two-label fixture (the raw log-odds with "raw"), most relevant
// first, top_k; refused for a model that is no cross-encoder and for bad fields.
TEST(Serve, RerankEqualsTheModel) {
    auto m = load("tiny_cls");
    Server s(*m, "tiny", options());
    const std::string q = "who wrote the book ?";
    const std::vector<std::string> docs = {"the movie was great !", "a famous writer in london",
                                           "i did not like it", "the book"};
    std::vector<float> want;
    for (const auto& d : docs) {
        const std::vector<Encoding> e = {m->tokenizer()->encode(q, d, 128)};
        const Classification c = m->classify(PackedBatch::from(e)).at(0);
        want.push_back(c.scores.at(1));
        EXPECT_NEAR(tools::rerank_score(m->config(), c, true), c.logits[1] - c.logits[0], 1e-6);
    }
    const json j = ok(s, "POST", "/rerank", json{{"query", q}, {"documents", docs}}.dump());
    ASSERT_EQ(j["results"].size(), docs.size());
    for (size_t r = 0; r < docs.size(); ++r) {
        const size_t i = j["results"][r]["index"].get<size_t>();
        EXPECT_NEAR(j["results"][r]["score"].get<double>(), want[i], 1e-6) << r;
        if (r > 0)
            EXPECT_GE(j["results"][r - 1]["score"].get<double>(),
                      j["results"][r]["score"].get<double>());
    }
    const json top =
        ok(s, "POST", "/rerank",
           json{{"query", q}, {"documents", docs}, {"top_k", 2}, {"raw", true}}.dump());
    ASSERT_EQ(top["results"].size(), 2u);
    EXPECT_EQ(top["results"][0]["index"], j["results"][0]["index"]);
    auto [status, msg] = refused(s, "POST", "/rerank", json{{"query", q}}.dump());
    EXPECT_EQ(status, 400);
    std::tie(status, msg) =
        refused(s, "POST", "/rerank", json{{"query", q}, {"documents", "one"}}.dump());
    EXPECT_EQ(status, 400);
    auto base = load("tiny_base");
    Server sb(*base, "base", options());
    std::tie(status, msg) =
        refused(sb, "POST", "/rerank", json{{"query", q}, {"documents", docs}}.dump());
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("rerank needs a cross-encoder"), std::string::npos) << msg;
}

// POST /zero-shot on an NLI model (tiny_cls relabelled (entailment, not_entailment): entailment
// is label 0, so contradiction is the last label): 2 texts x 2 labels = 4 pairs (batch size 3:
// two passes), each scored from the logits the model gives that (text, hypothesis) pair alone —
// the softmax of the entailment logits over the labels, or with multi_label entailment against
// contradiction; labels most likely first. Refused: a model without an entailment label, bad
// labels or template, more pairs than max_texts.
TEST(Serve, ZeroShotEqualsTheModel) {
    test::TempDir tmp;
    const auto nli = tmp.path() / "nli";
    std::filesystem::copy(test::fixtures_dir() / "tiny_cls", nli);
    json cfg = json::parse(std::ifstream(nli / "config.json"));
    cfg["id2label"] = {{"0", "entailment"}, {"1", "not_entailment"}};
    cfg["label2id"] = {{"entailment", 0}, {"not_entailment", 1}};
    std::ofstream(nli / "config.json") << cfg.dump();
    LoadOptions lo;
    lo.threads = 1;
    auto m = Model::load(nli.string(), lo);
    Server s(*m, "nli", options());
    const std::vector<std::string> texts = {"the movie was great", "who wrote the book ?"};
    const std::vector<std::string> labels = {"film", "book"};
    for (const bool multi : {false, true}) {
        const json j = ok(s, "POST", "/zero-shot",
                          json{{"texts", texts},
                               {"labels", labels},
                               {"template", "it is a {} ."},
                               {"multi_label", multi}}
                              .dump());
        ASSERT_EQ(j["results"].size(), texts.size());
        for (size_t t = 0; t < texts.size(); ++t) {
            std::vector<double> ent, con;
            for (const auto& l : labels) {
                const std::vector<Encoding> e = {
                    m->tokenizer()->encode(texts[t], "it is a " + l + " .", 128)};
                const Classification c = m->classify(PackedBatch::from(e)).at(0);
                ent.push_back(c.logits.at(0));
                con.push_back(c.logits.at(1));
            }
            std::map<std::string, double> want;
            for (size_t l = 0; l < labels.size(); ++l)
                want[labels[l]] = multi ? 1 / (1 + std::exp(con[l] - ent[l]))
                                        : std::exp(ent[l]) / (std::exp(ent[0]) + std::exp(ent[1]));
            const json& r = j["results"][t];
            EXPECT_EQ(r["sequence"], texts[t]);
            ASSERT_EQ(r["labels"].size(), 2u);
            EXPECT_GE(r["scores"][0].get<double>(), r["scores"][1].get<double>());
            for (size_t k = 0; k < 2; ++k)
                EXPECT_NEAR(r["scores"][k].get<double>(),
                            want.at(r["labels"][k].get<std::string>()), 1e-6)
                    << t << " " << k << " multi " << multi;
        }
    }
    // The default template, one "text".
    const json d = ok(s, "POST", "/zero-shot", json{{"text", "hello"}, {"labels", {"a"}}}.dump());
    ASSERT_EQ(d["results"].size(), 1u);
    EXPECT_EQ(d["results"][0]["labels"], json({"a"}));
    const std::vector<Encoding> e = {m->tokenizer()->encode("hello", "This example is a.", 128)};
    const Classification c = m->classify(PackedBatch::from(e)).at(0);
    EXPECT_NEAR(d["results"][0]["scores"][0].get<double>(),
                1 / (1 + std::exp(c.logits[1] - c.logits[0])), 1e-6);

    auto refuse = [&](const Server& srv, const json& body, const std::string& says) {
        auto [status, msg] = refused(srv, "POST", "/zero-shot", body.dump());
        EXPECT_EQ(status, 400) << body.dump();
        EXPECT_NE(msg.find(says), std::string::npos) << msg;
    };
    refuse(s, json{{"text", "x"}}, "give \"labels\"");
    refuse(s, json{{"text", "x"}, {"labels", "a,b"}}, "array of strings");
    refuse(s, json{{"text", "x"}, {"labels", json::array()}}, "at least one candidate label");
    refuse(s, json{{"text", "x"}, {"labels", {"a", ""}}}, "label 2 of 2 is empty");
    refuse(s, json{{"text", "x"}, {"labels", {"a"}}, {"template", "none"}}, "exactly once");
    refuse(s, json{{"text", "x"}, {"labels", {"a"}}, {"multi_label", 1}}, "true or false");
    refuse(s, json{{"text", "x"}, {"labels", {"a"}}, {"multilabel", true}}, "unknown field");
    refuse(s, json{{"texts", {"x", "y", "z"}}, {"labels", {"a", "b"}}},
           "6 (text, label) pairs, at most 4");
    auto cls = load("tiny_cls");
    Server sc(*cls, "tiny", options());
    refuse(sc, json{{"text", "x"}, {"labels", {"a"}}}, "entailment label");
}

TEST(Serve, ClassifyEqualsTheModel) {
    auto m = load("tiny_cls");
    Server s(*m, "tiny", options());
    const json j = ok(s, "POST", "/classify", json{{"texts", kTexts}, {"pair", "second part"}, {"top_k", 1}}.dump());
    const auto want = m->classify(batch_of(*m, kTexts, "second part"));
    ASSERT_EQ(j["results"].size(), kTexts.size());
    for (size_t i = 0; i < kTexts.size(); ++i)
        EXPECT_EQ(j["results"][i].dump(), tools::classification_json(m->config(), want[i], 1).dump()) << i;
    EXPECT_EQ(j["results"][0]["scores"].size(), 1u);  // top_k
    // "pairs": one per text.
    const json p = ok(s, "POST", "/classify", json{{"texts", {"a", "b"}}, {"pairs", {"c", "d"}}}.dump());
    const auto a = m->classify(batch_of(*m, {"a"}, "c")), b = m->classify(batch_of(*m, {"b"}, "d"));
    EXPECT_EQ(p["results"][0].dump(), tools::classification_json(m->config(), a[0], 0).dump());
    EXPECT_EQ(p["results"][1].dump(), tools::classification_json(m->config(), b[0], 0).dump());

    const json info = ok(s, "GET", "/info");
    EXPECT_EQ(info["task"], "sequence-classification");
    EXPECT_EQ(info["labels"].size(), static_cast<size_t>(m->config().num_labels));
    EXPECT_EQ(ok(s, "GET", "/health")["status"], "ok");
    EXPECT_EQ(s.handle("HEAD", "/health", "").status, 200);
}

TEST(Serve, TokenClassificationAndQuestionAnswering) {
    auto t = load("tiny_tok");
    Server st(*t, "tok", options());
    const json j = ok(st, "POST", "/classify", json{{"text", kTexts[0]}}.dump());
    const PackedBatch b = batch_of(*t, {kTexts[0]});
    const Encoding e = t->tokenizer()->encode(kTexts[0], std::nullopt, 128);
    const TokenTag tags = t->tag_tokens(b)[0];
    EXPECT_EQ(j["results"][0]["tokens"].dump(),
              tools::token_tags_json(t->config(), *t->tokenizer(), e, tags).dump());
    // "aggregation": the entities of that strategy (default simple), as classify prints them.
    const std::string ner = "Alice lived in \xc3\x89vry, unfriendly people moved to Berlin";
    const Encoding ne = t->tokenizer()->encode(ner, std::string_view("alice lived in paris"), 128);
    const TokenTag ntags = t->tag_tokens(PackedBatch::from({ne}))[0];
    EXPECT_EQ(
        ok(st, "POST", "/classify",
           json{{"text", ner}, {"pair", "alice lived in paris"}}.dump())["results"][0]["entities"]
            .dump(),
        tools::token_entities_json(t->config(), *t->tokenizer(), ne, ntags, ner,
                                   "alice lived in paris")
            .dump());
    for (const std::string& a : tools::aggregation_names()) {
        const json r =
            ok(st, "POST", "/classify",
               json{{"texts", {ner}}, {"pair", "alice lived in paris"}, {"aggregation", a}}.dump());
        EXPECT_EQ(
            r["results"][0]["entities"].dump(),
            tools::token_entities_json(t->config(), *t->tokenizer(), ne, ntags, ner,
                                       "alice lived in paris", tools::aggregation_from_name(a))
                .dump())
            << a;
    }
    for (const json& bad : {json("mean"), json(1)}) {
        const auto [status, msg] =
            refused(st, "POST", "/classify", json{{"text", "x"}, {"aggregation", bad}}.dump());
        EXPECT_EQ(status, 400);
        EXPECT_EQ(msg.rfind("/classify: ", 0), 0u) << msg;
        EXPECT_NE(msg.find("aggregation"), std::string::npos) << msg;
    }

    auto q = load("tiny_qa");
    Server sq(*q, "qa", options());
    const json a = ok(sq, "POST", "/classify", json{{"question", "who ?"}, {"context", "the cat sat on the mat"}}.dump());
    const Encoding qe = q->tokenizer()->encode("who ?", std::string_view("the cat sat on the mat"), 128);
    const json want =
        tools::answer_json(*q->tokenizer(), qe, q->answer_spans(PackedBatch::from({qe}))[0], "the cat sat on the mat");
    for (const char* k : {"answer", "score", "probability", "start", "end"})
        EXPECT_EQ(a[k], want[k]) << k;
    // max_answer_len 1: a one-token answer, the model's best such span.
    const json a1 =
        ok(sq, "POST", "/classify",
           json{{"question", "who ?"}, {"context", "the cat sat on the mat"}, {"max_answer_len", 1}}
               .dump());
    const Span s1 = q->answer_spans(PackedBatch::from({qe}), 1)[0];
    EXPECT_EQ(a1["start"], s1.start);
    EXPECT_EQ(a1["end"], s1.start);
    EXPECT_EQ(refused(sq, "POST", "/classify",
                      json{{"question", "a"}, {"context", "b"}, {"max_answer_len", 0}}.dump())
                  .first,
              400);
    EXPECT_EQ(refused(sq, "POST", "/classify", R"({"texts": ["x"]})").first, 400);
    // The answer is the context's own text (casing and accents kept), cut at the token offsets.
    const std::string ctx = "The Book was written by a Famous writer in Zürich .";
    const json reply = ok(sq, "POST", "/classify", json{{"question", "who wrote the book ?"}, {"context", ctx}}.dump());
    const std::string answer = reply["answer"].get<std::string>();
    ASSERT_FALSE(answer.empty());
    EXPECT_NE(ctx.find(answer), std::string::npos) << answer;
    const Encoding be = q->tokenizer()->encode("who wrote the book ?", std::string_view(ctx), 128);
    const auto first = reply["start"].get<size_t>(), last = reply["end"].get<size_t>();
    EXPECT_EQ(answer, ctx.substr(be.offsets[first].first, be.offsets[last].second - be.offsets[first].first));
}

// POST /v1/embeddings, OpenAI's embeddings API: the same vectors as /embed (the directory's
// pooling), in OpenAI's list shape with usage; "dimensions" cuts as truncate_dim; base64 holds the
// little-endian float32 bytes; token-id inputs and bad fields are 400s in OpenAI's error shape.
TEST(Serve, OpenAiEmbeddingsEqualEmbed) {
    auto m = load("tiny_cls");
    Server s(*m, "tiny", options());
    const json e = ok(s, "POST", "/embed", json{{"texts", kTexts}}.dump());
    const json o =
        ok(s, "POST", "/v1/embeddings", json{{"input", kTexts}, {"model", "any"}}.dump());
    EXPECT_EQ(o["object"], "list");
    EXPECT_EQ(o["model"], "any");
    ASSERT_EQ(o["data"].size(), kTexts.size());
    int64_t tokens = 0;
    for (size_t i = 0; i < kTexts.size(); ++i) {
        EXPECT_EQ(o["data"][i]["object"], "embedding");
        EXPECT_EQ(o["data"][i]["index"], i);
        EXPECT_EQ(o["data"][i]["embedding"], e["embeddings"][i]);
        tokens += e["tokens"][i].get<int64_t>();
    }
    EXPECT_EQ(o["usage"]["prompt_tokens"], tokens);
    EXPECT_EQ(o["usage"]["total_tokens"], tokens);
    // One string, 5 dimensions, base64: the float32 bytes of /embed's first 5 values.
    const json b =
        ok(s, "POST", "/v1/embeddings",
           json{{"input", kTexts[0]}, {"dimensions", 5}, {"encoding_format", "base64"}}.dump());
    EXPECT_EQ(b["model"], "tiny");
    const std::string b64 = b["data"][0]["embedding"].get<std::string>();
    ASSERT_EQ(b64.size(), 28u);  // 20 bytes
    std::string bytes;
    const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < b64.size(); i += 4) {
        uint32_t x = 0;
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char ch = b64[i + k];
            x = x << 6 | (ch == '=' ? (++pad, 0u) : static_cast<uint32_t>(abc.find(ch)));
        }
        for (int k = 0; k < 3 - pad; ++k) bytes += static_cast<char>(x >> (16 - 8 * k) & 255);
    }
    ASSERT_EQ(bytes.size(), 20u);
    const auto want = m->embed(batch_of(*m, {kTexts[0]}), Pooling::mean, false);
    for (size_t k = 0; k < 5; ++k) {
        float f;
        std::memcpy(&f, bytes.data() + 4 * k, 4);
        EXPECT_EQ(f, want[0][k]) << k;
    }
    struct Bad {
        std::string body, says;
    };
    for (const Bad& c :
         std::vector<Bad>{{R"({"input": [1, 2, 3]})", "token-id inputs"},
                          {R"({"input": [[1, 2]]})", "token-id inputs"},
                          {R"({"input": []})", "must not be empty"},
                          {R"({"model": "x"})", "\"input\" is required"},
                          {R"({"input": "a", "dimensions": 33})", "\"dimensions\""},
                          {R"({"input": "a", "encoding_format": "hex"})", "encoding_format"},
                          {R"({"input": "a", "temperature": 1})", "unknown field"}}) {
        const Server::Reply r = s.handle("POST", "/v1/embeddings", c.body);
        EXPECT_EQ(r.status, 400) << c.body;
        const json j = json::parse(r.body);
        ASSERT_TRUE(j["error"].is_object()) << r.body;
        EXPECT_EQ(j["error"]["type"], "invalid_request_error");
        EXPECT_NE(j["error"]["message"].get<std::string>().find(c.says), std::string::npos)
            << r.body;
    }
}

TEST(Serve, RefusesBadRequests) {
    auto m = load("tiny_cls");
    Server s(*m, "tiny", options());
    struct Case {
        std::string method, path, body;
        int status;
        std::string says;
    };
    const Case cases[] = {
        {"POST", "/embed", "not json", 400, "not valid JSON"},
        {"POST", "/embed", "[1, 2]", 400, "JSON object"},
        {"POST", "/embed", "{\"text\": \"caf\xc3\"}", 400, "not valid JSON"},  // invalid UTF-8
        {"POST", "/embed", R"({"txt": "a"})", 400, "unknown field \"txt\""},
        {"POST", "/embed", R"({})", 400, "\"texts\""},
        {"POST", "/embed", R"({"text": "a", "texts": ["b"]})", 400, "\"texts\""},
        {"POST", "/embed", R"({"texts": "a"})", 400, "array of strings"},
        {"POST", "/embed", R"({"texts": ["a", 3]})", 400, "texts[1]"},
        {"POST", "/embed", R"({"texts": ["a","b","c","d","e"]})", 400, "at most 4"},
        {"POST", "/embed", R"({"text": "a", "pooling": "median"})", 400, "\"pooling\""},
        {"POST", "/embed", R"({"text": "a", "normalize": 1})", 400, "\"normalize\""},
        {"POST", "/classify", R"({"texts": ["a"], "pairs": ["b", "c"]})", 400, "one per text"},
        {"POST", "/classify", R"({"texts": ["a"], "pair": "b", "pairs": ["c"]})", 400, "not both"},
        {"POST", "/classify", R"({"texts": ["a"], "top_k": 0})", 400, "top_k"},
        {"POST", "/classify", R"({"texts": ["a"], "top_k": "2"})", 400, "top_k"},
        {"POST", "/classify", R"({"question": "a", "context": "b"})", 400, "unknown field"},
        {"GET", "/embed", "", 405, "use POST"},
        {"POST", "/health", "", 405, "use GET"},
        {"GET", "/nope", "", 404, "no endpoint /nope"},
    };
    for (const Case& c : cases) {
        const auto [status, msg] = refused(s, c.method, c.path, c.body);
        EXPECT_EQ(status, c.status) << c.path << " " << c.body << " -> " << msg;
        EXPECT_NE(msg.find(c.says), std::string::npos) << c.path << " " << c.body << " -> " << msg;
    }
    // A body nested deeper than 128 levels (a value of 200000 nested arrays) is a 400.
    const std::string deep =
        "{\"text\": \"a\", \"pair\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
    const auto [deep_status, deep_msg] = refused(s, "POST", "/classify", deep);
    EXPECT_EQ(deep_status, 400);
    EXPECT_NE(deep_msg.find("levels deep"), std::string::npos) << deep_msg;
    // A base model has no head for /classify.
    auto base = load("tiny_base");
    Server sb(*base, "base", options());
    const auto [status, msg] = refused(sb, "POST", "/classify", R"({"text": "a"})");
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("use /embed"), std::string::npos) << msg;
}

// /tokenize: the encodings the model endpoints run (the tokenizer with the server's length),
// pairs, offsets into each text, the sequence of each token (null for the specials).
TEST(Serve, TokenizeEqualsTheTokenizer) {
    auto m = load("tiny_cls");
    Server s(*m, "tiny", options());
    const Tokenizer& tok = *m->tokenizer();
    const json j = ok(s, "POST", "/tokenize",
                      json{{"texts", {"hello world", "the movie"}}, {"pair", "a pair"}}.dump());
    EXPECT_EQ(j["model"], "tiny");
    ASSERT_EQ(j["results"].size(), 2u);
    for (int k = 0; k < 2; ++k) {
        const Encoding e =
            tok.encode(k == 0 ? "hello world" : "the movie", std::string_view("a pair"), 128);
        const json& r = j["results"][k];
        EXPECT_EQ(r["ids"].get<std::vector<int32_t>>(), e.ids);
        EXPECT_EQ(r["tokens"].get<std::vector<std::string>>(), e.tokens);
        EXPECT_EQ(r["type_ids"].get<std::vector<int32_t>>(), e.type_ids);
        ASSERT_EQ(r["offsets"].size(), e.size());
        for (size_t i = 0; i < e.size(); ++i) {
            EXPECT_EQ(r["offsets"][i][0].get<uint32_t>(), e.offsets[i].first);
            EXPECT_EQ(r["offsets"][i][1].get<uint32_t>(), e.offsets[i].second);
            if (e.sequence_ids[i] < 0)
                EXPECT_TRUE(r["sequence_ids"][i].is_null());
            else
                EXPECT_EQ(r["sequence_ids"][i].get<int>(), e.sequence_ids[i]);
        }
    }
    EXPECT_EQ(j["results"][0]["tokens"].front(), "[CLS]");
    // Each token of the text covers its piece of it ("##" pieces without the marker).
    const std::string text = "hello world";
    const json& r0 = j["results"][0];
    for (size_t i = 0; i < r0["tokens"].size(); ++i) {
        if (r0["sequence_ids"][i] != 0) continue;
        std::string piece = r0["tokens"][i].get<std::string>();
        if (piece.rfind("##", 0) == 0) piece = piece.substr(2);
        const auto b = r0["offsets"][i][0].get<size_t>(), e = r0["offsets"][i][1].get<size_t>();
        EXPECT_EQ(text.substr(b, e - b), piece) << i;
    }
    EXPECT_EQ(r0["offsets"][1][0], 0);
    // The server's max_length truncates (128 here).
    std::string longer;
    for (int i = 0; i < 300; ++i) longer += "word ";
    EXPECT_EQ(ok(s, "POST", "/tokenize", json{{"text", longer}}.dump())["results"][0]["ids"].size(),
              128u);
    EXPECT_EQ(refused(s, "POST", "/tokenize", R"({"text": "a", "top_k": 2})").first, 400);
    EXPECT_EQ(refused(s, "POST", "/tokenize", R"({"texts": ["a"], "pairs": ["b", "c"]})").first,
              400);
}

// /metrics: Prometheus text with the requests by endpoint and status, their latency histogram,
// and what the model ran.
TEST(Serve, MetricsCountRequests) {
    auto m = load("tiny_cls");
    Server s(*m, "tiny", options());
    ok(s, "POST", "/embed", json{{"texts", kTexts}}.dump());  // 4 texts: 2 passes at batch size 3
    ok(s, "POST", "/classify", json{{"text", kTexts[0]}}.dump());
    refused(s, "POST", "/embed", "not json");
    refused(s, "GET", "/nope");
    refused(s, "GET", "/nope/again");
    const Server::Reply r = s.handle("GET", "/metrics", "");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    auto has = [&](const std::string& line) {
        EXPECT_NE(r.body.find("\n" + line + "\n"), std::string::npos) << line << "\n" << r.body;
    };
    has(R"(sparq_requests_total{endpoint="/embed",status="200"} 1)");
    has(R"(sparq_requests_total{endpoint="/embed",status="400"} 1)");
    has(R"(sparq_requests_total{endpoint="/classify",status="200"} 1)");
    has(R"(sparq_requests_total{endpoint="other",status="404"} 2)");  // unknown paths: one label
    has(R"(sparq_request_duration_seconds_bucket{endpoint="/embed",le="+Inf"} 2)");
    has(R"(sparq_request_duration_seconds_count{endpoint="/embed"} 2)");
    has("# TYPE sparq_request_duration_seconds histogram");
    has("sparq_model_requests_total 2");
    has("sparq_forward_passes_total 3");
    has("sparq_sequences_total 5");
    has("sparq_requests_waiting 0");
    // Tokens: the 5 encodings' lengths.
    size_t tokens = 0;
    for (const auto& t : kTexts) tokens += m->tokenizer()->encode(t, std::nullopt, 128).size();
    tokens += m->tokenizer()->encode(kTexts[0], std::nullopt, 128).size();
    has("sparq_tokens_total " + std::to_string(tokens));
    // Buckets are cumulative: each le's count <= the next one's.
    size_t prev = 0, at = 0;
    const std::string key = R"(sparq_request_duration_seconds_bucket{endpoint="/embed",le=")";
    while ((at = r.body.find(key, at)) != std::string::npos) {
        const size_t sp = r.body.find("} ", at);
        const size_t n = std::stoul(r.body.substr(sp + 2));
        EXPECT_GE(n, prev);
        prev = n;
        at = sp;
    }
    EXPECT_EQ(prev, 2u);
    // The metrics request itself is counted from the next scrape on.
    EXPECT_NE(s.handle("GET", "/metrics", "")
                  .body.find(R"(sparq_requests_total{endpoint="/metrics",status="200"} 1)"),
              std::string::npos);
    EXPECT_EQ(refused(s, "POST", "/metrics", "").first, 405);
}

// Requests that wait while the model is busy share one forward pass (per endpoint and options),
// with the same numbers as alone (up to oneDNN blocking a different token count differently).
TEST(Serve, BatchesWaitingRequests) {
    auto m = load("tiny_cls");
    tools::ServeOptions o = options();
    o.batch_size = 8;
    o.connection_threads = 8;
    Server s(*m, "tiny", o);
    std::vector<json> alone;
    for (const auto& t : kTexts) alone.push_back(ok(s, "POST", "/embed", json{{"text", t}}.dump()));
    const json alone_cls = ok(s, "POST", "/classify", json{{"text", kTexts[0]}}.dump());
    const tools::ServeStats before = s.stats();
    EXPECT_EQ(before.jobs, 5u);
    EXPECT_EQ(before.passes, 5u);

    s.pause_batching(true);
    std::vector<Server::Reply> replies(kTexts.size() + 2);
    std::vector<std::thread> clients;
    for (size_t i = 0; i < kTexts.size(); ++i)
        clients.emplace_back([&, i] { replies[i] = s.handle("POST", "/embed", json{{"text", kTexts[i]}}.dump()); });
    // Another endpoint, and other options: passes of their own.
    clients.emplace_back([&] { replies[4] = s.handle("POST", "/classify", json{{"text", kTexts[0]}}.dump()); });
    clients.emplace_back(
        [&] { replies[5] = s.handle("POST", "/embed", json{{"text", kTexts[1]}, {"pooling", "cls"}}.dump()); });
    for (int wait = 0; s.stats().waiting < replies.size() && wait < 10000; ++wait)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(s.stats().waiting, replies.size());
    s.pause_batching(false);
    for (auto& c : clients) c.join();
    const tools::ServeStats after = s.stats();
    EXPECT_EQ(after.jobs - before.jobs, replies.size());
    EXPECT_EQ(after.passes - before.passes, 3u);  // 4 mean embeddings together, classify, cls embedding
    EXPECT_EQ(after.waiting, 0u);
    for (size_t i = 0; i < kTexts.size(); ++i) {
        ASSERT_EQ(replies[i].status, 200) << replies[i].body;
        const json got = json::parse(replies[i].body);
        ASSERT_EQ(got["embeddings"][0].size(), alone[i]["embeddings"][0].size());
        for (size_t k = 0; k < got["embeddings"][0].size(); ++k)
            EXPECT_NEAR(got["embeddings"][0][k].get<double>(), alone[i]["embeddings"][0][k].get<double>(), 1e-5);
        EXPECT_EQ(got["tokens"], alone[i]["tokens"]);
    }
    ASSERT_EQ(replies[4].status, 200);
    EXPECT_EQ(json::parse(replies[4].body)["results"][0]["label"], alone_cls["results"][0]["label"]);
    ASSERT_EQ(replies[5].status, 200);
    const auto cls = m->embed(batch_of(*m, {kTexts[1]}), Pooling::cls, false);
    EXPECT_NEAR(json::parse(replies[5].body)["embeddings"][0][0].get<double>(), cls[0][0], 1e-5);

    // A request over batch_size texts runs in several passes: 4 texts at batch size 3 -> 2.
    Server small(*m, "tiny", options());
    ok(small, "POST", "/embed", json{{"texts", kTexts}}.dump());
    EXPECT_EQ(small.stats().passes, 2u);
}

TEST(Serve, HttpRoundTrip) {
    auto m = load("tiny_cls");
    tools::ServeOptions o = options();
    o.max_body_bytes = 4096;
    Server s(*m, "tiny", o);
    const int port = s.bind();
    ASSERT_GT(port, 0);
    std::thread t([&s] { s.run(); });
    httplib::Client c("127.0.0.1", port);
    auto h = c.Get("/health");
    ASSERT_TRUE(h) << httplib::to_string(h.error());
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(json::parse(h->body)["status"], "ok");
    auto e = c.Post("/embed", R"({"texts": ["hello world"]})", "application/json");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, 200);
    EXPECT_EQ(e->get_header_value("Content-Type"), "application/json");
    auto metrics = c.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    EXPECT_EQ(metrics->get_header_value("Content-Type"),
              "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(metrics->body.find(R"(sparq_requests_total{endpoint="/embed",status="200"} 1)"),
              std::string::npos);
    EXPECT_EQ(json::parse(e->body)["embeddings"].size(), 1u);
    auto big = c.Post("/embed", std::string(8192, ' '), "application/json");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->status, 413);
    EXPECT_NE(json::parse(big->body)["error"].get<std::string>().find("4096 bytes"), std::string::npos);
    auto bad = c.Post("/embed", "{", "application/json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    s.stop();
    t.join();
    // The port is free again: a second server can take it.
    o.port = port;
    Server again(*m, "tiny", o);
    EXPECT_EQ(again.bind(), port);
}

}  // namespace
}  // namespace sparq
