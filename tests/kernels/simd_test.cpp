// Every SIMD kernel against its scalar reference, at block edges (1, 2, 3 blocks, one past a
// 4-block unroll, model widths; ragged f16/bf16 tails). The attention variants must be bit-identical
// to the scalar ones (same operations in the same order); the dot products may differ only
// by float summation order. Skips, visibly, where the CPU lacks the ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/cpu/attention/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/quant/simd.h"
#include "kernels/cpu/vecmath/vecmath.h"

namespace ember::kernels {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Random weight blocks with sane scales: random bytes, then the f16 scale fields (d, and m or
// dmin where the type has one) overwritten with small values at their offsets in the block.
// f32/f16/bf16 rows are random normal values instead.
std::vector<uint8_t> random_blocks(uint32_t type, int64_t n, uint32_t seed) {
  const QuantTypeKernels* k = find_quant_kernels(type);
  std::vector<uint8_t> out(quant_row_bytes(*k, n));
  if (type == kTypeF32) {
    const std::vector<float> v = random_floats(static_cast<size_t>(n), seed);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
  }
  if (type == kTypeF16 || type == kTypeBF16) {
    const std::vector<float> v = random_floats(static_cast<size_t>(n), seed);
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = type == kTypeF16 ? f32_to_fp16(v[i]) : f32_to_bf16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> sc(0.001f, 0.05f);
  for (uint8_t& b : out) b = static_cast<uint8_t>(byte(rng));
  // Offset of d, and of the second f16 field (-1: none) and its sign.
  size_t d_at = 0;
  int second_at = -1;
  float second_sign = 1.0f;
  switch (type) {
    case kTypeQ4_1: case kTypeQ5_1: second_at = 2; second_sign = -1.0f; break;  // m
    case kTypeQ4_K: case kTypeQ5_K: second_at = 2; break;                       // dmin
    case kTypeQ6_K: d_at = offsetof(BlockQ6_K, d); break;
    default: break;
  }
  for (int64_t blk = 0; blk < n / k->block_elems; ++blk) {
    uint8_t* p = out.data() + blk * k->block_bytes;
    const uint16_t d = f32_to_fp16(sc(rng)), m = f32_to_fp16(second_sign * sc(rng));
    std::memcpy(p + d_at, &d, 2);
    if (second_at >= 0) std::memcpy(p + second_at, &m, 2);
  }
  return out;
}

// Row lengths at block edges: 1, 2, 3 blocks, one past a 4-block unroll, and real model widths;
// for f16/bf16 also tails around the 32-element step.
std::vector<int64_t> edge_lengths(int64_t block_elems) {
  if (block_elems == 1) return {1, 7, 31, 32, 33, 64, 100, 576, 1536};
  if (block_elems == kQK_K) return {256, 512, 768, 1280, 1536, 2304};
  return {32, 64, 96, 160, 576, 1536};
}

[[maybe_unused]] bool have_avx2() { return cpu_features().x86_avx2_fma_f16c(); }

class VecDotSimd : public ::testing::TestWithParam<uint32_t> {};

TEST_P(VecDotSimd, MatchesScalarAtBlockEdges) {
  const uint32_t type = GetParam();
  int n_cand = 0;
  const VecDotCandidate* cands = vec_dot_candidates(type, &n_cand);
  ASSERT_GT(n_cand, 0);
  ASSERT_STREQ(cands[n_cand - 1].isa, "scalar") << "the scalar kernel must be the last candidate";
  const VecDotFn scalar = cands[n_cand - 1].fn;
  const QuantTypeKernels* k = find_quant_kernels(type);
  const QuantTypeKernels* a = find_quant_kernels(k->act_type);
  int tested = 0;
  for (int c = 0; c + 1 < n_cand; ++c) {
    if (!cands[c].cpu_has()) {
      std::printf("[  SKIPPED ] %s variant: this CPU lacks it\n", cands[c].isa);
      continue;
    }
    for (int64_t n : edge_lengths(k->block_elems)) {
      SCOPED_TRACE(std::string(cands[c].isa) + " n=" + std::to_string(n));
      std::vector<uint8_t> w = random_blocks(type, n, static_cast<uint32_t>(n));
      std::vector<float> x = random_floats(static_cast<size_t>(n), 7u + static_cast<uint32_t>(n));
      std::vector<uint8_t> act(quant_row_bytes(*a, n));
      a->quantize_act(x.data(), act.data(), n);
      const float ref = scalar(n, w.data(), act.data());
      const float got = cands[c].fn(n, w.data(), act.data());
      // Both sum the same exact per-block integer products with one f32 scaling each;
      // only the order of the f32 additions differs.
      std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
      k->dequantize(w.data(), wf.data(), n);
      a->dequantize(act.data(), af.data(), n);
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(wf[i]) * af[i]);
      EXPECT_NEAR(got, ref, 1e-5 * mag + 1e-6);
    }
    ++tested;
  }
  if (n_cand == 1) GTEST_SKIP() << "type " << type << " has no SIMD variant on this architecture";
  if (tested == 0) GTEST_SKIP() << "no SIMD variant of type " << type << " runs on this CPU";
}

INSTANTIATE_TEST_SUITE_P(Types, VecDotSimd, ::testing::Values(kTypeQ4_0, kTypeQ4_1, kTypeQ8_0, kTypeQ5_0, kTypeQ5_1,
                                                          kTypeQ4_K, kTypeQ5_K, kTypeQ6_K, kTypeF16, kTypeBF16, kTypeF32));

// The four-row f16/bf16 dot products (decode GEMVs) against their per-row twins, bit for bit,
// at lengths from one 8-element step to the model's 1536.
TEST(VecDot4, BitIdenticalToPerRow) {
  int tested = 0;
  for (uint32_t type : {kTypeF16, kTypeBF16}) {
    int n_cand = 0;
    const VecDotCandidate* c = vec_dot_candidates(type, &n_cand);
    for (int i = 0; i < n_cand; ++i) {
      const VecDot4Fn four = vec_dot4_for(c[i].fn);
      if (!four) continue;
      if (!c[i].cpu_has()) {
        std::printf("[  SKIPPED ] %s four-row dot for type %u: this CPU lacks it\n", c[i].isa, type);
        continue;
      }
      for (int64_t n : {8, 16, 64, 576, 1536}) {
        SCOPED_TRACE(std::string(c[i].isa) + " type " + std::to_string(type) + " n=" + std::to_string(n));
        std::vector<uint16_t> w(static_cast<size_t>(4 * n)), a(static_cast<size_t>(n));
        const std::vector<float> wf = random_floats(w.size(), static_cast<uint32_t>(n) + 3, 2.0f);
        const std::vector<float> af = random_floats(a.size(), static_cast<uint32_t>(n) + 4, 2.0f);
        for (size_t j = 0; j < w.size(); ++j) w[j] = type == kTypeF16 ? f32_to_fp16(wf[j]) : f32_to_bf16(wf[j]);
        for (size_t j = 0; j < a.size(); ++j) a[j] = type == kTypeF16 ? f32_to_fp16(af[j]) : f32_to_bf16(af[j]);
        const void* rows[4] = {w.data(), w.data() + n, w.data() + 2 * n, w.data() + 3 * n};
        float got[4];
        four(n, rows, a.data(), got);
        for (int r = 0; r < 4; ++r) {
          const float want = c[i].fn(n, rows[r], a.data());
          ASSERT_EQ(std::memcmp(&want, &got[r], sizeof want), 0) << "row " << r << ": " << got[r] << " vs " << want;
        }
      }
      ++tested;
    }
  }
  if (tested == 0) GTEST_SKIP() << "no four-row dot product on this CPU";
}

// The AVX-512 VNNI dot products compute the AVX2 ones' integers with vpdpbusd and then the same
// float operations: bit-identical (memcmp), at every edge length, including weights with -128
// bytes (random bytes hit it), which only vpmaddubsw could saturate on (it cannot, see
// kernels/cpu/x86/avx2_common.h).
TEST(VecDotAvx512, BitIdenticalToAvx2) {
  int tested = 0;
  for (uint32_t type : {kTypeQ4_0, kTypeQ4_1, kTypeQ8_0, kTypeQ4_K, kTypeQ5_K, kTypeQ6_K}) {
    int n_cand = 0;
    const VecDotCandidate* c = vec_dot_candidates(type, &n_cand);
    for (int i = 0; i < n_cand; ++i) {
      const std::string isa = c[i].isa;
      if (isa.rfind("avx512", 0) != 0) continue;
      if (!c[i].cpu_has()) {
        std::printf("[  SKIPPED ] %s for type %u: this CPU lacks AVX-512 F/BW/VL/VNNI\n", isa.c_str(), type);
        continue;
      }
      const std::string twin_isa = "avx2" + isa.substr(6);
      VecDotFn twin = nullptr;
      for (int j = 0; j < n_cand; ++j)
        if (twin_isa == c[j].isa) twin = c[j].fn;
      ASSERT_NE(twin, nullptr) << isa << " has no " << twin_isa << " twin";
      const QuantTypeKernels* k = find_quant_kernels(type);
      const QuantTypeKernels* a = find_quant_kernels(k->act_type);
      for (int64_t n : edge_lengths(k->block_elems)) {
        for (uint32_t seed : {1u, 2u, 3u}) {
          SCOPED_TRACE(isa + " type " + std::to_string(type) + " n=" + std::to_string(n));
          std::vector<uint8_t> w = random_blocks(type, n, seed * 1000 + static_cast<uint32_t>(n));
          const std::vector<float> x = random_floats(static_cast<size_t>(n), seed + static_cast<uint32_t>(n), 3.0f);
          std::vector<uint8_t> act(quant_row_bytes(*a, n));
          a->quantize_act(x.data(), act.data(), n);
          const float want = twin(n, w.data(), act.data()), got = c[i].fn(n, w.data(), act.data());
          ASSERT_EQ(std::memcmp(&want, &got, sizeof want), 0) << got << " vs " << want;
        }
      }
      ++tested;
    }
  }
#if defined(__x86_64__)
  if (tested == 0) GTEST_SKIP() << "this CPU lacks AVX-512 F/BW/VL/VNNI";
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

// q4_K in llama.cpp's repacked arithmetic (single rows: GEMV order; rows of a batch: GEMM
// order): the AVX2 kernels bit-identical to their scalar twins, and both close to the plain
// scalar dot product (they differ from it only in the order of the f32 additions).
TEST(Q4KRepackedSimd, MatchesScalarTwinsBitForBit) {
  const QuantTypeKernels* k = find_quant_kernels(kTypeQ4_K);
  const QuantTypeKernels* a = find_quant_kernels(kTypeQ8_K);
  const VecDotFn twins[2][2] = {
#if defined(__x86_64__)
      {vec_dot_q4_K_q8_K_x8, vec_dot_q4_K_q8_K_x8_avx2},
      {vec_dot_q4_K_q8_K_x8_gemm, vec_dot_q4_K_q8_K_x8_gemm_avx2},
#else
      {vec_dot_q4_K_q8_K_x8, nullptr},
      {vec_dot_q4_K_q8_K_x8_gemm, nullptr},
#endif
  };
  const bool simd = twins[0][1] != nullptr && have_avx2();
  for (int64_t n : edge_lengths(kQK_K)) {
    for (uint32_t seed = 0; seed < 8; ++seed) {
      SCOPED_TRACE("n=" + std::to_string(n) + " seed=" + std::to_string(seed));
      std::vector<uint8_t> w = random_blocks(kTypeQ4_K, n, 1000u * seed + static_cast<uint32_t>(n));
      std::vector<float> x = random_floats(static_cast<size_t>(n), 31u * seed + static_cast<uint32_t>(n));
      std::vector<uint8_t> act(quant_row_bytes(*a, n));
      a->quantize_act(x.data(), act.data(), n);
      const float plain = vec_dot_q4_K_q8_K(n, w.data(), act.data());
      std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
      k->dequantize(w.data(), wf.data(), n);
      a->dequantize(act.data(), af.data(), n);
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(wf[i]) * af[i]);
      for (const auto& t : twins) {
        const float ref = t[0](n, w.data(), act.data());
        EXPECT_NEAR(ref, plain, 1e-5 * mag + 1e-6);
        if (!simd) continue;
        const float got = t[1](n, w.data(), act.data());
        ASSERT_EQ(std::memcmp(&ref, &got, 4), 0) << got << " vs scalar twin " << ref;
#if defined(__x86_64__)
        if (cpu_features().x86_avx512_vnni()) {  // the VNNI builds of the same kernels
          const VecDotFn wide = t[1] == vec_dot_q4_K_q8_K_x8_avx2 ? vec_dot_q4_K_q8_K_x8_avx512 : vec_dot_q4_K_q8_K_x8_gemm_avx512;
          const float got512 = wide(n, w.data(), act.data());
          ASSERT_EQ(std::memcmp(&ref, &got512, 4), 0) << "avx512: " << got512 << " vs scalar twin " << ref;
        }
#endif
      }
    }
  }
  if (!simd) GTEST_SKIP() << "scalar twins checked; no AVX2 on this CPU or architecture";
}

// q6_K in the order of llama.cpp's tiled matmul (batches of 8 rows or more): the AVX2 kernel
// bit-identical to its scalar twin, both close to the plain scalar dot product.
TEST(Q6KTiledSimd, MatchesScalarTwinBitForBit) {
  const QuantTypeKernels* k = find_quant_kernels(kTypeQ6_K);
  const QuantTypeKernels* a = find_quant_kernels(kTypeQ8_K);
#if defined(__x86_64__)
  const VecDotFn simd_fn = have_avx2() ? vec_dot_q6_K_q8_K_tiled_avx2 : nullptr;
#else
  const VecDotFn simd_fn = nullptr;
#endif
  for (int64_t n : edge_lengths(kQK_K)) {
    for (uint32_t seed = 0; seed < 8; ++seed) {
      SCOPED_TRACE("n=" + std::to_string(n) + " seed=" + std::to_string(seed));
      std::vector<uint8_t> w = random_blocks(kTypeQ6_K, n, 2000u * seed + static_cast<uint32_t>(n));
      std::vector<float> x = random_floats(static_cast<size_t>(n), 37u * seed + static_cast<uint32_t>(n));
      std::vector<uint8_t> act(quant_row_bytes(*a, n));
      a->quantize_act(x.data(), act.data(), n);
      std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
      k->dequantize(w.data(), wf.data(), n);
      a->dequantize(act.data(), af.data(), n);
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(wf[i]) * af[i]);
      const float ref = vec_dot_q6_K_q8_K_tiled(n, w.data(), act.data());
      EXPECT_NEAR(ref, vec_dot_q6_K_q8_K(n, w.data(), act.data()), 1e-5 * mag + 1e-6);
      if (!simd_fn) continue;
      const float got = simd_fn(n, w.data(), act.data());
      ASSERT_EQ(std::memcmp(&ref, &got, 4), 0) << got << " vs scalar twin " << ref;
#if defined(__x86_64__)
      if (cpu_features().x86_avx512_vnni()) {
        const float got512 = vec_dot_q6_K_q8_K_tiled_avx512(n, w.data(), act.data());
        ASSERT_EQ(std::memcmp(&ref, &got512, 4), 0) << "avx512: " << got512 << " vs scalar twin " << ref;
      }
#endif
    }
  }
  if (!simd_fn) GTEST_SKIP() << "scalar twin checked; no AVX2 on this CPU or architecture";
}

// The SIMD activation quantisers (AVX2 on x86, NEON on aarch64) against the scalar ones, byte
// for byte, on random rows, rows with exact ties at .5 steps (rounding to even), all-zero
// blocks and huge values.
using QuantizeFn = void (*)(const float*, void*, int64_t);

void expect_quantisers_byte_identical(QuantizeFn q8_0, QuantizeFn q8_1) {
  const int64_t n = 32 * 40;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::vector<float> x = random_floats(static_cast<size_t>(n), seed, seed % 2 ? 1.0f : 3e4f);
    if (seed == 3) std::fill(x.begin(), x.begin() + 64, 0.0f);                       // amax = 0
    if (seed == 4) for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 255 - 127) * 0.5f;  // ties
    for (auto [scalar, simd, bytes] : {std::tuple{QuantizeFn{&quantize_row_q8_0}, q8_0, sizeof(BlockQ8_0)},
                                       std::tuple{QuantizeFn{&quantize_row_q8_1}, q8_1, sizeof(BlockQ8_1)}}) {
      std::vector<uint8_t> a(static_cast<size_t>(n / 32) * bytes, 1), b(a.size(), 2);
      scalar(x.data(), a.data(), n);
      simd(x.data(), b.data(), n);
      ASSERT_EQ(a, b) << "seed " << seed << ", block bytes " << bytes;
    }
  }
}

