// The f32 dot product and GEMM (kernels/cpu/gemm/gemm_f32.h) against their scalar twins: the
// AVX2 per-row dot must equal vec_dot_f32_f32_lanes bit for bit (memcmp) at every K around the
// 8- and 32-element steps and the model's 576 and 1536; every GEMM candidate this CPU runs
// (AVX-512, AVX2, scalar) must equal its per-row dot product (and the SIMD ones the scalar twin
// too) for every output, at M = 0..13, 15..17 and 19 (tiles of 4 and groups of 8 plus every
// remainder, odd rows leaving a zmm half unused; the decode tiles at M < 4), ragged N (tiles of
// 3, 4 and 6 plus remainders, and a block boundary), K below, in one and in several chunks, at
// and above the step, ragged K (the fallback), with strided weight, activation and output rows
// and the padding left untouched.
// Skips, visibly, where the CPU lacks the ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm/gemm_f32.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::kernels {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

const int64_t kDotLengths[] = {1, 7, 8, 9, 15, 16, 24, 31, 32, 33, 40, 63, 64, 65, 95, 96, 100, 576, 1536, 1541};

TEST(VecDotF32, Avx2BitIdenticalToScalarTwin) {
#if defined(__x86_64__)
  int n_cand = 0;
  const VecDotCandidate* c = vec_dot_candidates(kTypeF32, &n_cand);
  ASSERT_EQ(n_cand, 2);
  ASSERT_STREQ(c[0].isa, "avx2");
  if (!c[0].cpu_has()) GTEST_SKIP() << "this CPU lacks AVX2+FMA+F16C";
  for (int64_t n : kDotLengths) {
    const std::vector<float> w = random_floats(n, 1 + static_cast<uint32_t>(n)), a = random_floats(n, 99 + static_cast<uint32_t>(n));
    const float got = vec_dot_f32_f32_avx2(n, w.data(), a.data());
    const float twin = vec_dot_f32_f32_lanes(n, w.data(), a.data());
    EXPECT_TRUE(same_bits(got, twin)) << "n=" << n << ": " << got << " vs " << twin;
    const float x4 = vec_dot_f32_f32_x4_avx2(n, w.data(), a.data());
    EXPECT_TRUE(same_bits(x4, vec_dot_f32_f32_x4_lanes(n, w.data(), a.data()))) << "x4, n=" << n;
    if (n % 8 != 0) {
      EXPECT_TRUE(same_bits(got, x4)) << "n=" << n;
    }
    double ref = 0;
    for (int64_t i = 0; i < n; ++i) ref += static_cast<double>(w[i]) * a[i];
    EXPECT_NEAR(got, ref, 1e-4 * (1 + std::sqrt(static_cast<double>(n)))) << "n=" << n;
  }
#else
  GTEST_SKIP() << "x86-64 only";
#endif
}

TEST(VecDotF32, ScalarTwinOrder) {
  // A case where the order shows: lanes 0 and 4 cancel first only in the 8-lane reduction.
  std::vector<float> w(8, 1.0f), a = {1e8f, 1.0f, 0.0f, 0.0f, -1e8f, 0.0f, 0.0f, 0.0f};
  EXPECT_EQ(vec_dot_f32_f32_lanes(8, w.data(), a.data()), 1.0f);   // (1e8 + -1e8) + 1
  EXPECT_EQ(vec_dot_f32_f32(8, w.data(), a.data()), 0.0f);         // ((1e8 + 1) - 1e8) left to right
}

// The per-row dot product a candidate reproduces for weights llama.cpp's sgemm declines.
VecDotFn x4_dot(const GemmF32Candidate& c) {
#if defined(__x86_64__)
  if (std::strcmp(c.isa, "avx2") == 0 || std::strcmp(c.isa, "avx512") == 0) return vec_dot_f32_f32_x4_avx2;
#endif
  return c.same_as;
}

// Runs one candidate over a (k, n, m) problem with padded rows and checks every output.
void check_gemm(const GemmF32Candidate& c, GemmF32Fn twin, int64_t k, int64_t n, int64_t m, bool sgemm_order = true) {
  const int64_t ws = k + 3, as = k + 5, ys = n + 2;
  const std::vector<float> w = random_floats(static_cast<size_t>(n * ws + 1), static_cast<uint32_t>(7 * k + n));
  const std::vector<float> a = random_floats(static_cast<size_t>(m * as + 1), static_cast<uint32_t>(11 * k + m));
  const float kPad = -1234.5f;
  std::vector<float> y(static_cast<size_t>(m * ys + 1), kPad), yt(y.size(), kPad);
  GemmF32Args p;
  p.k = k;
  p.w = w.data();
  p.w_stride = ws;
  p.n = n;
  p.a = a.data();
  p.a_stride = as;
  p.m = m;
  p.y = y.data();
  p.y_stride = ys;
  p.sgemm_order = sgemm_order;
  c.fn(p);
  p.y = yt.data();
  twin(p);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ys; ++j) {
      const float got = y[static_cast<size_t>(i * ys + j)];
      if (j >= n) {
        ASSERT_EQ(got, kPad) << c.isa << " wrote padding at row " << i << " col " << j;
        continue;
      }
      const VecDotFn dot = sgemm_order || std::strcmp(c.isa, "scalar") == 0 ? c.same_as : x4_dot(c);
      const float per_row = dot(k, w.data() + j * ws, a.data() + i * as);
      ASSERT_TRUE(same_bits(got, per_row)) << c.isa << " k=" << k << " n=" << n << " m=" << m << " at (" << i << "," << j
                                           << "): " << got << " vs per-row " << per_row;
      ASSERT_TRUE(same_bits(got, yt[static_cast<size_t>(i * ys + j)])) << c.isa << " vs its scalar twin at (" << i << "," << j << ")";
    }
  }
}

