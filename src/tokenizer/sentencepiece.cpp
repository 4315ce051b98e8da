// SentencePiece vocabularies through Debian's libsentencepiece: DeBERTa-v2/v3's spm.model with
// the model's own ids (DebertaV2Tokenizer), and XLM-R's sentencepiece.bpe.model with Hugging
// Face XLMRobertaTokenizer's ids: the fairseq specials <s> <pad> </s> <unk> at 0..3,
// SentencePiece piece i (i >= 3) at i + 1, <mask> last; SentencePiece's unknown piece maps to
// <unk> (3). The library does the normalization (the model's own rules, nmt_nfkc for XLM-R) and
// the segmentation (Unigram: Viterbi over the piece scores; or BPE); sparq splits the special
// tokens out of the text first (<mask> also takes the spaces before it, as XLM-R's lstrip mask)
// and encodes the pieces between them, as the Python tokenizer does.
#include <sentencepiece_processor.h>
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "sparq/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace sparq {

namespace {
constexpr int32_t kFairseqOffset = 1;  // HF XLMRobertaTokenizer.fairseq_offset

// The start of a piece's source range [b, e) past the space a leading "▁" stands for (a QA
// span's answer should not start with it).
uint32_t past_spaces(std::string_view text, uint32_t b, uint32_t e) {
    while (b < e && (text[b] == ' ' || text[b] == '\t' || text[b] == '\n' || text[b] == '\r')) ++b;
    return b;
}
}

