// pytorch_model.bin (torch.save's zip format, torch >= 1.6) read in place: the zip's central
// directory locates `<archive>/data.pkl` and the stored (uncompressed) `<archive>/data/<key>`
// records; a small pickle machine runs data.pkl with only what a state dict of tensors needs —
// OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the typed storage
// classes — and refuses every other global, so loading a checkpoint never runs code from it.
// Each tensor becomes a TensorInfo whose byte range points into its storage record (tensors
// that share a storage, such as tied weights, may overlap). Only contiguous little-endian
// tensors are read (what save_pretrained writes).
#include "model/torch_zip.hpp"

#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "sparq/error.hpp"

namespace sparq {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw Error(path + ": " + what);
}

struct Bytes {
    const std::byte* p;
    size_t n;
    uint64_t u(size_t off, int w) const {  // little-endian unsigned of w bytes at off
        uint64_t v = 0;
        for (int i = w - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[off + i]);
        return v;
    }
    // True if [off, off + len) lies in the file (no wrap-around for offsets read from it).
    bool has(uint64_t off, uint64_t len) const { return off <= n && len <= n - off; }
};

struct Record {
    uint64_t offset = 0, size = 0;  // of the data, in the file
};

// name -> stored record, from the central directory (zip64 sizes and offsets understood).
std::map<std::string, Record> zip_records(const std::string& path, Bytes f) {
    if (f.n < 22) fail(path, "too short for a zip archive");
    size_t eocd = std::string::npos;
    for (size_t i = f.n - 22 + 1; i-- > 0 && f.n - i <= 22 + 65535;)
        if (f.u(i, 4) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd == std::string::npos) fail(path, "no zip end-of-central-directory record");
    uint64_t entries = f.u(eocd + 10, 2), cd_off = f.u(eocd + 16, 4);
    if ((entries == 0xFFFF || cd_off == 0xFFFFFFFF) && eocd >= 20 &&
        f.u(eocd - 20, 4) == 0x07064b50) {
        const uint64_t z = f.u(eocd - 20 + 8, 8);
        if (!f.has(z, 56) || f.u(z, 4) != 0x06064b50) fail(path, "bad zip64 end record");
        entries = f.u(z + 32, 8);
        cd_off = f.u(z + 48, 8);
    }
    std::map<std::string, Record> out;
    uint64_t at = cd_off;
    for (uint64_t e = 0; e < entries; ++e) {
        if (!f.has(at, 46) || f.u(at, 4) != 0x02014b50) fail(path, "corrupt zip central directory");
        const uint64_t method = f.u(at + 10, 2), name_len = f.u(at + 28, 2),
                       extra_len = f.u(at + 30, 2), comment_len = f.u(at + 32, 2);
        uint64_t size = f.u(at + 24, 4), comp = f.u(at + 20, 4), local = f.u(at + 42, 4);
        if (!f.has(at, 46 + name_len + extra_len)) fail(path, "corrupt zip central directory");
        const std::string name(reinterpret_cast<const char*>(f.p + at + 46), name_len);
        // zip64 extra field: the 0xFFFFFFFF fields, in the order size, compressed size, offset.
        const uint64_t extra_end = at + 46 + name_len + extra_len;
        for (uint64_t x = at + 46 + name_len; x + 4 <= extra_end;) {
            const uint64_t id = f.u(x, 2), len = f.u(x + 2, 2);
            if (id == 1) {
                uint64_t q = x + 4;
                for (uint64_t* v : {&size, &comp, &local}) {
                    if (*v != 0xFFFFFFFF) continue;
                    if (q + 8 > x + 4 + len || q + 8 > extra_end)
                        fail(path, "zip record '" + name + "' has a short zip64 extra field");
                    *v = f.u(q, 8);
                    q += 8;
                }
            }
            x += 4 + len;
        }
        if (method != 0 || comp != size)
            fail(path, "zip record '" + name + "' is compressed (torch.save stores records)");
        if (!f.has(local, 30) || f.u(local, 4) != 0x04034b50)
            fail(path, "corrupt zip local header");
        const uint64_t data = local + 30 + f.u(local + 26, 2) + f.u(local + 28, 2);
        if (!f.has(data, size))
            fail(path, "zip record '" + name + "' runs past the end of the file");
        out[name] = {data, size};
        at += 46 + name_len + extra_len + comment_len;
    }
    return out;
}

// ---- the pickle machine ----

struct Value;
using Ref = std::shared_ptr<Value>;
struct Value {
    enum Kind {
        none,
        boolean,
        integer,
        real,
        string,
        tuple,
        list,
        dict,
        global,
        storage,
        tensor,
        mark
    };
    Kind kind = none;
    int64_t i = 0;
    double d = 0;
    std::string s, s2;                       // string; global module / name
    std::vector<Ref> items;                  // tuple / list
    std::vector<std::pair<Ref, Ref>> pairs;  // dict
    // storage: dtype, record key (s), numel (i); tensor: storage (items[0]), offset (i), shape,
    // stride
    DType dtype = DType::f32;
    std::vector<int64_t> shape, stride;

