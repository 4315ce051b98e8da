// Byte-level BPE tokenizer (RoBERTa / GPT-2): Hugging Face test vectors on the real roberta-base
// and gpt2 vocabularies, and unit tests on a tiny hand-made vocabulary written to a temp dir.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "sparq/error.hpp"
#include "sparq/tokenizer.hpp"
#include "test_util.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer_vectors.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using sparq::Encoding;
using sparq::Tokenizer;
using Strings = std::vector<std::string>;
using Offsets = std::vector<std::pair<uint32_t, uint32_t>>;

namespace {

using sparq::test::content_tokens;
using sparq::test::error_of;
using sparq::test::show;
using sparq::test::TempDir;

std::string utf8(char32_t c) {
    std::string s;
    if (c < 0x80) {
        s.push_back(static_cast<char>(c));
    } else {  // the byte-level alphabet stays below U+0800
        s.push_back(static_cast<char>(0xC0 | (c >> 6)));
        s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
    return s;
}

// GPT-2 encoder.py bytes_to_unicode(), written out independently of the library.
std::string byte_char(unsigned b) {
    std::vector<unsigned> bs;
    for (unsigned x = '!'; x <= '~'; ++x) bs.push_back(x);
    for (unsigned x = 0xA1; x <= 0xAC; ++x) bs.push_back(x);
    for (unsigned x = 0xAE; x <= 0xFF; ++x) bs.push_back(x);
    for (unsigned x : bs)
        if (x == b) return utf8(x);
    unsigned n = 0;
    for (unsigned x = 0; x < 256; ++x) {
        if (std::find(bs.begin(), bs.end(), x) != bs.end()) continue;
        if (x == b) return utf8(256 + n);
        ++n;
    }
    return {};
}

const std::string G = byte_char(' ');  // "Ġ"

// Tiny vocabulary: optional RoBERTa specials, the 256 byte tokens, then merge results.
struct TinyBpe {
    json vocab = json::object();
    Strings merges = {"h e",      "l l",       "he ll",      "hell o",     G + " w", "o r",
                      G + "w or", G + "wor l", G + "worl d", "w o",        "r l",    "Ã ©",
                      G + " h",   G + "h e",   G + "he ll",  G + "hell o", "1 2",    G + " hello"};
    explicit TinyBpe(bool roberta) {
        int id = 0;
        if (roberta)
            for (const char* s : {"<s>", "<pad>", "</s>", "<unk>"}) vocab[s] = id++;
        for (unsigned b = 0; b < 256; ++b) vocab[byte_char(b)] = id++;
        for (const std::string& m : merges) {
            const std::string joined = m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1);
            if (!vocab.contains(joined)) vocab[joined] = id++;
        }
        if (roberta) vocab["<mask>"] = id++;
    }
    std::string merges_txt() const {
        std::string s = "#version: 0.2\n";
        for (const std::string& m : merges) s += m + "\n";
        return s;
    }
    // Writes vocab.json + merges.txt (+ extra files) and loads the directory.
    Tokenizer load(const TempDir& d, const std::map<std::string, std::string>& extra = {}) const {
        d.write("vocab.json", vocab.dump());
        d.write("merges.txt", merges_txt());
        for (const auto& [name, text] : extra) d.write(name, text);
        return Tokenizer::from_dir(d.dir());
    }
};

// A tokenizer.json equivalent of vocab.json + merges.txt with the given post_processor.
std::string bpe_tokenizer_json(const std::string& vocab_json, const std::string& merges_txt,
                               const json& post_processor, const json& added) {
    json merges = json::array();
    std::istringstream in(merges_txt);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty() && line.rfind("#version", 0) != 0) merges.push_back(line);
    json root;
    root["added_tokens"] = added;
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = {{"type", "ByteLevel"},
                             {"add_prefix_space", false},
                             {"trim_offsets", true},
                             {"use_regex", true}};
    root["post_processor"] = post_processor;
    root["model"] = {{"type", "BPE"},
                     {"dropout", nullptr},
                     {"unk_token", nullptr},
                     {"continuing_subword_prefix", ""},
                     {"end_of_word_suffix", ""},
                     {"fuse_unk", false},
                     {"vocab", json::parse(vocab_json)},
                     {"merges", merges}};
    return root.dump();
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hugging Face test vectors (transformers.js suite) on the real roberta-base and gpt2 files.

TEST(BpeHfVectors, RobertaAndGpt2CasesMatch) {
    SPARQ_REQUIRE_SHARED_DATA(data);
    const json root =
        json::parse(std::ifstream(data / "tokenizer_tests" / "hf_tokenizer_test_vectors.json"));
    std::map<std::string, fs::path> dirs = {{"roberta", data / "vocab" / "roberta-base"},
                                            {"gpt2", data / "vocab" / "gpt2"}};
    std::map<std::string, Tokenizer> toks, json_toks;
    TempDir roberta_json, gpt2_json;
    for (const auto& [name, dir] : dirs) {
        toks.emplace(name, Tokenizer::from_dir(dir.string()));
        const Tokenizer& t = toks.at(name);
        const std::string vj = read_file(dir / "vocab.json"), mt = read_file(dir / "merges.txt");
        json pp, added = json::array();
        if (name == "roberta") {
            pp = {{"type", "RobertaProcessing"},
                  {"sep", {"</s>", 2}},
                  {"cls", {"<s>", 0}},
                  {"trim_offsets", true},
                  {"add_prefix_space", false}};
            for (const char* s : {"<s>", "<pad>", "</s>", "<unk>", "<mask>"})
                added.push_back({{"id", t.token_to_id(s)},
                                 {"content", s},
                                 {"special", true},
                                 {"normalized", false}});
        } else {
            pp = {{"type", "ByteLevel"}, {"trim_offsets", false}};
            added.push_back({{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}});
        }
        const TempDir& jd = name == "roberta" ? roberta_json : gpt2_json;
        jd.write("tokenizer.json", bpe_tokenizer_json(vj, mt, pp, added));
        json_toks.emplace(name, Tokenizer::from_dir(jd.dir()));
    }
    auto checks = [&](const std::string& model, const std::string& vocab, const std::string& name,
                      const json& c, const Encoding& e) {
        const std::string text = c["text"];
        EXPECT_EQ(toks.at(vocab).tokenize(text), c["tokens"].get<Strings>())
            << model << "/" << name << " tokenize()";
        // Offsets: a token made of whole characters covers exactly its bytes of the text
        // (RoBERTa trims the leading space of "Ġ..." tokens, GPT-2 keeps it).
        for (size_t i = 0; i < e.size(); ++i) {
            if (e.sequence_ids[i] < 0) {
                EXPECT_EQ(e.offsets[i], std::make_pair(0u, 0u));
                continue;
            }
            std::string bytes;
            sparq::tok::append_token_bytes(e.tokens[i], bytes);
            if (sparq::tok::utf8_lossy(bytes) != bytes) continue;  // part of a character
            if (vocab == "roberta")
                while (bytes.size() > 1 && bytes[0] == ' ') bytes.erase(0, 1);
            const auto [b, en] = e.offsets[i];
            ASSERT_LE(en, text.size());
            if (bytes == " ") continue;  // a lone "Ġ" trims to an empty range
            EXPECT_EQ(text.substr(b, en - b), bytes) << model << "/" << name << " token " << i;
        }
    };
    const sparq::test::VectorTally r = sparq::test::run_hf_vectors(root, toks, json_toks, checks);
    EXPECT_EQ(r.total, 11u + 26u + 26u);
    EXPECT_EQ(r.passed, r.total) << r.failures;
}

TEST(BpeHfVectors, RealVocabSpecialTokensAndPairs) {
    SPARQ_REQUIRE_SHARED_DATA(data);
    const Tokenizer roberta = Tokenizer::from_dir((data / "vocab" / "roberta-base").string());
    EXPECT_EQ(roberta.cls_id(), 0);
    EXPECT_EQ(roberta.pad_id(), 1);
    EXPECT_EQ(roberta.sep_id(), 2);
    EXPECT_EQ(roberta.unk_id(), 3);
    EXPECT_EQ(roberta.mask_id(), 50264);
    const Encoding e = roberta.encode("Hello world", std::string_view("How are you?"));
    EXPECT_EQ(e.ids, (std::vector<int32_t>{0, 31414, 232, 2, 2, 6179, 32, 47, 116, 2}));
    EXPECT_EQ(e.type_ids, std::vector<int32_t>(10, 0));
    EXPECT_EQ(roberta.decode(e.ids, true), "Hello worldHow are you?");
    // Special tokens in the text are matched whole.
    EXPECT_EQ(roberta.encode("<s>Hi<mask></s>").ids,
              (std::vector<int32_t>{0, 0, 30086, 50264, 2, 2}));
    // RobertaTokenizer's <mask> is lstrip: it takes the space before it.
    EXPECT_EQ(roberta.encode("Hello <mask>.").ids, (std::vector<int32_t>{0, 31414, 50264, 4, 2}));

    const Tokenizer gpt2 = Tokenizer::from_dir((data / "vocab" / "gpt2").string());
    EXPECT_EQ(gpt2.cls_id(), -1);
    EXPECT_EQ(gpt2.sep_id(), -1);
    EXPECT_EQ(gpt2.pad_id(), -1);
    EXPECT_EQ(gpt2.mask_id(), -1);
    EXPECT_EQ(gpt2.unk_id(), 50256);
    const Encoding g = gpt2.encode("Hello world<|endoftext|>", std::string_view("How"));
    EXPECT_EQ(g.ids, (std::vector<int32_t>{15496, 995, 50256, 2437}));
    EXPECT_EQ(g.type_ids, (std::vector<int32_t>{0, 0, 0, 1}));
}

// GPT-2 encoder.py bpe(): merges every occurrence of the lowest-ranked bigram, left to right,
// until none is in the merges (strings, no ids) — the original algorithm HF reproduces.
Strings reference_bpe(const Strings& symbols,
                      const std::map<std::pair<std::string, std::string>, size_t>& ranks) {
    Strings word = symbols;
    while (word.size() > 1) {
        size_t best = SIZE_MAX;
        std::pair<std::string, std::string> pair;
        for (size_t i = 0; i + 1 < word.size(); ++i) {
            auto it = ranks.find({word[i], word[i + 1]});
            if (it != ranks.end() && it->second < best) {
                best = it->second;
                pair = it->first;
            }
        }
        if (best == SIZE_MAX) break;
        Strings next;
        for (size_t i = 0; i < word.size();) {
            if (i + 1 < word.size() && word[i] == pair.first && word[i + 1] == pair.second) {
                next.push_back(pair.first + pair.second);
                i += 2;
            } else {
                next.push_back(word[i++]);
            }
        }
        word = std::move(next);
    }
    return word;
}

TEST(BpeHfVectors, RandomWordsMatchGpt2ReferenceBpe) {
    SPARQ_REQUIRE_SHARED_DATA(data);
    const fs::path dir = data / "vocab" / "gpt2";
    const Tokenizer tok = Tokenizer::from_dir(dir.string());
    std::map<std::pair<std::string, std::string>, size_t> ranks;
    for (const auto& [a, b] : sparq::tok::read_merges_file((dir / "merges.txt").string()))
        ranks.emplace(std::make_pair(a, b), ranks.size());
    // Words from a small alphabet repeat the frequent pairs (and long runs such as "aaaa").
    const Strings alphabet = {"a", "e", "t", "h", "s", "r", "n",        "o",
                              "i", "l", "'", ".", "1", "0", "\xC3\xA9", "\xE2\x82\xAC"};
    std::mt19937 rng(7);
    size_t compared = 0;
    for (int w = 0; w < 400; ++w) {
        std::string word = rng() % 3 == 0 ? " " : "";
        const size_t len = 1 + rng() % 24;
        for (size_t i = 0; i < len; ++i) word += alphabet[rng() % alphabet.size()];
        Offsets pieces;
        sparq::tok::gpt2_split(word, pieces);
        Strings want;
        for (const auto [b, e] : pieces) {
            Strings symbols;
            for (uint32_t k = b; k < e; ++k)
                symbols.push_back(byte_char(static_cast<unsigned char>(word[k])));
            for (const std::string& t : reference_bpe(symbols, ranks)) want.push_back(t);
        }
        ASSERT_EQ(tok.tokenize(word), want) << "'" << word << "'";
        ++compared;
    }
    EXPECT_EQ(compared, 400u);
}

// ---------------------------------------------------------------------------------------------
// Tiny hand-made vocabulary.

TEST(BpeUnit, ByteTableIsGpt2s) {
    const auto& table = sparq::tok::byte_to_unicode();
    for (unsigned b = 0; b < 256; ++b) {
        std::string s;
        sparq::tok::append_token_bytes(byte_char(b), s);
        ASSERT_EQ(s, std::string(1, static_cast<char>(b))) << b;
        EXPECT_EQ(utf8(table[b]), byte_char(b)) << b;
    }
    EXPECT_EQ(table[' '], U'\u0120');
    EXPECT_EQ(table['\n'], U'\u010A');
    EXPECT_EQ(table[0xA0], U'\u0142');
    EXPECT_EQ(table[0xAD], U'\u0143');
}

TEST(BpeUnit, Gpt2SplitFollowsTheRegex) {
    auto split = [](std::string_view text) {
        Offsets r;
        sparq::tok::gpt2_split(text, r);
        Strings out;
        for (auto [b, e] : r) out.emplace_back(text.substr(b, e - b));
        return out;
    };
    EXPECT_EQ(split("I'm he's we'll they're 've 'd't"),
              (Strings{"I", "'m", " he", "'s", " we", "'ll", " they", "'re", " '", "ve", " '", "d",
                       "'t"}));
    EXPECT_EQ(split("IT'S"), (Strings{"IT", "'", "S"}));  // contractions are case-sensitive
    EXPECT_EQ(split("Hi  Hello   "), (Strings{"Hi", " ", " Hello", "   "}));
    EXPECT_EQ(split("\t\tA 12ab ?!x"), (Strings{"\t", "\t", "A", " 12", "ab", " ?!", "x"}));
    EXPECT_EQ(split(" \n Are"), (Strings{" \n", " Are"}));
    EXPECT_EQ(split("caf\xC3\xA9 \xE2\x85\xA0\xE2\x85\xA1 \xE4\xB8\xAD"),
              (Strings{"caf\xC3\xA9", " \xE2\x85\xA0\xE2\x85\xA1", " \xE4\xB8\xAD"}));
    EXPECT_EQ(split(""), Strings{});
    EXPECT_EQ(split(" "), Strings{" "});
}

TEST(BpeUnit, MergesOffsetsAndTrimming) {
    TempDir d1, d2;
    const Tokenizer roberta = TinyBpe(true).load(d1);
    const Tokenizer gpt2 = TinyBpe(false).load(d2);
    EXPECT_EQ(roberta.tokenize("hello world"), (Strings{"hello", G + "world"}));
    EXPECT_EQ(gpt2.tokenize("hello world"), (Strings{"hello", G + "world"}));
    // RoBERTa (RobertaProcessing trim_offsets) drops the space from the offsets; GPT-2 keeps it.
    const Encoding r = roberta.encode("hello world");
    EXPECT_EQ(r.tokens, (Strings{"<s>", "hello", G + "world", "</s>"}));
    EXPECT_EQ(r.offsets, (Offsets{{0, 0}, {0, 5}, {6, 11}, {0, 0}}));
    EXPECT_EQ(r.sequence_ids, (std::vector<int8_t>{-1, 0, 0, -1}));
    EXPECT_EQ(gpt2.encode("hello world").offsets, (Offsets{{0, 5}, {5, 11}}));
    // Bytes of one character both point at the whole character; 'é' merges from "Ã ©".
    const Encoding c = gpt2.encode("h\xC3\xA9\xE2\x82\xAC");
    EXPECT_EQ(c.tokens, (Strings{"h", "\xC3\x83\xC2\xA9", byte_char(0xE2), byte_char(0x82),
                                 byte_char(0xAC)}));
    EXPECT_EQ(c.offsets, (Offsets{{0, 1}, {1, 3}, {3, 6}, {3, 6}, {3, 6}}));
    // Runs of spaces: a lone trimmed "Ġ" has an empty range at its end.
    EXPECT_EQ(roberta.encode("hello   ").offsets,
              (Offsets{{0, 0}, {0, 5}, {6, 6}, {7, 7}, {8, 8}, {0, 0}}));
    EXPECT_EQ(gpt2.encode("hello  world").tokens, (Strings{"hello", G, G + "world"}));
    // Merge order is by rank, not left to right: "wor" + "l" + "d" (w o, o r, Ġw or ...).
    EXPECT_EQ(gpt2.tokenize(" worldwor"), (Strings{G + "world", "w", "or"}));
}

TEST(BpeUnit, FilesExist) {
    TempDir d;
    EXPECT_FALSE(Tokenizer::files_exist(d.dir()));
    d.write("vocab.json", "{}");
    EXPECT_FALSE(Tokenizer::files_exist(d.dir()));  // merges.txt missing
    d.write("merges.txt", "");
    EXPECT_TRUE(Tokenizer::files_exist(d.dir()));
    TempDir w;
    w.write("vocab.txt", "[UNK]\n");
    EXPECT_TRUE(Tokenizer::files_exist(w.dir()));
    EXPECT_FALSE(Tokenizer::files_exist(w.dir() + "/missing"));
}

TEST(BpeUnit, AddPrefixSpaceFromConfig) {
    TempDir d;
    const Tokenizer t = TinyBpe(true).load(
        d, {{"tokenizer_config.json", R"({"add_prefix_space": true, "model_max_length": 7})"}});
    const Encoding e = t.encode("hello world");
    EXPECT_EQ(e.tokens, (Strings{"<s>", G + "hello", G + "world", "</s>"}));
    // The added space maps to the first character and is not trimmed away.
    EXPECT_EQ(e.offsets, (Offsets{{0, 0}, {0, 5}, {6, 11}, {0, 0}}));
    EXPECT_EQ(t.options().max_length, 7u);
    EXPECT_EQ(t.encode(" hello").tokens, (Strings{"<s>", G + "hello", "</s>"}));
    // HF keeps one leading space of the first token when add_prefix_space is set, even when
    // the text brought it (tokenizers byte_level.rs process_offsets).
    EXPECT_EQ(t.encode(" hello").offsets, (Offsets{{0, 0}, {0, 6}, {0, 0}}));
    EXPECT_EQ(t.encode("  hello").offsets, (Offsets{{0, 0}, {0, 0}, {2, 7}, {0, 0}}));
}

TEST(BpeUnit, PairsAndTruncation) {
    TempDir d;
    const Tokenizer t = TinyBpe(true).load(d);
    const int32_t s = t.token_to_id("<s>"), z = t.token_to_id("</s>");
    EXPECT_EQ(t.cls_id(), s);
    EXPECT_EQ(t.sep_id(), z);
    EXPECT_EQ(t.pad_id(), t.token_to_id("<pad>"));
    EXPECT_EQ(t.unk_id(), t.token_to_id("<unk>"));
    EXPECT_EQ(t.mask_id(), t.token_to_id("<mask>"));
    const int32_t hello = t.token_to_id("hello"), world = t.token_to_id(G + "world");
    const int32_t x = t.token_to_id("x");
    const Encoding e = t.encode("hello world", std::string_view("xxxxx"));
    EXPECT_EQ(e.ids, (std::vector<int32_t>{s, hello, world, z, z, x, x, x, x, x, z}));
    EXPECT_EQ(e.type_ids, std::vector<int32_t>(11, 0));
    EXPECT_EQ(e.sequence_ids, (std::vector<int8_t>{-1, 0, 0, -1, -1, 1, 1, 1, 1, 1, -1}));
    // Longest first: budget 9 - 4 specials = 5 -> the longer text b keeps 3, a keeps 2.
    EXPECT_EQ(t.encode("hello world", std::string_view("xxxxx"), 9).ids,
              (std::vector<int32_t>{s, hello, world, z, z, x, x, x, z}));
    EXPECT_EQ(t.encode("hello world", std::string_view("xxxxx"), 7).ids,
              (std::vector<int32_t>{s, hello, z, z, x, x, z}));
    EXPECT_EQ(t.encode("xxxxx", std::nullopt, 4).ids, (std::vector<int32_t>{s, x, x, z}));
    EXPECT_NE(error_of([&] { t.encode("x", std::string_view("x"), 3); }), "<no sparq::Error>");
    // Question-answering windows reuse the RoBERTa pair template.
    const auto w = t.encode_windows("hello", "xxxxx", 8, 1);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[0].ids, (std::vector<int32_t>{s, hello, z, z, x, x, x, z}));
}