TEST(QuantizeSimd, Q8IsByteIdenticalToScalar) {
#if defined(__x86_64__)
  if (!have_avx2()) GTEST_SKIP() << "this CPU lacks AVX2/FMA/F16C";
  expect_quantisers_byte_identical(quantize_row_q8_0_avx2, quantize_row_q8_1_avx2);
#elif defined(__aarch64__)
  ASSERT_TRUE(cpu_features().neon);
  expect_quantisers_byte_identical(quantize_row_q8_0_neon, quantize_row_q8_1_neon);
#else
  GTEST_SKIP() << "no SIMD quantiser on this architecture";
#endif
}

// The attention variant the SIMD tests compare with the scalar one: AVX2 on x86 (nullptr when the
// CPU lacks it), NEON on aarch64.
[[maybe_unused]] const AttentionKernels* simd_attention() {
#if defined(__x86_64__)
  return have_avx2() ? &attention_kernels_avx2() : nullptr;
#elif defined(__aarch64__)
  return cpu_features().neon ? &attention_kernels_neon() : nullptr;
#else
  return nullptr;
#endif
}

// Every SIMD variant this CPU runs (AVX2, and AVX-512 where present; NEON).
[[maybe_unused]] std::vector<const AttentionKernels*> simd_attentions() {
  std::vector<const AttentionKernels*> v;
  if (const AttentionKernels* k = simd_attention()) v.push_back(k);
#if defined(__x86_64__)
  if (cpu_features().x86_avx512_vnni()) v.push_back(&attention_kernels_avx512());
#endif
  return v;
}

