// Tests for the GGUF reader (runtime/gguf): a small valid file is built in memory by a
// writer in this file, then broken one way at a time. Every refusal must be a Status whose
// message names what is wrong and where; nothing may crash (the fuzz target in tests/fuzz
// covers the inputs nobody thought of).
#include "runtime/gguf/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "runtime/model/config.h"
#include "runtime/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace ember::gguf {
namespace {

// Expects `part` inside `text` (a message), printing the message when it is not.
#define EXPECT_HAS(text, part)                                                        \
  do {                                                                                \
    const std::string text_ = (text);                                                 \
    const std::string part_ = (part);                                                 \
    EXPECT_NE(text_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << text_; \
  } while (0)

// ---------------------------------------------------------------------------------------
// A tiny GGUF writer (little-endian, as the format stores everything).

struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  Bytes& put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  Bytes& str(std::string_view s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const Bytes& o) {
    b.insert(b.end(), o.b.begin(), o.b.end());
    return *this;
  }
  size_t size() const { return b.size(); }
};

uint32_t vt(ValueType t) { return static_cast<uint32_t>(t); }

// Encoded values (type id not included).
template <typename T>
Bytes scalar(T v) { return Bytes().put<T>(v); }
Bytes string_val(std::string_view s) { return Bytes().str(s); }
Bytes array_val(ValueType elem, uint64_t count, const Bytes& items) {
  return Bytes().put<uint32_t>(vt(elem)).put<uint64_t>(count).raw(items);
}

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;
  std::optional<uint64_t> offset;  // relative to the data section; unset: next aligned free offset
};

struct Builder {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  int64_t n_tensors_override = -1;
  int64_t n_kv_override = -1;
  uint64_t alignment = 32;  // padding used by the writer; set general.alignment to match
  std::vector<Bytes> kvs;
  std::vector<TensorSpec> tensors;

  Builder& kv(std::string_view key, ValueType t, const Bytes& value) {
    kvs.push_back(Bytes().str(key).put<uint32_t>(vt(t)).raw(value));
    return *this;
  }
  Builder& kv_raw(const Bytes& record) {
    kvs.push_back(record);
    return *this;
  }
  Builder& tensor(std::string name, std::vector<uint64_t> dims, DType type,
                  std::optional<uint64_t> offset = std::nullopt) {
    tensors.push_back({std::move(name), std::move(dims), static_cast<uint32_t>(type), offset});
    return *this;
  }

  // Byte size of a tensor's data, or 0 when the spec is not a valid tensor.
  static uint64_t n_bytes(const TensorSpec& t) {
    DTypeInfo info = dtype_info(t.type);
    if (!info.name || t.dims.empty()) return 0;
    uint64_t n = 1;
    for (uint64_t d : t.dims) n *= d;
    return n / info.block_elems * info.block_bytes;
  }

  static constexpr uint64_t kMaxData = 1 << 16;

  std::vector<uint8_t> build() const {
    Bytes out;
    out.put<uint32_t>(magic).put<uint32_t>(version);
    out.put<uint64_t>(n_tensors_override >= 0 ? uint64_t(n_tensors_override) : tensors.size());
    out.put<uint64_t>(n_kv_override >= 0 ? uint64_t(n_kv_override) : kvs.size());
    for (const Bytes& k : kvs) out.raw(k);
    uint64_t next = 0, data_end = 0;
    for (const TensorSpec& t : tensors) {
      out.str(t.name).put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) out.put<uint64_t>(d);
      out.put<uint32_t>(t.type);
      uint64_t off = t.offset ? *t.offset : next;
      out.put<uint64_t>(off);
      // Tensors placed far away (or with sizes that overflow) on purpose get no data.
      uint64_t nb = n_bytes(t);
      if (off <= kMaxData && nb <= kMaxData && off + nb <= kMaxData) {
        next = (off + nb + alignment - 1) / alignment * alignment;
        data_end = std::max(data_end, off + nb);
      }
    }
    if (!tensors.empty()) {
      while (out.size() % alignment) out.put<uint8_t>(0);
      // Data: a recognisable pattern so tests can check where tensor pointers land.
      for (uint64_t k = 0; k < data_end; ++k) out.put<uint8_t>(static_cast<uint8_t>(k * 7 + 1));
    }
    return out.b;
  }
};

// The reference file: a few metadata types and three tensors of different types.
//   a: F32  [8, 2]  64 bytes at data offset 0
//   b: Q4_1 [32, 2] 40 bytes at data offset 64
//   c: F16  [4]      8 bytes at data offset 128 (ends exactly at the end of the file)
Builder valid_builder() {
  Builder b;
  b.kv("general.architecture", ValueType::STRING, string_val("llama"));
  b.kv("test.u32", ValueType::UINT32, scalar<uint32_t>(7));
  b.kv("test.f32", ValueType::FLOAT32, scalar<float>(0.5f));
  b.kv("test.strings", ValueType::ARRAY,
       array_val(ValueType::STRING, 2, Bytes().str("x").str("yz")));
  b.tensor("a", {8, 2}, DType::F32);
  b.tensor("b", {32, 2}, DType::Q4_1);
  b.tensor("c", {4}, DType::F16);
  return b;
}

Expected<std::unique_ptr<File>> parse(const std::vector<uint8_t>& bytes) {
  return File::parse(bytes.data(), bytes.size(), "test.gguf");
}

// Parses `bytes`, expecting failure with a message containing every one of `parts`.
void expect_error(const std::vector<uint8_t>& bytes, std::initializer_list<std::string> parts) {
  auto f = parse(bytes);
  ASSERT_FALSE(f.ok()) << "parse unexpectedly succeeded";
  for (const std::string& p : parts) EXPECT_HAS(f.message(), (p));
  EXPECT_HAS(f.message(), "test.gguf");  // the message names the file
}

