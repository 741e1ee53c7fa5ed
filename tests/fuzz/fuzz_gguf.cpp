// libFuzzer target for the GGUF reader (runtime/gguf) and what reads a parsed file next
// (model config, tensor check, tokenizer).
//
// Whatever the bytes, File::parse must return a Status, never crash. When it accepts the
// bytes, every value it hands out must lie inside the buffer: the walk below reads every
// string's first and last byte and every tensor's first and last data byte, so ASan reports
// any pointer or length the parser let through unchecked. The buffer is copied into an
// exactly-sized heap block first so that a read one byte past the end is caught.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ember/core/log.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

volatile uint64_t g_sink;

void touch(const void* p, size_t n) {
  if (n == 0) return;
  const uint8_t* b = static_cast<const uint8_t*>(p);
  g_sink = g_sink + b[0] + b[n - 1];
}

void walk_value(const ember::gguf::Value& v, int depth) {
  using ember::gguf::ValueType;
  switch (v.type) {
    case ValueType::STRING:
      touch(v.s.data(), v.s.size());
      break;
    case ValueType::ARRAY:
      for (const ember::gguf::Value& item : v.items) {
        if (item.type != v.elem_type) __builtin_trap();  // elements must have the declared type
        walk_value(item, depth + 1);
      }
      break;
    default:
      g_sink = g_sink + v.u + static_cast<uint64_t>(v.i) + static_cast<uint64_t>(v.f != 0);
      break;
  }
}

void walk(const ember::gguf::File& f) {
  const uint8_t* lo = f.bytes();
  const uint8_t* hi = f.bytes() + f.size();
  for (const ember::gguf::KeyValue& kv : f.metadata()) {
    if (kv.file_offset >= f.size()) __builtin_trap();
    walk_value(kv.value, 0);
    g_sink = g_sink + ember::gguf::value_to_string(kv.value, 4).size();
    // Every typed getter must answer with a value or a Status, whatever the stored type.
    g_sink = g_sink + f.get_uint(kv.key).ok() + f.get_float(kv.key).ok() +
             f.get_string(kv.key).ok() + f.get_bool(kv.key).ok() +
             f.get_array(kv.key, kv.value.elem_type).ok();
    if (f.find(kv.key) == nullptr) __builtin_trap();
  }
  for (const ember::gguf::TensorInfo& t : f.tensors()) {
    if (t.n_bytes == 0 || t.data < lo || t.data + t.n_bytes > hi) __builtin_trap();
    if (t.offset % f.alignment() != 0) __builtin_trap();
    touch(t.data, t.n_bytes);
    if (f.find_tensor(t.name) == nullptr) __builtin_trap();
  }
}

}  // namespace

// Warnings about odd but legal metadata would flood the log at thousands of inputs a second.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ember::set_warnings_enabled(false);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size copy: the fuzzer's own buffer may have slack after `size`.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);

  auto file = ember::gguf::File::parse(copy.get(), size, "fuzz");
  if (!file.ok()) {
    if (file.message().empty()) __builtin_trap();  // a failure must say what is wrong
    return 0;
  }
  const ember::gguf::File& f = **file;
  walk(f);

  auto cfg = ember::runtime::read_model_config(f);
  if (cfg.ok()) {
    ember::Status st = ember::runtime::check_model_tensors(f, *cfg);
    g_sink = g_sink + st.ok();
  }

  auto tok = ember::tokenizer::Tokenizer::from_gguf(f);
  if (tok.ok()) {
    const ember::tokenizer::Tokenizer& t = **tok;
    std::vector<ember::tokenizer::TokenId> ids = t.encode("Hello, world! 123 <|im_end|>\n");
    g_sink = g_sink + ids.size() + t.decode(ids).size();
  }
  return 0;
}