    Value() = default;
    Value(const Value&) = delete;
    Value& operator=(const Value&) = delete;
    // Frees the values this one holds without recursion: a pickle nests a tuple per byte
    // (TUPLE1), and freeing a few hundred thousand levels recursively overflows the stack.
    ~Value() {
        std::vector<Ref> todo;
        auto take = [&](Value& v) {
            for (Ref& x : v.items) todo.push_back(std::move(x));
            for (auto& [k, x] : v.pairs) {
                todo.push_back(std::move(k));
                todo.push_back(std::move(x));
            }
            v.items.clear();
            v.pairs.clear();
        };
        take(*this);
        while (!todo.empty()) {
            Ref r = std::move(todo.back());
            todo.pop_back();
            if (r && r.use_count() == 1) take(*r);  // r, now childless, is freed here
        }
    }
};

Ref make(Value::Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
}

std::optional<DType> storage_dtype(const std::string& name) {
    static const std::map<std::string, DType> m = {
        {"FloatStorage", DType::f32},     {"HalfStorage", DType::f16},
        {"BFloat16Storage", DType::bf16}, {"DoubleStorage", DType::f64},
        {"LongStorage", DType::i64},      {"IntStorage", DType::i32},
        {"ShortStorage", DType::i16},     {"CharStorage", DType::i8},
        {"ByteStorage", DType::u8},       {"BoolStorage", DType::boolean}};
    auto it = m.find(name);
    return it == m.end() ? std::nullopt : std::optional<DType>(it->second);
}

std::vector<int64_t> ints_of(const std::string& path, const Ref& v, const char* what) {
    if (v->kind != Value::tuple) fail(path, std::string("data.pkl: ") + what + " is not a tuple");
    std::vector<int64_t> out;
    for (const Ref& x : v->items) {
        if (x->kind != Value::integer)
            fail(path, std::string("data.pkl: ") + what + " holds a non-integer");
        out.push_back(x->i);
    }
    return out;
}

Ref call(const std::string& path, const Ref& fn, const Ref& args) {
    const std::string g = fn->s + "." + fn->s2;
    if (fn->kind != Value::global || args->kind != Value::tuple)
        fail(path, "data.pkl: unsupported call");
    if (g == "collections.OrderedDict") return make(Value::dict);
    if (g == "torch._utils._rebuild_tensor_v2") {
        if (args->items.size() < 4 || args->items[0]->kind != Value::storage ||
            args->items[1]->kind != Value::integer)
            fail(path, "data.pkl: unexpected _rebuild_tensor_v2 arguments");
        Ref t = make(Value::tensor);
        t->items = {args->items[0]};
        t->i = args->items[1]->i;
        t->shape = ints_of(path, args->items[2], "a tensor size");
        t->stride = ints_of(path, args->items[3], "a tensor stride");
        return t;
    }
    if (g == "torch._utils._rebuild_parameter") {
        if (args->items.empty() || args->items[0]->kind != Value::tensor)
            fail(path, "data.pkl: unexpected _rebuild_parameter arguments");
        return args->items[0];
    }
    fail(path, "data.pkl calls " + g +
                   ", which sparq does not run (it reads state dicts of tensors only)");
}

