// GGUF reader (format versions 2 and 3).
//
// The file is memory-mapped read-only; weights are never copied. Every count, length,
// offset, size and dimension is checked against the file before it is used, with
// overflow-safe arithmetic, so a truncated, corrupted or hostile file yields one Status
// naming what is wrong and where (byte offset, key or tensor name).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ember/core/dtype.h"
#include "ember/core/status.h"

namespace ember::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

const char* value_type_name(ValueType t);

// One metadata value. Scalars are decoded; strings point into the mapping (not NUL
// terminated, not necessarily valid UTF-8); arrays keep their elements in `items`.
struct Value {
  ValueType type = ValueType::UINT8;
  uint64_t u = 0;          // unsigned integers and bool
  int64_t i = 0;           // signed integers
  double f = 0;            // FLOAT32 / FLOAT64
  std::string_view s;      // STRING
  ValueType elem_type = ValueType::UINT8;  // ARRAY: element type
  std::vector<Value> items;                // ARRAY: elements (nested arrays allowed)

  bool is_integer() const;
  bool is_float() const { return type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }
};

struct KeyValue {
  std::string key;
  Value value;
  uint64_t file_offset = 0;  // where the key's record starts
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> dims;  // as stored: dims[0] is the innermost (contiguous) one
  int64_t n_elements = 0;
  uint64_t offset = 0;        // absolute byte offset of the data in the file
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping
  uint64_t info_offset = 0;   // where the tensor-info record starts
};

class File {
 public:
  // Maps and parses `path`. The mapping lives as long as the File.
  static Expected<std::unique_ptr<File>> open(const std::string& path);
  // Parses a buffer the caller keeps alive (tests, fuzzing). Nothing is copied.
  static Expected<std::unique_ptr<File>> parse(const uint8_t* data, size_t size,
                                               std::string name = "<memory>");
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const uint8_t* bytes() const { return base_; }
  size_t size() const { return size_; }
  // Drops the resident pages wholly inside [p, p + n) of a mapped file (madvise DONTNEED): a
  // later read faults them back in from the file, so nothing changes but resident memory.
  // Does nothing for a parsed buffer, which is the caller's memory.
  void release_pages(const void* p, size_t n) const;

  const std::vector<KeyValue>& metadata() const { return kvs_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  const Value* find(std::string_view key) const;
  const TensorInfo* find_tensor(std::string_view name) const;

  // Typed getters. A missing key or a value of the wrong type is an error naming the key.
  Expected<uint64_t> get_uint(std::string_view key) const;
  Expected<double> get_float(std::string_view key) const;
  Expected<std::string> get_string(std::string_view key) const;
  Expected<bool> get_bool(std::string_view key) const;
  // Same, but a missing key gives `fallback` (a present key of the wrong type is still an error).
  Expected<uint64_t> get_uint_or(std::string_view key, uint64_t fallback) const;
  Expected<double> get_float_or(std::string_view key, double fallback) const;
  Expected<bool> get_bool_or(std::string_view key, bool fallback) const;
  // The array under `key` with elements of `elem` type.
  Expected<const Value*> get_array(std::string_view key, ValueType elem) const;

 private:
  File() = default;
  Status parse_all();

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // non-null when we own an mmap
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kvs_;
  std::vector<TensorInfo> tensors_;
};

// Renders a value for display (`ember info`): arrays are summarised past `max_items`.
std::string value_to_string(const Value& v, size_t max_items = 8);

}  // namespace ember::gguf
