#pragma once
// A bound on how deeply the JSON files of a model directory nest. nlohmann::json parses and frees
// any depth without recursion, but its dump(), copies and comparisons recurse once per level,
// and error messages dump the value they name: a file nested a few hundred thousand levels deep
// would overflow the stack on its way to an error.
#include <cstddef>
#include <string>
#include <string_view>

namespace sparq {

// serde_json's recursion limit: Hugging Face's readers (tokenizers, safetensors) refuse deeper
// files too, and none of theirs nests past about 10.
constexpr std::size_t kMaxJsonDepth = 128;

// The deepest nesting of arrays and objects in JSON text (brackets inside strings skipped).
std::size_t json_depth(std::string_view text);

// Throws sparq::Error "<where>: JSON nested N levels deep, more than 128" for deeper text.
void check_json_depth(std::string_view text, const std::string& where);

}  // namespace sparq
