// Per-type candidate lists for the multi-row dot products, and the one-time choice among them.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/verbose.h"
#include "kernels/cpu/gemm/gemm.h"
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
  VecDotRowsCandidate list[5];
  int n;
};

// The same ISA conditions as the per-row lists in quant/select.cpp, so both paths pick the
// same arithmetic on a given CPU.
const TypeCandidates kCandidates[] = {
#if defined(__x86_64__)
    {kTypeQ4_0,
     {{"avx512-x8", has_avx512, vec_dot_rows_q4_0_q8_0_x8_avx512, vec_dot_q4_0_q8_0_x8_avx512, vec_dot_q4_0_q8_0_x8_avx512, Batched::kNever},
      {"avx2-x8", has_avx2, vec_dot_rows_q4_0_q8_0_x8_avx2, vec_dot_q4_0_q8_0_x8_avx2, vec_dot_q4_0_q8_0_x8_avx2, Batched::kNever},
      {"avx512", has_avx512, vec_dot_rows_q4_0_q8_0_avx512, vec_dot_q4_0_q8_0_avx512, vec_dot_q4_0_q8_0_avx512, Batched::kNever},
      {"avx2", has_avx2, vec_dot_rows_q4_0_q8_0_avx2, vec_dot_q4_0_q8_0_avx2, vec_dot_q4_0_q8_0_avx2, Batched::kNever},
      {"scalar", always, vec_dot_rows_q4_0_q8_0, vec_dot_q4_0_q8_0, vec_dot_q4_0_q8_0, Batched::kNever}},
     5},
    {kTypeQ4_1,
     {{"avx512", has_avx512, vec_dot_rows_q4_1_q8_1_avx512, vec_dot_q4_1_q8_1_avx512, vec_dot_q4_1_q8_1_avx512, Batched::kNever,
       vec_dot_pairs_q4_1_q8_1_avx512, vec_dot_pairs_q4_1x2_q8_1_avx512},
      {"avx2", has_avx2, vec_dot_rows_q4_1_q8_1_avx2, vec_dot_q4_1_q8_1_avx2, vec_dot_q4_1_q8_1_avx2, Batched::kNever,
       vec_dot_pairs_q4_1_q8_1_avx2, vec_dot_pairs_q4_1x2_q8_1_avx2},
      {"scalar", always, vec_dot_rows_q4_1_q8_1, vec_dot_q4_1_q8_1, vec_dot_q4_1_q8_1, Batched::kNever, vec_dot_pairs_q4_1_q8_1}},
     3},
    {kTypeQ8_0,
     {{"avx512", has_avx512, vec_dot_rows_q8_0_q8_0_avx512, vec_dot_q8_0_q8_0_avx512, vec_dot_q8_0_q8_0_avx512, Batched::kNever,
       vec_dot_pairs_q8_0_q8_0_avx512},
      {"avx2", has_avx2, vec_dot_rows_q8_0_q8_0_avx2, vec_dot_q8_0_q8_0_avx2, vec_dot_q8_0_q8_0_avx2, Batched::kNever,
       vec_dot_pairs_q8_0_q8_0_avx2},
      {"scalar", always, vec_dot_rows_q8_0_q8_0, vec_dot_q8_0_q8_0, vec_dot_q8_0_q8_0, Batched::kNever, vec_dot_pairs_q8_0_q8_0}},
     3},
    // llama.cpp's repacked q4_K (GEMM arithmetic for complete groups of 4 rows) and its tiled
    // q6_K matmul (batches of 8 rows or more): gemm.h.
    {kTypeQ4_K,
     {{"avx512-x8", has_avx512, vec_dot_rows_q4_K_q8_K_x8_avx512, vec_dot_q4_K_q8_K_x8_avx512, vec_dot_q4_K_q8_K_x8_gemm_avx512, Batched::kGroupsOf4},
      {"avx2-x8", has_avx2, vec_dot_rows_q4_K_q8_K_x8_avx2, vec_dot_q4_K_q8_K_x8_avx2, vec_dot_q4_K_q8_K_x8_gemm_avx2, Batched::kGroupsOf4},
      {"scalar", always, vec_dot_rows_q4_K_q8_K, vec_dot_q4_K_q8_K, vec_dot_q4_K_q8_K, Batched::kNever}},
     3},
    {kTypeQ6_K,
     {{"avx512", has_avx512, vec_dot_rows_q6_K_q8_K_avx512, vec_dot_q6_K_q8_K_avx512, vec_dot_q6_K_q8_K_tiled_avx512, Batched::kBatchOf8},
      {"avx2", has_avx2, vec_dot_rows_q6_K_q8_K_avx2, vec_dot_q6_K_q8_K_avx2, vec_dot_q6_K_q8_K_tiled_avx2, Batched::kBatchOf8},
      {"scalar", always, vec_dot_rows_q6_K_q8_K, vec_dot_q6_K_q8_K, vec_dot_q6_K_q8_K, Batched::kNever}},
     3},
#elif defined(__aarch64__)
#define EMBER_NEON_ROWS(type, rows, dot, scalar_pairs)                                                                       \
  {type,                                                                                                                     \
   {{"neon-dotprod", has_dotprod, rows##_dotprod, dot##_dotprod, dot##_dotprod, Batched::kNever},                            \
    {"neon", has_neon, rows##_neon, dot##_neon, dot##_neon, Batched::kNever},                                                \
    {"scalar", always, rows, dot, dot, Batched::kNever, scalar_pairs}},                                                      \
   3}
    EMBER_NEON_ROWS(kTypeQ4_0, vec_dot_rows_q4_0_q8_0, vec_dot_q4_0_q8_0, nullptr),
    EMBER_NEON_ROWS(kTypeQ4_1, vec_dot_rows_q4_1_q8_1, vec_dot_q4_1_q8_1, vec_dot_pairs_q4_1_q8_1),
    EMBER_NEON_ROWS(kTypeQ8_0, vec_dot_rows_q8_0_q8_0, vec_dot_q8_0_q8_0, vec_dot_pairs_q8_0_q8_0),
#undef EMBER_NEON_ROWS
    // No multi-row NEON kernels for the K-quants yet: the per-row NEON dot product is looped.
    {kTypeQ4_K, {{"scalar", always, vec_dot_rows_q4_K_q8_K, vec_dot_q4_K_q8_K, vec_dot_q4_K_q8_K, Batched::kNever}, {}}, 1},
    {kTypeQ6_K, {{"scalar", always, vec_dot_rows_q6_K_q8_K, vec_dot_q6_K_q8_K, vec_dot_q6_K_q8_K, Batched::kNever}, {}}, 1},
#else
    {kTypeQ4_0, {{"scalar", always, vec_dot_rows_q4_0_q8_0, vec_dot_q4_0_q8_0, vec_dot_q4_0_q8_0, Batched::kNever}, {}}, 1},
    {kTypeQ4_1, {{"scalar", always, vec_dot_rows_q4_1_q8_1, vec_dot_q4_1_q8_1, vec_dot_q4_1_q8_1, Batched::kNever, vec_dot_pairs_q4_1_q8_1}, {}}, 1},
    {kTypeQ8_0, {{"scalar", always, vec_dot_rows_q8_0_q8_0, vec_dot_q8_0_q8_0, vec_dot_q8_0_q8_0, Batched::kNever, vec_dot_pairs_q8_0_q8_0}, {}}, 1},
    {kTypeQ4_K, {{"scalar", always, vec_dot_rows_q4_K_q8_K, vec_dot_q4_K_q8_K, vec_dot_q4_K_q8_K, Batched::kNever}, {}}, 1},
    {kTypeQ6_K, {{"scalar", always, vec_dot_rows_q6_K_q8_K, vec_dot_q6_K_q8_K, vec_dot_q6_K_q8_K, Batched::kNever}, {}}, 1},
#endif
};

const VecDotRowsCandidate* select_for(uint32_t type) {
  int n = 0;
  const VecDotRowsCandidate* c = vec_dot_rows_candidates(type, &n);
  const QuantTypeKernels* k = find_quant_kernels(type);
  for (int i = 0; i < n; ++i) {
    if (!c[i].cpu_has()) {
      if (dispatch_verbose()) std::fprintf(stderr, "ember: vec_dot_rows for type %u: %s declined (the CPU lacks it)\n", type, c[i].isa);
      continue;
    }
    if (!k || k->vec_dot != c[i].same_as) {
      if (dispatch_verbose())
        std::fprintf(stderr, "ember: vec_dot_rows for type %u: %s declined (it would not reproduce the per-row dot product in use)\n",
                     type, c[i].isa);
      continue;
    }
    if (dispatch_verbose())
      std::fprintf(stderr, "ember: vec_dot_rows for type %u: %s%s\n", type, c[i].isa, c[i].pairs ? " (with pair mode)" : "");
    return &c[i];
  }
  if (dispatch_verbose()) std::fprintf(stderr, "ember: vec_dot_rows for type %u: none (per-row dot products)\n", type);
  return nullptr;
}

}  // namespace

VecDotFn vec_dot_rows_twin(const VecDotRowsCandidate& c, int64_t r, int64_t rows, int64_t batch_rows) {
  switch (c.batched_when) {
    case Batched::kGroupsOf4: return r < rows - rows % 4 ? c.batched_as : c.same_as;
    case Batched::kBatchOf8: return (batch_rows > 0 ? batch_rows : rows) >= 8 ? c.batched_as : c.same_as;
    case Batched::kNever: break;
  }
  return c.same_as;
}

const VecDotRowsCandidate* vec_dot_rows_candidates(uint32_t type, int* n) {
  for (const TypeCandidates& t : kCandidates)
    if (t.type == type) {
      *n = t.n;
      return t.list;
    }
  *n = 0;
  return nullptr;
}

namespace {

const VecDotRowsCandidate* chosen(uint32_t type) {
  static const VecDotRowsCandidate* q4_0 = select_for(kTypeQ4_0);
  static const VecDotRowsCandidate* q4_1 = select_for(kTypeQ4_1);
  static const VecDotRowsCandidate* q8_0 = select_for(kTypeQ8_0);
  static const VecDotRowsCandidate* q4_K = select_for(kTypeQ4_K);
  static const VecDotRowsCandidate* q6_K = select_for(kTypeQ6_K);
  switch (type) {
    case kTypeQ4_0: return q4_0;
    case kTypeQ4_1: return q4_1;
    case kTypeQ8_0: return q8_0;
    case kTypeQ4_K: return q4_K;
    case kTypeQ6_K: return q6_K;
    default: return nullptr;
  }
}

}  // namespace

VecDotRowsFn find_vec_dot_rows(uint32_t type) {
  const VecDotRowsCandidate* c = chosen(type);
  return c ? c->fn : nullptr;
}

VecDotRowsFn find_vec_dot_rows_pairs(uint32_t type) {
  const VecDotRowsCandidate* c = chosen(type);
  return c ? c->pairs : nullptr;
}

VecDotRowsFn find_vec_dot_rows_packed_pairs(uint32_t type) {
  const VecDotRowsCandidate* c = chosen(type);
  return c ? c->packed_pairs : nullptr;
}

namespace {

const GemmX16Candidate kQ4_1x16[] = {
#if defined(__x86_64__)
    {"avx512", has_avx512, gemm_q4_1x16_q8_1_avx512},
    {"avx2", has_avx2, gemm_q4_1x16_q8_1_avx2},
#endif
#if defined(__aarch64__)
    {"neon-dotprod", has_dotprod, gemm_q4_1x16_q8_1_dotprod},
#endif
    {"scalar", always, gemm_q4_1x16_q8_1},
};
const GemmX16Candidate kQ8_0x16[] = {
#if defined(__x86_64__)
    {"avx512", has_avx512, gemm_q8_0x16_q8_0_avx512},
    {"avx2", has_avx2, gemm_q8_0x16_q8_0_avx2},
#endif
#if defined(__aarch64__)
    {"neon-dotprod", has_dotprod, gemm_q8_0x16_q8_0_dotprod},
#endif
    {"scalar", always, gemm_q8_0x16_q8_0},
};

// Only where the type's per-row dot product in use is the block-sum order: then plain rows (a
// weight that stays plain, a matmul run without prepare-weights) and x16 groups agree.
GemmX16Fn select_x16(uint32_t type) {
  const QuantTypeKernels* k = find_quant_kernels(type);
  int n = 0;
  const VecDotCandidate* per_row = vec_dot_candidates(type, &n);
  bool block_sums = false;
  for (int i = 0; i < n; ++i) block_sums = block_sums || (!per_row[i].llama_order && per_row[i].fn == k->vec_dot);
  if (!block_sums) {
    if (dispatch_verbose())
      std::fprintf(stderr, "ember: x16 matmul for type %u: none (the dot product in use is llama.cpp's order)\n", type);
    return nullptr;
  }
  int nc = 0;
  const GemmX16Candidate* c = gemm_x16_candidates(type, &nc);
  for (int i = 0; i < nc; ++i) {
    if (!c[i].cpu_has()) {
      if (dispatch_verbose()) std::fprintf(stderr, "ember: x16 matmul for type %u: %s declined (the CPU lacks it)\n", type, c[i].isa);
      continue;
    }
    if (dispatch_verbose()) std::fprintf(stderr, "ember: x16 matmul for type %u: %s\n", type, c[i].isa);
    return c[i].fn;
  }
  return nullptr;
}

}  // namespace

const GemmX16Candidate* gemm_x16_candidates(uint32_t type, int* n) {
  switch (type) {
    case kTypeQ4_1: *n = static_cast<int>(sizeof kQ4_1x16 / sizeof kQ4_1x16[0]); return kQ4_1x16;
    case kTypeQ8_0: *n = static_cast<int>(sizeof kQ8_0x16 / sizeof kQ8_0x16[0]); return kQ8_0x16;
    default: *n = 0; return nullptr;
  }
}

GemmX16Fn find_gemm_x16(uint32_t type) {
  static const GemmX16Fn q4_1 = select_x16(kTypeQ4_1);
  static const GemmX16Fn q8_0 = select_x16(kTypeQ8_0);
  switch (type) {
    case kTypeQ4_1: return q4_1;
    case kTypeQ8_0: return q8_0;
    default: return nullptr;
  }
}

}  // namespace ember::kernels
