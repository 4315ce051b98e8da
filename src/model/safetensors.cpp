#include "model/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "core/files.hpp"
#include "core/json_depth.hpp"
#include "model/torch_zip.hpp"
#include "sparq/error.hpp"

namespace sparq {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the HF reader's limit as well

struct DTypeEntry {
    DType dtype;
    const char* name;
    std::size_t size;
    int hf_rank;  // position in the HF crate's Dtype enum; its writer orders data by it, descending
};
constexpr DTypeEntry kDTypes[] = {
    {DType::f64, "F64", 8, 12},     {DType::f32, "F32", 4, 11}, {DType::f16, "F16", 2, 7},
    {DType::bf16, "BF16", 2, 8},    {DType::i64, "I64", 8, 13}, {DType::i32, "I32", 4, 9},
    {DType::i16, "I16", 2, 5},      {DType::i8, "I8", 1, 2},    {DType::u64, "U64", 8, 14},
    {DType::u32, "U32", 4, 10},     {DType::u16, "U16", 2, 6},  {DType::u8, "U8", 1, 1},
    {DType::boolean, "BOOL", 1, 0},
};

const DTypeEntry& entry(DType dtype) {
    for (const auto& e : kDTypes)
        if (e.dtype == dtype) return e;
    throw Error("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw Error(path + ": " + what);
}

[[noreturn]] void fail_tensor(const std::string& path, const std::string& name,
                              const std::string& what) {
    throw Error(path + ": tensor '" + name + "': " + what);
}

// A non-negative JSON integer, or nullopt.
std::optional<uint64_t> as_u64(const nlohmann::json& j) {
    if (j.is_number_unsigned()) return j.get<uint64_t>();
    if (j.is_number_integer()) {
        auto v = j.get<int64_t>();
        if (v >= 0) return static_cast<uint64_t>(v);
    }
    return std::nullopt;
}

std::string type_name(const nlohmann::json& j) {
    if (j.is_number_integer()) return "integer " + j.dump();
    return std::string(j.type_name()) + " " + j.dump().substr(0, 40);
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const nlohmann::json& j,
                       uint64_t data_size) {
    TensorInfo info;
    info.name = name;
    if (!j.is_object())
        fail_tensor(path, name, "header entry must be an object, found " + type_name(j));
    auto dt = j.find("dtype");
    if (dt == j.end() || !dt->is_string()) fail_tensor(path, name, "missing or non-string 'dtype'");
    const std::string dts = dt->get<std::string>();
    const DTypeEntry* de = nullptr;
    for (const auto& e : kDTypes)
        if (dts == e.name) de = &e;
    if (!de)
        fail_tensor(path, name,
                    "unsupported dtype '" + dts +
                        "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL)");
    info.dtype = de->dtype;

    auto sh = j.find("shape");
    if (sh == j.end() || !sh->is_array()) fail_tensor(path, name, "missing or non-array 'shape'");
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : *sh) {
        auto v = as_u64(d);
        if (!v || *v > (1ull << 62))
            fail_tensor(path, name,
                        "shape entries must be non-negative integers, found " + sh->dump());
        info.shape.push_back(static_cast<int64_t>(*v));
        overflow |= __builtin_mul_overflow(numel, *v, &numel);
    }
    uint64_t nbytes = 0;
    overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(de->size), &nbytes);

    auto off = j.find("data_offsets");
    if (off == j.end() || !off->is_array() || off->size() != 2 || !as_u64((*off)[0]) ||
        !as_u64((*off)[1]))
        fail_tensor(path, name, "'data_offsets' must be [begin, end] (non-negative integers)");
    info.begin = *as_u64((*off)[0]);
    info.end = *as_u64((*off)[1]);
    const std::string offs =
        "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "]";
    if (info.end < info.begin) fail_tensor(path, name, offs + " end before begin");
    if (info.end > data_size)
        fail_tensor(
            path, name,
            offs + " lie outside the data region (" + std::to_string(data_size) + " bytes)");
    if (overflow || info.end - info.begin != nbytes)
        fail_tensor(path, name,
                    offs + " hold " + std::to_string(info.end - info.begin) + " bytes but shape " +
                        shape_string(info.shape) + " of " + de->name + " needs " +
                        (overflow ? std::string("more than 2^64") : std::to_string(nbytes)));
    return info;
}

}  // namespace

const char* dtype_name(DType dtype) { return entry(dtype).name; }
std::size_t dtype_size(DType dtype) { return entry(dtype).size; }
bool dtype_is_float(DType dtype) {
    return dtype == DType::f64 || dtype == DType::f32 || dtype == DType::f16 ||
           dtype == DType::bf16;
}

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