TEST(GemmF32, BitIdenticalToPerRowAndTwin) {
  int n_cand = 0;
  const GemmF32Candidate* cands = gemm_f32_candidates(&n_cand);
  ASSERT_GT(n_cand, 0);
  ASSERT_STREQ(cands[n_cand - 1].isa, "scalar") << "the scalar kernel must be the last candidate";
  int tested = 0;
  for (int ci = 0; ci < n_cand; ++ci) {
    const GemmF32Candidate& c = cands[ci];
    if (!c.cpu_has()) {
      std::printf("[  SKIPPED ] %s variant: this CPU lacks it\n", c.isa);
      continue;
    }
    const GemmF32Fn twin = std::strcmp(c.isa, "scalar") == 0 ? gemm_f32 : gemm_f32_lanes;
    for (int64_t k : {8, 16, 24, 64, 72, 576, 5, 33})
      for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 13})
        for (int64_t m : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17}) check_gemm(c, twin, k, n, m);
    // The model's K, K in two chunks (the AVX2 kernel packs and runs K <= 4096 in one pass,
    // longer rows unpacked in equal chunks: 4104 = 2056 + 2048; the AVX-512 one runs K <= 768
    // in one pass, longer rows in packed chunks of at most 512: 776 = 392 + 384, 1032 = 3 x 344,
    // 1536 = 3 x 512, 4104 = 9 x 456), and weight block boundaries (AVX2: 48 rows; AVX-512:
    // about 768 KiB in equal whole tiles, at most 240 rows: n = 500 of K = 576 in 168 + 168 + 164)
    // with ragged M; n = 0.
    check_gemm(c, twin, 1536, 7, 6);
    check_gemm(c, twin, 1536, 13, 19);
    check_gemm(c, twin, 1032, 11, 9);
    check_gemm(c, twin, 768, 13, 8);
    check_gemm(c, twin, 776, 7, 12);
    check_gemm(c, twin, 576, 500, 8);
    check_gemm(c, twin, 64, 0, 9);
    check_gemm(c, twin, 1024, 6, 8);
    check_gemm(c, twin, 4104, 5, 6);
    check_gemm(c, twin, 4104, 7, 11);
    check_gemm(c, twin, 576, 100, 9);
    check_gemm(c, twin, 576, 100, 2);
    check_gemm(c, twin, 576, 100, 21);
    // Weights whose row count is not a multiple of 4: ggml_vec_dot_f32's order.
    for (int64_t k : {64, 72, 33})
      for (int64_t m : {1, 3, 4, 9}) check_gemm(c, twin, k, 5, m, false);
    ++tested;
  }
  EXPECT_GE(tested, 1);
}

TEST(GemmF32, DispatchReproducesPerRowDot) {
  const GemmF32Fn fn = find_gemm_f32();
  int n_cand = 0;
  const GemmF32Candidate* cands = gemm_f32_candidates(&n_cand);
  if (!fn) {
    // Declining is right only when no candidate this CPU runs reproduces the per-row dot in
    // use (aarch64 today: the NEON f32 dot has no GEMM twin), so the matmul loops that dot.
    const VecDotFn per_row = find_quant_kernels(kTypeF32)->vec_dot;
    for (int i = 0; i < n_cand; ++i)
      EXPECT_FALSE(cands[i].cpu_has() && cands[i].same_as == per_row) << cands[i].isa << " was wrongly declined";
#if defined(__x86_64__)
    EXPECT_FALSE(cpu_features().x86_avx2_fma_f16c()) << "an AVX2 CPU must get the AVX2 f32 GEMM";
#endif
    std::printf("[  NOTE    ] no f32 GEMM reproduces this CPU's per-row f32 dot: per-row dots are used\n");
    return;
  }
#if defined(__x86_64__)
  if (cpu_features().x86_avx512_vnni()) {
    EXPECT_EQ(fn, gemm_f32_avx512) << "an AVX-512 CPU must get the AVX-512 f32 GEMM";
  }
#endif
  for (int i = 0; i < n_cand; ++i)
    if (cands[i].fn == fn) {
      EXPECT_EQ(cands[i].same_as, find_quant_kernels(kTypeF32)->vec_dot);
      return;
    }
  ADD_FAILURE() << "the chosen f32 GEMM is not a candidate";
}

}  // namespace
}  // namespace ember::kernels
