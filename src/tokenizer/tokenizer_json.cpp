// Loaders: tokenizer.json (HF `tokenizers` format, WordPiece, byte-level BPE or Unigram model),
// vocab.txt with tokenizer_config.json / special_tokens_map.json (HF BertTokenizer files), and
// vocab.json + merges.txt (HF RobertaTokenizer / GPT2Tokenizer files).
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "core/files.hpp"
#include "core/json_depth.hpp"
#include "sparq/error.hpp"
#include "sparq/tokenizer.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace sparq {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr size_t k_default_max_length = 512;
constexpr int64_t k_max_vocab_ids = 1 << 24;

json read_json(const fs::path& path) {
    require_regular_file(path.string());
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open '" + path.string() + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw Error("'" + path.string() + "' is not valid JSON: " + e.what());
    }
    check_json_depth(text, path.string());
    return j;
}

std::string type_name(const json& j) { return j.type_name(); }

// Reads an optional boolean field; throws if present with another type. null counts as absent.
std::optional<bool> get_bool(const json& obj, const char* key, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean())
        throw Error(where + ": '" + key + "' must be a boolean, found " + type_name(*it));
    return it->get<bool>();
}

// A special token name in tokenizer_config.json: a string or an AddedToken object {"content": ...}.
std::optional<std::string> get_token_name(const json& obj, const char* key,
                                          const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
        auto c = it->find("content");
        if (c != it->end() && c->is_string()) return c->get<std::string>();
    }
    throw Error(where + ": '" + key + "' must be a token string or {\"content\": ...}, found " +
                type_name(*it));
}

// model_max_length (or legacy max_len); HF writes 1e30 for "no limit", which we ignore.
std::optional<size_t> get_max_length(const json& obj, const std::string& where) {
    for (const char* key : {"model_max_length", "max_len"}) {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) continue;
        if (!it->is_number())
            throw Error(where + ": '" + key + "' must be a number, found " + type_name(*it));
        const double v = it->get<double>();
        if (!(v >= 1))
            throw Error(where + ": '" + key + "' must be a positive token count, found " +
                        it->dump());
        if (v <= 1e9) return static_cast<size_t>(v);
    }
    return std::nullopt;
}

struct SpecialNames {
    std::string unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]", mask = "[MASK]";
    std::string bos, eos;                 // byte-level BPE only
    std::vector<std::string> additional;  // additional_special_tokens: also never split
};

void read_special_names(const json& obj, const std::string& where, SpecialNames& names) {
    if (auto v = get_token_name(obj, "unk_token", where)) names.unk = *v;
    if (auto v = get_token_name(obj, "cls_token", where)) names.cls = *v;
    if (auto v = get_token_name(obj, "sep_token", where)) names.sep = *v;
    if (auto v = get_token_name(obj, "pad_token", where)) names.pad = *v;
    if (auto v = get_token_name(obj, "mask_token", where)) names.mask = *v;
    if (auto v = get_token_name(obj, "bos_token", where)) names.bos = *v;
    if (auto v = get_token_name(obj, "eos_token", where)) names.eos = *v;
    auto it = obj.find("additional_special_tokens");
    if (it == obj.end() || it->is_null()) return;
    if (!it->is_array())
        throw Error(where + ": 'additional_special_tokens' must be an array, found " +
                    type_name(*it));
    for (const json& t : *it) {
        const json wrapped = {{"token", t}};
        names.additional.push_back(*get_token_name(wrapped, "token", where));
    }
}

// Applies tokenizer_config.json normalization keys (as BertTokenizer/BertTokenizerFast do).
void apply_config(const json& cfg, const std::string& where, TokenizerOptions& opts) {
    if (!cfg.is_object()) throw Error(where + ": expected a JSON object, found " + type_name(cfg));
    if (auto v = get_bool(cfg, "do_lower_case", where)) opts.do_lower_case = *v;
    if (cfg.contains("strip_accents")) opts.strip_accents = get_bool(cfg, "strip_accents", where);
    if (auto v = get_bool(cfg, "tokenize_chinese_chars", where)) opts.tokenize_chinese_chars = *v;
    if (auto v = get_max_length(cfg, where)) opts.max_length = *v;
}

int32_t require_token(const Tokenizer::Impl& im, const std::string& token, const char* role,
                      const std::string& where) {
    const int32_t id = im.vocab.find(token);
    if (id < 0)
        throw Error(where + ": the " + std::string(role) + " token '" + token +
                    "' is not in the vocabulary");
    return id;
}

// Adds the named tokens found in the vocabulary (empty names are skipped) and every additional
// token (which must be in it) to the tokens matched verbatim in the text.
void add_never_split(Tokenizer::Impl& im, std::initializer_list<const std::string*> names,
                     const std::vector<std::string>& additional, const std::string& where) {
    for (const std::string* name : names) {
        const int32_t id = name->empty() ? -1 : im.vocab.find(*name);
        if (id >= 0) im.added.emplace_back(*name, id);
    }
    for (const std::string& name : additional) {
        const int32_t id = im.vocab.find(name);
        if (id < 0)
            throw Error(where + ": additional special token '" + name +
                        "' is not in the vocabulary");
        im.added.emplace_back(name, id);
    }
}

