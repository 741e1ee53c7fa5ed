#include "runtime/gguf/gguf.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace ember::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxDims = 4;              // ggml tensors have at most 4 dimensions
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are refused
constexpr uint64_t kMaxAlignment = 1u << 20;
// Metadata values (keys plus array elements, nested ones included) one file may hold. Each
// decoded Value takes sizeof(Value) = 80 bytes however small its encoding (1 byte for a u8 or
// bool), so without a bound a hostile file decodes to ~80x its own size and a large one ends
// in bad_alloc; this keeps the decoded metadata under ~700 MB. The largest real vocabularies
// (~260k tokens with scores and types, plus merges) hold under 2M values.
constexpr uint64_t kMaxValues = 1u << 23;

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }

// Smallest encoded size of one element of a type; used to refuse counts the file cannot hold
// before anything is allocated for them.
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::FLOAT64); }

// Bounds-checked little-endian cursor over the file.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size) : base_(base), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  Status need(uint64_t n, const char* what) const {
    if (n > remaining())
      return Error("truncated file: %s needs %llu bytes at offset %llu but only %llu remain", what,
                   (unsigned long long)n, (unsigned long long)pos_, (unsigned long long)remaining());
    return Status::Ok();
  }
  template <typename T>
  Status read(T* out, const char* what) {
    EMBER_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status read_string(std::string_view* out, const char* what) {
    uint64_t start = pos_;
    uint64_t len = 0;
    EMBER_RETURN_IF_ERROR(read(&len, what));
    if (len > remaining())
      return Error("%s at offset %llu has length %llu, beyond the end of the file (%llu bytes remain)",
                   what, (unsigned long long)start, (unsigned long long)len,
                   (unsigned long long)remaining());
    *out = std::string_view(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

 private:
  const uint8_t* base_;
  size_t size_;
  uint64_t pos_ = 0;
};

Status read_value(Cursor& c, ValueType type, Value* out, int depth, const std::string& key,
                  uint64_t* n_values);

Status read_scalar(Cursor& c, ValueType type, Value* v) {
  v->type = type;
  switch (type) {
    case ValueType::UINT8: { uint8_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "u8 value")); v->u = x; v->i = x; break; }
    case ValueType::INT8: { int8_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "i8 value")); v->i = x; v->u = (uint64_t)x; break; }
    case ValueType::UINT16: { uint16_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "u16 value")); v->u = x; v->i = x; break; }
    case ValueType::INT16: { int16_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "i16 value")); v->i = x; v->u = (uint64_t)x; break; }
    case ValueType::UINT32: { uint32_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "u32 value")); v->u = x; v->i = x; break; }
    case ValueType::INT32: { int32_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "i32 value")); v->i = x; v->u = (uint64_t)x; break; }
    case ValueType::UINT64: { uint64_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "u64 value")); v->u = x; v->i = (int64_t)x; break; }
    case ValueType::INT64: { int64_t x; EMBER_RETURN_IF_ERROR(c.read(&x, "i64 value")); v->i = x; v->u = (uint64_t)x; break; }
    case ValueType::FLOAT32: { float x; EMBER_RETURN_IF_ERROR(c.read(&x, "f32 value")); v->f = x; break; }
    case ValueType::FLOAT64: { double x; EMBER_RETURN_IF_ERROR(c.read(&x, "f64 value")); v->f = x; break; }
    case ValueType::BOOL: {
      uint8_t x;
      uint64_t at = c.pos();
      EMBER_RETURN_IF_ERROR(c.read(&x, "bool value"));
      if (x > 1) return Error("bool value at offset %llu is %u, not 0 or 1", (unsigned long long)at, x);
      v->u = x;
      break;
    }
    case ValueType::STRING: return c.read_string(&v->s, "string value");
    case ValueType::ARRAY: break;  // handled by read_value
  }
  return Status::Ok();
}