Ref run_pickle(const std::string& path, Bytes b) {
    std::vector<Ref> stack;
    std::map<uint64_t, Ref> memo;
    size_t at = 0;
    auto need = [&](size_t k) {
        if (at + k > b.n) fail(path, "data.pkl ends inside an instruction");
    };
    auto pop = [&]() {
        if (stack.empty()) fail(path, "data.pkl: pickle stack underflow");
        Ref v = stack.back();
        stack.pop_back();
        return v;
    };
    auto pop_mark = [&]() {  // the items above the topmost mark
        std::vector<Ref> items;
        while (!stack.empty() && stack.back()->kind != Value::mark)
            items.insert(items.begin(), pop());
        if (stack.empty()) fail(path, "data.pkl: no mark");
        stack.pop_back();
        return items;
    };
    auto text = [&](size_t n) {
        need(n);
        std::string s(reinterpret_cast<const char*>(b.p + at), n);
        at += n;
        return s;
    };
    auto line = [&]() {
        std::string s;
        while (at < b.n && static_cast<char>(b.p[at]) != '\n')
            s.push_back(static_cast<char>(b.p[at++]));
        need(1);
        ++at;
        return s;
    };
    auto integer = [&](int64_t x) {
        Ref v = make(Value::integer);
        v->i = x;
        stack.push_back(v);
    };
    auto str = [&](std::string s) {
        Ref v = make(Value::string);
        v->s = std::move(s);
        stack.push_back(v);
    };
    auto tuple = [&](std::vector<Ref> items) {
        Ref v = make(Value::tuple);
        v->items = std::move(items);
        stack.push_back(v);
    };
    auto set_items = [&](std::vector<Ref> kv) {
        Ref d = pop();
        if (d->kind != Value::dict) fail(path, "data.pkl: SETITEMS on a non-dict");
        for (size_t k = 0; k + 1 < kv.size(); k += 2) d->pairs.emplace_back(kv[k], kv[k + 1]);
        stack.push_back(d);
    };
    for (;;) {
        need(1);
        const auto op = static_cast<uint8_t>(b.p[at++]);
        switch (op) {
            case 0x80:
                need(1), ++at;
                break;  // PROTO
            case 0x95:
                need(8), at += 8;
                break;  // FRAME
            case '.':
                if (stack.size() != 1) fail(path, "data.pkl: bad stack at STOP");
                return stack.back();
            case '(':
                stack.push_back(make(Value::mark));
                break;
            case '}':
                stack.push_back(make(Value::dict));
                break;
            case ']':
                stack.push_back(make(Value::list));
                break;
            case ')':
                tuple({});
                break;
            case 'N':
                stack.push_back(make(Value::none));
                break;
            case 0x88:
            case 0x89: {
                Ref v = make(Value::boolean);
                v->i = op == 0x88;
                stack.push_back(v);
                break;
            }
            case 'K':
                need(1), integer(static_cast<int64_t>(b.u(at, 1))), at += 1;
                break;
            case 'M':
                need(2), integer(static_cast<int64_t>(b.u(at, 2))), at += 2;
                break;
            case 'J':
                need(4), integer(static_cast<int32_t>(b.u(at, 4))), at += 4;
                break;
            case 0x8a: {  // LONG1: little-endian two's complement of n bytes
                need(1);
                const size_t n = static_cast<size_t>(b.u(at, 1));
                ++at;
                need(n);
                if (n > 8) fail(path, "data.pkl: integer wider than 64 bits");
                uint64_t v = n ? b.u(at, static_cast<int>(n)) : 0;
                if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
                at += n;
                integer(static_cast<int64_t>(v));
                break;
            }
            case 'G': {
                need(8);
                uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(b.p[at + i]);
                at += 8;
                Ref v = make(Value::real);
                std::memcpy(&v->d, &bits, 8);
                stack.push_back(v);
                break;
            }
            case 'X':
            case 'T': {
                need(4);
                const size_t n = b.u(at, 4);
                at += 4;
                str(text(n));
                break;
            }
            case 0x8c:
            case 'U': {
                need(1);
                const size_t n = b.u(at, 1);
                at += 1;
                str(text(n));
                break;
            }
            case 'c': {
                Ref g = make(Value::global);
                g->s = line();
                g->s2 = line();
                stack.push_back(g);
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                Ref name = pop(), mod = pop();
                Ref g = make(Value::global);
                g->s = mod->s;
                g->s2 = name->s;
                stack.push_back(g);
                break;
            }
            case 'q':
                need(1), memo[b.u(at, 1)] = stack.empty() ? nullptr : stack.back(), at += 1;
                break;
            case 'r':
                need(4), memo[b.u(at, 4)] = stack.empty() ? nullptr : stack.back(), at += 4;
                break;
            case 0x94:
                memo[memo.size()] = stack.empty() ? nullptr : stack.back();
                break;
            case 'h':
            case 'j': {
                const int w = op == 'h' ? 1 : 4;
                need(static_cast<size_t>(w));
                auto it = memo.find(b.u(at, w));
                at += static_cast<size_t>(w);
                if (it == memo.end() || !it->second) fail(path, "data.pkl: unknown memo entry");
                stack.push_back(it->second);
                break;
            }
            case 't':
                tuple(pop_mark());
                break;
            case 0x85: {
                Ref a = pop();
                tuple({a});
                break;
            }
            case 0x86: {
                Ref c = pop(), a = pop();
                tuple({a, c});
                break;
            }
            case 0x87: {
                Ref c = pop(), m = pop(), a = pop();
                tuple({a, m, c});
                break;
            }
            case 's': {
                Ref v = pop(), k = pop();
                set_items({k, v});
                break;
            }
            case 'u':
                set_items(pop_mark());
                break;
            case 'a': {
                Ref v = pop(), l = pop();
                if (l->kind != Value::list) fail(path, "data.pkl: APPEND to a non-list");
                l->items.push_back(v);
                stack.push_back(l);
                break;
            }
            case 'e': {
                auto items = pop_mark();
                Ref l = pop();
                for (auto& x : items) l->items.push_back(x);
                stack.push_back(l);
                break;
            }
            case 'b':
                pop();
                break;  // BUILD: an object's state (a state dict's _metadata): unused
            case 'R': {
                Ref args = pop(), fn = pop();
                stack.push_back(call(path, fn, args));
                break;
            }
            case 'Q': {  // BINPERSID: ('storage', <Storage class>, key, location, numel)
                Ref pid = pop();
                if (pid->kind != Value::tuple || pid->items.size() < 5 ||
                    pid->items[0]->s != "storage" || pid->items[1]->kind != Value::global ||
                    pid->items[2]->kind != Value::string || pid->items[4]->kind != Value::integer)
                    fail(path, "data.pkl: unexpected persistent id (not a torch storage)");
                const auto dt = storage_dtype(pid->items[1]->s2);
                if (!dt)
                    fail(path, "data.pkl: storage type " + pid->items[1]->s2 + " is not supported");
                Ref s = make(Value::storage);
                s->dtype = *dt;
                s->s = pid->items[2]->s;
                s->i = pid->items[4]->i;
                stack.push_back(s);
                break;
            }
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                fail(path, std::string("data.pkl: pickle opcode ") + hex + " is not supported");
            }
        }
    }
}

}  // namespace