TEST(AttentionSimd, PrimitivesAreBitIdenticalToScalar) {
#if defined(__x86_64__) || defined(__aarch64__)
  const AttentionKernels* simd = simd_attention();
  if (!simd) GTEST_SKIP() << "this CPU lacks AVX2/FMA/F16C";
  const AttentionKernels& s = attention_kernels_scalar();
  const AttentionKernels& v = *simd;
  for (int accs : {1, 4}) {  // tinyBLAS's one accumulator (batches), ggml dot's four (decode)
    for (int64_t D : {8, 24, 32, 64, 128}) {
      SCOPED_TRACE("accs=" + std::to_string(accs) + " D=" + std::to_string(D));
      std::vector<float> q = random_floats(static_cast<size_t>(D), 1);
      for (float& x : q) x = fp16_to_f32(f32_to_fp16(x));
      const int64_t positions = 77;  // not a multiple of 8 or 32: exercises every lane row
      std::vector<uint16_t> kv(static_cast<size_t>(positions * D));
      std::vector<float> src = random_floats(kv.size(), 2);
      for (size_t i = 0; i < kv.size(); ++i) kv[i] = f32_to_fp16(src[i]);
      std::vector<float> ls(static_cast<size_t>(kAttnLanes * D), 0.0f), lv = ls;
      std::vector<float> p = random_floats(static_cast<size_t>(positions), 3, 0.1f);
      for (int64_t j = 0; j < positions; ++j) {
        const uint16_t* row = kv.data() + j * D;
        const float a = s.qk_dot(q.data(), row, D, accs), b = v.qk_dot(q.data(), row, D, accs);
        ASSERT_EQ(std::memcmp(&a, &b, 4), 0) << "qk_dot at position " << j << ": " << a << " vs " << b;
        s.pv_accumulate(ls.data(), j, p[j], row, D, accs);
        v.pv_accumulate(lv.data(), j, p[j], row, D, accs);
      }
      std::vector<float> os(static_cast<size_t>(D)), ov(static_cast<size_t>(D));
      s.pv_reduce(ls.data(), os.data(), D, accs);
      v.pv_reduce(lv.data(), ov.data(), D, accs);
      EXPECT_EQ(std::memcmp(os.data(), ov.data(), os.size() * 4), 0);
    }
  }
#else
  GTEST_SKIP() << "no SIMD variant on this architecture";
#endif
}