std::unique_ptr<Tokenizer::Impl> impl_from_vocab(std::vector<std::string> tokens,
                                                 const TokenizerOptions& opts,
                                                 const SpecialNames& names,
                                                 const std::string& where) {
    auto im = std::make_unique<Tokenizer::Impl>();
    im->opts = opts;
    im->vocab = tok::Vocab(std::move(tokens), "##");
    im->unk = require_token(*im, names.unk, "unknown", where);
    im->cls = require_token(*im, names.cls, "classifier", where);
    im->sep = require_token(*im, names.sep, "separator", where);
    im->pad = im->vocab.find(names.pad);
    im->mask = im->vocab.find(names.mask);
    // BertTokenizer never splits its special tokens when they appear in the text.
    add_never_split(*im, {&names.unk, &names.sep, &names.pad, &names.cls, &names.mask},
                    names.additional, where);
    set_bert_templates(*im, im->cls, im->sep);
    im->finalize();
    return im;
}

const json& require_object(const json& parent, const char* key, const std::string& where) {
    auto it = parent.find(key);
    if (it == parent.end() || !it->is_object())
        throw Error(where + ": expected an object '" + key + "', found " +
                    (it == parent.end() ? std::string("nothing") : type_name(*it)));
    return *it;
}

std::string get_string(const json& obj, const char* key, const std::string& dflt,
                       const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return dflt;
    if (!it->is_string())
        throw Error(where + ": '" + key + "' must be a string, found " + type_name(*it));
    return it->get<std::string>();
}

// A non-negative integer below limit; `what` names it in the error.
int64_t get_uint(const json& v, int64_t limit, const std::string& what, const std::string& where) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= limit)
        throw Error(where + ": " + what + " must be an integer in 0.." + std::to_string(limit - 1) +
                    ", found " + v.dump());
    return v.get<int64_t>();
}

int32_t get_id(const json& v, const std::string& what, const std::string& where) {
    return static_cast<int32_t>(get_uint(v, k_max_vocab_ids, what, where));
}

// The id -> token table of a {"token": id} vocabulary plus added tokens.
struct TokenTable {
    std::vector<std::string> tokens;
    std::vector<bool> used;

    // Puts token at id; a second token on an id throws unless allow_same and it is the same.
    void place(const std::string& token, int32_t id, bool allow_same, const std::string& where) {
        if (static_cast<size_t>(id) >= tokens.size()) {
            tokens.resize(static_cast<size_t>(id) + 1);
            used.resize(static_cast<size_t>(id) + 1, false);
        }
        if (used[id]) {
            if (allow_same && tokens[id] == token) return;
            throw Error(where + ": token id " + std::to_string(id) + " is used by both '" +
                        tokens[id] + "' and '" + token + "'");
        }
        if (token.empty()) throw Error(where + ": empty token for id " + std::to_string(id));
        tokens[id] = token;
        used[id] = true;
    }
    // Places every entry of a {"token": id} object.
    void place_all(const json& vocab, const std::string& where) {
        for (auto it = vocab.begin(); it != vocab.end(); ++it)
            place(it.key(), get_id(it.value(), "vocab entry '" + it.key() + "'", where), false,
                  where);
    }
};

// Parses TemplateProcessing items, e.g. [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
// {"Sequence": {"id": "A", "type_id": 0}}]; special token names resolve through `specials`.
std::vector<TemplateItem> parse_template(const json& items, const json& specials,
                                         const std::string& where) {
    if (!items.is_array())
        throw Error(where + ": post_processor template must be an array, found " +
                    type_name(items));
    std::vector<TemplateItem> out;
    for (const json& item : items) {
        const bool is_seq = item.is_object() && item.contains("Sequence");
        const bool is_special = item.is_object() && item.contains("SpecialToken");
        if (!is_seq && !is_special)
            throw Error(
                where +
                ": template item must be {\"Sequence\": ...} or {\"SpecialToken\": ...}, found " +
                item.dump());
        const json& body = item.at(is_seq ? "Sequence" : "SpecialToken");
        const std::string name = get_string(body, "id", "", where);
        const int32_t type_id =
            body.contains("type_id")
                ? static_cast<int32_t>(get_uint(body["type_id"], 256, "type_id", where))
                : 0;
        if (is_seq) {
            if (name != "A" && name != "B")
                throw Error(where + ": template Sequence id must be \"A\" or \"B\", found \"" +
                            name + "\"");
            out.push_back({name == "A" ? 0 : 1, -1, type_id});
            continue;
        }
        auto sp = specials.is_object() ? specials.find(name) : specials.end();
        if (sp == specials.end() || !sp->is_object() || !sp->contains("ids") ||
            !(*sp)["ids"].is_array())
            throw Error(where + ": template special token '" + name +
                        "' has no entry with ids in special_tokens");
        for (const json& id : (*sp)["ids"])
            out.push_back({-1, get_id(id, "special token id", where), type_id});
    }
    return out;
}

// The pre_tokenizer object of root; throws unless its type is `expected`.
const json& require_pre_tokenizer(const json& root, const std::string& expected,
                                  const std::string& context, const std::string& where) {
    auto pt = root.find("pre_tokenizer");
    const std::string ptt =
        pt != root.end() && pt->is_object() ? get_string(*pt, "type", "", where) : std::string();
    if (ptt != expected)
        throw Error(where + ": unsupported pre_tokenizer '" +
                    (ptt.empty() ? (pt == root.end() ? std::string("none") : pt->dump()) : ptt) +
                    "'" + context + ", expected " + expected);
    return *pt;
}