// The File points into `bytes`, so the caller must keep them alive: no temporaries.
std::unique_ptr<File> expect_ok(const std::vector<uint8_t>&& bytes) = delete;
std::unique_ptr<File> expect_ok(const std::vector<uint8_t>& bytes) {
  auto f = parse(bytes);
  EXPECT_TRUE(f.ok()) << f.message();
  if (!f.ok()) return nullptr;
  return std::move(f).value();
}

// Header is 24 bytes; the first key record starts there.
constexpr uint64_t kFirstKv = 24;

// ---------------------------------------------------------------------------------------

TEST(GgufParse, ValidFile) {
  std::vector<uint8_t> bytes = valid_builder().build();
  auto f = expect_ok(bytes);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  EXPECT_EQ(f->size(), bytes.size());
  EXPECT_EQ(f->data_offset() + 136, bytes.size());
  ASSERT_EQ(f->metadata().size(), 4u);
  EXPECT_EQ(f->metadata()[0].key, "general.architecture");
  EXPECT_EQ(f->metadata()[0].file_offset, kFirstKv);
  EXPECT_EQ(f->metadata()[1].file_offset, kFirstKv + 8 + 20 + 4 + 8 + 5);

  ASSERT_EQ(f->tensors().size(), 3u);
  const TensorInfo& a = f->tensors()[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.type, DType::F32);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(a.n_elements, 16);
  EXPECT_EQ(a.n_bytes, 64u);
  EXPECT_EQ(a.offset, f->data_offset());
  EXPECT_EQ(a.data, bytes.data() + f->data_offset());
  EXPECT_EQ(a.data[0], 1);  // first byte of the data pattern
  const TensorInfo& b = f->tensors()[1];
  EXPECT_EQ(b.type, DType::Q4_1);
  EXPECT_EQ(b.n_elements, 64);
  EXPECT_EQ(b.n_bytes, 40u);
  EXPECT_EQ(b.offset, f->data_offset() + 64);
  EXPECT_EQ(b.data[0], static_cast<uint8_t>(64 * 7 + 1));
  const TensorInfo& c = f->tensors()[2];
  EXPECT_EQ(c.type, DType::F16);
  EXPECT_EQ(c.dims, (std::vector<int64_t>{4}));
  EXPECT_EQ(c.n_bytes, 8u);
  EXPECT_EQ(c.offset + c.n_bytes, bytes.size());
  EXPECT_EQ(f->find_tensor("c"), &c);
  EXPECT_EQ(f->find_tensor("d"), nullptr);
  // Info records start right after the last key record.
  EXPECT_GT(a.info_offset, f->metadata()[3].file_offset);
  EXPECT_EQ(b.info_offset, a.info_offset + 8 + 1 + 4 + 2 * 8 + 4 + 8);
}

TEST(GgufParse, Version2IsAccepted) {
  Builder b = valid_builder();
  b.version = 2;
  std::vector<uint8_t> f_bytes = b.build();
  auto f = expect_ok(f_bytes);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 2u);
}

TEST(GgufParse, NoTensorsNoMetadata) {
  Builder b;
  std::vector<uint8_t> f_bytes = b.build();
  auto f = expect_ok(f_bytes);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->metadata().empty());
  EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufParse, EveryPrefixFailsCleanly) {
  std::vector<uint8_t> bytes = valid_builder().build();
  ASSERT_TRUE(parse(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    // An exact-size heap copy, so a sanitizer build catches any read past the prefix.
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + n);
    auto f = File::parse(n ? prefix.data() : nullptr, n, "test.gguf");
    ASSERT_FALSE(f.ok()) << "prefix of " << n << " of " << bytes.size() << " bytes parsed";
    const std::string& m = f.message();
    bool says_short = m.find("truncated") != std::string::npos ||
                      m.find("beyond the end") != std::string::npos ||
                      m.find("can hold") != std::string::npos;
    EXPECT_TRUE(says_short) << "prefix " << n << ": " << m;
  }
}

TEST(GgufParse, TruncatedMessagesNameTheOffset) {
  std::vector<uint8_t> bytes = valid_builder().build();
  bytes.resize(2);
  expect_error(bytes, {"truncated file", "magic", "offset 0"});
  Builder one;
  one.kv("general.architecture", ValueType::STRING, string_val("llama"));
  bytes = one.build();
  bytes.resize(kFirstKv + 8 + 20 + 2);  // inside the first value type
  expect_error(bytes, {"key 'general.architecture'", "truncated file: value type needs 4 bytes at "
                       "offset 52 but only 2 remain"});
  bytes = valid_builder().build();
  bytes.pop_back();
  expect_error(bytes, {"tensor 'c'", "beyond the end of the data section"});
}

TEST(GgufParse, BadMagic) {
  Builder b = valid_builder();
  b.magic = 0x46554746;  // "FGUF"
  expect_error(b.build(), {"not a GGUF file", "bad magic 0x46554746", "offset 0"});
  std::vector<uint8_t> zeros(64, 0);
  expect_error(zeros, {"bad magic 0x00000000"});
}

TEST(GgufParse, UnsupportedVersions) {
  for (uint32_t v : {0u, 1u, 4u, 0xffffffffu}) {
    Builder b = valid_builder();
    b.version = v;
    expect_error(b.build(), {"unsupported GGUF version " + std::to_string(v), "offset 4"});
  }
}

TEST(GgufParse, AbsurdCounts) {
  for (uint64_t n : {uint64_t(1) << 40, uint64_t(1) << 60, ~uint64_t(0), uint64_t(1000)}) {
    Builder b = valid_builder();
    b.n_tensors_override = static_cast<int64_t>(n);
    if (n == ~uint64_t(0)) {
      // The builder's override is signed; write the count by hand.
      std::vector<uint8_t> bytes = valid_builder().build();
      std::memset(bytes.data() + 8, 0xff, 8);
      expect_error(bytes, {"tensor count 18446744073709551615", "offset 8"});
      continue;
    }
    expect_error(b.build(), {"tensor count " + std::to_string(n), "offset 8", "more than the file can hold"});
  }
  for (uint64_t n : {uint64_t(1) << 40, uint64_t(1) << 62, uint64_t(1000)}) {
    Builder b = valid_builder();
    b.n_kv_override = static_cast<int64_t>(n);
    expect_error(b.build(), {"metadata count " + std::to_string(n), "offset 16", "more than the file can hold"});
  }
  std::vector<uint8_t> bytes = valid_builder().build();
  std::memset(bytes.data() + 16, 0xff, 8);
  expect_error(bytes, {"metadata count 18446744073709551615"});
}

