#include "tokenizer/basic_tokenizer.hpp"

#include <algorithm>
#include <utility>

#include "tokenizer/unicode.hpp"

namespace sparq::tok {
namespace {

// Character classes of ASCII code points.
enum : uint8_t { k_other = 0, k_control = 1, k_space = 2, k_punct = 3 };

constexpr uint8_t ascii_class(char32_t c) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ') return k_space;
    if (c < 0x20 || c == 0x7F) return k_control;
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return k_punct;
    return k_other;
}

struct AsciiTable {
    uint8_t cls[128];
    constexpr AsciiTable() : cls() {
        for (char32_t c = 0; c < 128; ++c) cls[c] = ascii_class(c);
    }
};
constexpr AsciiTable k_ascii;

// Stable sort of each run of non-starters by combining class (Unicode canonical ordering);
// O(k log k) per run of k marks, so a long run of combining marks cannot stall the tokenizer.
void canonical_reorder(NormalizeScratch& s) {
    struct Mark {
        int cc;
        char32_t cp;
        uint32_t begin, end;
    };
    thread_local std::vector<Mark> run;
    const size_t n = s.cps.size();
    for (size_t i = 0; i < n;) {
        size_t j = i;
        run.clear();
        for (int cc; j < n && (cc = combining_class(s.cps[j])) != 0; ++j)
            run.push_back({cc, s.cps[j], s.cp_begin[j], s.cp_end[j]});
        if (run.size() > 1) {
            std::stable_sort(run.begin(), run.end(),
                             [](const Mark& a, const Mark& b) { return a.cc < b.cc; });
            for (size_t k = 0; k < run.size(); ++k) {
                s.cps[i + k] = run[k].cp;
                s.cp_begin[i + k] = run[k].begin;
                s.cp_end[i + k] = run[k].end;
            }
        }
        i = j == i ? i + 1 : j;
    }
}

class WordWriter {
  public:
    explicit WordWriter(Words& out) : out_(out) {}
    void append(char32_t c, uint32_t b, uint32_t e) {
        const size_t before = out_.chars.size();
        append_utf8(out_.chars, c);
        for (size_t k = before; k < out_.chars.size(); ++k) {
            out_.src_begin.push_back(b);
            out_.src_end.push_back(e);
        }
    }
    void finish_word(int32_t id = -1) {
        const auto end = static_cast<uint32_t>(out_.chars.size());
        const uint32_t begin = out_.word_end.empty() ? 0 : out_.word_end.back();
        if (end > begin) {
            out_.word_end.push_back(end);
            out_.word_id.push_back(id);
        }
    }

    void append_ascii(char32_t c, uint32_t b) {
        out_.chars.push_back(static_cast<char>(c));
        out_.src_begin.push_back(b);
        out_.src_end.push_back(b + 1);
    }