// max_length of the "truncation" block, else 512.
size_t truncation_max_length(const json& root, const std::string& where) {
    auto tr = root.find("truncation");
    if (tr != root.end() && tr->is_object() && tr->contains("max_length"))
        return static_cast<size_t>(
            get_uint((*tr)["max_length"], int64_t{1} << 31, "truncation max_length", where));
    return k_default_max_length;
}

// Throws if a template special token id is outside the vocabulary.
void check_template_ids(const Tokenizer::Impl& im, const std::string& where) {
    for (const auto* t : {&im.single_template, &im.pair_template})
        for (const TemplateItem& item : *t)
            if (item.sequence < 0 && static_cast<size_t>(item.id) >= im.vocab.size())
                throw Error(where + ": post_processor special token id " + std::to_string(item.id) +
                            " is outside the vocabulary");
}

// A TemplateProcessing post-processor's single and pair templates into im.
void read_template_processing(Tokenizer::Impl& im, const json& pp, const std::string& where) {
    const json specials = pp.value("special_tokens", json::object());
    im.single_template = parse_template(pp.value("single", json()), specials, where);
    im.pair_template = parse_template(pp.value("pair", json()), specials, where);
}

// The "padding" block's pad_id, when the tokenizer.json has one, as im.pad.
void read_padding_id(Tokenizer::Impl& im, const json& root, const std::string& where) {
    auto pd = root.find("padding");
    if (pd != root.end() && pd->is_object() && pd->contains("pad_id"))
        im.pad = get_id((*pd)["pad_id"], "pad_id", where);
}

// cls / sep: the single template's first and last special tokens, where it has any.
void specials_from_template(Tokenizer::Impl& im) {
    int32_t first = -1, last = -1;
    for (const TemplateItem& item : im.single_template)
        if (item.sequence < 0) {
            if (first < 0) first = item.id;
            last = item.id;
        }
    if (first >= 0) im.cls = first;
    if (last >= 0) im.sep = last;
}

// Byte-level BPE ids of the usual special tokens, by name where the template does not give
// them; unk falls back to GPT-2's "<|endoftext|>".
void set_bpe_specials(Tokenizer::Impl& im, const SpecialNames& names) {
    auto find = [&](const std::string& name) { return name.empty() ? -1 : im.vocab.find(name); };
    im.unk = find(names.unk);
    if (im.unk < 0) im.unk = im.vocab.find("<|endoftext|>");
    im.pad = find(names.pad);
    im.mask = find(names.mask);
}

// A BPE vocabulary's special tokens (bos = cls, eos = sep, as RoBERTa and DeBERTa have them).
SpecialNames bpe_names(const char* unk, const char* cls, const char* sep, const char* pad,
                       const char* mask) {
    SpecialNames n;
    n.unk = unk;
    n.cls = n.bos = cls;
    n.sep = n.eos = sep;
    n.pad = pad;
    n.mask = mask;
    return n;
}

SpecialNames roberta_names() { return bpe_names("<unk>", "<s>", "</s>", "<pad>", "<mask>"); }

// merges of a tokenizer.json BPE model: "a b" strings or ["a", "b"] arrays.
std::vector<tok::MergeRule> parse_merges(const json& merges, const std::string& where) {
    if (!merges.is_array())
        throw Error(where + ": model 'merges' must be an array, found " + type_name(merges));
    std::vector<tok::MergeRule> out;
    out.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
        const json& m = merges[i];
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const size_t sp = s.find(' ');
            if (sp != std::string::npos && sp > 0 && sp + 1 < s.size() &&
                s.find(' ', sp + 1) == std::string::npos) {
                out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
                continue;
            }
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
            continue;
        }
        throw Error(where + ": merge " + std::to_string(i + 1) +
                    " must be \"a b\" or [\"a\", \"b\"], found " + m.dump());
    }
    return out;
}