TEST(GgufParse, AbsurdStringLengths) {
  // Key length.
  Builder b = valid_builder();
  b.kvs.insert(b.kvs.begin(), Bytes().put<uint64_t>(uint64_t(1) << 50));
  expect_error(b.build(), {"metadata key at offset 24 has length 1125899906842624", "beyond the end",
                           "metadata entry 0"});
  b = valid_builder();
  b.kvs.insert(b.kvs.begin(), Bytes().put<uint64_t>(~uint64_t(0)));
  expect_error(b.build(), {"metadata key at offset 24 has length 18446744073709551615"});
  // String value length.
  b = valid_builder();
  b.kvs.insert(b.kvs.begin(),
               Bytes().str("k").put<uint32_t>(vt(ValueType::STRING)).put<uint64_t>(~uint64_t(0) - 3));
  expect_error(b.build(), {"key 'k'", "string value at offset 37 has length 18446744073709551612"});
  // Tensor name length: the first tensor record follows the last key record.
  b = valid_builder();
  std::vector<uint8_t> bytes = b.build();
  auto f = expect_ok(bytes);
  ASSERT_TRUE(f);
  uint64_t at = f->tensors()[0].info_offset;
  uint64_t huge = uint64_t(1) << 33;
  std::memcpy(bytes.data() + at, &huge, 8);
  expect_error(bytes, {"tensor 0", "tensor name at offset " + std::to_string(at), "length 8589934592"});
}

TEST(GgufParse, AbsurdArrayLengths) {
  struct Case {
    ValueType elem;
    uint64_t count;
  };
  for (Case c : {Case{ValueType::UINT8, uint64_t(1) << 40}, Case{ValueType::UINT64, ~uint64_t(0) / 4},
                 Case{ValueType::STRING, uint64_t(1) << 61}, Case{ValueType::ARRAY, ~uint64_t(0)},
                 Case{ValueType::UINT32, 1000}}) {
    Builder b = valid_builder();
    b.kv("big", ValueType::ARRAY, Bytes().put<uint32_t>(vt(c.elem)).put<uint64_t>(c.count));
    expect_error(b.build(), {"key 'big'", "claims " + std::to_string(c.count) + " elements of type " +
                                              value_type_name(c.elem)});
  }
  // An array of strings whose count fits but whose second string runs off the end.
  Builder b = valid_builder();
  b.kv("strs", ValueType::ARRAY,
       array_val(ValueType::STRING, 3, Bytes().str("ok").put<uint64_t>(uint64_t(1) << 40)));
  expect_error(b.build(), {"key 'strs' element 1", "string value", "beyond the end"});
}

// Regression: every decoded value costs sizeof(Value) (80 bytes) whatever its encoding, so an
// array of 1-byte elements used to decode to ~80x the file's size (a 100 MB file asked for
// 8 GB and died in bad_alloc). The reader now refuses files past 2^23 metadata values.
TEST(GgufParse, MetadataValueLimit) {
  Builder b = valid_builder();  // four keys, plus the one below, count against the limit
  const uint64_t count = (uint64_t(1) << 23) - 4;
  Bytes items;
  items.b.assign(count, 1);
  size_t at = kFirstKv + 8 + 3 + 4;
  for (const Bytes& k : b.kvs) at += k.size();
  b.kv("big", ValueType::ARRAY, array_val(ValueType::UINT8, count, items));
  expect_error(b.build(), {"key 'big': array at offset " + std::to_string(at) + " has 8388604 elements",
                           "ember's limit of 8388608 metadata values"});
  // One fewer element fits the limit exactly (not parsed here: it would decode to 670 MB).
}

TEST(GgufParse, UnknownValueTypes) {
  Builder b = valid_builder();
  // The new key follows the valid builder's four keys; its type field is 8 + 5 bytes in.
  size_t kv_end = kFirstKv;
  for (const Bytes& k : b.kvs) kv_end += k.size();
  b.kv("weird", static_cast<ValueType>(13), scalar<uint32_t>(0));
  expect_error(b.build(), {"key 'weird'", "unknown value type 13", "offset " + std::to_string(kv_end + 13)});

  b = valid_builder();
  b.kv("weird", static_cast<ValueType>(0xffffffffu), scalar<uint32_t>(0));
  expect_error(b.build(), {"key 'weird'", "unknown value type 4294967295"});

  b = valid_builder();
  b.kv("arr", ValueType::ARRAY, array_val(static_cast<ValueType>(99), 1, scalar<uint8_t>(0)));
  expect_error(b.build(), {"key 'arr'", "unknown element type 99"});
}

// An array nested `levels` deep: levels == 1 is a plain array of u8.
Bytes nested_array(int levels) {
  Bytes out;
  for (int k = 1; k < levels; ++k) out.put<uint32_t>(vt(ValueType::ARRAY)).put<uint64_t>(1);
  return out.raw(array_val(ValueType::UINT8, 2, Bytes().put<uint8_t>(5).put<uint8_t>(6)));
}