  private:
    Words& out_;
};

// The same as split_words for pure-ASCII input, in one pass (no decomposition, no CJK).
void split_words_ascii(std::string_view src, uint32_t base, const NormalizerConfig& cfg,
                       Words& out) {
    WordWriter w(out);
    for (size_t i = 0; i < src.size(); ++i) {
        char32_t c = static_cast<unsigned char>(src[i]);
        const uint8_t cls = k_ascii.cls[c];
        const auto b = static_cast<uint32_t>(base + i);
        if (cls == k_control && cfg.clean_text) continue;  // removed, joining its neighbours
        if (cls == k_space || (cls == k_control && (c == 0x0B || c == 0x0C))) {
            w.finish_word();
        } else if (cls == k_punct) {
            w.finish_word();
            w.append_ascii(c, b);
            w.finish_word();
        } else {
            if (cfg.lowercase && c >= 'A' && c <= 'Z') c += 'a' - 'A';
            w.append_ascii(c, b);
        }
    }
    w.finish_word();
}

// BertNormalizer (clean_text, handle_chinese_chars, strip_accents as NFD + dropping Mn,
// lowercase, in that order) into s.norm; whitespace becomes ' '.
void normalize(std::string_view src, uint32_t base, const NormalizerConfig& cfg,
               NormalizeScratch& s) {
    s.cps.clear();
    s.cp_begin.clear();
    s.cp_end.clear();
    bool any_nonstarter = false;
    size_t pos = 0;
    while (pos < src.size()) {
        const auto b = static_cast<uint32_t>(pos);
        const char32_t c = decode_utf8(src, pos);
        const auto e = static_cast<uint32_t>(pos);
        auto push = [&](char32_t x) {
            s.cps.push_back(x);
            s.cp_begin.push_back(base + b);
            s.cp_end.push_back(base + e);
        };
        if (c < 0x80) {
            const uint8_t cls = k_ascii.cls[c];
            if (cfg.clean_text) {
                if (cls == k_control) continue;
                if (cls == k_space) {
                    push(' ');
                    continue;
                }
            }
            push(c);
            continue;
        }
        if (cfg.clean_text) {
            if (c == 0xFFFD || is_control(c)) continue;
            if (is_whitespace(c)) {
                push(' ');
                continue;
            }
        }
        // CJK ideographs are padded with spaces before NFD, which maps the compatibility
        // ideographs (U+F900.., U+2F800..) to unified ones.
        const bool pad = cfg.handle_chinese_chars && is_chinese_char(c);
        if (pad) push(' ');
        if (cfg.strip_accents) {
            char32_t d[8];
            const size_t n = decompose_canonical(c, d);
            for (size_t k = 0; k < n; ++k) {
                push(d[k]);
                any_nonstarter |= d[k] >= 0x300 && combining_class(d[k]) != 0;
            }
        } else {
            push(c);
        }
        if (pad) push(' ');
    }
    if (any_nonstarter) canonical_reorder(s);

    s.norm.clear();
    s.norm_begin.clear();
    s.norm_end.clear();
    for (size_t i = 0; i < s.cps.size(); ++i) {
        const char32_t c = s.cps[i];
        if (c >= 0x80 && cfg.strip_accents && is_nonspacing_mark(c)) continue;
        char32_t lowered[2] = {c, 0};
        size_t m = 1;
        if (cfg.lowercase) {
            if (c < 0x80)
                lowered[0] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
            else
                m = to_lower(c, lowered);
        }
        for (size_t k = 0; k < m; ++k) {
            s.norm.push_back(lowered[k]);
            s.norm_begin.push_back(s.cp_begin[i]);
            s.norm_end.push_back(s.cp_end[i]);
        }
    }
}

// Length of the longest added token matching s.norm at i, 0 if none; its id in id.
size_t match_added(const NormalizeScratch& s, size_t i,
                   const std::vector<NormalizedAddedToken>& added, int32_t& id) {
    size_t best = 0;
    for (const NormalizedAddedToken& a : added) {
        const size_t len = a.text.size();
        if (len <= best || i + len > s.norm.size()) continue;
        if (std::equal(a.text.begin(), a.text.end(), s.norm.begin() + static_cast<ptrdiff_t>(i))) {
            best = len;
            id = a.id;
        }
    }
    return best;
}

}  // namespace

void split_words(std::string_view src, uint32_t base, const NormalizerConfig& cfg,
                 NormalizeScratch& s, Words& out, const std::vector<NormalizedAddedToken>& added) {
    if (added.empty() && std::all_of(src.begin(), src.end(), [](char ch) {
            return static_cast<unsigned char>(ch) < 0x80;
        })) {
        split_words_ascii(src, base, cfg, out);
        return;
    }
    normalize(src, base, cfg, s);

    // Pre-tokenizer (BertPreTokenizer): split on whitespace (dropped) and punctuation (kept as
    // one-character words), after cutting out the added tokens.
    WordWriter w(out);
    const size_t n = s.norm.size();
    for (size_t i = 0; i < n; ++i) {
        if (!added.empty()) {
            int32_t id = -1;
            if (const size_t len = match_added(s, i, added, id)) {
                w.finish_word();
                for (size_t k = i; k < i + len; ++k)
                    w.append(s.norm[k], s.norm_begin[k], s.norm_end[k]);
                w.finish_word(id);
                i += len - 1;
                continue;
            }
        }
        const char32_t c = s.norm[i];
        const uint32_t b = s.norm_begin[i];
        const uint32_t e = s.norm_end[i];
        bool space, punct;
        if (c < 0x80) {
            const uint8_t cls = k_ascii.cls[c];
            space = cls == k_space || (cls == k_control && (c == 0x0B || c == 0x0C));
            punct = cls == k_punct;
        } else {
            space = is_whitespace(c);
            punct = !space && is_punctuation(c);
        }
        if (space) {
            w.finish_word();
        } else if (punct) {
            w.finish_word();
            w.append(c, b, e);
            w.finish_word();
        } else {
            w.append(c, b, e);
        }
    }
    w.finish_word();
}

std::u32string normalize_text(std::string_view src, const NormalizerConfig& cfg) {
    NormalizeScratch s;
    normalize(src, 0, cfg, s);
    return std::u32string(s.norm.begin(), s.norm.end());
}

}  // namespace sparq::tok
