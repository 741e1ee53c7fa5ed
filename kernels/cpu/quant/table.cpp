// ggml type id -> scalar kernels, for the CPU backend's dispatch.
#include <cassert>

#include <array>
#include <iterator>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {

namespace {

constexpr QuantTypeKernels kTable[] = {
    {kTypeF32, "f32", 1, 4, dequantize_row_f32, kTypeF32, quantize_row_f32, vec_dot_f32_f32},
    {kTypeF16, "f16", 1, 2, dequantize_row_f16, kTypeF16, quantize_row_f16, vec_dot_f16_f16},
    {kTypeBF16, "bf16", 1, 2, dequantize_row_bf16, kTypeBF16, quantize_row_bf16,
     vec_dot_bf16_bf16},
    {kTypeQ4_0, "q4_0", kQK, sizeof(BlockQ4_0), dequantize_row_q4_0, kTypeQ8_0, quantize_row_q8_0,
     vec_dot_q4_0_q8_0},
    {kTypeQ4_1, "q4_1", kQK, sizeof(BlockQ4_1), dequantize_row_q4_1, kTypeQ8_1, quantize_row_q8_1,
     vec_dot_q4_1_q8_1},
    {kTypeQ5_0, "q5_0", kQK, sizeof(BlockQ5_0), dequantize_row_q5_0, kTypeQ8_0, quantize_row_q8_0,
     vec_dot_q5_0_q8_0},
    {kTypeQ5_1, "q5_1", kQK, sizeof(BlockQ5_1), dequantize_row_q5_1, kTypeQ8_1, quantize_row_q8_1,
     vec_dot_q5_1_q8_1},
    {kTypeQ8_0, "q8_0", kQK, sizeof(BlockQ8_0), dequantize_row_q8_0, kTypeQ8_0, quantize_row_q8_0,
     vec_dot_q8_0_q8_0},
    {kTypeQ8_1, "q8_1", kQK, sizeof(BlockQ8_1), dequantize_row_q8_1, kTypeQ8_1, quantize_row_q8_1,
     nullptr},
    {kTypeQ4_K, "q4_K", kQK_K, sizeof(BlockQ4_K), dequantize_row_q4_K, kTypeQ8_K,
     quantize_row_q8_K, vec_dot_q4_K_q8_K},
    {kTypeQ5_K, "q5_K", kQK_K, sizeof(BlockQ5_K), dequantize_row_q5_K, kTypeQ8_K,
     quantize_row_q8_K, vec_dot_q5_K_q8_K},
    {kTypeQ6_K, "q6_K", kQK_K, sizeof(BlockQ6_K), dequantize_row_q6_K, kTypeQ8_K,
     quantize_row_q8_K, vec_dot_q6_K_q8_K},
    {kTypeQ8_K, "q8_K", kQK_K, sizeof(BlockQ8_K), dequantize_row_q8_K, kTypeQ8_K,
     quantize_row_q8_K, nullptr},
};

}  // namespace

namespace {
// The table with each dot product replaced by the best variant this CPU runs (simd.h).
const QuantTypeKernels* dispatched_table() {
  static const auto table = [] {
    std::array<QuantTypeKernels, std::size(kTable)> t;
    for (size_t i = 0; i < t.size(); ++i) {
      t[i] = kTable[i];
      if (t[i].vec_dot) t[i].vec_dot = select_vec_dot(t[i].type);
#if defined(__x86_64__)
      // The q8 activation quantisers have AVX2 twins (bit-identical; tests/kernels/simd_test).
      if (cpu_features().x86_avx2_fma_f16c()) {
        if (t[i].quantize_act == quantize_row_q8_0) t[i].quantize_act = quantize_row_q8_0_avx2;
        if (t[i].quantize_act == quantize_row_q8_1) t[i].quantize_act = quantize_row_q8_1_avx2;
      }
#elif defined(__aarch64__)
      // And NEON twins on every aarch64 (byte-identical; tests/kernels/simd_test).
      if (cpu_features().neon) {
        if (t[i].quantize_act == quantize_row_q8_0) t[i].quantize_act = quantize_row_q8_0_neon;
        if (t[i].quantize_act == quantize_row_q8_1) t[i].quantize_act = quantize_row_q8_1_neon;
      }
#endif
    }
    return t;
  }();
  return table.data();
}

}  // namespace

const QuantTypeKernels* find_quant_kernels(uint32_t type) {
  const QuantTypeKernels* t = dispatched_table();
  for (size_t i = 0; i < std::size(kTable); ++i)
    if (t[i].type == type) return &t[i];
  return nullptr;
}


size_t quant_row_bytes(const QuantTypeKernels& k, int64_t n) {
  assert(n >= 0 && n % k.block_elems == 0);
  return static_cast<size_t>(n / k.block_elems) * k.block_bytes;
}

}  // namespace ember::kernels