// `n_values` counts the values decoded so far, against kMaxValues.
Status read_value(Cursor& c, ValueType type, Value* out, int depth, const std::string& key,
                  uint64_t* n_values) {
  if (type != ValueType::ARRAY) return read_scalar(c, type, out);
  if (depth >= kMaxArrayDepth)
    return Error("key '%s': arrays nested deeper than %d levels at offset %llu", key.c_str(),
                 kMaxArrayDepth, (unsigned long long)c.pos());
  out->type = ValueType::ARRAY;
  uint32_t et = 0;
  uint64_t at = c.pos();
  EMBER_RETURN_IF_ERROR(c.read(&et, "array element type"));
  if (!valid_type(et))
    return Error("key '%s': array at offset %llu has unknown element type %u", key.c_str(),
                 (unsigned long long)at, et);
  out->elem_type = static_cast<ValueType>(et);
  uint64_t count = 0;
  EMBER_RETURN_IF_ERROR(c.read(&count, "array length"));
  uint64_t min_bytes = 0;
  if (mul_overflows(count, min_encoded_size(out->elem_type), &min_bytes) || min_bytes > c.remaining())
    return Error("key '%s': array at offset %llu claims %llu elements of type %s, more than the "
                 "%llu remaining bytes can hold",
                 key.c_str(), (unsigned long long)at, (unsigned long long)count,
                 value_type_name(out->elem_type), (unsigned long long)c.remaining());
  if (count > kMaxValues - *n_values)
    return Error("key '%s': array at offset %llu has %llu elements, which takes the file past "
                 "ember's limit of %llu metadata values",
                 key.c_str(), (unsigned long long)at, (unsigned long long)count,
                 (unsigned long long)kMaxValues);
  *n_values += count;
  out->items.resize(count);
  for (uint64_t k = 0; k < count; ++k) {
    Status st = read_value(c, out->elem_type, &out->items[k], depth + 1, key, n_values);
    if (!st.ok()) return st.with_context(strfmt("key '%s' element %llu", key.c_str(), (unsigned long long)k));
  }
  return Status::Ok();
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "u8";
    case ValueType::INT8: return "i8";
    case ValueType::UINT16: return "u16";
    case ValueType::INT16: return "i16";
    case ValueType::UINT32: return "u32";
    case ValueType::INT32: return "i32";
    case ValueType::FLOAT32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "u64";
    case ValueType::INT64: return "i64";
    case ValueType::FLOAT64: return "f64";
  }
  return "?";
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

File::~File() {
  if (mapping_) ::munmap(mapping_, size_);
}

void File::release_pages(const void* p, size_t n) const {
  if (!mapping_) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = std::max(reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(base_));
  const uintptr_t hi = std::min(reinterpret_cast<uintptr_t>(p) + n, reinterpret_cast<uintptr_t>(base_) + size_);
  const uintptr_t first = (lo + page - 1) / page * page, last = hi / page * page;
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

Expected<std::unique_ptr<File>> File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error("cannot open '%s': %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error("cannot stat '%s': %s", path.c_str(), std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error("'%s' is not a regular file", path.c_str());
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Error("'%s' is empty, not a GGUF file", path.c_str());
  }
  void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (m == MAP_FAILED) return Error("cannot map '%s': %s", path.c_str(), std::strerror(e));
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  f->mapping_ = m;
  f->base_ = static_cast<const uint8_t*>(m);
  f->size_ = static_cast<size_t>(st.st_size);
  Status s = f->parse_all();
  if (!s.ok()) return s.with_context(path);
  return f;
}

Expected<std::unique_ptr<File>> File::parse(const uint8_t* data, size_t size, std::string name) {
  std::unique_ptr<File> f(new File());
  f->path_ = std::move(name);
  f->base_ = data;
  f->size_ = size;
  Status s = f->parse_all();
  if (!s.ok()) return s.with_context(f->path_);
  return f;
}

