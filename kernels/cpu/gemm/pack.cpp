#include "kernels/cpu/gemm/pack.h"

#include <cstring>

#include "kernels/cpu/fp16.h"

namespace ember::kernels {

size_t q4_1x2_bytes(int64_t rows, int64_t k) { return static_cast<size_t>(rows * (k / kQK)) * sizeof(BlockQ4_1); }

void pack_q4_1x2(const void* src, int64_t rows, int64_t k, void* dst) {
  const int64_t nb = k / kQK;
  const auto* w = static_cast<const BlockQ4_1*>(src);
  auto* out = static_cast<BlockQ4_1x2*>(dst);
  for (int64_t j = 0; j + 1 < rows; j += 2) {
    const BlockQ4_1* r0 = w + j * nb;
    const BlockQ4_1* r1 = r0 + nb;
    for (int64_t i = 0; i < nb; ++i, ++out) {
      out->d[0] = r0[i].d;
      out->d[1] = r1[i].d;
      out->m[0] = r0[i].m;
      out->m[1] = r1[i].m;
      std::memcpy(out->qs[0], r0[i].qs, sizeof out->qs[0]);
      std::memcpy(out->qs[1], r1[i].qs, sizeof out->qs[1]);
    }
  }
  if (rows % 2) std::memcpy(out, w + (rows - 1) * nb, static_cast<size_t>(nb) * sizeof(BlockQ4_1));
}

void pack_q4_1x16(const void* src, int64_t rows, int64_t k, void* dst) {
  const int64_t nb = k / kQK;
  const auto* w = static_cast<const BlockQ4_1*>(src);
  auto* out = static_cast<BlockQ4_1x16*>(dst);
  for (int64_t g = 0; g + 16 <= rows; g += 16)
    for (int64_t i = 0; i < nb; ++i, ++out)
      for (int j = 0; j < 16; ++j) {
        const BlockQ4_1& b = w[(g + j) * nb + i];
        out->d[j] = b.d;
        out->m[j] = b.m;
        for (int t = 0; t < 4; ++t) std::memcpy(out->qs[t][j], b.qs + 4 * t, 4);
      }
}

void pack_q8_0x16(const void* src, int64_t rows, int64_t k, void* dst) {
  const int64_t nb = k / kQK;
  const auto* w = static_cast<const BlockQ8_0*>(src);
  auto* out = static_cast<BlockQ8_0x16*>(dst);
  for (int64_t g = 0; g + 16 <= rows; g += 16)
    for (int64_t i = 0; i < nb; ++i, ++out)
      for (int j = 0; j < 16; ++j) {
        const BlockQ8_0& b = w[(g + j) * nb + i];
        out->d[j] = b.d;
        for (int t = 0; t < 8; ++t) std::memcpy(out->qs[t][j], b.qs + 4 * t, 4);
      }
}

void dequantize_q8_0x16_row(const void* packed, int64_t r, int64_t k, float* dst) {
  const int64_t nb = k / kQK;
  const auto* b = reinterpret_cast<const BlockQ8_0x16*>(q8_0x16_group(packed, r / 16, k));
  const int j = static_cast<int>(r % 16);
  for (int64_t i = 0; i < nb; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d[j]);
    for (int t = 0; t < 8; ++t)
      for (int e = 0; e < 4; ++e) dst[4 * t + e] = static_cast<float>(b[i].qs[t][j][e]) * d;
  }
}

}  // namespace ember::kernels
