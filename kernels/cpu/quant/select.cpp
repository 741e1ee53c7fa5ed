// Per-type candidate lists for the dot products, and the one-time choice among them.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

bool always() { return true; }
[[maybe_unused]] bool has_avx2() { return cpu_features().x86_avx2_fma_f16c(); }

struct TypeCandidates {
  uint32_t type;
  VecDotCandidate list[2];
  int n;
};

const TypeCandidates kCandidates[] = {
#if defined(__x86_64__)
    {kTypeQ4_0, {{"avx2", has_avx2, vec_dot_q4_0_q8_0_avx2}, {"scalar", always, vec_dot_q4_0_q8_0}}, 2},
    {kTypeQ4_1, {{"avx2", has_avx2, vec_dot_q4_1_q8_1_avx2}, {"scalar", always, vec_dot_q4_1_q8_1}}, 2},
    {kTypeQ8_0, {{"avx2", has_avx2, vec_dot_q8_0_q8_0_avx2}, {"scalar", always, vec_dot_q8_0_q8_0}}, 2},
#endif
    {kTypeF32, {{"scalar", always, vec_dot_f32_f32}, {}}, 1},
    {kTypeF16, {{"scalar", always, vec_dot_f16_f16}, {}}, 1},
    {kTypeBF16, {{"scalar", always, vec_dot_bf16_bf16}, {}}, 1},
#if !defined(__x86_64__)
    {kTypeQ4_0, {{"scalar", always, vec_dot_q4_0_q8_0}, {}}, 1},
    {kTypeQ4_1, {{"scalar", always, vec_dot_q4_1_q8_1}, {}}, 1},
    {kTypeQ8_0, {{"scalar", always, vec_dot_q8_0_q8_0}, {}}, 1},
#endif
    {kTypeQ5_0, {{"scalar", always, vec_dot_q5_0_q8_0}, {}}, 1},
    {kTypeQ5_1, {{"scalar", always, vec_dot_q5_1_q8_1}, {}}, 1},
    {kTypeQ4_K, {{"scalar", always, vec_dot_q4_K_q8_K}, {}}, 1},
    {kTypeQ5_K, {{"scalar", always, vec_dot_q5_K_q8_K}, {}}, 1},
    {kTypeQ6_K, {{"scalar", always, vec_dot_q6_K_q8_K}, {}}, 1},
};

bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("EMBER_VERBOSE");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return v;
}

}  // namespace

const VecDotCandidate* vec_dot_candidates(uint32_t type, int* n) {
  for (const TypeCandidates& t : kCandidates)
    if (t.type == type) {
      *n = t.n;
      return t.list;
    }
  *n = 0;
  return nullptr;
}

VecDotFn select_vec_dot(uint32_t type) {
  int n = 0;
  const VecDotCandidate* c = vec_dot_candidates(type, &n);
  for (int i = 0; i < n; ++i) {
    if (c[i].cpu_has()) {
      if (verbose()) std::fprintf(stderr, "ember: vec_dot for type %u: %s\n", type, c[i].isa);
      return c[i].fn;
    }
    if (verbose()) std::fprintf(stderr, "ember: vec_dot for type %u: %s declined (the CPU lacks it)\n", type, c[i].isa);
  }
  return nullptr;
}

}  // namespace ember::kernels