// The rest of a tokenizer.json with a BPE model: a ByteLevel pre-tokenizer, no normalizer, and
// a RobertaProcessing / ByteLevel / TemplateProcessing post-processor or none.
void finish_bpe_json(Tokenizer::Impl& im, const json& root, const json& model,
                     std::vector<std::string> tokens, const std::string& where) {
    im.kind = ModelKind::bpe;
    im.vocab = tok::Vocab(std::move(tokens), "");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (!get_string(model, key, "", where).empty())
            throw Error(where + ": BPE '" + key + "' is not supported, expected none");
    auto dr = model.find("dropout");
    if (dr != model.end() && !dr->is_null() && !(dr->is_number() && dr->get<double>() == 0))
        throw Error(where + ": BPE dropout is not supported, expected null, found " + dr->dump());
    // Hugging Face then emits a word found in the vocabulary as one token, whatever the merges
    // would make of it: ignoring the flag would tokenize such words differently, silently.
    if (get_bool(model, "ignore_merges", where).value_or(false))
        throw Error(where + ": BPE ignore_merges true is not supported, expected false");
    auto nz = root.find("normalizer");
    if (nz != root.end() && !nz->is_null()) {
        if (!nz->is_object() || get_string(*nz, "type", "", where) != "NFC")
            throw Error(where + ": unsupported normalizer " + nz->dump().substr(0, 80) +
                        " for a BPE model, expected none or NFC");
        im.byte_level.nfc = true;
    }
    const json& pt = require_pre_tokenizer(root, "ByteLevel", " for a BPE model", where);
    if (!get_bool(pt, "use_regex", where).value_or(true))
        throw Error(where + ": ByteLevel pre_tokenizer with use_regex false is not supported");
    im.byte_level.add_prefix_space = get_bool(pt, "add_prefix_space", where).value_or(true);
    im.opts.max_length = truncation_max_length(root, where);

    SpecialNames names = roberta_names();
    const std::string unk_name = get_string(model, "unk_token", "", where);
    if (!unk_name.empty()) {
        require_token(im, unk_name, "unknown", where);
        names.unk = unk_name;
    }
    im.single_template = {{0, -1, 0}};
    im.pair_template = {{0, -1, 0}, {1, -1, 1}};
    im.cls = im.vocab.find(names.cls);
    im.sep = im.vocab.find(names.sep);
    auto pp = root.find("post_processor");
    if (pp != root.end() && !pp->is_null()) {
        const std::string ppt =
            pp->is_object() ? get_string(*pp, "type", "", where) : std::string();
        if (ppt == "RobertaProcessing") {
            auto pair_id = [&](const char* key) {
                auto it = pp->find(key);
                if (it == pp->end() || !it->is_array() || it->size() != 2)
                    throw Error(where + ": RobertaProcessing '" + key + "' must be [token, id]");
                return get_id((*it)[1], std::string("RobertaProcessing ") + key + " id", where);
            };
            im.cls = pair_id("cls");
            im.sep = pair_id("sep");
            set_roberta_templates(im, im.cls, im.sep);
            im.byte_level.trim_offsets = get_bool(*pp, "trim_offsets", where).value_or(true);
        } else if (ppt == "ByteLevel") {
            im.byte_level.trim_offsets = get_bool(*pp, "trim_offsets", where).value_or(true);
        } else if (ppt == "TemplateProcessing") {
            read_template_processing(im, *pp, where);
            specials_from_template(im);  // ModernBERT's [CLS] A [SEP]
        } else {
            throw Error(where + ": unsupported post_processor '" +
                        (ppt.empty() ? pp->dump() : ppt) +
                        "' for a BPE model, expected RobertaProcessing, ByteLevel or "
                        "TemplateProcessing");
        }
        check_template_ids(im, where);
    }
    set_bpe_specials(im, names);
    read_padding_id(im, root, where);
    im.bpe.build(im.vocab, parse_merges(model.value("merges", json()), where),
                 unk_name.empty() ? -1 : im.unk, where);
    im.finalize();
}

// vocab.json + merges.txt: DeBERTa v1's DebertaTokenizer ([CLS] A [SEP] B [SEP], token types 0
// then 1) when the vocabulary has [CLS] and [SEP] (and the configured cls token, if any, is
// [CLS]); RoBERTa style (<s> A </s></s> B </s>, one token type, trimmed offsets) when it has the
// cls and sep tokens (default <s>, </s>); else GPT-2 style (no special tokens added). The mask
// token takes the space before it (lstrip) in the first two.
std::unique_ptr<Tokenizer::Impl> impl_from_bpe_files(const fs::path& vocab_json,
                                                     const fs::path& merges_txt, SpecialNames names,
                                                     bool add_prefix_space,
                                                     const TokenizerOptions& opts) {
    const std::string where = vocab_json.string();
    const json vocab = read_json(vocab_json);
    if (!vocab.is_object() || vocab.empty())
        throw Error(where + ": expected a non-empty JSON object {\"token\": id, ...}, found " +
                    (vocab.is_object() ? std::string("an empty object") : type_name(vocab)));
    TokenTable table;
    table.place_all(vocab, where);
    auto im = std::make_unique<Tokenizer::Impl>();
    im->kind = ModelKind::bpe;
    im->opts = opts;
    im->vocab = tok::Vocab(std::move(table.tokens), "");
    im->byte_level.add_prefix_space = add_prefix_space;
    auto has = [&](const std::string& t) { return im->vocab.find(t) >= 0; };
    // DebertaTokenizer's [CLS] / [SEP] (named so or not by its tokenizer_config.json).
    const bool deberta = has("[CLS]") && has("[SEP]") && (!has(names.cls) || names.cls == "[CLS]");
    const bool roberta = !deberta && has(names.cls) && has(names.sep);
    if (deberta) names = bpe_names("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]");
    set_bpe_specials(*im, names);
    if (roberta || deberta) {
        im->cls = im->vocab.find(names.cls);
        im->sep = im->vocab.find(names.sep);
        if (roberta)
            set_roberta_templates(*im, im->cls, im->sep);
        else
            set_bert_templates(*im, im->cls, im->sep);
        im->byte_level.trim_offsets = true;
        if (im->mask >= 0) im->lstrip_ids.push_back(im->mask);  // <mask> / [MASK]
    } else {
        im->single_template = {{0, -1, 0}};
        im->pair_template = {{0, -1, 0}, {1, -1, 1}};
    }
    // The tokenizer's special tokens are never split when they appear in the text.
    const std::string eot = roberta || deberta ? std::string() : "<|endoftext|>";
    add_never_split(
        *im,
        {&names.bos, &names.eos, &names.unk, &names.sep, &names.pad, &names.cls, &names.mask, &eot},
        names.additional, where);
    im->bpe.build(im->vocab, tok::read_merges_file(merges_txt.string()), -1, merges_txt.string());
    im->finalize();
    return im;
}