nlohmann::json parse_safetensors_header(const char* begin, const char* end, std::string& duplicate) {
    std::set<std::string> keys;
    auto note_key = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& key) {
        if (ev == nlohmann::json::parse_event_t::key && depth == 1 && duplicate.empty() &&
            !keys.insert(key.get<std::string>()).second)
            duplicate = key.get<std::string>();
        return true;
    };
    return nlohmann::json::parse(begin, end, note_key);
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        // Zero or subnormal: mant * 2^-24, exact in f32.
        float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
        return sign ? -v : v;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float bf16_to_f32(uint16_t b) {
    uint32_t bits = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

void SafeTensorsFile::open_index(const std::string& path) {
    require_regular_file(path);
    std::ifstream in(path);
    if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
        !j["weight_map"].is_object())
        fail(path,
             "not a sharded-checkpoint index (expected a JSON object with a 'weight_map' "
             "object of tensor name -> shard file)");
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::map<std::string, uint32_t> shard_of_file;
    std::map<std::string, uint32_t> wanted;  // tensor -> shard
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it->is_string()) fail(path, "weight_map['" + it.key() + "'] must be a file name");
        const std::string file = it->get<std::string>();
        if (file.empty() || file.find('/') != std::string::npos ||
            file.find("..") != std::string::npos)
            fail(path, "weight_map['" + it.key() + "']: '" + file +
                           "' is not a file name in the index's directory");
        auto [f, added] = shard_of_file.emplace(file, static_cast<uint32_t>(shards_.size()));
        if (added) {
            const std::string shard_path = (dir / file).string();
            if (shard_path.ends_with(".index.json"))
                fail(path, "a shard may not be another index: " + file);
            shards_.emplace_back(shard_path);
        }
        wanted[it.key()] = f->second;
    }
    if (shards_.empty()) fail(path, "weight_map names no tensor");
    // A tensor the index names comes from its shard (another shard's copy is skipped); one it
    // does not name is read from the shard holding it, as Hugging Face loads every tensor of each
    // shard the index lists, unless two shards hold it (then which one is meant is unknown).
    std::map<std::string, uint32_t> unnamed;  // tensor -> shard
    for (uint32_t k = 0; k < shards_.size(); ++k)
        for (TensorInfo t : shards_[k].tensors()) {
            auto w = wanted.find(t.name);
            if (w == wanted.end()) {
                auto [u, first] = unnamed.emplace(t.name, k);
                if (!first)
                    fail(path, "tensor '" + t.name + "' is in shards " + shards_[u->second].path() +
                                   " and " + shards_[k].path() +
                                   " and the weight_map names neither");
            } else if (w->second != k) {
                continue;  // not the index's copy
            }
            t.shard = k;
            tensors_.push_back(std::move(t));
        }
    std::sort(tensors_.begin(), tensors_.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
    if (tensors_.size() != wanted.size() + unnamed.size())
        for (const auto& [name, k] : wanted)
            if (!find(name))
                fail(path, "tensor '" + name + "' is not in its shard " + shards_[k].path());
}