Status File::parse_all() {
  Cursor c(base_, size_);
  uint32_t magic = 0;
  EMBER_RETURN_IF_ERROR(c.read(&magic, "magic"));
  if (magic != kMagic)
    return Error("not a GGUF file: bad magic 0x%08x at offset 0 (expected \"GGUF\")", magic);
  EMBER_RETURN_IF_ERROR(c.read(&version_, "version"));
  if (version_ != 2 && version_ != 3)
    return Error("unsupported GGUF version %u at offset 4 (ember reads versions 2 and 3)", version_);
  uint64_t n_tensors = 0, n_kv = 0;
  EMBER_RETURN_IF_ERROR(c.read(&n_tensors, "tensor count"));
  EMBER_RETURN_IF_ERROR(c.read(&n_kv, "metadata count"));
  // A key/value record takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor record at
  // least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
  uint64_t min_bytes = 0;
  if (mul_overflows(n_kv, 13, &min_bytes) || min_bytes > c.remaining())
    return Error("metadata count %llu at offset 16 is more than the file can hold",
                 (unsigned long long)n_kv);
  if (mul_overflows(n_tensors, 24, &min_bytes) || min_bytes > c.remaining())
    return Error("tensor count %llu at offset 8 is more than the file can hold",
                 (unsigned long long)n_tensors);

  if (n_kv > kMaxValues)
    return Error("metadata count %llu at offset 16 is more than ember's limit of %llu metadata values",
                 (unsigned long long)n_kv, (unsigned long long)kMaxValues);
  uint64_t n_values = n_kv;

  kvs_.resize(n_kv);
  std::unordered_set<std::string_view> seen_keys;
  for (uint64_t k = 0; k < n_kv; ++k) {
    KeyValue& kv = kvs_[k];
    kv.file_offset = c.pos();
    std::string_view key;
    Status st = c.read_string(&key, "metadata key");
    if (!st.ok()) return st.with_context(strfmt("metadata entry %llu", (unsigned long long)k));
    kv.key = std::string(key);
    if (!seen_keys.insert(key).second)
      return Error("duplicate metadata key '%s' at offset %llu", kv.key.c_str(),
                   (unsigned long long)kv.file_offset);
    uint32_t t = 0;
    uint64_t type_at = c.pos();
    st = c.read(&t, "value type");
    if (!st.ok()) return st.with_context(strfmt("key '%s'", kv.key.c_str()));
    if (!valid_type(t))
      return Error("key '%s': unknown value type %u at offset %llu", kv.key.c_str(), t,
                   (unsigned long long)type_at);
    st = read_value(c, static_cast<ValueType>(t), &kv.value, 0, kv.key, &n_values);
    if (!st.ok()) return st.with_context(strfmt("key '%s'", kv.key.c_str()));
  }

  if (const Value* a = find("general.alignment")) {
    if (a->type != ValueType::UINT32)
      return Error("general.alignment has type %s, expected u32", value_type_name(a->type));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > kMaxAlignment)
      return Error("general.alignment is %llu: not a power of two between 1 and %llu",
                   (unsigned long long)a->u, (unsigned long long)kMaxAlignment);
    alignment_ = a->u;
  }

  tensors_.resize(n_tensors);
  std::unordered_set<std::string_view> seen_names;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo& ti = tensors_[k];
    ti.info_offset = c.pos();
    std::string_view name;
    Status st = c.read_string(&name, "tensor name");
    if (!st.ok()) return st.with_context(strfmt("tensor %llu", (unsigned long long)k));
    ti.name = std::string(name);
    if (!seen_names.insert(name).second)
      return Error("duplicate tensor name '%s' at offset %llu", ti.name.c_str(),
                   (unsigned long long)ti.info_offset);
    uint32_t n_dims = 0;
    st = c.read(&n_dims, "tensor n_dims");
    if (!st.ok()) return st.with_context(strfmt("tensor '%s'", ti.name.c_str()));
    if (n_dims == 0 || n_dims > kMaxDims)
      return Error("tensor '%s' has %u dimensions (at offset %llu); ember accepts 1 to %d",
                   ti.name.c_str(), n_dims, (unsigned long long)ti.info_offset, kMaxDims);
    ti.dims.resize(n_dims);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      st = c.read(&dim, "tensor dimension");
      if (!st.ok()) return st.with_context(strfmt("tensor '%s'", ti.name.c_str()));
      if (dim == 0 || dim > static_cast<uint64_t>(INT64_MAX))
        return Error("tensor '%s' dimension %u is %llu", ti.name.c_str(), d, (unsigned long long)dim);
      if (mul_overflows(n_el, dim, &n_el) || n_el > static_cast<uint64_t>(INT64_MAX))
        return Error("tensor '%s': the product of its dimensions overflows", ti.name.c_str());
      ti.dims[d] = static_cast<int64_t>(dim);
    }
    ti.n_elements = static_cast<int64_t>(n_el);
    uint32_t type = 0;
    uint64_t type_at = c.pos();
    st = c.read(&type, "tensor type");
    if (!st.ok()) return st.with_context(strfmt("tensor '%s'", ti.name.c_str()));
    DTypeInfo info = dtype_info(type);
    if (!info.name)
      return Error("tensor '%s' has unknown type id %u (at offset %llu)", ti.name.c_str(), type,
                   (unsigned long long)type_at);
    if (!info.weights_supported)
      return Error("tensor '%s' has type %u (%s), which ember does not support", ti.name.c_str(),
                   type, info.name);
    ti.type = static_cast<DType>(type);
    if (ti.dims[0] % info.block_elems != 0)
      return Error("tensor '%s': row length %lld is not a multiple of %s's block size %u",
                   ti.name.c_str(), (long long)ti.dims[0], info.name, info.block_elems);
    uint64_t nb = 0;
    if (mul_overflows(n_el / info.block_elems, info.block_bytes, &nb))
      return Error("tensor '%s': its byte size overflows", ti.name.c_str());
    ti.n_bytes = nb;
    st = c.read(&ti.offset, "tensor offset");
    if (!st.ok()) return st.with_context(strfmt("tensor '%s'", ti.name.c_str()));
    if (ti.offset % alignment_ != 0)
      return Error("tensor '%s': data offset %llu is not a multiple of the alignment %llu",
                   ti.name.c_str(), (unsigned long long)ti.offset, (unsigned long long)alignment_);
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t end_of_header = c.pos();
  uint64_t padded = 0;
  if (add_overflows(end_of_header, alignment_ - 1, &padded))
    return Error("header end %llu overflows when aligned", (unsigned long long)end_of_header);
  data_offset_ = padded / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > size_)
    return Error("truncated file: the data section would start at offset %llu but the file has "
                 "%llu bytes", (unsigned long long)data_offset_, (unsigned long long)size_);
  uint64_t data_size = size_ > data_offset_ ? size_ - data_offset_ : 0;

  for (TensorInfo& ti : tensors_) {
    uint64_t end = 0;
    if (add_overflows(ti.offset, ti.n_bytes, &end) || end > data_size)
      return Error("tensor '%s': data [%llu, +%llu) lies beyond the end of the data section "
                   "(%llu bytes; truncated file?)",
                   ti.name.c_str(), (unsigned long long)ti.offset, (unsigned long long)ti.n_bytes,
                   (unsigned long long)data_size);
    ti.offset += data_offset_;
    ti.data = base_ + ti.offset;
  }

  // Tensors must not overlap.
  std::vector<const TensorInfo*> order;
  order.reserve(tensors_.size());
  for (const TensorInfo& ti : tensors_) order.push_back(&ti);
  std::sort(order.begin(), order.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo* a = order[k - 1];
    const TensorInfo* b = order[k];
    if (a->offset + a->n_bytes > b->offset)
      return Error("tensors '%s' and '%s' overlap in the data section (at offset %llu)",
                   a->name.c_str(), b->name.c_str(), (unsigned long long)b->offset);
  }
  return Status::Ok();
}