// The added_tokens of a tokenizer.json into the id table and im's verbatim matches (with their
// lstrip / rstrip). HF matches special tokens on the raw text and others after normalization;
// `all_raw`: the model has no normalizer of sparq's (BPE), or its normalization happens inside
// SentencePiece (Unigram), so every added token matches the raw text.
void read_added_tokens(const json& root, bool all_raw, TokenTable& table, Tokenizer::Impl& im,
                       const std::string& where) {
    auto at = root.find("added_tokens");
    if (at == root.end() || at->is_null()) return;
    if (!at->is_array())
        throw Error(where + ": 'added_tokens' must be an array, found " + type_name(*at));
    for (const json& a : *at) {
        if (!a.is_object() || !a.contains("id") || !a.contains("content") ||
            !a["content"].is_string())
            throw Error(where + ": added token must be an object with id and content, found " +
                        a.dump());
        const std::string content = a["content"].get<std::string>();
        const int32_t id = get_id(a["id"], "added token id", where);
        table.place(content, id, true, where);
        const bool special = get_bool(a, "special", where).value_or(false);
        const bool normalized = get_bool(a, "normalized", where).value_or(!special);
        if (get_bool(a, "lstrip", where).value_or(false)) im.lstrip_ids.push_back(id);
        if (get_bool(a, "rstrip", where).value_or(false)) im.rstrip_ids.push_back(id);
        (!normalized || all_raw ? im.added : im.added_after_normalization)
            .emplace_back(content, id);
    }
}

// A Unigram model's vocab, [[piece, score], ...] in id order, into the id table and a
// UnigramSpec (pieces and scores; kinds all normal until finish_unigram_json).
UnigramSpec read_unigram_vocab(const json& model, TokenTable& table, const std::string& where) {
    auto v = model.find("vocab");
    if (v == model.end() || !v->is_array() || v->empty())
        throw Error(where +
                    ": a Unigram model's 'vocab' must be a non-empty array of "
                    "[piece, score], found " +
                    (v == model.end() ? std::string("none") : v->dump().substr(0, 80)));
    if (v->size() >= static_cast<size_t>(k_max_vocab_ids))
        throw Error(where + ": a Unigram vocab of " + std::to_string(v->size()) + " pieces");
    UnigramSpec u;
    std::unordered_set<std::string> seen;
    for (const json& e : *v) {
        if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
            throw Error(where + ": a Unigram vocab entry must be [piece, score], found " +
                        e.dump().substr(0, 80));
        const auto id = static_cast<int32_t>(u.pieces.size());
        if (!seen.insert(e[0].get<std::string>()).second)
            throw Error(where + ": piece '" + e[0].get<std::string>() +
                        "' appears twice in the Unigram vocab");
        table.place(e[0].get<std::string>(), id, false, where);
        u.pieces.push_back(e[0].get<std::string>());
        u.scores.push_back(e[1].get<float>());
    }
    u.kinds.assign(u.pieces.size(), UnigramSpec::Kind::normal);
    return u;
}

// The items of a normalizer or pre_tokenizer: a Sequence's (under `list`), else the object.
std::vector<const json*> sequence_items(const json& obj, const char* list,
                                        const std::string& where) {
    if (!obj.is_object()) throw Error(where + ": expected an object, found " + obj.dump());
    if (get_string(obj, "type", "", where) != "Sequence") return {&obj};
    auto it = obj.find(list);
    if (it == obj.end() || !it->is_array())
        throw Error(where + ": a Sequence needs an array '" + list + "'");
    std::vector<const json*> items;
    for (const json& item : *it) {
        if (!item.is_object()) throw Error(where + ": expected an object, found " + item.dump());
        items.push_back(&item);
    }
    return items;
}