namespace {

std::shared_ptr<sentencepiece::SentencePieceProcessor> load_spm(const std::string& path) {
    require_regular_file(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open '" + path + "'");
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    check_model_charsmap(bytes, path);  // libsentencepiece would crash on a damaged one
    auto spm = std::make_shared<sentencepiece::SentencePieceProcessor>();
    if (const auto st = spm->LoadFromSerializedProto(bytes); !st.ok())
        throw Error(path + ": not a SentencePiece model (" + st.ToString() + ")");
    const int n = spm->GetPieceSize();
    if (n < 4) throw Error(path + ": a SentencePiece model with " + std::to_string(n) + " pieces");
    return spm;
}

// DebertaV2Tokenizer: SentencePiece ids as they are, [CLS] / [SEP] / [PAD] / [UNK] pieces of the
// model, [MASK] the model's or an added token after the last piece; BERT's templates.
// AlbertTokenizer the same with <pad> / <unk>, [MASK] a piece (lstrip) and its preprocessing.
std::unique_ptr<Tokenizer::Impl> bert_style_impl(const std::string& path, bool albert) {
    auto spm = load_spm(path);
    const int n = spm->GetPieceSize();
    auto im = std::make_unique<Tokenizer::Impl>();
    im->kind = ModelKind::sentencepiece;
    im->spm_id_offset = 0;
    std::vector<std::string> tokens;
    for (int i = 0; i < n; ++i) tokens.push_back(spm->IdToPiece(i));
    auto piece = [&](const char* name) {
        const int id = spm->PieceToId(name);
        if (id < 0 || id >= n || spm->IdToPiece(id) != name)
            throw Error(path + ": the SentencePiece model has no " + name +
                        (albert ? " piece (ALBERT's spiece.model has <pad>, [CLS], [SEP] and [MASK])"
                                : " piece (DeBERTa's spm.model has [CLS], [SEP], [PAD] and [UNK])"));
        return static_cast<int32_t>(id);
    };
    im->cls = piece("[CLS]");
    im->sep = piece("[SEP]");
    im->pad = piece(albert ? "<pad>" : "[PAD]");
    im->unk = spm->unk_id();
    if (albert) {
        im->albert.on = true;
        im->lstrip_ids.push_back(piece("[MASK]"));
    }
    const int mask = spm->PieceToId("[MASK]");
    if (mask > 0 && spm->IdToPiece(mask) == "[MASK]") {
        im->mask = mask;
    } else {
        im->mask = n;
        tokens.push_back("[MASK]");
    }
    im->vocab = tok::Vocab(std::move(tokens), "");
    im->spm = std::move(spm);
    for (int32_t id : {im->cls, im->sep, im->pad, im->unk, im->mask})
        im->added.emplace_back(im->vocab.token(id), id);
    set_bert_templates(*im, im->cls, im->sep);
    im->finalize();
    return im;
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> impl_from_sentencepiece(const std::string& path, SpmIds ids) {
    if (ids != SpmIds::xlm_roberta) return bert_style_impl(path, ids == SpmIds::albert);
    auto spm = load_spm(path);
    const int n = spm->GetPieceSize();
    auto im = std::make_unique<Tokenizer::Impl>();
    im->kind = ModelKind::sentencepiece;
    std::vector<std::string> tokens = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int i = 3; i < n; ++i) tokens.push_back(spm->IdToPiece(i));
    tokens.push_back("<mask>");
    im->vocab = tok::Vocab(std::move(tokens), "");
    im->cls = 0;
    im->pad = 1;
    im->sep = 2;
    im->unk = 3;
    im->mask = n + kFairseqOffset;
    im->spm_id_offset = kFairseqOffset;
    im->spm = std::move(spm);
    for (int32_t id : {im->cls, im->pad, im->sep, im->unk, im->mask})
        im->added.emplace_back(im->vocab.token(id), id);
    im->lstrip_ids.push_back(im->mask);
    set_roberta_templates(*im, im->cls, im->sep);
    im->finalize();
    return im;
}

void Tokenizer::Impl::spm_segment(std::string_view text, size_t begin, size_t end,
                                  std::vector<int32_t>& ids,
                                  std::vector<std::pair<uint32_t, uint32_t>>& offsets) const {
    if (albert.on) return albert_segment(text, begin, end, ids, offsets);
    const std::string_view seg = text.substr(begin, end - begin);
    const sentencepiece::ImmutableSentencePieceText pieces =
        (begin > 0 && spm_later ? *spm_later : *spm).EncodeAsImmutableProto(seg);
    for (const auto& p : pieces.pieces()) {
        const int id = static_cast<int>(p.id());
        ids.push_back(spm->IsUnknown(id) ? unk : id + spm_id_offset);
        // The byte range of the piece's surface in the text.
        const uint32_t e = static_cast<uint32_t>(begin + p.end());
        offsets.emplace_back(past_spaces(text, static_cast<uint32_t>(begin + p.begin()), e), e);
    }
}

namespace {

// Python's str.isspace (what str.split() splits on).
bool py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

// AlbertTokenizer.preprocess_text of a segment, with the source byte range of every output byte.
struct Preprocessed {
    std::string text;
    std::vector<uint32_t> from, to;  // per byte of text: its source bytes [from, to)
    void put(char32_t c, uint32_t b, uint32_t e) {
        tok::append_utf8(text, c);
        from.resize(text.size(), b);
        to.resize(text.size(), e);
    }
};

Preprocessed albert_preprocess(std::string_view seg, uint32_t base,
                               const Tokenizer::Impl::Albert& a) {
    // Code points with their source ranges; remove_space: stripped, whitespace runs as one ' '.
    struct Cp {
        char32_t c;
        uint32_t b, e;
    };
    std::vector<Cp> cps;
    for (size_t pos = 0; pos < seg.size();) {
        const size_t b = pos;
        const char32_t c = tok::decode_utf8(seg, pos);
        const uint32_t sb = base + static_cast<uint32_t>(b), se = base + static_cast<uint32_t>(pos);
        if (a.remove_space && py_space(c)) {
            if (!cps.empty() && cps.back().c != U' ') cps.push_back({U' ', sb, se});
            continue;
        }
        cps.push_back({c, sb, se});
    }
    if (a.remove_space && !cps.empty() && cps.back().c == U' ') cps.pop_back();
    Preprocessed out;
    for (size_t i = 0; i < cps.size(); ++i) {
        const Cp& cp = cps[i];
        if ((cp.c == U'`' || cp.c == U'\'') && i + 1 < cps.size() && cps[i + 1].c == cp.c) {
            out.put(U'"', cp.b, cps[i + 1].e);  // `` and '' -> "
            ++i;
            continue;
        }
        utf8proc_int32_t buf[32];
        utf8proc_ssize_t n = 1;
        buf[0] = static_cast<utf8proc_int32_t>(cp.c);
        if (!a.keep_accents) {  // NFKD, then without combining characters
            int last = 0;
            n = utf8proc_decompose_char(
                static_cast<utf8proc_int32_t>(cp.c), buf, 32,
                static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT), &last);
            if (n < 0 || n > 32) {
                n = 1;
                buf[0] = static_cast<utf8proc_int32_t>(cp.c);
            }
        }
        for (utf8proc_ssize_t k = 0; k < n; ++k) {
            utf8proc_int32_t c = buf[k];
            if (!a.keep_accents && utf8proc_get_property(c)->combining_class != 0) continue;
            if (a.lowercase) c = utf8proc_tolower(c);
            out.put(static_cast<char32_t>(c), cp.b, cp.e);
        }
    }
    return out;
}

bool ends_digit_comma(const std::string& piece) {
    return piece.size() > 1 && piece.back() == ',' &&
           std::isdigit(static_cast<unsigned char>(piece[piece.size() - 2]));
}

constexpr std::string_view kSpace = "\xe2\x96\x81";  // "▁"

std::string without_spaces(std::string s) {
    for (size_t p; (p = s.find(kSpace)) != std::string::npos;) s.erase(p, kSpace.size());
    return s;
}

}  // namespace

// AlbertTokenizer._tokenize on one segment: preprocess_text, SentencePiece, then every piece of
// two or more characters ending in digit + comma re-encoded without the comma (and without the
// "▁" the re-encoding adds if the piece had none) followed by ",". Offsets are the source bytes
// of each piece's preprocessed text (without the space a leading "▁" stands for); the pieces a
// split makes spell their piece again and divide its range in order, by their text's length.
void Tokenizer::Impl::albert_segment(std::string_view text, size_t begin, size_t end,
                                     std::vector<int32_t>& ids,
                                     std::vector<std::pair<uint32_t, uint32_t>>& offsets) const {
    const Preprocessed pre =
        albert_preprocess(text.substr(begin, end - begin), static_cast<uint32_t>(begin), albert);
    if (pre.text.empty()) return;
    auto id_of = [&](const std::string& piece) {
        const int id = spm->PieceToId(piece);
        return spm->IsUnknown(id) ? unk : static_cast<int32_t>(id);
    };
    const sentencepiece::ImmutableSentencePieceText pieces = spm->EncodeAsImmutableProto(pre.text);
    for (const auto& p : pieces.pieces()) {
        const std::string piece(p.piece());
        const size_t pb = p.begin(), pe = p.end();
        const uint32_t b0 = pb < pre.from.size() ? pre.from[pb] : static_cast<uint32_t>(end);
        const uint32_t se = pe > 0 && pe <= pre.to.size() ? pre.to[pe - 1] : b0;
        const uint32_t sb = past_spaces(text, b0, se);
        if (!ends_digit_comma(piece)) {
            const int id = static_cast<int>(p.id());
            ids.push_back(spm->IsUnknown(id) ? unk : static_cast<int32_t>(id));
            offsets.emplace_back(sb, se);
            continue;
        }
        std::vector<std::string> cur;
        spm->Encode(without_spaces(piece.substr(0, piece.size() - 1)), &cur);
        if (piece.rfind(kSpace, 0) != 0 && !cur.empty() && cur[0].rfind(kSpace, 0) == 0) {
            if (cur[0].size() == kSpace.size())
                cur.erase(cur.begin());
            else
                cur[0].erase(0, kSpace.size());
        }
        cur.emplace_back(",");
        uint32_t q = sb;
        for (size_t k = 0; k < cur.size(); ++k) {
            ids.push_back(id_of(cur[k]));
            const uint32_t len = static_cast<uint32_t>(without_spaces(cur[k]).size());
            const uint32_t b = std::min(q, se), e = k + 1 == cur.size() ? se : std::min(q + len, se);
            offsets.emplace_back(b, e);
            q = e;
        }
    }
}

}  // namespace sparq