TEST(GgufParse, NestedArrays) {
  // ember accepts 8 levels of arrays (the outermost counts as one) and refuses a ninth.
  for (int levels = 1; levels <= 8; ++levels) {
    Builder b = valid_builder();
    b.kv("nest", ValueType::ARRAY, nested_array(levels));
    std::vector<uint8_t> f_bytes = b.build();
    auto f = expect_ok(f_bytes);
    ASSERT_TRUE(f) << levels << " levels";
    const Value* v = f->find("nest");
    ASSERT_NE(v, nullptr);
    for (int k = 1; k < levels; ++k) {
      ASSERT_EQ(v->type, ValueType::ARRAY);
      ASSERT_EQ(v->elem_type, ValueType::ARRAY);
      ASSERT_EQ(v->items.size(), 1u);
      v = &v->items[0];
    }
    ASSERT_EQ(v->elem_type, ValueType::UINT8);
    ASSERT_EQ(v->items.size(), 2u);
    EXPECT_EQ(v->items[1].u, 6u);
  }
  for (int levels : {9, 10, 1000, 100000}) {
    Builder b = valid_builder();
    b.kv("nest", ValueType::ARRAY, nested_array(levels));
    expect_error(b.build(), {"key 'nest'", "arrays nested deeper than 8 levels"});
  }
}

TEST(GgufParse, BoolMustBeZeroOrOne) {
  Builder b;
  b.kv("flag", ValueType::BOOL, scalar<uint8_t>(2));
  // 24 header + 8 + 4 ("flag") + 4 (type) = 40.
  expect_error(b.build(), {"key 'flag'", "bool value at offset 40 is 2, not 0 or 1"});
  b = Builder();
  b.kv("flags", ValueType::ARRAY, array_val(ValueType::BOOL, 3, Bytes().put<uint8_t>(1).put<uint8_t>(0).put<uint8_t>(255)));
  expect_error(b.build(), {"key 'flags' element 2", "is 255"});
}

TEST(GgufParse, MisalignedTensorOffset) {
  Builder b = valid_builder();
  b.tensors[1].offset = 68;
  expect_error(b.build(), {"tensor 'b'", "data offset 68 is not a multiple of the alignment 32"});
}

TEST(GgufParse, TensorOffsetPastTheEnd) {
  Builder b = valid_builder();
  b.tensors[2].offset = 1 << 20;
  expect_error(b.build(), {"tensor 'c'", "data [1048576, +8)", "beyond the end of the data section"});
  // Aligned, and offset + size does not wrap, but lies far beyond the file.
  b = valid_builder();
  b.tensors[2].offset = ~uint64_t(0) - 31;
  expect_error(b.build(), {"tensor 'c'", "data [18446744073709551584, +8)", "beyond the end"});
  // offset + size wraps around 2^64.
  b = valid_builder();
  b.tensors[0].offset = ~uint64_t(0) - 31;
  expect_error(b.build(), {"tensor 'a'", "data [18446744073709551584, +64)", "beyond the end"});
}

TEST(GgufParse, OverlappingTensors) {
  Builder b = valid_builder();
  b.tensors[1].offset = 32;  // inside a's 64 bytes
  expect_error(b.build(), {"tensors 'a' and 'b' overlap"});
  b = valid_builder();
  b.tensors[2].offset = 0;  // same start as a
  auto f = parse(b.build());
  ASSERT_FALSE(f.ok());
  EXPECT_HAS(f.message(), "overlap");
  b = valid_builder();
  b.tensors[0].offset = 64;  // a [64, 128) over b [64, 104)
  b.tensors[1].offset = 64;
  f = parse(b.build());
  ASSERT_FALSE(f.ok());
  EXPECT_HAS(f.message(), "overlap");
  // Adjacent is fine: the valid file's a ends at 64 exactly where b starts.
  b = valid_builder();
  b.tensors[1].offset = 64;
  EXPECT_TRUE(parse(b.build()).ok());
}

TEST(GgufParse, DimensionProductOverflows) {
  Builder b = valid_builder();
  b.tensor("huge", {uint64_t(1) << 32, uint64_t(1) << 32}, DType::F32, 1 << 20);
  expect_error(b.build(), {"tensor 'huge'", "product of its dimensions overflows"});
  b = valid_builder();
  b.tensor("huge", {uint64_t(1) << 31, uint64_t(1) << 31, 4}, DType::F32, 1 << 20);
  expect_error(b.build(), {"tensor 'huge'", "overflows"});
  // Fits in elements but not in bytes: 2^62 F32 elements are 2^64 bytes.
  b = valid_builder();
  b.tensor("huge", {uint64_t(1) << 31, uint64_t(1) << 31}, DType::F32, 1 << 20);
  expect_error(b.build(), {"tensor 'huge'", "byte size overflows"});
  // Below 2^64 but above INT64_MAX elements.
  b = valid_builder();
  b.tensor("huge", {uint64_t(1) << 62, 3}, DType::F32, 1 << 20);
  expect_error(b.build(), {"tensor 'huge'", "product of its dimensions overflows"});
  b = valid_builder();
  b.tensor("zero", {4, 0}, DType::F32, 1 << 20);
  expect_error(b.build(), {"tensor 'zero' dimension 1 is 0"});
  b = valid_builder();
  b.tensor("neg", {~uint64_t(0)}, DType::F32, 1 << 20);
  expect_error(b.build(), {"tensor 'neg' dimension 0 is 18446744073709551615"});
}

TEST(GgufParse, DimensionCount) {
  for (uint32_t n : {0u, 5u, 1000u}) {
    Builder b = valid_builder();
    b.tensors[0].dims.assign(n, 1);
    if (n == 1000) b.tensors[0].dims.assign(4, 1);  // keep the file short; patch the count below
    std::vector<uint8_t> bytes = b.build();
    std::vector<uint8_t> f_bytes = valid_builder().build();
    auto f = expect_ok(f_bytes);
    ASSERT_TRUE(f);
    uint64_t ndims_at = f->tensors()[0].info_offset + 8 + 1;
    std::memcpy(bytes.data() + ndims_at, &n, 4);
    expect_error(bytes, {"tensor 'a' has " + std::to_string(n) + " dimensions", "accepts 1 to 4"});
  }
  // Four dimensions are fine.
  Builder b = valid_builder();
  b.tensor("d4", {2, 3, 4, 5}, DType::F32);
  std::vector<uint8_t> f_bytes = b.build();
  auto f = expect_ok(f_bytes);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->find_tensor("d4")->n_elements, 120);
}

