#include "kernels/cpu/gemm/pack.h"

#include <cstring>

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

}  // namespace ember::kernels