bool is_zip_file(const std::byte* map, size_t size) {
    return size >= 4 && static_cast<uint8_t>(map[0]) == 'P' &&
           static_cast<uint8_t>(map[1]) == 'K' && static_cast<uint8_t>(map[2]) == 3 &&
           static_cast<uint8_t>(map[3]) == 4;
}

std::vector<TensorInfo> torch_zip_tensors(const std::string& path, const std::byte* map,
                                          size_t size) {
    const Bytes f{map, size};
    const auto records = zip_records(path, f);
    std::string prefix;
    const Record* pkl = nullptr;
    for (const auto& [name, r] : records)
        if (name.size() >= 8 && name.compare(name.size() - 8, 8, "data.pkl") == 0) {
            prefix = name.substr(0, name.size() - 8);
            pkl = &r;
        }
    if (!pkl) fail(path, "no data.pkl in the zip (not a torch.save file)");
    if (auto bo = records.find(prefix + "byteorder"); bo != records.end()) {
        const std::string order(reinterpret_cast<const char*>(map + bo->second.offset),
                                bo->second.size);
        if (order != "little")
            fail(path, "tensors stored " + order + "-endian; sparq reads little-endian");
    }
    const Ref root = run_pickle(path, {map + pkl->offset, pkl->size});
    if (root->kind != Value::dict)
        fail(path, "data.pkl holds no state dict (a dict of tensor names to tensors)");
    std::vector<TensorInfo> out;
    for (const auto& [k, v] : root->pairs) {
        if (k->kind != Value::string) fail(path, "state dict key is not a string");
        if (v->kind != Value::tensor) fail(path, "state dict entry '" + k->s + "' is not a tensor");
        const Value& st = *v->items[0];
        auto rec = records.find(prefix + "data/" + st.s);
        if (rec == records.end()) fail(path, "storage record data/" + st.s + " is missing");
        TensorInfo t;
        t.name = k->s;
        t.dtype = st.dtype;
        t.shape = v->shape;
        // Contiguous row-major only (strides of a C-order array of this shape).
        if (v->stride.size() != v->shape.size())
            fail(path, "tensor '" + t.name + "' has " + std::to_string(v->stride.size()) +
                           " strides for " + std::to_string(v->shape.size()) + " dimensions");
        const uint64_t es = dtype_size(st.dtype);
        uint64_t n = 1;
        for (int64_t dim : v->shape)
            if (dim < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(dim), &n) ||
                n > (uint64_t{1} << 40))
                fail(path, "tensor '" + t.name + "' has an invalid size");
        // An empty tensor has no layout to check; else every product of dimensions is <= n.
        int64_t expect = 1;
        for (size_t d = n > 0 ? v->shape.size() : 0; d-- > 0;) {
            if (v->shape[d] != 1 && v->stride[d] != expect)
                fail(path,
                     "tensor '" + t.name + "' is not contiguous (save it with .contiguous())");
            expect *= v->shape[d];
        }
        const uint64_t storage_bytes = static_cast<uint64_t>(st.i) * es;
        const uint64_t begin = static_cast<uint64_t>(v->i) * es;
        if (st.i < 0 || st.i > (int64_t{1} << 40) || storage_bytes > rec->second.size)
            fail(path, "storage data/" + st.s + " is larger than its record");
        if (v->i < 0 || v->i > (int64_t{1} << 40) || begin + n * es > storage_bytes)
            fail(path, "tensor '" + t.name + "' lies outside its storage");
        t.begin = rec->second.offset + begin;
        t.end = t.begin + n * es;
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace sparq