// The rest of a tokenizer.json with a Unigram model, as Hugging Face converts a SentencePiece
// model (XLM-R's, DeBERTa-v3's, multilingual E5's, ...): its normalizer SentencePiece's
// (Precompiled: the model's character map; Replace of " {2,}" and Strip: squeezed whitespace and
// stripped ends), a Metaspace pre-tokenizer ("▁" for spaces and prepended to the text), a
// TemplateProcessing post-processor or none. libsentencepiece segments (unigram.cpp); the added
// tokens are split out of the raw text first and are control pieces there, and the unknown piece
// is the model's unk_id.
void finish_unigram_json(Tokenizer::Impl& im, const json& root, const json& model, UnigramSpec u,
                         std::vector<std::string> tokens, const std::string& where) {
    const auto n = static_cast<int64_t>(u.pieces.size());
    auto unk = model.find("unk_id");
    if (unk == model.end() || unk->is_null())
        throw Error(where +
                    ": a Unigram model without unk_id is not supported (SentencePiece "
                    "needs an unknown piece)");
    im.unk = get_id(*unk, "Unigram unk_id", where);
    if (im.unk >= n)
        throw Error(where + ": Unigram unk_id " + std::to_string(im.unk) +
                    " is outside its vocab of " + std::to_string(n));
    for (const auto& [content, id] : im.added)
        if (id < n) u.kinds[id] = UnigramSpec::Kind::control;
    u.kinds[im.unk] = UnigramSpec::Kind::unknown;
    u.byte_fallback = get_bool(model, "byte_fallback", where).value_or(false);
    if (u.byte_fallback)
        for (int64_t i = 0; i < n; ++i) {
            const std::string& p = u.pieces[i];
            if (p.size() == 6 && p.rfind("<0x", 0) == 0 && p[5] == '>' &&
                std::isxdigit(static_cast<unsigned char>(p[3])) &&
                std::isxdigit(static_cast<unsigned char>(p[4])))
                u.kinds[i] = UnigramSpec::Kind::byte;
        }

    auto nz = root.find("normalizer");
    if (nz != root.end() && !nz->is_null()) {
        for (const json* item : sequence_items(*nz, "normalizers", where + " normalizer")) {
            const std::string t = get_string(*item, "type", "", where);
            if (t == "Precompiled") {
                auto cm = item->find("precompiled_charsmap");
                if (cm != item->end() && !cm->is_null()) {
                    if (!cm->is_string() || !u.charsmap.empty())
                        throw Error(where +
                                    ": a Precompiled normalizer needs one base64 "
                                    "'precompiled_charsmap'");
                    u.charsmap =
                        base64_decode(cm->get<std::string>(), where + " precompiled_charsmap");
                }
            } else if (t == "Strip") {
                u.remove_extra_whitespaces = true;
            } else if (t == "Replace" && item->contains("pattern") &&
                       (*item)["pattern"].is_object() &&
                       (*item)["pattern"].value("Regex", json()) == " {2,}" &&
                       (item->value("content", json()) == " " ||
                        item->value("content", json()) == "\xe2\x96\x81")) {
                u.remove_extra_whitespaces = true;
            } else {
                throw Error(where + ": unsupported normalizer " + item->dump().substr(0, 80) +
                            " for a Unigram model, expected Precompiled, Strip and Replace of "
                            "\" {2,}\" (Hugging Face's conversion of a SentencePiece model)");
            }
        }
    }
    // Metaspace: "▁" for spaces, prepended to the text always, only at its start ("first") or
    // never; before it, WhitespaceSplit (old conversions) does what squeezed whitespace does.
    std::string prepend;
    auto pt = root.find("pre_tokenizer");
    if (pt == root.end() || pt->is_null())
        throw Error(where + ": a Unigram model needs a Metaspace pre_tokenizer, found none");
    for (const json* item : sequence_items(*pt, "pretokenizers", where + " pre_tokenizer")) {
        const std::string t = get_string(*item, "type", "", where);
        if (t == "WhitespaceSplit") continue;
        if (t != "Metaspace" || !prepend.empty())
            throw Error(where + ": unsupported pre_tokenizer " + pt->dump().substr(0, 80) +
                        " for a Unigram model, expected one Metaspace (after WhitespaceSplit)");
        if (get_string(*item, "replacement", "\xe2\x96\x81", where) != "\xe2\x96\x81")
            throw Error(where +
                        ": a Metaspace replacement other than \"\xe2\x96\x81\" is not "
                        "supported");
        if (item->contains("prepend_scheme") && !(*item)["prepend_scheme"].is_null()) {
            prepend = get_string(*item, "prepend_scheme", "", where);
            if (prepend != "always" && prepend != "first" && prepend != "never")
                throw Error(where + ": Metaspace prepend_scheme '" + prepend +
                            "', expected always, first or never");
        } else {
            prepend =
                get_bool(*item, "add_prefix_space", where).value_or(true) ? "always" : "never";
        }
    }
    if (prepend.empty()) throw Error(where + ": a Unigram model needs a Metaspace pre_tokenizer");

    im.kind = ModelKind::sentencepiece;
    im.model_name = "Unigram";
    im.spm_id_offset = 0;
    im.spm = spm_from_unigram(u, prepend != "never", where);
    if (prepend == "first") im.spm_later = spm_from_unigram(u, false, where);
    im.vocab = tok::Vocab(std::move(tokens), "");
    im.opts.max_length = truncation_max_length(root, where);
    im.single_template = {{0, -1, 0}};
    im.pair_template = {{0, -1, 0}, {1, -1, 1}};
    auto pp = root.find("post_processor");
    if (pp != root.end() && !pp->is_null()) {
        const std::string ppt =
            pp->is_object() ? get_string(*pp, "type", "", where) : std::string();
        if (ppt != "TemplateProcessing")
            throw Error(where + ": unsupported post_processor '" +
                        (ppt.empty() ? pp->dump() : ppt) +
                        "' for a Unigram model, expected TemplateProcessing");
        read_template_processing(im, *pp, where);
        check_template_ids(im, where);
        specials_from_template(im);  // XLM-R's <s> A </s>, DeBERTa's [CLS] A [SEP]
    }
    auto named = [&](std::initializer_list<const char*> names) {
        for (const char* name : names)
            if (const int32_t id = im.vocab.find(name); id >= 0) return id;
        return -1;
    };
    im.pad = named({"<pad>", "[PAD]"});
    read_padding_id(im, root, where);
    im.mask = named({"<mask>", "[MASK]"});
    im.finalize();
}