// A whole attention tile (several queries over paged K/V rows, f16 and q8_0 caches, both
// summation styles, one kv head or two side by side) against the scalar per-query oracle, bit
// for bit: the SIMD tiles read K/V rows once per chunk for every query and reorder loops, but
// every query's operations must stay the same. Each SIMD variant the CPU runs is checked.
TEST(AttentionSimd, TileIsBitIdenticalToScalar) {
#if defined(__x86_64__) || defined(__aarch64__)
  const std::vector<const AttentionKernels*> variants = simd_attentions();
  if (variants.empty()) GTEST_SKIP() << "this CPU lacks AVX2/FMA/F16C";
  const AttentionKernels& s = attention_kernels_scalar();
  const int64_t block = 16, n_blocks = 20, hkv = 3;
  for (const AttentionKernels* vk : variants)
  for (int heads : {1, 2})
  for (bool groups : {false, true})  // queries sharing a kv head and a last position run together
  for (KvElem elem : {KvElem::kF16, KvElem::kQ8_0}) {
    const AttentionKernels& v = *vk;
    for (int accs : {1, 4}) {
      for (int64_t D : {8, 24, 32, 64, 128}) {
        if (elem == KvElem::kQ8_0 && D % 32 != 0) continue;
        for (int nq : {1, 3, 15}) {
          SCOPED_TRACE(std::string(v.isa) + " heads=" + std::to_string(heads) + " groups=" + std::to_string(groups) + " elem=" +
                       std::to_string(static_cast<int>(elem)) + " accs=" + std::to_string(accs) +
                       " D=" + std::to_string(D) + " nq=" + std::to_string(nq));
          const size_t row_bytes = elem == KvElem::kF16 ? D * 2 : (D / 32) * sizeof(BlockQ8_0);
          std::vector<uint8_t> kpool(n_blocks * block * hkv * row_bytes), vpool(kpool.size());
          std::vector<float> src = random_floats(static_cast<size_t>(D), 7);
          for (size_t off = 0; off < kpool.size(); off += row_bytes) {
            for (std::vector<uint8_t>* pool : {&kpool, &vpool}) {
              src = random_floats(static_cast<size_t>(D), static_cast<uint32_t>(off + pool->size() % 97 + (pool == &vpool)));
              if (elem == KvElem::kF16) {
                for (int64_t d = 0; d < D; ++d) {
                  const uint16_t h = f32_to_fp16(src[d]);
                  std::memcpy(pool->data() + off + 2 * d, &h, 2);
                }
              } else {
                quantize_row_q8_0_ref(src.data(), pool->data() + off, D);
              }
            }
          }
          // A shuffled block table, so rows come from scattered blocks.
          std::vector<int32_t> blocks(n_blocks);
          for (int32_t b = 0; b < n_blocks; ++b) blocks[b] = (b * 7 + 3) % n_blocks;
          std::vector<float> q = random_floats(static_cast<size_t>(nq * D), 11, 2.0f);
          for (float& x : q) x = fp16_to_f32(f32_to_fp16(x));
          std::vector<int32_t> last(nq);
          for (int i = 0; i < nq; ++i) {
            const int u = groups ? i / 3 : i;  // groups: runs of 3 (then 2, by kv head) share it
            last[i] = (u * 37 + 13) % (n_blocks * block - 1) + (u == 0 ? 0 : 1);
          }
          const int64_t stride = n_blocks * block;
          std::vector<float> out_s(nq * D), out_v(nq * D);
          std::vector<float*> ps(nq), pv(nq);
          for (int i = 0; i < nq; ++i) ps[i] = out_s.data() + i * D, pv[i] = out_v.data() + i * D;
          std::vector<float> scratch(attention_tile_scratch_floats(nq, stride, D, heads) + 64);
          std::vector<int32_t> qhead(nq);
          for (int i = 0; i < nq; ++i) qhead[i] = groups ? (i / 2) % heads : i % heads;
          AttnTile t;
          t.D = D;
          t.nq = nq;
          t.accs = accs;
          t.q = q.data();
          t.last = last.data();
          t.scale = 0.125f;
          t.elem = elem;
          t.score_stride = stride;
          t.scratch = scratch.data();
          for (KvRows* r : {&t.k, &t.v}) {
            r->blocks = blocks.data();
            r->block = block;
            r->slot_stride = hkv * row_bytes;
            r->block_stride = block * r->slot_stride;
          }
          t.k.base = kpool.data() + row_bytes;  // kv head 1 (and 2)
          t.v.base = vpool.data() + row_bytes;
          t.heads = heads;
          t.head = heads > 1 ? qhead.data() : nullptr;
          t.out = ps.data();
          s.tile(t);
          if (heads > 1) {  // the oracle itself: each query alone, on its own kv head's rows
            for (int i = 0; i < nq; ++i) {
              AttnTile one = t;
              one.nq = 1;
              one.q = q.data() + i * D;
              one.last = last.data() + i;
              one.heads = 1;
              one.head = nullptr;
              one.k.base = kpool.data() + (1 + qhead[i]) * row_bytes;
              one.v.base = vpool.data() + (1 + qhead[i]) * row_bytes;
              std::vector<float> o(D);
              float* op = o.data();
              one.out = &op;
              s.tile(one);
              ASSERT_EQ(std::memcmp(o.data(), ps[i], D * 4), 0) << "scalar, query " << i << " alone";
            }
          }
          t.out = pv.data();
          v.tile(t);
          for (int i = 0; i < nq; ++i)
            ASSERT_EQ(std::memcmp(ps[i], pv[i], D * 4), 0) << "query " << i << " (last " << last[i] << ")";
          // Flash-decoding: the same tile by 3 simulated threads, phase by phase, with each
          // ISA's split kernels, must give the oracle's bits too.
          for (const AttentionKernels* kk : {&s, &v}) {
            int32_t pmax = 0;
            for (int32_t x : last) pmax = std::max(pmax, x);
            std::vector<float> shared(attention_shared_floats(nq, stride, D));
            AttnShared sh;
            sh.scores = shared.data();
            sh.csum = sh.scores + nq * stride;
            sh.csum_stride = stride / 8 + 1;
            sh.lanes = sh.csum + nq * sh.csum_stride;
            const int nth = 3;
            const int64_t chunks = pmax / kAttnChunk + 1;
            std::vector<float> maxes(nth * nq, -INFINITY), mx(nq, -INFINITY);
            auto range = [](int64_t total, int ith, int n, int64_t* b, int64_t* e) {
              *b = total * ith / n;
              *e = total * (ith + 1) / n;
            };
            for (int ith = 0; ith < nth; ++ith) {
              int64_t cb, ce;
              range(chunks, ith, nth, &cb, &ce);
              const int64_t j0 = cb * kAttnChunk, j1 = std::min<int64_t>(ce * kAttnChunk, pmax + 1);
              if (j0 < j1) kk->split_scores(t, sh, j0, j1, maxes.data() + ith * nq);
            }
            for (int i = 0; i < nq; ++i)
              for (int ith = 0; ith < nth; ++ith) mx[i] = std::max(mx[i], maxes[ith * nq + i]);
            for (int ith = 0; ith < nth; ++ith) {
              int64_t cb, ce;
              range(chunks, ith, nth, &cb, &ce);
              const int64_t j0 = cb * kAttnChunk, j1 = std::min<int64_t>(ce * kAttnChunk, pmax + 1);
              if (j0 < j1) kk->split_exp(t, sh, j0, j1, mx.data());
            }
            for (int ith = 0; ith < nth; ++ith) {
              int64_t rb, re;
              range(8 * accs, ith, nth, &rb, &re);
              kk->split_pv(t, sh, static_cast<int>(rb), static_cast<int>(re));
            }
            std::vector<float> out_f(nq * D);
            for (int i = 0; i < nq; ++i) {
              kk->pv_reduce(sh.lanes + static_cast<size_t>(i) * 8 * accs * D, out_f.data() + i * D, D, accs);
              ASSERT_EQ(std::memcmp(ps[i], out_f.data() + i * D, D * 4), 0)
                  << kk->isa << " split: query " << i << " (last " << last[i] << ")";
            }
          }
          // And the oracle is a real attention: out is a convex combination of V rows, so
          // every element lies within V's range (a loose check that the tile is not trivial).
          float vmax = 0;
          for (float x : out_s) vmax = std::max(vmax, std::fabs(x));
          EXPECT_GT(vmax, 0.0f);
        }
      }
    }
  }
#else
  GTEST_SKIP() << "no SIMD variant on this architecture";
#endif
}