TEST(BpeUnit, StripFlagsOfAddedTokens) {
    TempDir d1, d2;
    TinyBpe tiny(true);
    const Tokenizer files = tiny.load(d1);
    const int32_t mask = files.mask_id();
    // vocab.json RoBERTa: <mask> takes the whitespace before it (offsets included), not after.
    const Encoding e = files.encode("hello \t <mask> world");
    EXPECT_EQ(e.tokens, (Strings{"<s>", "hello", "<mask>", G + "world", "</s>"}));
    EXPECT_EQ(e.offsets, (Offsets{{0, 0}, {0, 5}, {5, 14}, {15, 20}, {0, 0}}));
    EXPECT_EQ(files.encode("<mask> world").tokens, (Strings{"<s>", "<mask>", G + "world", "</s>"}));
    // tokenizer.json flags: rstrip on <mask>, none on <s>.
    json added = json::array();
    added.push_back({{"id", files.cls_id()}, {"content", "<s>"}, {"special", true}});
    added.push_back({{"id", mask}, {"content", "<mask>"}, {"special", true}, {"rstrip", true}});
    json pp = {{"type", "ByteLevel"}, {"trim_offsets", false}};
    d2.write("tokenizer.json", bpe_tokenizer_json(tiny.vocab.dump(), tiny.merges_txt(), pp, added));
    const Encoding j = Tokenizer::from_dir(d2.dir()).encode("x <mask>  hello <s> world");
    EXPECT_EQ(j.tokens, (Strings{"x", G, "<mask>", "hello", G, "<s>", G + "world"}));
    EXPECT_EQ(j.offsets,
              (Offsets{{0, 1}, {1, 2}, {2, 10}, {10, 15}, {15, 16}, {16, 19}, {19, 25}}));
}

