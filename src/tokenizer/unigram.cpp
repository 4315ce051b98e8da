// A tokenizer.json Unigram model as a SentencePiece model: Hugging Face converts a SentencePiece
// model to tokenizer.json by listing its pieces and scores (ids as the Python tokenizer gives
// them) and keeping its normalization rules as the Precompiled normalizer's character map, so the
// same model goes back to libsentencepiece as a ModelProto written here (protobuf wire format,
// the few fields sentencepiece_model.proto defines for it) and runs there: the same Viterbi over
// the same scores after the same normalization. Ids are the tokenizer.json ids, piece for piece.
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

#include "sparq/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace sparq {
namespace {

// Protobuf wire format (varint, 32-bit and length-delimited fields).
struct ProtoWriter {
    std::string out;
    void varint(uint64_t v) {
        for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        out.push_back(static_cast<char>(v));
    }
    void key(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | wire); }
    // int32 / enum / bool fields: negative values as 64-bit two's complement, as protobuf does.
    void int_field(int field, int64_t v) {
        key(field, 0);
        varint(static_cast<uint64_t>(v));
    }
    void float_field(int field, float v) {
        key(field, 5);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(bits >> (8 * i)));
    }
    void bytes_field(int field, std::string_view s) {
        key(field, 2);
        varint(s.size());
        out.append(s);
    }
};

// sentencepiece_model.proto's field numbers.
enum : int {
    kModelPieces = 1,
    kModelTrainerSpec = 2,
    kModelNormalizerSpec = 3,
    kPiecePiece = 1,
    kPieceScore = 2,
    kPieceType = 3,
    kTrainerModelType = 3,
    kTrainerVocabSize = 4,
    kTrainerByteFallback = 35,
    kTrainerUnkId = 40,
    kTrainerBosId = 41,
    kTrainerEosId = 42,
    kTrainerPadId = 43,
    kNormName = 1,
    kNormCharsmap = 2,
    kNormAddDummyPrefix = 3,
    kNormRemoveExtraWhitespaces = 4,
    kNormEscapeWhitespaces = 5,
};
constexpr int kUnigramModelType = 1;

std::string model_proto(const UnigramSpec& u, bool add_dummy_prefix) {
    ProtoWriter m;
    int64_t unk = -1;
    for (size_t i = 0; i < u.pieces.size(); ++i) {
        ProtoWriter p;
        p.bytes_field(kPiecePiece, u.pieces[i]);
        p.float_field(kPieceScore, u.scores[i]);
        p.int_field(kPieceType, static_cast<int>(u.kinds[i]));
        m.bytes_field(kModelPieces, p.out);
        if (u.kinds[i] == UnigramSpec::Kind::unknown) unk = static_cast<int64_t>(i);
    }
    ProtoWriter t;
    t.int_field(kTrainerModelType, kUnigramModelType);
    t.int_field(kTrainerVocabSize, static_cast<int64_t>(u.pieces.size()));
    t.int_field(kTrainerByteFallback, u.byte_fallback);
    t.int_field(kTrainerUnkId, unk);
    for (int f : {kTrainerBosId, kTrainerEosId, kTrainerPadId}) t.int_field(f, -1);
    m.bytes_field(kModelTrainerSpec, t.out);
    ProtoWriter n;
    if (u.charsmap.empty())
        n.bytes_field(kNormName, "identity");
    else
        n.bytes_field(kNormCharsmap, u.charsmap);
    n.int_field(kNormAddDummyPrefix, add_dummy_prefix);
    n.int_field(kNormRemoveExtraWhitespaces, u.remove_extra_whitespaces);
    n.int_field(kNormEscapeWhitespaces, 1);
    m.bytes_field(kModelNormalizerSpec, n.out);
    return m.out;
}