// The 8-lane exp of kernels/cpu/vecmath: accurate against libm (relative error below 2^-22,
// i.e. a couple of ulps; flushes to 0 / inf where expf does), and its AVX2 / NEON variant bit-identical to the
// scalar emulation over normal, scaled (|n| > 126) and out-of-range (|n| > 192) inputs.
// round_f16 of every variant against the scalar f16 round trip (kernels/cpu/fp16.h), bit for
// bit: ties to even, the smallest normal and subnormal halves, overflow to inf, signed zeros,
// infinities, and a random spread; lengths with tails of every size.
TEST(VecMath, RoundF16IsBitIdenticalToScalar) {
  std::vector<float> xs = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.0f, 65520.0f, -65520.0f, 1e10f, INFINITY,
                           -INFINITY, 0x1p-14f, 0x1p-15f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1p-26f, 1.0f + 0x1p-11f,
                           1.0f + 0x3p-11f, 2049.0f, 2051.0f, -3.0001f};
  for (float x : random_floats(997, 11, 70000.0f)) xs.push_back(x);
  for (float x : random_floats(500, 12, 1e-4f)) xs.push_back(x);
  const VecMathKernels& s = vecmath_kernels_scalar();
  std::vector<const VecMathKernels*> variants;
#if defined(__x86_64__)
  if (have_avx2()) variants.push_back(&vecmath_kernels_avx2());
  if (cpu_features().x86_avx512_vnni()) variants.push_back(&vecmath_kernels_avx512());