const Value* File::find(std::string_view key) const {
  for (const KeyValue& kv : kvs_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {
Status missing(std::string_view key) {
  return Error("metadata key '%.*s' is missing", (int)key.size(), key.data());
}
Status wrong_type(std::string_view key, const Value& v, const char* want) {
  return Error("metadata key '%.*s' has type %s, expected %s", (int)key.size(), key.data(),
               value_type_name(v.type), want);
}
}  // namespace

Expected<uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (!v->is_integer()) return wrong_type(key, *v, "an integer");
  if (v->i < 0 && v->type != ValueType::UINT64)
    return Error("metadata key '%.*s' is negative (%lld)", (int)key.size(), key.data(), (long long)v->i);
  return v->u;
}

Expected<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->is_float()) return v->f;
  if (v->is_integer()) return static_cast<double>(v->i);
  return wrong_type(key, *v, "a number");
}

Expected<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::STRING) return wrong_type(key, *v, "string");
  return std::string(v->s);
}

Expected<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::BOOL) return wrong_type(key, *v, "bool");
  return v->u != 0;
}

Expected<uint64_t> File::get_uint_or(std::string_view key, uint64_t fallback) const {
  return find(key) ? get_uint(key) : Expected<uint64_t>(fallback);
}
Expected<double> File::get_float_or(std::string_view key, double fallback) const {
  return find(key) ? get_float(key) : Expected<double>(fallback);
}
Expected<bool> File::get_bool_or(std::string_view key, bool fallback) const {
  return find(key) ? get_bool(key) : Expected<bool>(fallback);
}

Expected<const Value*> File::get_array(std::string_view key, ValueType elem) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::ARRAY) return wrong_type(key, *v, "array");
  if (v->elem_type != elem)
    return Error("metadata key '%.*s' is an array of %s, expected an array of %s", (int)key.size(),
                 key.data(), value_type_name(v->elem_type), value_type_name(elem));
  return v;
}

std::string value_to_string(const Value& v, size_t max_items) {
  switch (v.type) {
    case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
      return std::to_string(v.u);
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
      return std::to_string(v.i);
    case ValueType::FLOAT32: case ValueType::FLOAT64: return strfmt("%g", v.f);
    case ValueType::BOOL: return v.u ? "true" : "false";
    case ValueType::STRING: {
      std::string out = "\"";
      for (char ch : v.s) {
        unsigned char u = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') { out += '\\'; out += ch; }
        else if (ch == '\n') out += "\\n";
        else if (u < 0x20) out += strfmt("\\x%02x", u);
        else out += ch;
        if (out.size() > 200) { out += "..."; break; }
      }
      return out + "\"";
    }
    case ValueType::ARRAY: {
      std::string out = strfmt("[%s x %zu: ", value_type_name(v.elem_type), v.items.size());
      for (size_t k = 0; k < v.items.size() && k < max_items; ++k) {
        if (k) out += ", ";
        out += value_to_string(v.items[k], max_items);
      }
      if (v.items.size() > max_items) out += ", ...";
      return out + "]";
    }
  }
  return "?";
}

}  // namespace ember::gguf