SafeTensorsFile::SafeTensorsFile(const std::string& path) : path_(path) {
    if (path.ends_with(".index.json")) {
        open_index(path);
        return;
    }
    // O_NONBLOCK: a FIFO opens at once (and is refused below) instead of waiting for a writer.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        fail(path, std::string("cannot stat: ") + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, "not a regular file");
    }
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    // pytorch_model.bin: only torch.save's zip format (torch >= 1.6) is read.
    const bool bin = path.ends_with(".bin");
    const char* not_zip =
        "not a zip archive (sparq reads the zip format torch.save writes since torch 1.6; older "
        "pickled files are not read)";
    if (file_size < 8) {
        ::close(fd);
        if (bin) fail(path, not_zip);
        fail(path, "file is " + std::to_string(file_size) +
                       " bytes, shorter than the 8-byte safetensors header length");
    }
    void* m = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    ::close(fd);
    if (m == MAP_FAILED) fail(path, std::string("cannot mmap: ") + std::strerror(map_errno));
    map_ = static_cast<const std::byte*>(m);
    map_size_ = file_size;

    if (is_zip_file(map_, map_size_)) {  // pytorch_model.bin: torch.save's zip format
        try {
            data_ = map_;
            tensors_ = torch_zip_tensors(path, map_, map_size_);
            std::sort(tensors_.begin(), tensors_.end(),
                      [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
            for (size_t i = 1; i < tensors_.size(); ++i)
                if (tensors_[i].name == tensors_[i - 1].name)
                    fail(path, "names tensor '" + tensors_[i].name + "' twice");
        } catch (...) {
            unmap();
            throw;
        }
        return;
    }
    if (bin) {
        unmap();
        fail(path, not_zip);
    }
    try {
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(map_[i]);
        if (n > kMaxHeaderBytes)
            fail(path, "header length " + std::to_string(n) +
                           " bytes exceeds the 100 MB limit (corrupt or not a safetensors file)");
        if (n > file_size - 8)
            fail(path, "header length " + std::to_string(n) + " bytes points past the end of the " +
                           std::to_string(file_size) + "-byte file");
        const char* hbeg = reinterpret_cast<const char*>(map_ + 8);
        nlohmann::json header;
        std::string duplicate;
        try {
            header = parse_safetensors_header(hbeg, hbeg + n, duplicate);
        } catch (const nlohmann::json::exception& e) {
            fail(path, std::string("header is not valid JSON: ") + e.what());
        }
        check_json_depth({hbeg, n}, path + ": header");
        if (!duplicate.empty())
            fail(path, "header names tensor '" + duplicate + "' twice, expected unique names");
        if (!header.is_object())
            fail(path, std::string("header must be a JSON object, found ") + header.type_name());
        data_ = map_ + 8 + n;
        const uint64_t data_size = file_size - 8 - n;

        for (auto it = header.begin(); it != header.end(); ++it) {
            if (it.key() == "__metadata__") {
                if (it->is_null()) continue;
                if (!it->is_object()) fail(path, "'__metadata__' must be an object of strings");
                for (auto m2 = it->begin(); m2 != it->end(); ++m2)
                    metadata_[m2.key()] = m2->is_string() ? m2->get<std::string>() : m2->dump();
                continue;
            }
            tensors_.push_back(parse_entry(path, it.key(), *it, data_size));
        }
        // Overlap check over the non-empty tensors in offset order.
        std::vector<const TensorInfo*> by_off;
        for (const auto& t : tensors_)
            if (t.end > t.begin) by_off.push_back(&t);
        std::sort(by_off.begin(), by_off.end(),
                  [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
        for (std::size_t i = 1; i < by_off.size(); ++i)
            if (by_off[i]->begin < by_off[i - 1]->end)
                fail_tensor(path, by_off[i]->name,
                            "data_offsets [" + std::to_string(by_off[i]->begin) + ", " +
                                std::to_string(by_off[i]->end) + "] overlap tensor '" +
                                by_off[i - 1]->name + "' [" + std::to_string(by_off[i - 1]->begin) +
                                ", " + std::to_string(by_off[i - 1]->end) + "]");
        std::sort(tensors_.begin(), tensors_.end(),
                  [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
    } catch (...) {
        unmap();
        throw;
    }
}

SafeTensorsFile::SafeTensorsFile(SafeTensorsFile&& o) noexcept { *this = std::move(o); }

SafeTensorsFile& SafeTensorsFile::operator=(SafeTensorsFile&& o) noexcept {
    if (this != &o) {
        unmap();
        path_ = std::move(o.path_);
        map_ = std::exchange(o.map_, nullptr);
        map_size_ = std::exchange(o.map_size_, 0);
        data_ = std::exchange(o.data_, nullptr);
        shards_ = std::move(o.shards_);
        tensors_ = std::move(o.tensors_);
        metadata_ = std::move(o.metadata_);
    }
    return *this;
}

SafeTensorsFile::~SafeTensorsFile() { unmap(); }

void SafeTensorsFile::release(const TensorInfo& info) const noexcept {
    const auto bytes = this->bytes(info);
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto b = reinterpret_cast<uintptr_t>(bytes.data());
    const uintptr_t first = (b + page - 1) / page * page, last = (b + bytes.size()) / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

void SafeTensorsFile::unmap() noexcept {
    if (map_) ::munmap(const_cast<std::byte*>(map_), map_size_);
    map_ = nullptr;
    map_size_ = 0;
    data_ = nullptr;
}

const TensorInfo* SafeTensorsFile::find(std::string_view name) const {
    auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                               [](const TensorInfo& t, std::string_view n) { return t.name < n; });
    return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::span<const std::byte> SafeTensorsFile::bytes(const TensorInfo& info) const {
    if (!shards_.empty()) return shards_.at(info.shard).bytes(info);
    return {data_ + info.begin, static_cast<std::size_t>(info.end - info.begin)};
}

void SafeTensorsFile::read_f32(const TensorInfo& info, float* dst) const {
    const std::byte* src = bytes(info).data();
    const std::size_t n = static_cast<std::size_t>(info.end - info.begin) / dtype_size(info.dtype);
    switch (info.dtype) {
        case DType::f32:
            std::memcpy(dst, src, n * 4);
            break;
        case DType::f16:
            for (std::size_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = f16_to_f32(h);
            }
            break;
        case DType::bf16:
            for (std::size_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = bf16_to_f32(h);
            }
            break;
        case DType::f64:
            for (std::size_t i = 0; i < n; ++i) {
                double d;
                std::memcpy(&d, src + 8 * i, 8);
                dst[i] = static_cast<float>(d);
            }
            break;
        default:
            fail_tensor(path_, info.name,
                        std::string("expected a float dtype (F32, F16, BF16, F64), found ") +
                            dtype_name(info.dtype));
    }
}

std::vector<float> SafeTensorsFile::read_f32(const TensorInfo& info) const {
    std::vector<float> v(static_cast<std::size_t>(info.numel()));
    read_f32(info, v.data());
    return v;
}

TensorToWrite f32_tensor(std::string name, std::vector<int64_t> shape, const float* data) {
    TensorToWrite t;
    t.name = std::move(name);
    t.dtype = DType::f32;
    t.shape = std::move(shape);
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    t.data = {reinterpret_cast<const std::byte*>(data), static_cast<std::size_t>(n) * 4};
    return t;
}

namespace {

// The file's first 8 + header bytes (length, padded JSON header) and the tensors in data order;
// `path` names the file in errors.
std::string header_bytes(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata,
                         std::vector<const TensorToWrite*>& order) {
    std::set<std::string> names;
    for (const auto& t : tensors) {
        if (t.name.empty() || t.name == "__metadata__")
            fail(path, "invalid tensor name '" + t.name + "'");
        if (!names.insert(t.name).second) fail(path, "duplicate tensor name '" + t.name + "'");
        uint64_t n = 1;
        for (auto d : t.shape) {
            if (d < 0) fail_tensor(path, t.name, "negative dimension in " + shape_string(t.shape));
            n *= static_cast<uint64_t>(d);
        }
        if (n * dtype_size(t.dtype) != t.data.size())
            fail_tensor(path, t.name,
                        "shape " + shape_string(t.shape) + " of " + dtype_name(t.dtype) +
                            " needs " + std::to_string(n * dtype_size(t.dtype)) + " bytes, got " +
                            std::to_string(t.data.size()));
        order.push_back(&t);
    }
    std::sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
        auto ra = entry(a->dtype).hf_rank, rb = entry(b->dtype).hf_rank;
        return ra != rb ? ra > rb : a->name < b->name;
    });
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        auto& m = header["__metadata__"];
        for (const auto& [k, v] : metadata) m[k] = v;
    }
    uint64_t off = 0;
    for (const auto* t : order) {
        auto& e = header[t->name];
        e["dtype"] = dtype_name(t->dtype);
        e["shape"] = t->shape;
        e["data_offsets"] = {off, off + t->data.size()};
        off += t->data.size();
    }
    std::string h;
    try {
        h = header.dump();
    } catch (const nlohmann::json::exception& e) {
        fail(path, std::string("cannot encode header: ") + e.what());
    }
    h.append((8 - h.size() % 8) % 8, ' ');
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(uint64_t(h.size()) >> (8 * i));
    return out + h;
}

}  // namespace

std::vector<uint8_t> safetensors_bytes(const std::vector<TensorToWrite>& tensors,
                                       const std::map<std::string, std::string>& metadata) {
    std::vector<const TensorToWrite*> order;
    const std::string head = header_bytes("safetensors (in memory)", tensors, metadata, order);
    std::vector<uint8_t> out(head.begin(), head.end());
    for (const auto* t : order) {
        const auto* p = reinterpret_cast<const uint8_t*>(t->data.data());
        out.insert(out.end(), p, p + t->data.size());
    }
    return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    std::vector<const TensorToWrite*> order;
    const std::string head = header_bytes(path, tensors, metadata, order);
    std::string tmp = path + ".tmp-XXXXXX";
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) fail(path, std::string("cannot create temporary file: ") + std::strerror(errno));
    auto write_all = [&](const void* p, std::size_t n) {
        const char* c = static_cast<const char*>(p);
        while (n > 0) {
            ssize_t w = ::write(fd, c, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            c += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    };
    bool ok = write_all(head.data(), head.size());
    for (const auto* t : order)
        if (ok) ok = write_all(t->data.data(), t->data.size());
    ok = ok && ::fchmod(fd, 0644) == 0 && ::fsync(fd) == 0;
    int e = errno;
    ok = (::close(fd) == 0) && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        if (ok) e = errno;
        ::unlink(tmp.c_str());
        fail(path, std::string("cannot write: ") + std::strerror(e));
    }
}

}  // namespace sparq