#elif defined(__aarch64__)
  variants.push_back(&vecmath_kernels_neon());
#endif
  if (variants.empty()) GTEST_SKIP() << "no SIMD vecmath variant on this CPU";
  for (const VecMathKernels* v : variants) {
    for (size_t n : {xs.size(), xs.size() - 1, xs.size() - 7, size_t{15}, size_t{3}}) {
      SCOPED_TRACE(std::string(v->isa) + " n=" + std::to_string(n));
      std::vector<float> want(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(n)), got = want;
      s.round_f16(want.data(), static_cast<int64_t>(n));
      v->round_f16(got.data(), static_cast<int64_t>(n));
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(std::memcmp(&want[i], &got[i], 4), 0) << xs[i] << ": " << got[i] << " vs " << want[i];
    }
  }
}

TEST(VecMath, Exp8IsAccurateAndSimdIsBitIdentical) {
  std::vector<float> xs;
  for (float x = -110.0f; x <= 90.0f; x += 0.0137f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.7f, 89.0f, -103.9f, -104.5f, -150.0f, 150.0f, -300.0f, 300.0f,
                  INFINITY, -INFINITY})
    xs.push_back(x);
  for (float x : xs) {
    const float got = exp8_lane(x), want = std::exp(x);
    if (std::isinf(want) || want == 0.0f || want < 1e-37f) {
      EXPECT_TRUE(got == want || (want < 1e-37f && got < 1e-37f)) << "exp(" << x << "): " << got << " vs " << want;
    } else {
      EXPECT_LE(std::fabs(got - want) / want, 0x1p-22f) << "exp(" << x << "): " << got << " vs " << want;
    }
  }
