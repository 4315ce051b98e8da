// SentencePiece vocabularies through Debian's libsentencepiece: DeBERTa-v2/v3's spm.model with
// the model's own ids (DebertaV2Tokenizer), and XLM-R's sentencepiece.bpe.model with Hugging
// Face XLMRobertaTokenizer's ids: the fairseq specials <s> <pad> </s> <unk> at 0..3,
// SentencePiece piece i (i >= 3) at i + 1, <mask> last; SentencePiece's unknown piece maps to
// <unk> (3). The library does the normalization (the model's own rules, nmt_nfkc for XLM-R) and
// the segmentation (Unigram: Viterbi over the piece scores; or BPE); sparq splits the special
// tokens out of the text first (<mask> also takes the spaces before it, as XLM-R's lstrip mask)
// and encodes the pieces between them, as the Python tokenizer does.
#include <sentencepiece_processor.h>

#include "sparq/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace sparq {

namespace {
constexpr int32_t kFairseqOffset = 1;  // HF XLMRobertaTokenizer.fairseq_offset
}

namespace {

std::shared_ptr<sentencepiece::SentencePieceProcessor> load_spm(const std::string& path) {
    auto spm = std::make_shared<sentencepiece::SentencePieceProcessor>();
    if (const auto st = spm->Load(path); !st.ok())
        throw Error(path + ": not a SentencePiece model (" + st.ToString() + ")");
    const int n = spm->GetPieceSize();
    if (n < 4) throw Error(path + ": a SentencePiece model with " + std::to_string(n) + " pieces");
    return spm;
}

// DebertaV2Tokenizer: SentencePiece ids as they are, [CLS] / [SEP] / [PAD] / [UNK] pieces of the
// model, [MASK] the model's or an added token after the last piece; BERT's templates.
std::unique_ptr<Tokenizer::Impl> deberta_impl(const std::string& path) {
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
                        " piece (DeBERTa's spm.model has [CLS], [SEP], [PAD] and [UNK])");
        return static_cast<int32_t>(id);
    };
    im->cls = piece("[CLS]");
    im->sep = piece("[SEP]");
    im->pad = piece("[PAD]");
    im->unk = spm->unk_id();
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
    if (ids == SpmIds::deberta) return deberta_impl(path);
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
    const std::string_view seg = text.substr(begin, end - begin);
    const sentencepiece::ImmutableSentencePieceText pieces = spm->EncodeAsImmutableProto(seg);
    for (const auto& p : pieces.pieces()) {
        const int id = static_cast<int>(p.id());
        ids.push_back(spm->IsUnknown(id) ? unk : id + spm_id_offset);
        // The byte range of the piece's surface in the text; the space a leading "▁" stands for
        // is left out (as the answer of a QA span should not start with it).
        uint32_t b = static_cast<uint32_t>(begin + p.begin());
        const uint32_t e = static_cast<uint32_t>(begin + p.end());
        while (b < e && (text[b] == ' ' || text[b] == '\t' || text[b] == '\n' || text[b] == '\r'))
            ++b;
        offsets.emplace_back(b, e);
    }
}

}  // namespace sparq
