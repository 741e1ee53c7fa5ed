// Random, valid weight rows for tests that run a matmul on any weight type (the backend
// conformance runner, the OpenCL plugin test): shared so both draw weights the same way.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ember/core/dtype.h"
#include "kernels/cpu/fp16.h"

namespace ember::test {

// Random, valid weight bytes: random payload with every f16 scale field set to a small finite value.
inline std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), sc(0.002f, 0.02f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> w(dtype_row_bytes(t, n));
  if (t == DType::F32) {
    for (int64_t i = 0; i < n; ++i) {
      const float f = u(rng);
      std::memcpy(w.data() + 4 * i, &f, 4);
    }
    return w;
  }
  if (t == DType::F16 || t == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = t == DType::F16 ? kernels::f32_to_fp16(u(rng)) : kernels::f32_to_bf16(u(rng));
      std::memcpy(w.data() + 2 * i, &h, 2);
    }
    return w;
  }
  for (uint8_t& b : w) b = static_cast<uint8_t>(byte(rng));
  std::vector<size_t> halves;  // byte offsets of f16 fields in a block
  switch (t) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: halves = {0}; break;
    case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: halves = {0, 2}; break;
    case DType::Q6_K: halves = {208}; break;
    default: break;
  }
  const DTypeInfo info = dtype_info(t);
  for (size_t b = 0; b < w.size() / info.block_bytes; ++b)
    for (size_t off : halves) {
      const uint16_t h = kernels::f32_to_fp16(sc(rng));
      std::memcpy(w.data() + b * info.block_bytes + off, &h, 2);
    }
  return w;
}

}  // namespace ember::test