TEST(GgufParse, TensorTypes) {
  Builder b = valid_builder();
  b.tensors[0].type = 200;
  expect_error(b.build(), {"tensor 'a' has unknown type id 200"});
  b = valid_builder();
  b.tensors[0].type = 4;  // Q4_2, removed from ggml long ago
  expect_error(b.build(), {"tensor 'a' has unknown type id 4"});
  b = valid_builder();
  b.tensors[0].type = static_cast<uint32_t>(DType::IQ2_S);
  b.tensors[0].dims = {256, 1};
  expect_error(b.build(), {"tensor 'a' has type 22 (IQ2_S), which ember does not support"});
}

TEST(GgufParse, RowLengthNotMultipleOfBlock) {
  Builder b = valid_builder();
  b.tensors[1].dims = {16, 4};  // Q4_1 blocks hold 32
  expect_error(b.build(), {"tensor 'b': row length 16 is not a multiple of Q4_1's block size 32"});
  b = valid_builder();
  b.tensor("k", {128, 2}, DType::Q4_K);
  expect_error(b.build(), {"tensor 'k'", "row length 128", "block size 256"});
}

TEST(GgufParse, DuplicateKeys) {
  Builder b = valid_builder();
  b.kv("test.u32", ValueType::UINT8, scalar<uint8_t>(1));
  size_t at = 24;
  for (size_t k = 0; k + 1 < b.kvs.size(); ++k) at += b.kvs[k].size();
  expect_error(b.build(), {"duplicate metadata key 'test.u32'", "offset " + std::to_string(at)});
}

TEST(GgufParse, DuplicateTensorNames) {
  Builder b = valid_builder();
  b.tensor("b", {4}, DType::F32);
  expect_error(b.build(), {"duplicate tensor name 'b'"});
}

TEST(GgufParse, AlignmentKey) {
  Builder b = valid_builder();
  b.kv("general.alignment", ValueType::UINT64, scalar<uint64_t>(32));
  expect_error(b.build(), {"general.alignment has type u64, expected u32"});
  b = valid_builder();
  b.kv("general.alignment", ValueType::STRING, string_val("32"));
  expect_error(b.build(), {"general.alignment has type string"});
  for (uint32_t bad : {0u, 3u, 48u, 1u << 31}) {
    b = valid_builder();
    b.kv("general.alignment", ValueType::UINT32, scalar<uint32_t>(bad));
    expect_error(b.build(), {"general.alignment is " + std::to_string(bad), "not a power of two"});
  }
}

TEST(GgufParse, CustomAlignmentIsRespected) {
  Builder b = valid_builder();
  b.alignment = 64;
  b.kv("general.alignment", ValueType::UINT32, scalar<uint32_t>(64));
  std::vector<uint8_t> bytes = b.build();
  auto f = expect_ok(bytes);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->tensors()[1].offset, f->data_offset() + 64);
  EXPECT_EQ(f->tensors()[2].offset, f->data_offset() + 128);
  // 32 is aligned for the default but not for 64.
  b.tensors[2].offset = 128;  // 128 is fine ...
  EXPECT_TRUE(parse(b.build()).ok());
  b.tensors[2].offset = 160;  // ... 160 is not a multiple of 64
  expect_error(b.build(), {"tensor 'c'", "data offset 160 is not a multiple of the alignment 64"});
  // Alignment 1: no padding at all.
  Builder one = valid_builder();
  one.alignment = 1;
  one.kv("general.alignment", ValueType::UINT32, scalar<uint32_t>(1));
  one.tensors[1].offset = 64;
  one.tensors[2].offset = 104;
  std::vector<uint8_t> g_bytes = one.build();
  auto g = expect_ok(g_bytes);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->tensors()[2].offset, g->data_offset() + 104);
}

