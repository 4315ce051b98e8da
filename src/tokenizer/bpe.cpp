#include "tokenizer/bpe.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>

#include "core/files.hpp"
#include "sparq/error.hpp"
#include "tokenizer/unicode.hpp"

namespace sparq::tok {
namespace {

std::array<char32_t, 256> make_byte_to_unicode() {
    std::array<char32_t, 256> table{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        table[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return table;
}

enum class CharClass : uint8_t { letter, number, space, other };

CharClass classify(char32_t c) {
    if (is_whitespace(c)) return CharClass::space;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
            return CharClass::letter;
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_NO:
            return CharClass::number;
        default:
            return CharClass::other;
    }
}

}  // namespace

const std::array<char32_t, 256>& byte_to_unicode() {
    static const std::array<char32_t, 256> table = make_byte_to_unicode();
    return table;
}

int unicode_to_byte(char32_t c) {
    if (c < 256) return byte_to_unicode()[c] == c ? static_cast<int>(c) : -1;
    static const auto inverse = [] {
        std::array<int16_t, 512> inv{};
        inv.fill(-1);
        for (int b = 0; b < 256; ++b)
            inv[byte_to_unicode()[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
        return inv;
    }();
    return c < inverse.size() ? inverse[c] : -1;
}

void gpt2_split(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& dst) {
    thread_local std::vector<char32_t> cps;
    thread_local std::vector<CharClass> cls;
    thread_local std::vector<uint32_t> pos;  // byte offset of each code point, plus the end
    cps.clear();
    cls.clear();
    pos.clear();
    for (size_t p = 0; p < text.size();) {
        pos.push_back(static_cast<uint32_t>(p));
        const char32_t c = decode_utf8(text, p);
        cps.push_back(c);
        cls.push_back(classify(c));
    }
    const size_t n = cps.size();
    pos.push_back(static_cast<uint32_t>(text.size()));
    auto run_end = [&](size_t i, CharClass k) {
        while (i < n && cls[i] == k) ++i;
        return i;
    };
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        if (cps[i] == '\'' && i + 1 < n) {
            // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
            const char32_t c1 = cps[i + 1];
            const char32_t c2 = i + 2 < n ? cps[i + 2] : 0;
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
                end = i + 2;
            else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                     (c1 == 'l' && c2 == 'l'))
                end = i + 3;
        }
        if (end == i) {
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ' ' then a run of one
            // class.
            const size_t start =
                cps[i] == ' ' && i + 1 < n && cls[i + 1] != CharClass::space ? i + 1 : i;
            if (cls[start] != CharClass::space) end = run_end(start, cls[start]);
        }
        if (end == i) {
            // \s+(?!\S) keeps the last space of a run for the next piece; else \s+.
            const size_t ws_end = run_end(i, CharClass::space);
            end = ws_end == n || ws_end - i == 1 ? ws_end : ws_end - 1;
        }
        dst.emplace_back(pos[i], pos[end]);
        i = end;
    }
}

std::vector<MergeRule> read_merges_file(const std::string& path) {
    require_regular_file(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open merges file '" + path + "'");
    std::vector<MergeRule> out;
    std::string line;
    for (size_t line_no = 1; std::getline(in, line); ++line_no) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line_no == 1 && line.rfind("#version", 0) == 0) continue;
        if (line.empty()) continue;
        const size_t sp = line.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() ||
            line.find(' ', sp + 1) != std::string::npos)
            throw Error(path + ":" + std::to_string(line_no) +
                        ": expected a merge of two tokens separated by one space, found '" + line +
                        "'");
        out.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    }
    return out;
}

void BpeModel::build(const Vocab& vocab, const std::vector<MergeRule>& merges, int32_t unk_id,
                     const std::string& where) {
    std::string s;
    for (size_t b = 0; b < 256; ++b) {
        s.clear();
        append_utf8(s, byte_to_unicode()[b]);
        const int32_t id = vocab.find(s);
        byte_id_[b] = id >= 0 ? id : unk_id;
    }
    merges_.clear();
    merges_.reserve(merges.size());
    if (merges.size() >= std::numeric_limits<uint32_t>::max())
        throw Error(where + ": too many merges (" + std::to_string(merges.size()) + ")");
    for (size_t r = 0; r < merges.size(); ++r) {
        const auto& [a, b] = merges[r];
        const int32_t ia = vocab.find(a), ib = vocab.find(b), im = vocab.find(a + b);
        if (ia < 0 || ib < 0 || im < 0)
            throw Error(where + ": merge " + std::to_string(r + 1) + " '" + a + " " + b +
                        "': token '" +
                        (ia < 0   ? a
                         : ib < 0 ? b
                                  : a + b) +
                        "' is not in the vocabulary");
        // A pair listed twice keeps its last rank, as HF's merge map (collected into a HashMap).
        merges_.insert_or_assign(key(ia, ib), Merge{static_cast<uint32_t>(r), im});
    }
}