#if defined(__x86_64__) || defined(__aarch64__)
  while (xs.size() % 8) xs.push_back(0.5f);
  const VecMathKernels& s = vecmath_kernels_scalar();
  std::vector<float> g = random_floats(203, 5, 12.0f), u = random_floats(203, 6);  // 203: a 3-element tail
  std::vector<const VecMathKernels*> variants;
#if defined(__x86_64__)
  if (!have_avx2()) GTEST_SKIP() << "this CPU lacks AVX2/FMA/F16C";
  variants.push_back(&vecmath_kernels_avx2());
  if (cpu_features().x86_avx512_vnni()) variants.push_back(&vecmath_kernels_avx512());
#else
  ASSERT_TRUE(cpu_features().neon);
  variants.push_back(&vecmath_kernels_neon());
#endif
  auto same = [](float x, float y) { return std::memcmp(&x, &y, 4) == 0 || (std::isnan(x) && std::isnan(y)); };
  for (const VecMathKernels* vp : variants) {
    const VecMathKernels& v = *vp;
    SCOPED_TRACE(v.isa);
    for (size_t i = 0; i < xs.size(); i += 8) {
      float a[8], b[8];
      std::copy_n(xs.data() + i, 8, a);
      std::copy_n(xs.data() + i, 8, b);
      const float sa = s.exp8_sum(a, 0.25f), sb = v.exp8_sum(b, 0.25f);
      ASSERT_EQ(std::memcmp(a, b, sizeof a), 0) << "exp8 of the block at " << xs[i];
      ASSERT_TRUE(same(sa, sb)) << sa << " vs " << sb;
    }
    // The many-group form: every group as exp8_sum alone, an odd count so a last group is alone.
    for (int64_t groups : {int64_t{1}, static_cast<int64_t>(xs.size() / 8), static_cast<int64_t>(xs.size() / 8 - 1)}) {
      std::vector<float> a(xs.begin(), xs.begin() + 8 * groups), b = a, sums(static_cast<size_t>(groups));
      for (int64_t k = 0; k < groups; ++k) {
        const float sk = s.exp8_sum(a.data() + 8 * k, 0.25f);
        sums[static_cast<size_t>(k)] = sk;
      }
      std::vector<float> sv(static_cast<size_t>(groups));
      v.exp8_sums(b.data(), groups, 0.25f, sv.data());
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << groups << " groups";
      for (int64_t k = 0; k < groups; ++k)
        ASSERT_TRUE(same(sums[static_cast<size_t>(k)], sv[static_cast<size_t>(k)])) << "group " << k << " of " << groups;
    }
    std::vector<float> ys(g.size()), yv(g.size());
    s.silu_mul(static_cast<int64_t>(g.size()), ys.data(), g.data(), u.data());
    v.silu_mul(static_cast<int64_t>(g.size()), yv.data(), g.data(), u.data());
    EXPECT_EQ(std::memcmp(ys.data(), yv.data(), ys.size() * 4), 0);
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(ys[i], g[i] / (1.0f + std::exp(-g[i])) * u[i], 1e-5f * (1.0f + std::fabs(ys[i]))) << i;
  }