TEST(GgufValues, EveryTypeRoundTrips) {
  Builder b;
  b.kv("u8", ValueType::UINT8, scalar<uint8_t>(255));
  b.kv("i8", ValueType::INT8, scalar<int8_t>(-128));
  b.kv("u16", ValueType::UINT16, scalar<uint16_t>(65535));
  b.kv("i16", ValueType::INT16, scalar<int16_t>(-32768));
  b.kv("u32", ValueType::UINT32, scalar<uint32_t>(4000000000u));
  b.kv("i32", ValueType::INT32, scalar<int32_t>(-2000000000));
  b.kv("u64", ValueType::UINT64, scalar<uint64_t>(~uint64_t(0)));
  b.kv("i64", ValueType::INT64, scalar<int64_t>(std::numeric_limits<int64_t>::min()));
  b.kv("f32", ValueType::FLOAT32, scalar<float>(-1.25f));
  b.kv("f64", ValueType::FLOAT64, scalar<double>(1e300));
  b.kv("t", ValueType::BOOL, scalar<uint8_t>(1));
  b.kv("f", ValueType::BOOL, scalar<uint8_t>(0));
  b.kv("s", ValueType::STRING, string_val(std::string_view("a\0b\xff", 4)));
  b.kv("empty", ValueType::STRING, string_val(""));
  b.kv("a_u8", ValueType::ARRAY, array_val(ValueType::UINT8, 2, Bytes().put<uint8_t>(0).put<uint8_t>(200)));
  b.kv("a_i8", ValueType::ARRAY, array_val(ValueType::INT8, 2, Bytes().put<int8_t>(-1).put<int8_t>(127)));
  b.kv("a_u16", ValueType::ARRAY, array_val(ValueType::UINT16, 1, Bytes().put<uint16_t>(40000)));
  b.kv("a_i16", ValueType::ARRAY, array_val(ValueType::INT16, 1, Bytes().put<int16_t>(-300)));
  b.kv("a_u32", ValueType::ARRAY, array_val(ValueType::UINT32, 3, Bytes().put<uint32_t>(1).put<uint32_t>(2).put<uint32_t>(3)));
  b.kv("a_i32", ValueType::ARRAY, array_val(ValueType::INT32, 1, Bytes().put<int32_t>(-7)));
  b.kv("a_u64", ValueType::ARRAY, array_val(ValueType::UINT64, 1, Bytes().put<uint64_t>(uint64_t(1) << 63)));
  b.kv("a_i64", ValueType::ARRAY, array_val(ValueType::INT64, 1, Bytes().put<int64_t>(-5)));
  b.kv("a_f32", ValueType::ARRAY, array_val(ValueType::FLOAT32, 2, Bytes().put<float>(0.5f).put<float>(-0.0f)));
  b.kv("a_f64", ValueType::ARRAY, array_val(ValueType::FLOAT64, 1, Bytes().put<double>(-2.5)));
  b.kv("a_bool", ValueType::ARRAY, array_val(ValueType::BOOL, 2, Bytes().put<uint8_t>(1).put<uint8_t>(0)));
  b.kv("a_str", ValueType::ARRAY, array_val(ValueType::STRING, 3, Bytes().str("one").str("").str("three")));
  b.kv("a_empty", ValueType::ARRAY, array_val(ValueType::FLOAT32, 0, Bytes()));
  b.kv("a_arr", ValueType::ARRAY,
       array_val(ValueType::ARRAY, 2,
                 Bytes()
                     .raw(array_val(ValueType::UINT16, 2, Bytes().put<uint16_t>(10).put<uint16_t>(11)))
                     .raw(array_val(ValueType::STRING, 1, Bytes().str("in")))));
  std::vector<uint8_t> bytes = b.build();
  auto f = expect_ok(bytes);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->metadata().size(), b.kvs.size());

  auto get = [&](const char* k) -> const Value& {
    const Value* v = f->find(k);
    EXPECT_NE(v, nullptr) << k;
    static const Value none;
    return v ? *v : none;
  };
  EXPECT_EQ(get("u8").type, ValueType::UINT8);
  EXPECT_EQ(get("u8").u, 255u);
  EXPECT_EQ(get("i8").type, ValueType::INT8);
  EXPECT_EQ(get("i8").i, -128);
  EXPECT_EQ(get("u16").u, 65535u);
  EXPECT_EQ(get("i16").i, -32768);
  EXPECT_EQ(get("u32").u, 4000000000u);
  EXPECT_EQ(get("i32").i, -2000000000);
  EXPECT_EQ(get("u64").u, ~uint64_t(0));
  EXPECT_EQ(get("i64").i, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(get("f32").type, ValueType::FLOAT32);
  EXPECT_EQ(get("f32").f, -1.25);
  EXPECT_EQ(get("f64").f, 1e300);
  EXPECT_EQ(get("t").type, ValueType::BOOL);
  EXPECT_EQ(get("t").u, 1u);
  EXPECT_EQ(get("f").u, 0u);
  EXPECT_EQ(get("s").s, std::string_view("a\0b\xff", 4));
  EXPECT_EQ(get("empty").s.size(), 0u);

  auto arr = [&](const char* k, ValueType elem, size_t n) -> const std::vector<Value>& {
    const Value& v = get(k);
    EXPECT_EQ(v.type, ValueType::ARRAY) << k;
    EXPECT_EQ(v.elem_type, elem) << k;
    EXPECT_EQ(v.items.size(), n) << k;
    for (const Value& item : v.items) EXPECT_EQ(item.type, elem) << k;
    return v.items;
  };
  EXPECT_EQ(arr("a_u8", ValueType::UINT8, 2)[1].u, 200u);
  EXPECT_EQ(arr("a_i8", ValueType::INT8, 2)[0].i, -1);
  EXPECT_EQ(arr("a_i8", ValueType::INT8, 2)[1].i, 127);
  EXPECT_EQ(arr("a_u16", ValueType::UINT16, 1)[0].u, 40000u);
  EXPECT_EQ(arr("a_i16", ValueType::INT16, 1)[0].i, -300);
  EXPECT_EQ(arr("a_u32", ValueType::UINT32, 3)[2].u, 3u);
  EXPECT_EQ(arr("a_i32", ValueType::INT32, 1)[0].i, -7);
  EXPECT_EQ(arr("a_u64", ValueType::UINT64, 1)[0].u, uint64_t(1) << 63);
  EXPECT_EQ(arr("a_i64", ValueType::INT64, 1)[0].i, -5);
  EXPECT_EQ(arr("a_f32", ValueType::FLOAT32, 2)[0].f, 0.5);
  EXPECT_TRUE(std::signbit(arr("a_f32", ValueType::FLOAT32, 2)[1].f));
  EXPECT_EQ(arr("a_f64", ValueType::FLOAT64, 1)[0].f, -2.5);
  EXPECT_EQ(arr("a_bool", ValueType::BOOL, 2)[0].u, 1u);
  EXPECT_EQ(arr("a_bool", ValueType::BOOL, 2)[1].u, 0u);
  EXPECT_EQ(arr("a_str", ValueType::STRING, 3)[0].s, "one");
  EXPECT_EQ(arr("a_str", ValueType::STRING, 3)[1].s, "");
  EXPECT_EQ(arr("a_str", ValueType::STRING, 3)[2].s, "three");
  arr("a_empty", ValueType::FLOAT32, 0);
  const std::vector<Value>& aa = arr("a_arr", ValueType::ARRAY, 2);
  ASSERT_EQ(aa.size(), 2u);
  EXPECT_EQ(aa[0].elem_type, ValueType::UINT16);
  ASSERT_EQ(aa[0].items.size(), 2u);
  EXPECT_EQ(aa[0].items[1].u, 11u);
  EXPECT_EQ(aa[1].elem_type, ValueType::STRING);
  ASSERT_EQ(aa[1].items.size(), 1u);
  EXPECT_EQ(aa[1].items[0].s, "in");

  // Strings point into the buffer, nothing is copied.
  const char* lo = reinterpret_cast<const char*>(bytes.data());
  EXPECT_GE(get("s").s.data(), lo);
  EXPECT_LE(get("s").s.data() + 4, lo + bytes.size());

  // value_to_string renders each kind.
  EXPECT_EQ(value_to_string(get("i8")), "-128");
  EXPECT_EQ(value_to_string(get("u64")), "18446744073709551615");
  EXPECT_EQ(value_to_string(get("t")), "true");
  EXPECT_EQ(value_to_string(get("s")), "\"a\\x00b\xff\"");
  EXPECT_EQ(value_to_string(get("a_u32"), 2), "[u32 x 3: 1, 2, ...]");
}