// A little-endian uint32 at p.
uint32_t le32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// A protobuf message's fields, for finding one length-delimited field; false when malformed.
bool find_bytes_field(std::string_view msg, int field, std::string_view* out) {
    size_t pos = 0;
    auto varint = [&](uint64_t* v) {
        *v = 0;
        for (int shift = 0; shift < 64 && pos < msg.size(); shift += 7) {
            const auto b = static_cast<unsigned char>(msg[pos++]);
            *v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return true;
        }
        return false;
    };
    while (pos < msg.size()) {
        uint64_t key = 0, v = 0;
        if (!varint(&key)) return false;
        switch (key & 7) {
            case 0:
                if (!varint(&v)) return false;
                break;
            case 1:
            case 5: {
                const size_t n = (key & 7) == 1 ? 8 : 4;
                if (msg.size() - pos < n) return false;
                pos += n;
                break;
            }
            case 2:
                if (!varint(&v) || v > msg.size() - pos) return false;
                if (static_cast<int>(key >> 3) == field) {
                    *out = msg.substr(pos, v);
                    return true;
                }
                pos += v;
                break;
            default:
                return false;
        }
    }
    return false;
}

}  // namespace

// SentencePiece's precompiled character map is [uint32 trie bytes][darts-clone double array]
// [normalized strings, each ending in NUL], and libsentencepiece follows the array's offsets
// without bounds checks: a damaged map crashes it on the first text. So every node reachable from
// the root is checked the way darts-clone's commonPrefixSearch reads it (unit fields: has_leaf
// bit 8, value bits 0..30, label bits 0..7 and 31, offset bits 10..31 shifted by bit 9): all 256
// possible children of each node inside the array, each leaf's value inside the strings, the
// strings ending in NUL.
bool charsmap_is_sound(std::string_view blob) {
    if (blob.size() < 4) return false;
    const uint32_t trie_bytes = le32(blob.data());
    if (trie_bytes == 0 || trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) return false;
    const uint32_t n = trie_bytes / 4;
    const std::string_view strings = blob.substr(4 + trie_bytes);
    if (!strings.empty() && strings.back() != '\0') return false;
    auto unit = [&](uint32_t i) { return le32(blob.data() + 4 + 4 * size_t{i}); };
    auto offset = [](uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); };
    std::vector<bool> seen(n, false);
    std::vector<uint32_t> bases{offset(unit(0))};
    while (!bases.empty()) {
        const uint32_t base = bases.back();
        bases.pop_back();
        if ((base | 0xFFu) >= n) return false;
        if (seen[base]) continue;
        seen[base] = true;
        for (uint32_t c = 0; c < 256; ++c) {
            const uint32_t u = unit(base ^ c);
            if ((u & ((1u << 31) | 0xFFu)) != c) continue;  // no child labelled c
            const uint32_t next = (base ^ c) ^ offset(u);
            if ((next | 0xFFu) >= n) return false;
            if ((u >> 8) & 1u) {  // a leaf: its value is the offset of a normalized string
                if ((unit(next) & 0x7FFFFFFFu) >= strings.size()) return false;
            }
            bases.push_back(next);
        }
    }
    return true;
}

void check_model_charsmap(std::string_view model_proto, const std::string& where) {
    std::string_view spec, charsmap;
    if (!find_bytes_field(model_proto, kModelNormalizerSpec, &spec)) return;  // spm's to judge
    if (find_bytes_field(spec, kNormCharsmap, &charsmap) && !charsmap.empty() &&
        !charsmap_is_sound(charsmap))
        throw Error(where + ": its normalizer's precompiled character map is damaged");
}

std::shared_ptr<sentencepiece::SentencePieceProcessor> spm_from_unigram(const UnigramSpec& u,
                                                                        bool add_dummy_prefix,
                                                                        const std::string& where) {
    if (!u.charsmap.empty() && !charsmap_is_sound(u.charsmap))
        throw Error(where + ": its Precompiled normalizer's precompiled_charsmap is damaged");
    auto spm = std::make_shared<sentencepiece::SentencePieceProcessor>();
    if (const auto st = spm->LoadFromSerializedProto(model_proto(u, add_dummy_prefix)); !st.ok())
        throw Error(where + ": its Unigram model is not one SentencePiece accepts (" +
                    st.ToString() + ")");
    return spm;
}

std::string base64_decode(std::string_view s, const std::string& what) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    while (!s.empty() && s.back() == '=') s.remove_suffix(1);
    if (s.size() % 4 == 1) throw Error(what + " is not base64 (its length)");
    std::string out;
    out.reserve(s.size() / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
        const int v = value(c);
        if (v < 0) throw Error(what + " is not base64 (a character '" + std::string(1, c) + "')");
        acc = acc << 6 | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>(acc >> bits & 0xFF));
        }
    }
    return out;
}

}  // namespace sparq