#else
  GTEST_SKIP() << "accuracy checked; no SIMD variant on this architecture";
#endif
}

}  // namespace
}  // namespace ember::kernels

namespace ember::kernels {
namespace {

// f16/bf16 in llama.cpp's sgemm order (n % 8 == 0): the AVX2 dot bit-identical to a scalar
// emulation of its 8 lanes (one fused multiply-add per element into lane i % 8, then
// ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7))); other n take the _x4 order.
TEST(VecDotSgemmOrder, F16AndBf16MatchLaneEmulation) {
#if defined(__x86_64__)
  if (!have_avx2()) GTEST_SKIP() << "this CPU lacks AVX2+FMA+F16C";
  for (uint32_t type : {kTypeF16, kTypeBF16}) {
    const VecDotFn avx2 = type == kTypeF16 ? vec_dot_f16_f16_avx2 : vec_dot_bf16_bf16_avx2;
    const VecDotFn x4 = type == kTypeF16 ? vec_dot_f16_f16_x4_avx2 : vec_dot_bf16_bf16_x4_avx2;
    for (int64_t n : {8, 16, 24, 64, 576, 1536, 7, 33, 100}) {
      const std::vector<uint8_t> w = random_blocks(type, n, 3u + static_cast<uint32_t>(n));
      const std::vector<uint8_t> a = random_blocks(type, n, 5u + static_cast<uint32_t>(n));
      const float got = avx2(n, w.data(), a.data());
      if (n % 8 != 0) {
        const float want = x4(n, w.data(), a.data());
        EXPECT_EQ(std::memcmp(&got, &want, 4), 0) << "n=" << n;
        continue;
      }
      std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
      find_quant_kernels(type)->dequantize(w.data(), wf.data(), n);
      find_quant_kernels(type)->dequantize(a.data(), af.data(), n);
      float l[8] = {};
      for (int64_t i = 0; i < n; ++i) l[i % 8] = std::fma(wf[static_cast<size_t>(i)], af[static_cast<size_t>(i)], l[i % 8]);
      const float want = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
      EXPECT_EQ(std::memcmp(&got, &want, 4), 0) << "type " << type << " n=" << n << ": " << got << " vs " << want;
    }
  }
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

}  // namespace
}  // namespace ember::kernels
