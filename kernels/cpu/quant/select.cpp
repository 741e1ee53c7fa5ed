// Per-type candidate lists for the dot products, and the one-time choice among them.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/verbose.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

bool always() { return true; }
[[maybe_unused]] bool has_avx2() { return cpu_features().x86_avx2_fma_f16c(); }
[[maybe_unused]] bool has_avx512() { return cpu_features().x86_avx512_vnni(); }
[[maybe_unused]] bool has_neon() { return cpu_features().neon; }
[[maybe_unused]] bool has_dotprod() { return cpu_features().neon && cpu_features().dotprod; }

struct TypeCandidates {
  uint32_t type;
  VecDotCandidate list[5];
  int n;
};

const TypeCandidates kCandidates[] = {
#if defined(__x86_64__)
#define EMBER_AVX2_THEN_SCALAR(type, name) \
  {type, {{"avx2", has_avx2, name##_avx2}, {"scalar", always, name}}, 2}
#elif defined(__aarch64__)
// On aarch64 the same lists name the NEON variants: dot-product instructions first where the
// type has such a variant, plain NEON next (every aarch64 CPU), scalar last.
#define EMBER_AVX2_THEN_SCALAR(type, name) {type, {{"scalar", always, name}, {}}, 1}
#define EMBER_DOTPROD_NEON_SCALAR(type, name) \
  {type, {{"neon-dotprod", has_dotprod, name##_dotprod}, {"neon", has_neon, name##_neon}, {"scalar", always, name}}, 3}
#define EMBER_NEON_SCALAR(type, name) {type, {{"neon", has_neon, name##_neon}, {"scalar", always, name}}, 2}
#else
#define EMBER_AVX2_THEN_SCALAR(type, name) {type, {{"scalar", always, name}, {}}, 1}
#endif
#if defined(__aarch64__)
    // The block-sum order first where the CPU has the dot-product instructions (declined under
    // EMBER_LLAMA_EXACT=1), as on x86.
    {kTypeQ4_1,
     {{"neon-dotprod-bs", has_dotprod, vec_dot_q4_1_q8_1_bs_dotprod, false},
      {"neon-dotprod", has_dotprod, vec_dot_q4_1_q8_1_dotprod}, {"neon", has_neon, vec_dot_q4_1_q8_1_neon},
      {"scalar", always, vec_dot_q4_1_q8_1}},
     4},
    {kTypeQ8_0,
     {{"neon-dotprod-bs", has_dotprod, vec_dot_q8_0_q8_0_bs_dotprod, false},
      {"neon-dotprod", has_dotprod, vec_dot_q8_0_q8_0_dotprod}, {"neon", has_neon, vec_dot_q8_0_q8_0_neon},
      {"scalar", always, vec_dot_q8_0_q8_0}},
     4},
#elif defined(__x86_64__)
    // The block-sum order first (the q4_1x16 matmul's, kernels/cpu/gemm/gemm.h; not llama.cpp's,
    // so declined under EMBER_LLAMA_EXACT=1); then llama.cpp's. AVX-512 VNNI before AVX2 in each:
    // the same bits (x86_dots.inc), fewer instructions.
    {kTypeQ4_1,
     {{"avx512-bs", has_avx512, vec_dot_q4_1_q8_1_bs_avx512, false},
      {"avx2-bs", has_avx2, vec_dot_q4_1_q8_1_bs_avx2, false},
      {"avx512", has_avx512, vec_dot_q4_1_q8_1_avx512}, {"avx2", has_avx2, vec_dot_q4_1_q8_1_avx2},
      {"scalar", always, vec_dot_q4_1_q8_1}},
     5},
    {kTypeQ8_0,
     {{"avx512-bs", has_avx512, vec_dot_q8_0_q8_0_bs_avx512, false},
      {"avx2-bs", has_avx2, vec_dot_q8_0_q8_0_bs_avx2, false},
      {"avx512", has_avx512, vec_dot_q8_0_q8_0_avx512}, {"avx2", has_avx2, vec_dot_q8_0_q8_0_avx2},
      {"scalar", always, vec_dot_q8_0_q8_0}},
     5},
#else
    EMBER_AVX2_THEN_SCALAR(kTypeQ4_1, vec_dot_q4_1_q8_1),
    EMBER_AVX2_THEN_SCALAR(kTypeQ8_0, vec_dot_q8_0_q8_0),
#endif
#if defined(__aarch64__)
    EMBER_DOTPROD_NEON_SCALAR(kTypeQ5_0, vec_dot_q5_0_q8_0),
    EMBER_DOTPROD_NEON_SCALAR(kTypeQ5_1, vec_dot_q5_1_q8_1),
#else
    EMBER_AVX2_THEN_SCALAR(kTypeQ5_0, vec_dot_q5_0_q8_0),
    EMBER_AVX2_THEN_SCALAR(kTypeQ5_1, vec_dot_q5_1_q8_1),
#endif
#if defined(__x86_64__)
    // llama.cpp's AVX2 build repacks q4_0 and q4_K weights 8 rows at a time (when the row count
    // allows) and then scales each block's whole integer sum; "avx2-x8" follows that arithmetic,
    // "avx2" that of its plain vec_dot (used for other row counts) — see simd.h. The multi-row
    // kernels of kernels/cpu/gemm have an x8 twin for q4_0.
    {kTypeQ4_0,
     {{"avx512-x8", has_avx512, vec_dot_q4_0_q8_0_x8_avx512},
      {"avx2-x8", has_avx2, vec_dot_q4_0_q8_0_x8_avx2},
      {"avx512", has_avx512, vec_dot_q4_0_q8_0_avx512},
      {"avx2", has_avx2, vec_dot_q4_0_q8_0_avx2},
      {"scalar", always, vec_dot_q4_0_q8_0}},
     5},
    {kTypeQ4_K,
     {{"avx512-x8", has_avx512, vec_dot_q4_K_q8_K_x8_avx512},
      {"avx2-x8", has_avx2, vec_dot_q4_K_q8_K_x8_avx2},
      {"avx512", has_avx512, vec_dot_q4_K_q8_K_avx512},
      {"avx2", has_avx2, vec_dot_q4_K_q8_K_avx2},
      {"scalar", always, vec_dot_q4_K_q8_K}},
     5},
#elif defined(__aarch64__)
    EMBER_DOTPROD_NEON_SCALAR(kTypeQ4_0, vec_dot_q4_0_q8_0),
    EMBER_DOTPROD_NEON_SCALAR(kTypeQ4_K, vec_dot_q4_K_q8_K),
#else
    EMBER_AVX2_THEN_SCALAR(kTypeQ4_0, vec_dot_q4_0_q8_0),
    EMBER_AVX2_THEN_SCALAR(kTypeQ4_K, vec_dot_q4_K_q8_K),
#endif
#if defined(__aarch64__)
    EMBER_DOTPROD_NEON_SCALAR(kTypeQ5_K, vec_dot_q5_K_q8_K),
    EMBER_DOTPROD_NEON_SCALAR(kTypeQ6_K, vec_dot_q6_K_q8_K),
    EMBER_NEON_SCALAR(kTypeF16, vec_dot_f16_f16),
    EMBER_NEON_SCALAR(kTypeBF16, vec_dot_bf16_bf16),
    EMBER_NEON_SCALAR(kTypeF32, vec_dot_f32_f32),
#undef EMBER_DOTPROD_NEON_SCALAR
#undef EMBER_NEON_SCALAR
#elif defined(__x86_64__)
    {kTypeQ5_K,
     {{"avx512", has_avx512, vec_dot_q5_K_q8_K_avx512}, {"avx2", has_avx2, vec_dot_q5_K_q8_K_avx2},
      {"scalar", always, vec_dot_q5_K_q8_K}},
     3},
    {kTypeQ6_K,
     {{"avx512", has_avx512, vec_dot_q6_K_q8_K_avx512}, {"avx2", has_avx2, vec_dot_q6_K_q8_K_avx2},
      {"scalar", always, vec_dot_q6_K_q8_K}},
     3},
    EMBER_AVX2_THEN_SCALAR(kTypeF16, vec_dot_f16_f16),
    EMBER_AVX2_THEN_SCALAR(kTypeBF16, vec_dot_bf16_bf16),
    EMBER_AVX2_THEN_SCALAR(kTypeF32, vec_dot_f32_f32),
#else
    EMBER_AVX2_THEN_SCALAR(kTypeQ5_K, vec_dot_q5_K_q8_K),
    EMBER_AVX2_THEN_SCALAR(kTypeQ6_K, vec_dot_q6_K_q8_K),
    EMBER_AVX2_THEN_SCALAR(kTypeF16, vec_dot_f16_f16),
    EMBER_AVX2_THEN_SCALAR(kTypeBF16, vec_dot_bf16_bf16),
    EMBER_AVX2_THEN_SCALAR(kTypeF32, vec_dot_f32_f32),
#endif
#undef EMBER_AVX2_THEN_SCALAR
};

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

bool llama_exact() {
  static const bool exact = [] {
    const char* v = std::getenv("EMBER_LLAMA_EXACT");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return exact;
}

VecDotFn select_vec_dot(uint32_t type) {
  int n = 0;
  const VecDotCandidate* c = vec_dot_candidates(type, &n);
  for (int i = 0; i < n; ++i) {
    if (!c[i].llama_order && llama_exact()) {
      if (dispatch_verbose())
        std::fprintf(stderr, "ember: vec_dot for type %u: %s declined (EMBER_LLAMA_EXACT: not llama.cpp's order)\n", type,
                     c[i].isa);
      continue;
    }
    if (c[i].cpu_has()) {
      if (dispatch_verbose()) std::fprintf(stderr, "ember: vec_dot for type %u: %s\n", type, c[i].isa);
      return c[i].fn;
    }
    if (dispatch_verbose()) std::fprintf(stderr, "ember: vec_dot for type %u: %s declined (the CPU lacks it)\n", type, c[i].isa);
  }
  return nullptr;
}

VecDot4Fn vec_dot4_for(VecDotFn per_row) {
#if defined(__x86_64__)
  if (per_row == vec_dot_f16_f16_avx2) return vec_dot4_f16_f16_avx2;
  if (per_row == vec_dot_bf16_bf16_avx2) return vec_dot4_bf16_bf16_avx2;
#else
  (void)per_row;
#endif
  return nullptr;
}

VecDotFn vec_dot_for_weight(uint32_t type, int64_t rows) {
  const QuantTypeKernels* k = find_quant_kernels(type);
  if (!k) return nullptr;
#if defined(__x86_64__)
  if (rows % 4 != 0) {
    if (k->vec_dot == vec_dot_f32_f32_avx2) return vec_dot_f32_f32_x4_avx2;
    if (k->vec_dot == vec_dot_f16_f16_avx2) return vec_dot_f16_f16_x4_avx2;
    if (k->vec_dot == vec_dot_bf16_bf16_avx2) return vec_dot_bf16_bf16_x4_avx2;
  }
#else
  (void)rows;
#endif
  return k->vec_dot;
}

}  // namespace ember::kernels