TEST(GgufValues, TypedGetters) {
  Builder b;
  b.kv("str", ValueType::STRING, string_val("hi"));
  b.kv("u16", ValueType::UINT16, scalar<uint16_t>(9));
  b.kv("neg", ValueType::INT32, scalar<int32_t>(-3));
  b.kv("pos", ValueType::INT64, scalar<int64_t>(12));
  b.kv("big", ValueType::UINT64, scalar<uint64_t>(~uint64_t(0)));
  b.kv("f", ValueType::FLOAT64, scalar<double>(2.5));
  b.kv("flag", ValueType::BOOL, scalar<uint8_t>(1));
  b.kv("toks", ValueType::ARRAY, array_val(ValueType::STRING, 1, Bytes().str("t")));
  std::vector<uint8_t> f_bytes = b.build();
  auto f = expect_ok(f_bytes);
  ASSERT_TRUE(f);

  auto u = f->get_uint("str");
  ASSERT_FALSE(u.ok());
  EXPECT_HAS(u.message(), "metadata key 'str' has type string, expected an integer");
  u = f->get_uint("missing.key");
  ASSERT_FALSE(u.ok());
  EXPECT_HAS(u.message(), "metadata key 'missing.key' is missing");
  u = f->get_uint("neg");
  ASSERT_FALSE(u.ok());
  EXPECT_HAS(u.message(), "metadata key 'neg' is negative (-3)");
  ASSERT_TRUE(f->get_uint("u16").ok());
  EXPECT_EQ(*f->get_uint("u16"), 9u);
  EXPECT_EQ(*f->get_uint("pos"), 12u);
  EXPECT_EQ(*f->get_uint("big"), ~uint64_t(0));
  EXPECT_FALSE(f->get_uint("f").ok());

  EXPECT_EQ(*f->get_float("f"), 2.5);
  EXPECT_EQ(*f->get_float("neg"), -3.0);  // integers widen to a number
  auto fl = f->get_float("flag");
  ASSERT_FALSE(fl.ok());
  EXPECT_HAS(fl.message(), "metadata key 'flag' has type bool, expected a number");

  EXPECT_EQ(*f->get_string("str"), "hi");
  auto s = f->get_string("u16");
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "metadata key 'u16' has type u16, expected string");

  EXPECT_TRUE(*f->get_bool("flag"));
  EXPECT_HAS(f->get_bool("u16").message(), "metadata key 'u16' has type u16, expected bool");
  EXPECT_HAS(f->get_bool("nope").message(), "metadata key 'nope' is missing");

  EXPECT_EQ(*f->get_uint_or("absent", 42), 42u);
  EXPECT_EQ(*f->get_uint_or("u16", 42), 9u);
  EXPECT_HAS(f->get_uint_or("str", 42).message(), "metadata key 'str' has type string");
  EXPECT_EQ(*f->get_float_or("absent", 0.25), 0.25);
  EXPECT_HAS(f->get_float_or("str", 1.0).message(), "metadata key 'str'");
  EXPECT_FALSE(*f->get_bool_or("absent", false));
  EXPECT_HAS(f->get_bool_or("str", true).message(), "metadata key 'str'");

  auto a = f->get_array("toks", ValueType::STRING);
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ((*a)->items.size(), 1u);
  auto wrong = f->get_array("toks", ValueType::UINT32);
  ASSERT_FALSE(wrong.ok());
  EXPECT_HAS(wrong.message(), "metadata key 'toks' is an array of string, expected an array of u32");
  EXPECT_HAS(f->get_array("str", ValueType::STRING).message(),
             "metadata key 'str' has type string, expected array");
  EXPECT_HAS(f->get_array("gone", ValueType::STRING).message(), "'gone' is missing");
}

// ---------------------------------------------------------------------------------------
// File::open

std::string temp_path(const char* tag) {
  return "/tmp/ember_gguf_test_" + std::to_string(::getpid()) + "_" + tag;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* fp = std::fopen(path.c_str(), "wb");
  ASSERT_NE(fp, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), fp), bytes.size());
  }
  std::fclose(fp);
}

TEST(GgufOpen, MissingFile) {
  auto f = File::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_HAS(f.message(), "cannot open '/nonexistent/dir/model.gguf'");
  EXPECT_HAS(f.message(), "No such file");
}

TEST(GgufOpen, Directory) {
  auto f = File::open("/tmp");
  ASSERT_FALSE(f.ok());
  EXPECT_HAS(f.message(), "'/tmp' is not a regular file");
}

TEST(GgufOpen, EmptyFile) {
  std::string p = temp_path("empty.gguf");
  write_bytes(p, {});
  auto f = File::open(p);
  ::unlink(p.c_str());
  ASSERT_FALSE(f.ok());
  EXPECT_HAS(f.message(), "'" + p + "' is empty");
}