TEST(BpeUnit, EmptyTextAndInvalidUtf8) {
    TempDir d1, d2;
    const Tokenizer roberta = TinyBpe(true).load(d1);
    const Tokenizer gpt2 = TinyBpe(false).load(d2);
    EXPECT_EQ(roberta.encode("").tokens, (Strings{"<s>", "</s>"}));
    EXPECT_EQ(gpt2.encode("").size(), 0u);
    EXPECT_TRUE(gpt2.tokenize("").empty());
    for (const char* bad : {"ab\xC3", "\xFF", "a\xED\xA0\x80"}) {
        const std::string msg = error_of([&] { roberta.encode(bad); });
        EXPECT_NE(msg.find("invalid UTF-8"), std::string::npos) << msg;
        EXPECT_NE(error_of([&] { gpt2.tokenize(bad); }), "<no sparq::Error>");
    }
}

TEST(BpeUnit, DecodeRoundTrip) {
    TempDir d;
    const Tokenizer t = TinyBpe(true).load(d);
    for (const std::string& text :
         Strings{"hello world", "  leading and trailing  ", "caf\xC3\xA9 \xF0\x9F\x98\x82 12\n\tx",
                 "weird \xEF\xBD\x9E case", std::string("nul\0byte", 8)}) {
        const Encoding e = t.encode(text);
        EXPECT_EQ(t.decode(e.ids, true, false), text);
        EXPECT_EQ(t.decode(e.ids, false, false), "<s>" + text + "</s>");
    }
    EXPECT_EQ(t.decode(t.encode("<s>hi</s>").ids, true), "hi");
    EXPECT_EQ(t.decode(t.encode("<s>hi</s>").ids), "<s><s>hi</s></s>");
    EXPECT_EQ(t.decode(t.encode("is it ?").ids, true), "is it?");  // HF clean_up_tokenization
    // A partial character decodes to U+FFFD (Rust from_utf8_lossy), as HF.
    const Encoding e = t.encode("\xF0\x9F\x98\x82");
    ASSERT_EQ(e.size(), 6u);
    EXPECT_EQ(t.decode({e.ids[1], e.ids[2]}, true), "\xEF\xBF\xBD");
    EXPECT_EQ(t.decode({e.ids[1], e.ids[2], t.token_to_id("h"), e.ids[4]}, true),
              "\xEF\xBF\xBDh\xEF\xBF\xBD");
    EXPECT_EQ(sparq::tok::utf8_lossy("a\xE2\x82z\xF4\x90"),
              "a\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(BpeUnit, TokenizerJsonMatchesFiles) {
    TempDir d1, d2;
    TinyBpe tiny(true);
    const Tokenizer files = tiny.load(d1);
    json added = json::array();
    for (const char* s : {"<s>", "<pad>", "</s>", "<unk>", "<mask>"})
        added.push_back({{"id", files.token_to_id(s)}, {"content", s}, {"special", true}});
    json pp = {{"type", "RobertaProcessing"},
               {"sep", {"</s>", files.sep_id()}},
               {"cls", {"<s>", files.cls_id()}}};
    d2.write("tokenizer.json", bpe_tokenizer_json(tiny.vocab.dump(), tiny.merges_txt(), pp, added));
    const Tokenizer js = Tokenizer::from_dir(d2.dir());
    for (const std::string text : {"hello world<mask>", " wor 12 \xC3\xA9", "  x  "}) {
        const Encoding a = files.encode(text, std::string_view("hello")),
                       b = js.encode(text, "hello");
        EXPECT_EQ(a.ids, b.ids) << text;
        EXPECT_EQ(a.offsets, b.offsets) << text;
        EXPECT_EQ(a.type_ids, b.type_ids) << text;
    }
    EXPECT_EQ(js.mask_id(), files.mask_id());
    // A TemplateProcessing post-processor and a ByteLevel one.
    json tp = {{"type", "TemplateProcessing"},
               {"single",
                {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
               {"pair",
                {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                 {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
               {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {files.cls_id()}}}}}}};
    d2.write("tokenizer.json", bpe_tokenizer_json(tiny.vocab.dump(), tiny.merges_txt(), tp, added));
    EXPECT_EQ(Tokenizer::from_dir(d2.dir()).encode("hello").tokens, (Strings{"<s>", "hello"}));
    json bl = {{"type", "ByteLevel"}, {"trim_offsets", false}};
    d2.write("tokenizer.json", bpe_tokenizer_json(tiny.vocab.dump(), tiny.merges_txt(), bl, added));
    const Encoding g = Tokenizer::from_dir(d2.dir()).encode("hello world", "x");
    EXPECT_EQ(g.tokens, (Strings{"hello", G + "world", "x"}));
    EXPECT_EQ(g.offsets, (Offsets{{0, 5}, {5, 11}, {0, 1}}));
    EXPECT_EQ(g.type_ids, (std::vector<int32_t>{0, 0, 1}));
}

TEST(BpeUnit, ClearErrors) {
    TinyBpe tiny(true);
    auto contains = [](const std::string& msg, const std::string& part) {
        EXPECT_NE(msg.find(part), std::string::npos)
            << "message: " << msg << "\nexpected to contain: " << part;
    };
    {
        TempDir d;
        d.write("vocab.json", tiny.vocab.dump());
        d.write("merges.txt", "#version: 0.2\nh e\nl l\nthree parts here\n");
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }), "merges.txt:4: expected a merge");
        d.write("merges.txt", "#version: 0.2\nh e\nnoSpace\n");
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }), "merges.txt:3:");
        d.write("merges.txt", "h e\nq z\n");
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }),
                 "merge 2 'q z': token 'qz' is not in the vocabulary");
        fs::remove(fs::path(d.dir()) / "merges.txt");
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }), "no merges.txt beside");
        d.write("merges.txt", "h e\n");
        d.write("vocab.json", "[1, 2]");
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }),
                 "expected a non-empty JSON object");
        d.write("vocab.json", R"({"a": 0, "b": 0})");
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }), "token id 0 is used by both");
    }
    {
        TempDir d;
        json pp = {{"type", "BertProcessing"}, {"sep", {"</s>", 2}}, {"cls", {"<s>", 0}}};
        d.write("tokenizer.json",
                bpe_tokenizer_json(tiny.vocab.dump(), tiny.merges_txt(), pp, json::array()));
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }),
                 "unsupported post_processor 'BertProcessing' for a BPE model");
        json root = json::parse(
            bpe_tokenizer_json(tiny.vocab.dump(), tiny.merges_txt(), nullptr, json::array()));
        root["pre_tokenizer"] = {{"type", "Whitespace"}};
        d.write("tokenizer.json", root.dump());
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }),
                 "unsupported pre_tokenizer 'Whitespace' for a BPE model, expected ByteLevel");
        root["pre_tokenizer"] = {{"type", "ByteLevel"}};
        root["model"]["merges"] = {"h e", 7};
        d.write("tokenizer.json", root.dump());
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }), "merge 2 must be \"a b\"");
        root["model"]["merges"] = {{"h", "e"}};
        root["model"]["dropout"] = 0.1;
        d.write("tokenizer.json", root.dump());
        contains(error_of([&] { Tokenizer::from_dir(d.dir()); }), "BPE dropout is not supported");
    }
}
