// sparq eval library: dataset readers on the real shared files and on generated TSVs (errors
// included), metrics against hand-computed values, and evaluation of the tiny_cls fixture
// against its PyTorch reference logits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sparq/error.hpp"
#include "sparq/model.hpp"
#include "test_util.hpp"
#include "tools/eval/dataset.hpp"
#include "tools/eval/evaluate.hpp"
#include "tools/eval/metrics.hpp"

namespace fs = std::filesystem;
using namespace sparq;
using namespace sparq::tools::eval;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("sparq_eval_test_" + std::to_string(::getpid()));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& content) const {
        std::ofstream(path / name, std::ios::binary) << content;
        return (path / name).string();
    }
};

// The sparq::Error message of `f`, or "" if it does not throw.
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

size_t count_label(const Dataset& ds, const std::string& label) {
    size_t n = 0;
    for (const auto& e : ds.examples) n += e.label == label;
    return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// metrics

TEST(Metrics, AccuracyF1Binary) {
    const std::vector<int64_t> gold = {1, 0, 1, 1, 0}, pred = {1, 1, 1, 0, 0};
    EXPECT_DOUBLE_EQ(accuracy(gold, pred), 0.6);
    // tp 2, fp 1, fn 1: 2*2 / (2*2 + 1 + 1)
    EXPECT_DOUBLE_EQ(f1_binary(gold, pred, 1), 4.0 / 6.0);
    // class 0 as positive: tp 1, fp 1, fn 1
    EXPECT_DOUBLE_EQ(f1_binary(gold, pred, 0), 0.5);
    EXPECT_TRUE(std::isnan(f1_binary({0, 0}, {0, 0}, 1)));
}

TEST(Metrics, MatthewsBinaryAndMulticlass) {
    // tp 2, tn 1, fp 1, fn 1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    EXPECT_NEAR(matthews({1, 0, 1, 1, 0}, {1, 1, 1, 0, 0}), 1.0 / 6.0, 1e-15);
    EXPECT_NEAR(matthews({1, 0, 1, 0}, {1, 0, 1, 0}), 1.0, 1e-15);
    EXPECT_NEAR(matthews({1, 0, 1, 0}, {0, 1, 0, 1}), -1.0, 1e-15);
    EXPECT_EQ(matthews({1, 0, 1, 0}, {1, 1, 1, 1}), 0.0);  // constant prediction
    // 3 classes, confusion rows (gold) x cols (pred): [[2,0,0],[1,0,1],[0,1,1]]
    // cov(X,Y) from the confusion matrix by hand: (3*6 - (3*2+1*2+2*2)) / sqrt((36-14)*(36-12))
    EXPECT_NEAR(matthews({0, 1, 2, 0, 1, 2}, {0, 2, 1, 0, 0, 2}), 6.0 / std::sqrt(22.0 * 24.0), 1e-15);
}

TEST(Metrics, PearsonSpearmanWithTies) {
    const std::vector<double> x = {1, 2, 3, 4, 5}, y = {2, 4, 5, 4, 5};
    // dx = -2..2, dy = -2,0,1,0,1: sxy 6, sxx 10, syy 6
    EXPECT_NEAR(pearson(x, y), 6.0 / std::sqrt(60.0), 1e-15);
    EXPECT_EQ(average_ranks(y), (std::vector<double>{1, 2.5, 4.5, 2.5, 4.5}));
    EXPECT_EQ(average_ranks({3, 3, 3}), (std::vector<double>{2, 2, 2}));
    // ranks(y) - 3 = -2,-.5,1.5,-.5,1.5: sxy 7, syy 9
    EXPECT_NEAR(spearman(x, y), 7.0 / std::sqrt(90.0), 1e-15);
    EXPECT_NEAR(spearman({0.1, 0.5, 0.2}, {10, 20, 30}), 0.5, 1e-15);  // ranks 1,3,2 vs 1,2,3
    EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
    EXPECT_THROW(pearson({1, 2}, {1}), Error);
    EXPECT_THROW(accuracy({}, {}), Error);
}

// ---------------------------------------------------------------------------------------------
// readers on the real files (counts from each folder's SOURCE.md)

TEST(Readers, RealFilesCountsAndContent) {
    SPARQ_REQUIRE_SHARED_DATA(data);
    struct Case {
        const char* file;
        const char* format;
        size_t count;
        bool pair;
    };
    const Case cases[] = {{"sst2/dev.tsv", "sst2", 872, false},
                          {"cola/raw/in_domain_dev.tsv", "cola", 527, false},
                          {"mrpc/msr_paraphrase_test.txt", "mrpc", 1725, true},
                          {"rte/dev.tsv", "rte", 277, true},
                          {"stsb/sts-dev.csv", "stsb", 1500, true},
                          {"trec/TREC_10.label", "trec", 500, false},
                          {"sms_spam/SMSSpamCollection", "sms", 5574, false}};
    for (const Case& c : cases) {
        const std::string path = (data / c.file).string();
        EXPECT_EQ(detect_format(path), c.format) << c.file;
        Dataset ds = read_dataset(path);
        EXPECT_EQ(ds.format, c.format);
        EXPECT_EQ(ds.examples.size(), c.count) << c.file;
        EXPECT_EQ(ds.has_pair(), c.pair) << c.file;
        for (const auto& e : ds.examples) {
            ASSERT_FALSE(e.text.empty()) << c.file << ":" << e.line;
            ASSERT_FALSE(e.label.empty()) << c.file << ":" << e.line;
            ASSERT_EQ(e.text.find('\t'), std::string::npos);
            ASSERT_EQ(e.text.find('\r'), std::string::npos);
        }
    }
    Dataset sst = read_dataset((data / "sst2/dev.tsv").string());
    EXPECT_EQ(sst.examples[0].text, "it 's a charming and often affecting journey . ");
    EXPECT_EQ(sst.examples[0].line, 2);
    EXPECT_EQ(count_label(sst, "1"), 444u);
    EXPECT_EQ(count_label(sst, "0"), 428u);

    Dataset cola = read_dataset((data / "cola/raw/in_domain_dev.tsv").string());
    EXPECT_EQ(cola.examples[0].text, "The sailors rode the breeze clear of the rocks.");
    EXPECT_EQ(cola.examples[0].label, "1");
    EXPECT_EQ(count_label(cola, "1") + count_label(cola, "0"), 527u);

    Dataset mrpc = read_dataset((data / "mrpc/msr_paraphrase_test.txt").string());
    EXPECT_EQ(count_label(mrpc, "1"), 1147u);
    EXPECT_EQ(count_label(mrpc, "0"), 578u);
    EXPECT_EQ(mrpc.examples[0].text.substr(0, 27), "PCCW's chief operating offi");
    EXPECT_EQ(mrpc.examples[0].pair->substr(0, 36), "Current Chief Operating Officer Mike");
    size_t quoted = 0;  // quotes are text, not CSV quoting
    for (const auto& e : mrpc.examples) quoted += e.text.find('"') != std::string::npos;
    EXPECT_GT(quoted, 10u);

    Dataset rte = read_dataset((data / "rte/dev.tsv").string());
    EXPECT_EQ(rte.examples[0].pair, "Christopher Reeve had an accident.");
    EXPECT_EQ(rte.examples[0].label, "1");

    Dataset sts = read_dataset((data / "stsb/sts-dev.csv").string());
    EXPECT_EQ(sts.examples[0].label, "5.000");
    EXPECT_EQ(sts.examples[0].text, "A man with a hard hat is dancing.");
    EXPECT_EQ(sts.examples[0].pair, "A man wearing a hard hat is dancing.");

    Dataset trec = read_dataset((data / "trec/TREC_10.label").string());
    EXPECT_EQ(trec.examples[0].label, "NUM");
    EXPECT_EQ(trec.examples[0].text, "How far is it from Denver to Aspen ?");
    ReadOptions fine;
    fine.format = "trec-fine";
    EXPECT_EQ(read_dataset((data / "trec/TREC_10.label").string(), fine).examples[0].label, "NUM:dist");
    // The ISO-8859-1 training file is read (converted to UTF-8) rather than rejected.
    EXPECT_EQ(read_dataset((data / "trec/train_5500.label").string()).examples.size(), 5452u);

    Dataset sms = read_dataset((data / "sms_spam/SMSSpamCollection").string());
    EXPECT_EQ(count_label(sms, "ham"), 4827u);
    EXPECT_EQ(count_label(sms, "spam"), 747u);

    ReadOptions lim;
    lim.limit = 10;
    EXPECT_EQ(read_dataset((data / "sst2/dev.tsv").string(), lim).examples.size(), 10u);
}

// ---------------------------------------------------------------------------------------------
// generic TSV and errors

TEST(Readers, GenericTsvColumns) {
    TempDir tmp;
    const std::string h = tmp.write("h.tsv", "id\tq\tlabel\tctx\n1\tfirst q\tyes\tsome ctx\n2\tsecond\tno\tother\n");
    Dataset a = read_dataset(h);  // header: label by name, text defaults to column 0
    EXPECT_EQ(a.format, "tsv");
    ASSERT_EQ(a.examples.size(), 2u);
    EXPECT_EQ(a.examples[0].text, "1");
    EXPECT_EQ(a.examples[0].label, "yes");
    ReadOptions o;
    o.text_col = "q";
    o.pair_col = "3";
    o.label_col = "LABEL";  // names match case-insensitively
    Dataset b = read_dataset(h, o);
    EXPECT_EQ(b.examples[1].text, "second");
    EXPECT_EQ(b.examples[1].pair, "other");
    EXPECT_EQ(b.examples[1].label, "no");
    EXPECT_EQ(b.examples[1].line, 3);

    const std::string nh = tmp.write("nh.tsv", "a b\t0\nc d\t1\n\n");
    ReadOptions no;
    no.header = false;
    Dataset c = read_dataset(nh, no);  // text 0, label = last column; blank line skipped
    ASSERT_EQ(c.examples.size(), 2u);
    EXPECT_EQ(c.examples[1].text, "c d");
    EXPECT_EQ(c.examples[1].label, "1");
    no.text_col = "text";
    EXPECT_NE(error_of([&] { read_dataset(nh, no); }).find("no header"), std::string::npos);
    o.text_col = "question";
    EXPECT_NE(error_of([&] { read_dataset(h, o); }).find("no text column named 'question'"), std::string::npos);
    o.text_col = "7";
    EXPECT_NE(error_of([&] { read_dataset(h, o); }).find("text column 7 does not exist"), std::string::npos);
}

TEST(Readers, GlueStsbHeaderVariant) {
    TempDir tmp;
    fs::create_directories(tmp.path / "STS-B");
    const std::string p = tmp.write("STS-B/dev.tsv",
                                    "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                                    "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man.\tA person.\t5.000\n");
    EXPECT_EQ(detect_format(p), "stsb");
    Dataset d = read_dataset(p);
    ASSERT_EQ(d.examples.size(), 1u);
    EXPECT_EQ(d.examples[0].text, "A man.");
    EXPECT_EQ(d.examples[0].pair, "A person.");
    EXPECT_EQ(d.examples[0].label, "5.000");
}

TEST(Readers, Errors) {
    TempDir tmp;
    EXPECT_NE(error_of([&] { read_dataset((tmp.path / "missing.tsv").string()); }).find("does not exist"),
              std::string::npos);
    const std::string cols = tmp.write("cols.tsv", "sentence\tlabel\nok\t1\nbad line\n");
    EXPECT_EQ(error_of([&] { read_dataset(cols); }),
              cols + ":3: expected 2 tab-separated columns, found 1");
    const std::string utf = tmp.write("utf.tsv", "sentence\tlabel\nok\t1\nbad \xff byte\t0\n");
    EXPECT_EQ(error_of([&] { read_dataset(utf); }), utf + ":3: invalid UTF-8 at byte 5 (expected UTF-8 text)");
    const std::string empty = tmp.write("empty.tsv", "sentence\tlabel\n");
    EXPECT_NE(error_of([&] { read_dataset(empty); }).find("has no examples"), std::string::npos);
    const std::string nolabel = tmp.write("nolabel.tsv", "sentence\tlabel\nok\t\n");
    EXPECT_EQ(error_of([&] { read_dataset(nolabel); }), nolabel + ":2: empty label (column 1)");
    ReadOptions cola;
    cola.format = "cola";
    const std::string c3 = tmp.write("c3.tsv", "src\t1\t\tgood.\nsrc\t0\tbad.\n");
    EXPECT_EQ(error_of([&] { read_dataset(c3, cola); }), c3 + ":2: expected 4 tab-separated columns, found 3");
    ReadOptions trec;
    trec.format = "trec";
    const std::string t = tmp.write("t.label", "NUM:dist How far ?\nnocolon here\n");
    EXPECT_NE(error_of([&] { read_dataset(t, trec); }).find(t + ":2: expected 'COARSE:fine question'"),
              std::string::npos);
    ReadOptions bad;
    bad.format = "csv";
    EXPECT_NE(error_of([&] { read_dataset(cols, bad); }).find("unknown dataset format 'csv'"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// evaluation of tiny_cls against its PyTorch reference logits

namespace {
struct RefCase {
    std::string text;
    std::optional<std::string> pair;
    std::vector<double> logits;
};

std::vector<RefCase> reference_cases() {
    std::ifstream f(sparq::test::fixtures_dir() / "tiny_cls" / "reference.json");
    nlohmann::json j = nlohmann::json::parse(f);
    std::vector<RefCase> out;
    for (const auto& c : j["cases"]) {
        if (!c.contains("texts")) continue;
        for (size_t i = 0; i < c["texts"].size(); ++i) {
            RefCase r;
            r.text = c["texts"][i][0].get<std::string>();
            if (!c["texts"][i][1].is_null()) r.pair = c["texts"][i][1].get<std::string>();
            r.logits = c["logits"][i].get<std::vector<double>>();
            out.push_back(r);
        }
    }
    return out;
}
}  // namespace

TEST(Evaluate, TinyClsMatchesReference) {
    auto model = Model::load((sparq::test::fixtures_dir() / "tiny_cls").string());
    auto cases = reference_cases();
    ASSERT_GE(cases.size(), 5u);
    // Single texts and pairs in two datasets; gold labels written as names (any case) and ids.
    const char* golds[] = {"NEGATIVE", "positive", "1", "0", "Negative", "positive"};
    for (bool pairs : {false, true}) {
        Dataset ds;
        ds.path = "mem";
        ds.format = "tsv";
        std::vector<const RefCase*> used;
        for (const auto& c : cases) {
            if (c.pair.has_value() != pairs) continue;
            Example e;
            e.text = c.text;
            e.pair = c.pair;
            e.label = golds[ds.examples.size() % 6];
            e.line = static_cast<int64_t>(ds.examples.size()) + 1;
            ds.examples.push_back(e);
            used.push_back(&c);
        }
        ASSERT_FALSE(used.empty());
        EvalOptions eo;
        eo.batch_size = 2;  // several batches
        int64_t last_progress = 0;
        eo.progress = [&](int64_t n) { last_progress = n; };
        EvalResult r = evaluate(*model, ds, eo);
        EXPECT_EQ(last_progress, static_cast<int64_t>(used.size()));
        ASSERT_EQ(r.predictions.size(), used.size());
        std::vector<int64_t> gold, pred;
        for (size_t i = 0; i < used.size(); ++i) {
            const auto& l = used[i]->logits;
            const int64_t best = l[1] > l[0] ? 1 : 0;
            const double p = 1.0 / (1.0 + std::exp(l[1 - best] - l[best]));
            EXPECT_EQ(r.predictions[i].predicted_id, best) << used[i]->text;
            EXPECT_EQ(r.predictions[i].predicted, best ? "positive" : "negative");
            EXPECT_NEAR(r.predictions[i].score, p, 1e-4) << used[i]->text;
            const std::string g = golds[i % 6];
            const int64_t gid = (g == "positive" || g == "1") ? 1 : 0;
            EXPECT_EQ(r.predictions[i].gold_id, gid);
            gold.push_back(gid);
            pred.push_back(best);
        }
        EXPECT_FALSE(r.regression);
        EXPECT_EQ(r.main_metric, "accuracy");
        EXPECT_DOUBLE_EQ(r.metric("accuracy"), accuracy(gold, pred));
        EXPECT_EQ(r.metrics.size(), 3u);  // accuracy, f1, mcc
    }
}

TEST(Evaluate, UnknownLabelNamesModelLabels) {
    auto model = Model::load((sparq::test::fixtures_dir() / "tiny_cls").string());
    Dataset ds;
    ds.path = "sms.txt";
    ds.examples = {{"hello", std::nullopt, "negative", 1}, {"win a prize", std::nullopt, "spam", 2}};
    EXPECT_EQ(error_of([&] { evaluate(*model, ds); }),
              "sms.txt:2: label 'spam' is not one of the model's labels (negative, positive) nor a label id 0..1");
    ds.examples[1].label = "2";
    EXPECT_NE(error_of([&] { evaluate(*model, ds); }).find("label '2'"), std::string::npos);
    EXPECT_EQ(positive_label(model->config()), 1);
}

TEST(Evaluate, RejectsModelWithoutClassifier) {
    auto model = Model::load((sparq::test::fixtures_dir() / "tiny_base").string());
    Dataset ds;
    ds.path = "x";
    ds.examples = {{"hello", std::nullopt, "0", 1}};
    EXPECT_NE(error_of([&] { evaluate(*model, ds); }).find("sequence-classification"), std::string::npos);
}
