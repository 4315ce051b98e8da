#include "core/json_depth.hpp"

#include <algorithm>

#include "sparq/error.hpp"

namespace sparq {

std::size_t json_depth(std::string_view text) {
    std::size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;  // the escaped character
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

void check_json_depth(std::string_view text, const std::string& where) {
    if (const std::size_t d = json_depth(text); d > kMaxJsonDepth)
        throw Error(where + ": JSON nested " + std::to_string(d) + " levels deep, more than " +
                    std::to_string(kMaxJsonDepth));
}

}  // namespace sparq
