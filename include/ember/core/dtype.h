// Tensor element types. The numeric ids are the ones GGUF files store (ggml's type ids),
// so a DType can be read straight from a tensor-info record.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct DTypeInfo {
  const char* name;        // "Q4_1"; nullptr for ids no format defines
  uint32_t block_elems;    // elements per block (1 for plain types)
  uint32_t block_bytes;    // bytes per block
  bool weights_supported;  // ember can load and compute with tensors of this type
};

// Facts about a type id; unknown ids get {nullptr, 0, 0, false}.
constexpr DTypeInfo dtype_info(uint32_t id) {
  switch (static_cast<DType>(id)) {
    case DType::F32: return {"F32", 1, 4, true};
    case DType::F16: return {"F16", 1, 2, true};
    case DType::Q4_0: return {"Q4_0", 32, 18, true};
    case DType::Q4_1: return {"Q4_1", 32, 20, true};
    case DType::Q5_0: return {"Q5_0", 32, 22, true};
    case DType::Q5_1: return {"Q5_1", 32, 24, true};
    case DType::Q8_0: return {"Q8_0", 32, 34, true};
    case DType::Q8_1: return {"Q8_1", 32, 36, false};
    case DType::Q2_K: return {"Q2_K", 256, 84, false};
    case DType::Q3_K: return {"Q3_K", 256, 110, false};
    case DType::Q4_K: return {"Q4_K", 256, 144, true};
    case DType::Q5_K: return {"Q5_K", 256, 176, true};
    case DType::Q6_K: return {"Q6_K", 256, 210, true};
    case DType::Q8_K: return {"Q8_K", 256, 292, false};
    case DType::IQ2_XXS: return {"IQ2_XXS", 256, 66, false};
    case DType::IQ2_XS: return {"IQ2_XS", 256, 74, false};
    case DType::IQ3_XXS: return {"IQ3_XXS", 256, 98, false};
    case DType::IQ1_S: return {"IQ1_S", 256, 50, false};
    case DType::IQ4_NL: return {"IQ4_NL", 32, 18, false};
    case DType::IQ3_S: return {"IQ3_S", 256, 110, false};
    case DType::IQ2_S: return {"IQ2_S", 256, 82, false};
    case DType::IQ4_XS: return {"IQ4_XS", 256, 136, false};
    case DType::I8: return {"I8", 1, 1, false};
    case DType::I16: return {"I16", 1, 2, false};
    case DType::I32: return {"I32", 1, 4, false};
    case DType::I64: return {"I64", 1, 8, false};
    case DType::F64: return {"F64", 1, 8, false};
    case DType::IQ1_M: return {"IQ1_M", 256, 56, false};
    case DType::BF16: return {"BF16", 1, 2, true};
    case DType::TQ1_0: return {"TQ1_0", 256, 54, false};
    case DType::TQ2_0: return {"TQ2_0", 256, 66, false};
    case DType::MXFP4: return {"MXFP4", 32, 17, false};
  }
  return {nullptr, 0, 0, false};
}

constexpr DTypeInfo dtype_info(DType t) { return dtype_info(static_cast<uint32_t>(t)); }
inline const char* dtype_name(DType t) {
  const char* n = dtype_info(t).name;
  return n ? n : "?";
}
// Bytes taken by one row of `n` elements (n must be a multiple of the block size).
inline size_t dtype_row_bytes(DType t, int64_t n) {
  DTypeInfo i = dtype_info(t);
  return static_cast<size_t>(n / i.block_elems) * i.block_bytes;
}

}  // namespace ember
