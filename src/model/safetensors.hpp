#pragma once
// Hugging Face safetensors files: a memory-mapped, fully validated reader and an atomic writer.
// Format: u64 little-endian header length N, N bytes of JSON header
// {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}},
// then the data region; offsets are relative to the start of the data region.
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sparq {

enum class DType { f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean };

// Safetensors spelling ("F32", "BF16", "I8", "BOOL", ...).
const char* dtype_name(DType dtype);
// Bytes per element.
std::size_t dtype_size(DType dtype);
// True for F64/F32/F16/BF16 (readable as f32).
bool dtype_is_float(DType dtype);

// One tensor entry of a safetensors header; offsets are relative to the data region.
struct TensorInfo {
    std::string name;
    DType dtype = DType::f32;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;
    uint32_t shard = 0;  // sharded checkpoints: the shard file holding it (offsets are its own)
    int64_t numel() const;
};

// "[768, 3072]"
std::string shape_string(const std::vector<int64_t>& shape);

// A read-only mapping of a safetensors file (or of a pytorch_model.bin, or of the shards a
// *.index.json names, read as one). Opening validates the whole header (length, JSON,
// dtypes, shapes vs sizes, offsets inside the data region, no overlaps), so later reads never
// leave the mapping. Move-only; unmaps on destruction.
class SafeTensorsFile {
  public:
    // Maps and validates `path`; throws sparq::Error naming the file (and tensor) on any problem.
    explicit SafeTensorsFile(const std::string& path);
    SafeTensorsFile(SafeTensorsFile&& other) noexcept;
    SafeTensorsFile& operator=(SafeTensorsFile&& other) noexcept;
    SafeTensorsFile(const SafeTensorsFile&) = delete;
    SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;
    ~SafeTensorsFile();

    const std::string& path() const { return path_; }
    // All tensors, sorted by name.
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    // The tensor called `name`, or null.
    const TensorInfo* find(std::string_view name) const;
    // The "__metadata__" string map (empty if absent).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // Raw little-endian bytes of a tensor of this file (inside the mapping).
    std::span<const std::byte> bytes(const TensorInfo& info) const;
    // Converts a float tensor (F64/F32/F16/BF16) to f32 into dst[numel]; throws sparq::Error
    // for integer dtypes.
    void read_f32(const TensorInfo& info, float* dst) const;
    std::vector<float> read_f32(const TensorInfo& info) const;
    // Tells the kernel the tensor's bytes are not needed soon (madvise MADV_DONTNEED on the whole
    // pages inside them): a loader that copied them lets them leave memory, so loading does not
    // hold the file and its converted copy at once. Reading them again faults them back in.
    void release(const TensorInfo& info) const noexcept;

  private:
    void unmap() noexcept;
    // A sharded checkpoint's index (model.safetensors.index.json, pytorch_model.bin.index.json):
    // each shard mapped as a file of its own, their tensors merged (TensorInfo::shard).
    void open_index(const std::string& path);
    std::vector<SafeTensorsFile> shards_;
    std::string path_;
    const std::byte* map_ = nullptr;
    std::size_t map_size_ = 0;
    const std::byte* data_ = nullptr;  // start of the data region
    std::vector<TensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

// One tensor to write: `data` holds numel * dtype_size(dtype) bytes, little-endian, row-major.
struct TensorToWrite {
    std::string name;
    DType dtype = DType::f32;
    std::vector<int64_t> shape;
    std::span<const std::byte> data;
};

// f32 tensor view for write_safetensors.
TensorToWrite f32_tensor(std::string name, std::vector<int64_t> shape, const float* data);

// Writes an HF-compatible safetensors file atomically (temp file in the same directory, then
// rename), laid out as the HF writer does: tensors ordered by dtype (U64 I64 F64 F32 U32 I32 BF16
// F16 U16 I16 I8 U8 BOOL, so every tensor is naturally aligned) then name, the compact JSON
// header in that order after "__metadata__" (keys sorted), padded with spaces to a multiple of 8.
// Throws sparq::Error on duplicate names, size mismatch or I/O failure.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The bytes write_safetensors would write, in memory.
std::vector<uint8_t> safetensors_bytes(const std::vector<TensorToWrite>& tensors,
                                       const std::map<std::string, std::string>& metadata = {});

// IEEE half / bfloat16 bit patterns to f32 (exact).
// Parses a safetensors JSON header [begin, end) (throws nlohmann::json::exception if it is not
// JSON). `duplicate` gets the first top-level name that appears twice (JSON parsing would keep
// only the last of them), else stays empty.
nlohmann::json parse_safetensors_header(const char* begin, const char* end, std::string& duplicate);

float f16_to_f32(uint16_t bits);
float bf16_to_f32(uint16_t bits);

}  // namespace sparq