void BpeModel::encode(std::string_view word, std::vector<int32_t>& ids,
                      std::vector<std::pair<uint32_t, uint32_t>>& ranges) const {
    // tokenizers word.rs merge_all: a min-heap of candidate merges on (rank, position) over a
    // linked list of symbols; an entry is stale when its left symbol is gone or the pair it
    // starts no longer merges into the same token.
    struct Symbol {
        int32_t id;
        int32_t prev, next;  // -1: none
        uint32_t begin, end;
    };
    struct Candidate {
        uint32_t rank;
        int32_t pos;
        int32_t id;
        bool operator>(const Candidate& o) const {
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };
    thread_local std::vector<Symbol> syms;
    thread_local std::vector<Candidate> heap;
    syms.clear();
    heap.clear();
    for (size_t i = 0; i < word.size(); ++i) {
        const int32_t id = byte_id_[static_cast<unsigned char>(word[i])];
        if (id < 0) continue;
        const auto n = static_cast<int32_t>(syms.size());
        syms.push_back({id, n - 1, -1, static_cast<uint32_t>(i), static_cast<uint32_t>(i + 1)});
        if (n > 0) syms[static_cast<size_t>(n - 1)].next = n;
    }
    const auto cmp = std::greater<Candidate>();
    auto push = [&](int32_t pos) {
        const Symbol& a = syms[static_cast<size_t>(pos)];
        if (a.next < 0) return;
        auto it = merges_.find(key(a.id, syms[static_cast<size_t>(a.next)].id));
        if (it == merges_.end()) return;
        heap.push_back({it->second.rank, pos, it->second.id});
        std::push_heap(heap.begin(), heap.end(), cmp);
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i) push(i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), cmp);
        const Candidate top = heap.back();
        heap.pop_back();
        Symbol& a = syms[static_cast<size_t>(top.pos)];
        if (a.end == a.begin || a.next < 0) continue;
        Symbol& b = syms[static_cast<size_t>(a.next)];
        auto it = merges_.find(key(a.id, b.id));
        if (it == merges_.end() || it->second.id != top.id) continue;
        a.id = top.id;
        a.end = b.end;
        a.next = b.next;
        b.end = b.begin;  // removed
        if (a.next >= 0) syms[static_cast<size_t>(a.next)].prev = top.pos;
        if (a.prev >= 0) push(a.prev);
        push(top.pos);
    }
    for (const Symbol& sym : syms) {
        if (sym.end == sym.begin) continue;
        ids.push_back(sym.id);
        ranges.emplace_back(sym.begin, sym.end);
    }
}

void append_token_bytes(std::string_view token, std::string& dst) {
    const size_t start = dst.size();
    if (find_invalid_utf8(token) == utf8_valid) {
        for (size_t p = 0; p < token.size();) {
            const int b = unicode_to_byte(decode_utf8(token, p));
            if (b < 0) {
                dst.resize(start);
                dst.append(token);
                return;
            }
            dst.push_back(static_cast<char>(b));
        }
        return;
    }
    dst.append(token);
}

std::string utf8_lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        const size_t bad = find_invalid_utf8(bytes.substr(i));
        if (bad == utf8_valid) {
            out.append(bytes.substr(i));
            break;
        }
        out.append(bytes.substr(i, bad));
        i += bad;
        // Length of the maximal prefix of a valid sequence starting at i (Unicode 3.9 / Rust).
        const auto b0 = static_cast<unsigned char>(bytes[i]);
        size_t len = 1;
        auto cont = [&](size_t k, unsigned char lo, unsigned char hi) {
            if (i + k >= bytes.size()) return false;
            const auto c = static_cast<unsigned char>(bytes[i + k]);
            return c >= lo && c <= hi;
        };
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            len = 1;  // a truncated 2-byte sequence
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
            if (cont(1, lo, hi)) len = 2;
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
            if (cont(1, lo, hi)) len = cont(2, 0x80, 0xBF) ? 3 : 2;
        }
        out.append("\xEF\xBF\xBD");
        i += len;
    }
    return out;
}

}  // namespace sparq::tok