TEST(GgufOpen, ValidAndTruncatedFiles) {
  std::vector<uint8_t> bytes = valid_builder().build();
  std::string p = temp_path("valid.gguf");
  write_bytes(p, bytes);
  {
    auto f = File::open(p);
    ASSERT_TRUE(f.ok()) << f.message();
    EXPECT_EQ((*f)->path(), p);
    EXPECT_EQ((*f)->size(), bytes.size());
    ASSERT_EQ((*f)->tensors().size(), 3u);
    const TensorInfo& c = (*f)->tensors()[2];
    EXPECT_EQ(0, std::memcmp(c.data, bytes.data() + c.offset, c.n_bytes));
    EXPECT_EQ(*(*f)->get_string("general.architecture"), "llama");
  }
  bytes.resize(bytes.size() - 3);
  write_bytes(p, bytes);
  auto t = File::open(p);
  ::unlink(p.c_str());
  ASSERT_FALSE(t.ok());
  EXPECT_HAS(t.message(), p + ": ");  // the path prefixes the reason
  EXPECT_HAS(t.message(), "tensor 'c'");
}

// ---------------------------------------------------------------------------------------
// The fuzz seed corpus (scripts/make-fuzz-corpus.py, written with gguf-py): each seed must
// do what its name says, or the fuzzer starts from the wrong places.

TEST(GgufCorpus, SeedsBehaveAsNamed) {
  const std::map<std::string, std::string> broken = {
      {"bad-magic", "bad magic 0x46554746"},
      {"bool-2", "bool value at offset"},
      {"duplicate-key", "duplicate metadata key 't.u8'"},
      {"huge-array-length", "key 't.a_u8': array at offset"},
      {"huge-key-length", "has length 9223372036854775808"},
      {"huge-kv-count", "metadata count 1099511627776"},
      {"huge-string-length", "key 't.str': string value at offset"},
      {"huge-tensor-count", "tensor count 4611686018427387904"},
      {"misaligned-offset", "tensor 'c': data offset"},
      {"ndims-0", "tensor 'b' has 0 dimensions"},
      {"ndims-5", "tensor 'b' has 5 dimensions"},
      {"offset-past-end", "tensor 'd': data [18446744073709551584"},
      {"overlap", "tensors 'b' and 'c' overlap"},
      {"truncated-data", "tensor 'd'"},
      {"truncated-header", "more than the file can hold"},
      {"truncated-kv", "truncated"},
      {"truncated-tensor-info", "truncated"},
      {"unknown-array-type", "unknown element type 42"},
      {"unknown-tensor-type", "tensor 'a' has unknown type id 200"},
      {"unknown-value-type", "key 't.u32': unknown value type 13"},
      {"unsupported-tensor-type", "tensor 'a' has type 22 (IQ2_S)"},
      {"version-1", "unsupported GGUF version 1"},
      {"version-4", "unsupported GGUF version 4"},
  };
  const std::filesystem::path dir = std::filesystem::path(EMBER_TEST_DATA_DIR) / ".." / "fuzz" / "corpus";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << ": run scripts/make-fuzz-corpus.py";
  size_t n_valid = 0, n_broken = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string stem = entry.path().stem().string();
    SCOPED_TRACE(stem);
    std::vector<uint8_t> bytes = test::read_file(entry.path().string());
    auto f = File::parse(bytes.data(), bytes.size(), stem);
    if (stem.rfind("broken-", 0) == 0) {
      ++n_broken;
      ASSERT_FALSE(f.ok());
      auto it = broken.find(stem.substr(7));
      ASSERT_NE(it, broken.end()) << "no expectation for this seed";
      EXPECT_HAS(f.message(), it->second);
      continue;
    }
    ++n_valid;
    ASSERT_TRUE(f.ok()) << f.message();
    if (stem.rfind("tiny-llama-", 0) == 0) {
      // The model seeds reach the config, tensor check and tokenizer behind the parser.
      auto cfg = runtime::read_model_config(**f);
      ASSERT_TRUE(cfg.ok()) << cfg.message();
      EXPECT_EQ(cfg->n_embd, 8);
      EXPECT_EQ(cfg->n_head_kv, 1);
      Status st = runtime::check_model_tensors(**f, *cfg);
      EXPECT_TRUE(st.ok()) << st.message();
      auto tok = tokenizer::Tokenizer::from_gguf(**f);
      ASSERT_TRUE(tok.ok()) << tok.message();
      EXPECT_FALSE((*tok)->encode("Hello").empty());
    }
  }
  EXPECT_EQ(n_broken, broken.size());
  EXPECT_GE(n_valid, 5u);
}

// ---------------------------------------------------------------------------------------
// The default model. Expected values were read with gguf-py's GGUFReader (gguf 0.x in the
// reference venv): 33 key/values, 272 tensors, the first token_embd.weight Q8_0 [576, 49152]
// at data offset 0, the data section at 1785664.

TEST(GgufModel, DefaultModelOpens) {
  std::string path = test::default_model_path();
  ASSERT_FALSE(path.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  const File& file = **f;
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.metadata().size(), 33u);
  EXPECT_EQ(file.data_offset(), 1785664u);
  ASSERT_EQ(file.tensors().size(), 272u);
  const TensorInfo& t0 = file.tensors()[0];
  EXPECT_EQ(t0.name, "token_embd.weight");
  EXPECT_EQ(t0.type, DType::Q8_0);
  EXPECT_EQ(t0.dims, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(t0.n_elements, 28311552);
  EXPECT_EQ(t0.n_bytes, 30081024u);
  EXPECT_EQ(t0.offset, 1785664u);
  const TensorInfo& last = file.tensors().back();
  EXPECT_EQ(last.name, "output_norm.weight");
  EXPECT_EQ(last.type, DType::F32);
  EXPECT_EQ(last.offset, 98360128u);
  EXPECT_EQ(last.offset + last.n_bytes, file.size());
  EXPECT_EQ(*file.get_string("general.architecture"), "llama");
  EXPECT_EQ(*file.get_uint("llama.block_count"), 30u);
  auto toks = file.get_array("tokenizer.ggml.tokens", ValueType::STRING);
  ASSERT_TRUE(toks.ok()) << toks.message();
  EXPECT_EQ((*toks)->items.size(), 49152u);
}

}  // namespace
}  // namespace ember::gguf
