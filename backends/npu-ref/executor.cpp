// npu-ref's executor: runs a compiled program's instructions in order on plan memory. The
// kernels are plain loops; a vendor replaces this file with calls into its runtime.
#include <cmath>

#include "npu_ref.h"

namespace npu_ref {

void run(const Program& p, float* m) {
  for (const Instr& c : p.code) {
    float* y = m + c.dst;
    const float* a = m + c.a;
    const float* b = m + c.b;
    switch (c.op) {
      case Opcode::MatMul:  // y[r, n] = Σ_k a[r, k] · b[n, k], summed in double
        for (int64_t r = 0; r < c.rows; ++r)
          for (int64_t n = 0; n < c.cols; ++n) {
            double s = 0;
            for (int64_t k = 0; k < c.k; ++k) s += static_cast<double>(a[r * c.k + k]) * b[n * c.k + k];
            y[r * c.cols + n] = static_cast<float>(s);
          }
        break;
      case Opcode::Add:
      case Opcode::Mul:
      case Opcode::SiluMul:
        for (int64_t r = 0; r < c.rows; ++r) {
          const float* ar = a + r * c.cols;
          const float* br = c.k == 1 ? b : b + r * c.cols;
          float* yr = y + r * c.cols;
          for (int64_t i = 0; i < c.cols; ++i) {
            if (c.op == Opcode::Add) yr[i] = ar[i] + br[i];
            else if (c.op == Opcode::Mul) yr[i] = ar[i] * br[i];
            else yr[i] = ar[i] / (1.0f + std::exp(-ar[i])) * br[i];
          }
        }
        break;
      case Opcode::RmsNorm:
        for (int64_t r = 0; r < c.rows; ++r) {
          const float* ar = a + r * c.cols;
          double s = 0;
          for (int64_t i = 0; i < c.cols; ++i) s += static_cast<double>(ar[i]) * ar[i];
          const float scale = 1.0f / std::sqrt(static_cast<float>(s / c.cols) + c.eps);
          for (int64_t i = 0; i < c.cols; ++i) y[r * c.cols + i] = ar[i] * scale;
        }
        break;
    }
  }
}

}  // namespace npu_ref
