// Scalar f32 GEMMs (a per-row dot product per output) and the choice among the candidates.
#include <cstdio>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm/gemm_f32.h"
#include "kernels/cpu/quant/simd.h"
#include "kernels/cpu/verbose.h"

namespace ember::kernels {
namespace {

void loop_outputs(const GemmF32Args& p, VecDotFn dot) {
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) p.y[i * p.y_stride + j] = dot(p.k, p.w + j * p.w_stride, p.a + i * p.a_stride);
}

bool always() { return true; }
[[maybe_unused]] bool has_avx2() { return cpu_features().x86_avx2_fma_f16c(); }
[[maybe_unused]] bool has_avx512() { return cpu_features().x86_avx512_vnni(); }

const GemmF32Candidate kCandidates[] = {
#if defined(__x86_64__)
    {"avx512", has_avx512, gemm_f32_avx512, vec_dot_f32_f32_avx2},
    {"avx2", has_avx2, gemm_f32_avx2, vec_dot_f32_f32_avx2},
#endif
    {"scalar", always, gemm_f32, vec_dot_f32_f32},
};

GemmF32Fn select_gemm_f32() {
  const QuantTypeKernels* k = find_quant_kernels(kTypeF32);
  for (const GemmF32Candidate& c : kCandidates) {
    if (!c.cpu_has()) {
      if (dispatch_verbose()) std::fprintf(stderr, "ember: gemm_f32: %s declined (the CPU lacks it)\n", c.isa);
      continue;
    }
    if (!k || k->vec_dot != c.same_as) {
      if (dispatch_verbose())
        std::fprintf(stderr, "ember: gemm_f32: %s declined (it would not reproduce the per-row dot product in use)\n", c.isa);
      continue;
    }
    if (dispatch_verbose()) std::fprintf(stderr, "ember: gemm_f32: %s\n", c.isa);
    return c.fn;
  }
  if (dispatch_verbose()) std::fprintf(stderr, "ember: gemm_f32: none (per-row dot products)\n");
  return nullptr;
}

}  // namespace

void gemm_f32(const GemmF32Args& p) { loop_outputs(p, vec_dot_f32_f32); }
void gemm_f32_lanes(const GemmF32Args& p) { loop_outputs(p, p.sgemm_order ? vec_dot_f32_f32_lanes : vec_dot_f32_f32_x4_lanes); }

const GemmF32Candidate* gemm_f32_candidates(int* n) {
  *n = static_cast<int>(sizeof kCandidates / sizeof kCandidates[0]);
  return kCandidates;
}

GemmF32Fn find_gemm_f32() {
  static const GemmF32Fn fn = select_gemm_f32();
  return fn;
}

}  // namespace ember::kernels