std::unique_ptr<Tokenizer::Impl> impl_from_tokenizer_json(const fs::path& path) {
    const std::string where = path.string();
    const json root = read_json(path);
    if (!root.is_object())
        throw Error(where + ": expected a JSON object, found " + type_name(root));
    const json& model = require_object(root, "model", where);
    std::string type = get_string(model, "type", "", where);
    if (type.empty()) {  // very old files have untagged models
        if (model.contains("merges"))
            type = "BPE";
        else if (model.contains("max_input_chars_per_word"))
            type = "WordPiece";
    }
    if (type != "WordPiece" && type != "BPE" && type != "Unigram")
        throw Error(where + ": unsupported tokenizer model type '" + type +
                    "', expected WordPiece, BPE or Unigram");

    auto im = std::make_unique<Tokenizer::Impl>();
    TokenTable table;
    if (type == "Unigram") {
        UnigramSpec u = read_unigram_vocab(model, table, where);
        read_added_tokens(root, true, table, *im, where);
        finish_unigram_json(*im, root, model, std::move(u), std::move(table.tokens), where);
        return im;
    }
    // Vocabulary: {"token": id, ...}; the id table also receives the added tokens.
    const json& vocab = require_object(model, "vocab", where + " model");
    if (vocab.empty()) throw Error(where + ": model vocab is empty");
    table.place_all(vocab, where);

    read_added_tokens(root, type == "BPE", table, *im, where);

    if (type == "BPE") {
        finish_bpe_json(*im, root, model, std::move(table.tokens), where);
        return im;
    }
    const std::string prefix = get_string(model, "continuing_subword_prefix", "##", where);
    im->vocab = tok::Vocab(std::move(table.tokens), prefix);
    auto mc = model.find("max_input_chars_per_word");
    if (mc != model.end() && !mc->is_null()) {
        if (!mc->is_number_unsigned())
            throw Error(where +
                        ": max_input_chars_per_word must be a non-negative integer, found " +
                        mc->dump());
        im->wordpiece.max_input_chars_per_word = mc->get<size_t>();
    }
    im->unk = require_token(*im, get_string(model, "unk_token", "[UNK]", where), "unknown", where);

    // Normalizer: BertNormalizer, or none.
    TokenizerOptions& opts = im->opts;
    auto nz = root.find("normalizer");
    if (nz == root.end() || nz->is_null()) {
        opts.do_lower_case = false;
        opts.strip_accents = false;
        opts.tokenize_chinese_chars = false;
        opts.clean_text = false;
    } else {
        const std::string nt = nz->is_object() ? get_string(*nz, "type", "", where) : std::string();
        if (nt != "BertNormalizer")
            throw Error(where + ": unsupported normalizer '" + (nt.empty() ? nz->dump() : nt) +
                        "', expected BertNormalizer");
        opts.do_lower_case = get_bool(*nz, "lowercase", where).value_or(true);
        opts.strip_accents = get_bool(*nz, "strip_accents", where);
        opts.tokenize_chinese_chars = get_bool(*nz, "handle_chinese_chars", where).value_or(true);
        opts.clean_text = get_bool(*nz, "clean_text", where).value_or(true);
    }
    require_pre_tokenizer(root, "BertPreTokenizer", "", where);
    opts.max_length = truncation_max_length(root, where);

    // Post-processor: TemplateProcessing, BertProcessing, or none (no special tokens).
    auto pp = root.find("post_processor");
    if (pp != root.end() && !pp->is_null()) {
        const std::string ppt =
            pp->is_object() ? get_string(*pp, "type", "", where) : std::string();
        if (ppt == "TemplateProcessing") {
            read_template_processing(*im, *pp, where);
        } else if (ppt == "BertProcessing") {
            auto pair_id = [&](const char* key) {
                auto it = pp->find(key);
                if (it == pp->end() || !it->is_array() || it->size() != 2)
                    throw Error(where + ": BertProcessing '" + key + "' must be [token, id]");
                return get_id((*it)[1], std::string("BertProcessing ") + key + " id", where);
            };
            set_bert_templates(*im, pair_id("cls"), pair_id("sep"));
        } else {
            throw Error(where + ": unsupported post_processor '" +
                        (ppt.empty() ? pp->dump() : ppt) +
                        "', expected TemplateProcessing or BertProcessing");
        }
        check_template_ids(*im, where);
    } else {
        im->single_template = {{0, -1, 0}};
        im->pair_template = {{0, -1, 0}, {1, -1, 1}};
    }
    // Ids of the usual BERT special tokens: from the template when it has them, else by name.
    im->cls = im->vocab.find("[CLS]");
    im->sep = im->vocab.find("[SEP]");
    specials_from_template(*im);
    im->pad = im->vocab.find("[PAD]");
    read_padding_id(*im, root, where);
    im->mask = im->vocab.find("[MASK]");
    im->finalize();
    return im;
}

}  // namespace

Tokenizer Tokenizer::from_vocab_file(const std::string& path, const TokenizerOptions& opts) {
    return Tokenizer(impl_from_vocab(tok::read_vocab_file(path), opts, SpecialNames{}, path));
}

Tokenizer Tokenizer::from_tokenizer_json(const std::string& path) {
    return Tokenizer(impl_from_tokenizer_json(path));
}

namespace {
// The SentencePiece model files and whose ids they get: XLM-R's, DeBERTa-v2/v3's, ALBERT's (read
// before a tokenizer.json beside them, its Hugging Face conversion: the same ids, and ALBERT's
// preprocessing is the Python tokenizer's).
constexpr std::pair<const char*, SpmIds> kSentencePieceFiles[] = {
    {"sentencepiece.bpe.model", SpmIds::xlm_roberta},
    {"spm.model", SpmIds::deberta},
    {"spiece.model", SpmIds::albert},
};
}  // namespace

