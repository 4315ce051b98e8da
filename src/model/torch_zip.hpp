#pragma once
// pytorch_model.bin files (torch.save's zip format): the tensors of the state dict they hold,
// located in place (safetensors.hpp's SafeTensorsFile maps such a file like a safetensors one).
#include <cstddef>
#include <string>
#include <vector>

#include "model/safetensors.hpp"

namespace sparq {

// True if the mapped bytes start a zip archive ("PK\3\4").
bool is_zip_file(const std::byte* map, std::size_t size);

// The state dict's tensors with byte ranges relative to the start of the file (sorted as
// found); throws sparq::Error naming `path` for anything that is not a plain state dict of
// contiguous little-endian tensors in stored records (or asks to run any other code).
std::vector<TensorInfo> torch_zip_tensors(const std::string& path, const std::byte* map,
                                          std::size_t size);

}  // namespace sparq
