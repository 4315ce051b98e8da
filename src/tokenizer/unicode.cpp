#include "tokenizer/unicode.hpp"

#include <utf8proc.h>

#include <algorithm>

namespace sparq::tok {

size_t find_invalid_utf8(std::string_view src) {
    const auto* s = reinterpret_cast<const unsigned char*>(src.data());
    const size_t n = src.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char b0 = s[i];
        if (b0 < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        char32_t min_cp;
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            len = 2;
            min_cp = 0x80;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            len = 3;
            min_cp = 0x800;
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            len = 4;
            min_cp = 0x10000;
        } else {
            return i;  // continuation byte, overlong lead C0/C1, or F5..FF
        }
        if (i + len > n) return i;
        char32_t c = b0 & (0xFF >> (len + 1));
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min_cp || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return i;
        i += len;
    }
    return utf8_valid;
}

bool is_whitespace(char32_t c) {
    switch (c) {
        case 0x09:
        case 0x0A:
        case 0x0B:
        case 0x0C:
        case 0x0D:
        case 0x20:
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return c >= 0x2000 && c <= 0x200A;
    }
}

bool is_control(char32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CS:
        case UTF8PROC_CATEGORY_CO:
            return true;
        default:
            return false;
    }
}

bool is_punctuation(char32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return true;
    if (c < 0x80) return false;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
        case UTF8PROC_CATEGORY_PC:
        case UTF8PROC_CATEGORY_PD:
        case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE:
        case UTF8PROC_CATEGORY_PI:
        case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
            return true;
        default:
            return false;
    }
}

bool is_chinese_char(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_nonspacing_mark(char32_t c) {
    return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_MN;
}

int combining_class(char32_t c) {
    return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

size_t decompose_canonical(char32_t c, char32_t* dst) {
    utf8proc_int32_t buf[8];
    int boundclass = 0;
    const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 8,
                                                       UTF8PROC_DECOMPOSE, &boundclass);
    if (n <= 0 || n > 8) {  // canonical decompositions are at most 4 long; keep c otherwise
        dst[0] = c;
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; ++i) dst[i] = static_cast<char32_t>(buf[i]);
    return static_cast<size_t>(n);
}

size_t to_lower(char32_t c, char32_t* dst) {
    if (c == 0x130) {  // the one unconditional multi-character lower-case mapping (SpecialCasing)
        dst[0] = 'i';
        dst[1] = 0x307;
        return 2;
    }
    dst[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
    return 1;
}

namespace {

// NFC of valid UTF-8 text as utf8proc_map(UTF8PROC_STABLE | UTF8PROC_COMPOSE) computes it
// (decompose, canonical ordering, compose), into the int32 buffer `cps` (its first bytes then
// hold the UTF-8 result, whose length is returned; -1 for invalid UTF-8). utf8proc orders marks
// by swapping neighbours, quadratic in a run of marks (a 90000-mark cluster took 20 s); here each
// run of non-starters is stable-sorted by combining class, the same order in O(k log k).
utf8proc_ssize_t nfc_utf8(std::string_view src, std::vector<utf8proc_int32_t>& cps) {
    constexpr auto opts = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(src.data());
    const auto n = static_cast<utf8proc_ssize_t>(src.size());
    cps.clear();
    for (utf8proc_ssize_t pos = 0; pos < n;) {
        utf8proc_int32_t c = 0;
        const utf8proc_ssize_t len = utf8proc_iterate(p + pos, n - pos, &c);
        if (len <= 0) return -1;
        pos += len;
        utf8proc_int32_t d[8];
        int boundclass = 0;
        const utf8proc_ssize_t k = utf8proc_decompose_char(c, d, 8, opts, &boundclass);
        if (k < 0 || k > 8) return -1;  // canonical decompositions are at most 4 long
        cps.insert(cps.end(), d, d + k);
    }
    for (size_t i = 0; i < cps.size();) {
        size_t j = i;
        while (j < cps.size() && combining_class(static_cast<char32_t>(cps[j])) != 0) ++j;
        if (j - i > 1)
            std::stable_sort(cps.begin() + static_cast<ptrdiff_t>(i),
                             cps.begin() + static_cast<ptrdiff_t>(j),
                             [](utf8proc_int32_t x, utf8proc_int32_t y) {
                                 return combining_class(static_cast<char32_t>(x)) <
                                        combining_class(static_cast<char32_t>(y));
                             });
        i = j == i ? i + 1 : j;
    }
    return utf8proc_reencode(cps.data(), static_cast<utf8proc_ssize_t>(cps.size()), opts);
}

}  // namespace

void nfc_with_sources(std::string_view src, uint32_t base, std::string& out,
                      std::vector<std::pair<uint32_t, uint32_t>>& from) {
    out.clear();
    from.clear();
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(src.data());
    const auto n = static_cast<utf8proc_ssize_t>(src.size());
    utf8proc_ssize_t pos = 0;
    utf8proc_int32_t prev = -1;
    utf8proc_int32_t state = 0;
    size_t cluster = 0;  // start of the current cluster in src
    thread_local std::vector<utf8proc_int32_t> cps;
    auto flush = [&](size_t end) {
        if (end <= cluster) return;
        const utf8proc_ssize_t len = nfc_utf8(src.substr(cluster, end - cluster), cps);
        const std::pair<uint32_t, uint32_t> range(base + static_cast<uint32_t>(cluster),
                                                  base + static_cast<uint32_t>(end));
        if (len >= 0) {
            out.append(reinterpret_cast<const char*>(cps.data()), static_cast<size_t>(len));
            from.insert(from.end(), static_cast<size_t>(len), range);
        } else {  // not valid UTF-8 (callers validate first): kept as it is
            out.append(src.substr(cluster, end - cluster));
            from.insert(from.end(), end - cluster, range);
        }
        cluster = end;
    };
    while (pos < n) {
        utf8proc_int32_t c = 0;
        utf8proc_ssize_t len = utf8proc_iterate(p + pos, n - pos, &c);
        if (len <= 0) {
            len = 1;
            c = -1;
        }
        if (prev >= 0 && (c < 0 || utf8proc_grapheme_break_stateful(prev, c, &state)))
            flush(static_cast<size_t>(pos));
        prev = c;
        pos += len;
    }
    flush(src.size());
}

}  // namespace sparq::tok