bool Tokenizer::files_exist(const std::string& dir) {
    // Any file type counts: a FIFO or directory under a tokenizer's name is then refused by name
    // when read (core/files.hpp), not taken for a model without a tokenizer.
    const fs::path d(dir);
    for (const auto& [file, ids] : kSentencePieceFiles)
        if (fs::exists(d / file)) return true;
    return fs::exists(d / "tokenizer.json") || fs::exists(d / "vocab.txt") ||
           (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"));
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
    const fs::path d(dir);
    if (!fs::is_directory(d)) throw Error("tokenizer directory '" + dir + "' does not exist");
    const fs::path tj = d / "tokenizer.json", vt = d / "vocab.txt",
                   tc = d / "tokenizer_config.json", sm = d / "special_tokens_map.json";
    const bool has_config = fs::is_regular_file(tc);
    const json cfg = has_config ? read_json(tc) : json();
    // MPNetTokenizer: RoBERTa's special tokens around BERT's WordPiece, "</s></s>" between pairs.
    const bool mpnet = has_config && cfg.is_object() && cfg.contains("tokenizer_class") &&
                       cfg["tokenizer_class"].is_string() &&
                       cfg["tokenizer_class"].get<std::string>().rfind("MPNetTokenizer", 0) == 0;
    // XLM-R, DeBERTa-v2/v3 and ALBERT: their SentencePiece model.
    for (const auto& [file, ids] : kSentencePieceFiles) {
        const fs::path sp = d / file;
        if (!fs::exists(sp)) continue;
        auto im = impl_from_sentencepiece(sp.string(), ids);
        im->source = file;
        if (has_config) apply_config(cfg, tc.string(), im->opts);  // model_max_length
        if (im->albert.on && has_config) {
            // AlbertTokenizer's options (its defaults: true, false, true).
            if (auto v = get_bool(cfg, "do_lower_case", tc.string())) im->albert.lowercase = *v;
            if (auto v = get_bool(cfg, "keep_accents", tc.string())) im->albert.keep_accents = *v;
            if (auto v = get_bool(cfg, "remove_space", tc.string())) im->albert.remove_space = *v;
        }
        im->finalize();
        return Tokenizer(std::move(im));
    }
    if (fs::exists(tj)) {
        auto im = impl_from_tokenizer_json(tj);
        im->source = "tokenizer.json";
        if (has_config) {
            // BertTokenizerFast re-applies do_lower_case / strip_accents / tokenize_chinese_chars
            // from tokenizer_config.json over tokenizer.json's normalizer.
            apply_config(cfg, tc.string(), im->opts);
            // tokenizer.json does not say which token masks or pads (nor, for a byte-level BPE,
            // which is unknown: its model never produces one): the config names them, as for
            // Hugging Face's tokenizer (MPNet's "<mask>" and "<pad>", ModernBERT's "[MASK]",
            // "[PAD]" and "[UNK]"). A WordPiece model's own unk_token stays.
            for (auto [key, slot] :
                 {std::pair{"mask_token", &im->mask},
                  {"pad_token", &im->pad},
                  {"unk_token", im->kind == ModelKind::bpe ? &im->unk : nullptr}}) {
                if (!slot) continue;
                if (auto m = get_token_name(cfg, key, tc.string()))
                    if (int32_t id = im->vocab.find(*m); id >= 0) *slot = id;
            }
            im->finalize();
        }
        return Tokenizer(std::move(im));
    }
    const fs::path vj = d / "vocab.json", mt = d / "merges.txt";
    const bool bpe = !fs::exists(vt) && fs::exists(vj);
    if (!fs::exists(vt) && !bpe)
        throw Error("no tokenizer in '" + dir +
                    "': expected tokenizer.json, vocab.txt or vocab.json + merges.txt");
    if (bpe && !fs::exists(mt))
        throw Error("no merges.txt beside '" + vj.string() + "': a BPE vocabulary needs both");
    TokenizerOptions opts;
    SpecialNames names = bpe || mpnet ? roberta_names() : SpecialNames{};
    if (mpnet) names.unk = "[UNK]";  // MPNetTokenizer's default: BERT's vocabulary keeps [UNK]
    bool add_prefix_space = false;
    if (fs::is_regular_file(sm)) {
        const json j = read_json(sm);
        if (!j.is_object())
            throw Error(sm.string() + ": expected a JSON object, found " + type_name(j));
        read_special_names(j, sm.string(), names);
    }
    if (has_config) {
        apply_config(cfg, tc.string(), opts);
        read_special_names(cfg, tc.string(), names);
        if (auto v = get_bool(cfg, "add_prefix_space", tc.string())) add_prefix_space = *v;
    }
    if (bpe) {
        auto im = impl_from_bpe_files(vj, mt, names, add_prefix_space, opts);
        im->source = "vocab.json + merges.txt";
        return Tokenizer(std::move(im));
    }
    auto im = impl_from_vocab(tok::read_vocab_file(vt.string()), opts, names, vt.string());
    im->source = "vocab.txt";
    if (mpnet) set_roberta_templates(*im, im->cls, im->sep);  // all type ids 0, as MPNetTokenizer
    return Tokenizer(std::move(im));
}

}  // namespace sparq
