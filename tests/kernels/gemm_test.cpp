// The multi-row dot products (kernels/cpu/gemm) against the single-row ones they stand in for:
// every output must be bit-identical (memcmp) to the per-row kernel of the same ISA, for
// M = 1..9 activation rows (groups of 4 plus every remainder), ragged N, K from one block to
// the model's 1536, strided activation rows and strided outputs. Where llama.cpp computes rows
// of a batch in another order than single rows (q4_K: complete groups of 4; q6_K: matmuls of 8
// rows or more), each output is compared with the per-row kernel vec_dot_rows_twin names for it,
// with the call alone (batch_rows = 0) and as part of a 16-row matmul. Skips, visibly, where
// the CPU lacks the ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"
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

// Random weight rows: random bytes with sane f16 scale (and min) fields in every block.
std::vector<uint8_t> random_weights(uint32_t type, int64_t rows, int64_t k, uint32_t seed) {
  const QuantTypeKernels* q = find_quant_kernels(type);
  const int64_t blocks = rows * (k / q->block_elems);
  std::vector<uint8_t> out(static_cast<size_t>(blocks) * q->block_bytes);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> sc(0.001f, 0.05f);
  for (uint8_t& b : out) b = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t* p = out.data() + b * q->block_bytes;
    const uint16_t d = f32_to_fp16(sc(rng)), m = f32_to_fp16(-sc(rng));
    std::memcpy(p + (type == kTypeQ6_K ? offsetof(BlockQ6_K, d) : 0), &d, 2);
    if (type == kTypeQ4_1 || type == kTypeQ4_K) std::memcpy(p + 2, &m, 2);  // m / dmin
  }
  return out;
}

// The per-row candidate of quant/select.cpp with the given ISA name.
VecDotFn per_row_kernel(uint32_t type, const char* isa) {
  int n = 0;
  const VecDotCandidate* c = vec_dot_candidates(type, &n);
  for (int i = 0; i < n; ++i)
    if (std::strcmp(c[i].isa, isa) == 0) return c[i].fn;
  return nullptr;
}

class DotRows : public ::testing::TestWithParam<uint32_t> {};

TEST_P(DotRows, BitIdenticalToPerRowKernel) {
  const uint32_t type = GetParam();
  int n_cand = 0;
  const VecDotRowsCandidate* cands = vec_dot_rows_candidates(type, &n_cand);
  ASSERT_GT(n_cand, 0);
  ASSERT_STREQ(cands[n_cand - 1].isa, "scalar") << "the scalar kernel must be the last candidate";
  const QuantTypeKernels* wq = find_quant_kernels(type);
  const QuantTypeKernels* aq = find_quant_kernels(wq->act_type);
  int tested = 0;
  for (int c = 0; c < n_cand; ++c) {
    if (!cands[c].cpu_has()) {
      std::printf("[  SKIPPED ] %s variant: this CPU lacks it\n", cands[c].isa);
      continue;
    }
    const VecDotFn per_row = per_row_kernel(type, cands[c].isa);
    ASSERT_NE(per_row, nullptr) << cands[c].isa << " has no per-row twin";
    ASSERT_EQ(per_row, cands[c].same_as);
    ASSERT_NE(cands[c].batched_as, nullptr);
    if (cands[c].batched_when == Batched::kNever) {
      ASSERT_EQ(cands[c].batched_as, cands[c].same_as);
    }
    const std::vector<int64_t> ks = wq->block_elems == kQK_K ? std::vector<int64_t>{256, 512, 1536}
                                                             : std::vector<int64_t>{32, 64, 576, 1536};
    for (int64_t K : ks) {
      for (int64_t N : {1, 5, 7, 17}) {
        const std::vector<uint8_t> w = random_weights(type, N, K, static_cast<uint32_t>(K * 31 + N));
        const size_t w_row = quant_row_bytes(*wq, K);
        const size_t a_row = quant_row_bytes(*aq, K);
        for (int64_t M = 1; M <= 9; ++M) {
          // Packed and strided rows; the stride keeps the activation block's alignment (2 bytes,
          // q8_K's float scale 4).
          const size_t odd_pad = wq->act_type == kTypeQ8_K ? 16 : 14;
          for (size_t pad : {size_t{0}, odd_pad}) {
           for (int64_t batch : {int64_t{0}, int64_t{16}}) {
            SCOPED_TRACE(std::string(cands[c].isa) + " K=" + std::to_string(K) + " N=" + std::to_string(N) +
                         " M=" + std::to_string(M) + " pad=" + std::to_string(pad) + " batch=" + std::to_string(batch));
            const size_t a_stride = a_row + pad;
            std::vector<uint8_t> act(static_cast<size_t>(M) * a_stride, 0xa5);
            const std::vector<float> x = random_floats(static_cast<size_t>(M * K), static_cast<uint32_t>(M + 100 * K));
            for (int64_t m = 0; m < M; ++m) aq->quantize_act(x.data() + m * K, act.data() + m * a_stride, K);

            // y[M][N] by the per-row kernel, and by the multi-row one with y_stride = N.
            std::vector<float> want(static_cast<size_t>(M * N)), got(static_cast<size_t>(M * N), -1.0f);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n)
                want[m * N + n] = vec_dot_rows_twin(cands[c], m, M, batch)(K, w.data() + n * w_row, act.data() + m * a_stride);
            for (int64_t n = 0; n < N; ++n) {
              DotRowsArgs p;
              p.n = K;
              p.w = w.data() + n * w_row;
              p.a = act.data();
              p.a_stride = a_stride;
              p.rows = M;
              p.y = got.data() + n;
              p.y_stride = N;
              p.batch_rows = batch;
              cands[c].fn(p);
            }
            for (int64_t i = 0; i < M * N; ++i)
              ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
                  << "row " << i / N << " col " << i % N << ": " << got[i] << " vs per-row " << want[i];
            if (!cands[c].pairs) continue;
            // Pair mode: weight rows two at a time (the odd last one alone), with the
            // activation scales widened to f32 by hand here.
            const int64_t nb = K / 32;
            const int64_t S = M + 3;  // block-major, padded for kernels that load four rows
            std::vector<float> ad(static_cast<size_t>(S * nb), 0.0f), as(ad.size(), 0.0f);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t i = 0; i < nb; ++i) {
                const uint8_t* blk = act.data() + m * a_stride + i * aq->block_bytes;
                uint16_t h[2];
                std::memcpy(h, blk, sizeof h);
                ad[i * S + m] = fp16_to_f32(h[0]);
                as[i * S + m] = fp16_to_f32(h[1]);  // q8_1's sum (ignored for q8_0)
              }
            std::fill(got.begin(), got.end(), -1.0f);
            for (int64_t n = 0; n < N; n += 2) {
              DotRowsArgs p;
              p.n = K;
              p.w = w.data() + n * w_row;
              p.a = act.data();
              p.a_stride = a_stride;
              p.rows = M;
              p.y = got.data() + n;
              p.y_stride = N;
              p.ad = ad.data();
              p.as = as.data();
              p.s_stride = S;
              if (n + 1 < N) {
                p.w1 = w.data() + (n + 1) * w_row;
                cands[c].pairs(p);
              } else {
                cands[c].fn(p);
              }
            }
            for (int64_t i = 0; i < M * N; ++i)
              ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
                  << "pairs: row " << i / N << " col " << i % N << ": " << got[i] << " vs per-row " << want[i];
            if (!cands[c].packed_pairs) continue;
            // Packed pair mode: the same weights rearranged into q4_1x2 (pack.h); row pairs
            // through the packed kernel, an odd last row (a plain row after the pairs) alone.
            ASSERT_EQ(type, kTypeQ4_1) << "q4_1x2 is the only packed layout";
            std::vector<uint8_t> packed(q4_1x2_bytes(N, K));
            pack_q4_1x2(w.data(), N, K, packed.data());
            std::fill(got.begin(), got.end(), -1.0f);
            for (int64_t n = 0; n < N; n += 2) {
              DotRowsArgs p;
              p.n = K;
              p.w = q4_1x2_pair(packed.data(), n / 2, K);
              p.a = act.data();
              p.a_stride = a_stride;
              p.rows = M;
              p.y = got.data() + n;
              p.y_stride = N;
              p.ad = ad.data();
              p.as = as.data();
              p.s_stride = S;
              if (n + 1 < N) cands[c].packed_pairs(p);
              else cands[c].fn(p);
            }
            for (int64_t i = 0; i < M * N; ++i)
              ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
                  << "packed pairs: row " << i / N << " col " << i % N << ": " << got[i] << " vs per-row " << want[i];
           }
          }
        }
      }
    }
    ++tested;
  }
  ASSERT_GT(tested, 0) << "the scalar candidate always runs";
}

INSTANTIATE_TEST_SUITE_P(Types, DotRows, ::testing::Values(kTypeQ4_0, kTypeQ4_1, kTypeQ8_0, kTypeQ4_K, kTypeQ6_K));

// The x16 matmuls (pack.h, gemm.h) against the per-row block-sum dot products
// (vec_dot_q4_1_q8_1_bs, vec_dot_q8_0_q8_0_bs), bit for bit (memcmp): every candidate the CPU
// runs (scalar, AVX2, AVX-512), one to three groups, K from one block to 1536, M = 1..17 (every
// tile remainder of both SIMD kernels, and two full 8-row tiles), packed and strided activation
// rows, strided outputs. The per-row SIMD block-sum kernels must give the scalar one's bits too,
// and a q8_0x16 row read back (the embedding's path) must equal the plain row dequantised.
class GemmX16 : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GemmX16, BitIdenticalToBlockSumDot) {
  const uint32_t type = GetParam();
  const QuantTypeKernels* wq = find_quant_kernels(type);
  const QuantTypeKernels* aq = find_quant_kernels(wq->act_type);
  const VecDotFn oracle = type == kTypeQ4_1 ? vec_dot_q4_1_q8_1_bs : vec_dot_q8_0_q8_0_bs;
  int n_cand = 0;
  const GemmX16Candidate* cands = gemm_x16_candidates(type, &n_cand);
  ASSERT_GT(n_cand, 0);
  ASSERT_STREQ(cands[n_cand - 1].isa, "scalar");
  int n_row = 0;
  const VecDotCandidate* per_row = vec_dot_candidates(type, &n_row);
  int tested = 0;
  for (int c = 0; c < n_cand; ++c) {
    if (!cands[c].cpu_has()) {
      std::printf("[  SKIPPED ] x16 %s: this CPU lacks it\n", cands[c].isa);
      continue;
    }
    for (int64_t K : {32, 64, 576, 1536}) {
      for (int64_t N : {16, 48}) {
        const std::vector<uint8_t> w = random_weights(type, N, K, static_cast<uint32_t>(K * 7 + N));
        const size_t w_row = quant_row_bytes(*wq, K);
        std::vector<uint8_t> packed(w.size());
        if (type == kTypeQ4_1) pack_q4_1x16(w.data(), N, K, packed.data());
        else pack_q8_0x16(w.data(), N, K, packed.data());
        if (type == kTypeQ8_0 && c == 0) {
          std::vector<float> want(static_cast<size_t>(K)), got(static_cast<size_t>(K));
          for (int64_t n = 0; n < N; ++n) {
            wq->dequantize(w.data() + n * w_row, want.data(), K);
            dequantize_q8_0x16_row(packed.data(), n, K, got.data());
            ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0) << "row " << n;
          }
        }
        const size_t a_row = quant_row_bytes(*aq, K);
        for (int64_t M = 1; M <= 17; ++M) {
          for (size_t pad : {size_t{0}, size_t{14}}) {
            SCOPED_TRACE(std::string(cands[c].isa) + " K=" + std::to_string(K) + " N=" + std::to_string(N) +
                         " M=" + std::to_string(M) + " pad=" + std::to_string(pad));
            const size_t a_stride = a_row + pad;
            std::vector<uint8_t> act(static_cast<size_t>(M) * a_stride, 0xa5);
            const std::vector<float> x = random_floats(static_cast<size_t>(M * K), static_cast<uint32_t>(M + 31 * K));
            for (int64_t m = 0; m < M; ++m) aq->quantize_act(x.data() + m * K, act.data() + m * a_stride, K);
            const int64_t S = M + 3, nb = K / kQK;
            std::vector<float> ad(static_cast<size_t>(S * nb), 0.0f), as(ad.size(), 0.0f);
            std::vector<int32_t> asum(ad.size(), 0);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t i = 0; i < nb; ++i) {
                if (type == kTypeQ4_1) {
                  const auto* b = reinterpret_cast<const BlockQ8_1*>(act.data() + m * a_stride) + i;
                  ad[i * S + m] = fp16_to_f32(b->d);
                  as[i * S + m] = fp16_to_f32(b->s);
                } else {
                  const auto* b = reinterpret_cast<const BlockQ8_0*>(act.data() + m * a_stride) + i;
                  ad[i * S + m] = fp16_to_f32(b->d);
                  int32_t sum = 0;
                  for (int e = 0; e < kQK; ++e) sum += b->qs[e];
                  asum[i * S + m] = 128 * sum;
                }
              }
            const int64_t ys = N + 5;
            std::vector<float> want(static_cast<size_t>(M * ys), -1.0f), got(want.size(), -1.0f);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n) {
                const uint8_t* a = act.data() + m * a_stride;
                want[m * ys + n] = oracle(K, w.data() + n * w_row, a);
                if (c == 0 && M == 1 && pad == 0)  // the per-row SIMD kernels, once per shape
                  for (int i = 0; i < n_row; ++i) {
                    if (per_row[i].llama_order || !per_row[i].cpu_has()) continue;
                    const float v = per_row[i].fn(K, w.data() + n * w_row, a);
                    ASSERT_EQ(std::memcmp(&v, &want[m * ys + n], sizeof v), 0) << per_row[i].isa << " row " << n;
                  }
              }
            GemmX16Args p;
            p.k = K;
            p.a = act.data();
            p.a_stride = a_stride;
            p.rows = M;
            p.ad = ad.data();
            p.as = as.data();
            p.asum = asum.data();
            p.s_stride = S;
            p.y_stride = ys;
            auto group = [&](int64_t g) {
              return type == kTypeQ4_1 ? q4_1x16_group(packed.data(), g, K) : q8_0x16_group(packed.data(), g, K);
            };
            // The first group alone, then the rest in one call.
            p.w = group(0);
            p.groups = 1;
            p.y = got.data();
            cands[c].fn(p);
            if (N > 16) {
              p.w = group(1);
              p.groups = N / 16 - 1;
              p.y = got.data() + 16;
              cands[c].fn(p);
            }
            for (size_t i = 0; i < want.size(); ++i)
              ASSERT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
                  << "row " << i / ys << " col " << i % ys << ": " << got[i] << " vs per-row " << want[i];
          }
        }
      }
    }
    ++tested;
  }
  ASSERT_GT(tested, 0);
}

// The block-sum order is another rounding of the same sum: close to llama.cpp's order (the
// first llama-order candidate this CPU runs, what EMBER_LLAMA_EXACT=1 dispatches), and, where
// that is a SIMD kernel with f32 lanes, not always equal to it (else the two would not need
// separate oracles; the scalar q8_0 kernel is one chain too, and equal where the compiler
// contracts its multiply-add, as on aarch64).
TEST_P(GemmX16, BlockSumOrderIsCloseToLlamaOrder) {
  const uint32_t type = GetParam();
  const QuantTypeKernels* wq = find_quant_kernels(type);
  const QuantTypeKernels* aq = find_quant_kernels(wq->act_type);
  const VecDotFn bs_dot = type == kTypeQ4_1 ? vec_dot_q4_1_q8_1_bs : vec_dot_q8_0_q8_0_bs;
  int n_cand = 0;
  const VecDotCandidate* cands = vec_dot_candidates(type, &n_cand);
  const VecDotCandidate* llama = nullptr;
  for (int i = 0; i < n_cand && !llama; ++i)
    if (cands[i].llama_order && cands[i].cpu_has()) llama = &cands[i];
  ASSERT_NE(llama, nullptr) << "the scalar candidate always runs";
  const VecDotFn llama_dot = llama->fn;
  size_t differ = 0, compared = 0;
  for (int64_t K : {576, 1536}) {
    const int64_t N = 64;
    const std::vector<uint8_t> w = random_weights(type, N, K, static_cast<uint32_t>(K));
    const std::vector<float> x = random_floats(static_cast<size_t>(K), 99u);
    std::vector<uint8_t> act(quant_row_bytes(*aq, K));
    aq->quantize_act(x.data(), act.data(), K);
    std::vector<float> wf(static_cast<size_t>(K)), af(static_cast<size_t>(K));
    aq->dequantize(act.data(), af.data(), K);
    for (int64_t n = 0; n < N; ++n) {
      const uint8_t* row = w.data() + n * quant_row_bytes(*wq, K);
      wq->dequantize(row, wf.data(), K);
      double mag = 0;
      for (int64_t i = 0; i < K; ++i) mag += std::fabs(static_cast<double>(wf[i]) * af[i]);
      const float bs = bs_dot(K, row, act.data()), ll = llama_dot(K, row, act.data());
      EXPECT_NEAR(bs, ll, 1e-5 * mag + 1e-6);
      differ += bs != ll;
      ++compared;
    }
  }
  if (std::strcmp(llama->isa, "scalar") != 0) EXPECT_GT(differ, 0u) << "the two orders should round differently now and then";
  std::printf("[ type %u ] block-sum vs llama.cpp order (%s): %zu of %zu dot products differ\n", type, llama->isa, differ,
              compared);
}

// find_gemm_x16 runs only where the type's dot product in use is the block-sum order.
TEST_P(GemmX16, DispatchFollowsPerRowOrder) {
  const uint32_t type = GetParam();
  int n = 0;
  const VecDotCandidate* c = vec_dot_candidates(type, &n);
  bool block_sums = false;
  for (int i = 0; i < n; ++i) block_sums = block_sums || (!c[i].llama_order && c[i].fn == find_quant_kernels(type)->vec_dot);
  EXPECT_EQ(find_gemm_x16(type) != nullptr, block_sums);
  if (llama_exact()) EXPECT_FALSE(block_sums) << "EMBER_LLAMA_EXACT=1 must keep llama.cpp's order";
  std::printf("[  NOTE    ] type %u order in use: %s\n", type, block_sums ? "block sums (x16)" : "llama.cpp's");
}

INSTANTIATE_TEST_SUITE_P(Types, GemmX16, ::testing::Values(kTypeQ4_1, kTypeQ8_0));


// q4_K's repacked arithmetic: the AVX2 multi-row kernel against its scalar twin (rows in
// complete groups of 4 by the scalar GEMM-order dot product, the rest by the GEMV-order one),
// bit for bit; and the two orders really differ on some outputs, so the grouping is tested.
TEST(DotRowsQ4K, Avx2MatchesScalarTwinAndGroupingMatters) {
  const QuantTypeKernels* wq = find_quant_kernels(kTypeQ4_K);
  const QuantTypeKernels* aq = find_quant_kernels(kTypeQ8_K);
  size_t orders_differ = 0, compared = 0;
  for (int64_t K : {256, 768, 2304}) {
    const int64_t N = 24;
    const std::vector<uint8_t> w = random_weights(kTypeQ4_K, N, K, static_cast<uint32_t>(K + 5));
    const size_t w_row = quant_row_bytes(*wq, K), a_row = quant_row_bytes(*aq, K);
    for (int64_t M = 1; M <= 9; ++M) {
      SCOPED_TRACE("K=" + std::to_string(K) + " M=" + std::to_string(M));
      std::vector<uint8_t> act(static_cast<size_t>(M) * a_row);
      const std::vector<float> x = random_floats(static_cast<size_t>(M * K), static_cast<uint32_t>(3 * M + K));
      for (int64_t m = 0; m < M; ++m) aq->quantize_act(x.data() + m * K, act.data() + m * a_row, K);
      std::vector<float> scalar(static_cast<size_t>(M * N)), simd(static_cast<size_t>(M * N), -1.0f);
      for (int64_t n = 0; n < N; ++n) {
        DotRowsArgs p;
        p.n = K;
        p.w = w.data() + n * w_row;
        p.a = act.data();
        p.a_stride = a_row;
        p.rows = M;
        p.y = scalar.data() + n;
        p.y_stride = N;
        vec_dot_rows_q4_K_q8_K_x8(p);
#if defined(__x86_64__)
        if (cpu_features().x86_avx2_fma_f16c()) {
          p.y = simd.data() + n;
          vec_dot_rows_q4_K_q8_K_x8_avx2(p);
        }
#endif
        for (int64_t m = 0; m < M; ++m) {
          const uint8_t* a = act.data() + m * a_row;
          const float gemv = vec_dot_q4_K_q8_K_x8(K, p.w, a), gemm = vec_dot_q4_K_q8_K_x8_gemm(K, p.w, a);
          orders_differ += std::memcmp(&gemv, &gemm, sizeof(float)) != 0;
          ++compared;
          const float want = m < M - M % 4 ? gemm : gemv;
          ASSERT_EQ(std::memcmp(&want, &scalar[m * N + n], sizeof(float)), 0) << "scalar twin, row " << m << " col " << n;
        }
      }
#if defined(__x86_64__)
      if (cpu_features().x86_avx2_fma_f16c()) {
        for (int64_t i = 0; i < M * N; ++i)
          ASSERT_EQ(std::memcmp(&scalar[i], &simd[i], sizeof(float)), 0)
              << "row " << i / N << " col " << i % N << ": avx2 " << simd[i] << " vs scalar " << scalar[i];
      }
#endif
    }
  }
#if defined(__x86_64__)
  if (!cpu_features().x86_avx2_fma_f16c()) std::printf("[  SKIPPED ] avx2 q4_K rows: this CPU lacks AVX2/FMA/F16C\n");
#endif
  EXPECT_GT(orders_differ, compared / 50) << "the GEMM and GEMV orders should round differently now and then";
  std::printf("[ q4_K    ] GEMM vs GEMV order: %zu of %zu dot products differ\n", orders_differ, compared);
}

// q6_K as llama.cpp batches it: the AVX2 multi-row kernel against its scalar twin (matmuls of
// 8 rows or more by the scalar tiled-order dot product, smaller ones by the plain one), bit for
// bit, alone and inside a 16-row matmul; and the two orders really differ on some outputs.
TEST(DotRowsQ6K, Avx2MatchesScalarTwinAndBatchSizeMatters) {
  const QuantTypeKernels* wq = find_quant_kernels(kTypeQ6_K);
  const QuantTypeKernels* aq = find_quant_kernels(kTypeQ8_K);
  const bool avx2 =
#if defined(__x86_64__)
      cpu_features().x86_avx2_fma_f16c();
#else
      false;
#endif
  size_t orders_differ = 0, compared = 0;
  for (int64_t K : {256, 768, 2304}) {
    const int64_t N = 24;
    const std::vector<uint8_t> w = random_weights(kTypeQ6_K, N, K, static_cast<uint32_t>(K + 9));
    const size_t w_row = quant_row_bytes(*wq, K), a_row = quant_row_bytes(*aq, K);
    for (int64_t M = 1; M <= 9; ++M) {
      for (int64_t batch : {int64_t{0}, int64_t{16}}) {
        SCOPED_TRACE("K=" + std::to_string(K) + " M=" + std::to_string(M) + " batch=" + std::to_string(batch));
        std::vector<uint8_t> act(static_cast<size_t>(M) * a_row);
        const std::vector<float> x = random_floats(static_cast<size_t>(M * K), static_cast<uint32_t>(7 * M + K));
        for (int64_t m = 0; m < M; ++m) aq->quantize_act(x.data() + m * K, act.data() + m * a_row, K);
        std::vector<float> scalar(static_cast<size_t>(M * N)), simd(static_cast<size_t>(M * N), -1.0f);
        const bool tiled = (batch > 0 ? batch : M) >= 8;
        for (int64_t n = 0; n < N; ++n) {
          DotRowsArgs p;
          p.n = K;
          p.w = w.data() + n * w_row;
          p.a = act.data();
          p.a_stride = a_row;
          p.rows = M;
          p.y = scalar.data() + n;
          p.y_stride = N;
          p.batch_rows = batch;
          vec_dot_rows_q6_K_q8_K_tiled(p);
#if defined(__x86_64__)
          if (avx2) {
            p.y = simd.data() + n;
            vec_dot_rows_q6_K_q8_K_avx2(p);
          }
#endif
          for (int64_t m = 0; m < M; ++m) {
            const uint8_t* a = act.data() + m * a_row;
            const float plain = vec_dot_q6_K_q8_K(K, p.w, a), tile = vec_dot_q6_K_q8_K_tiled(K, p.w, a);
            orders_differ += std::memcmp(&plain, &tile, sizeof(float)) != 0;
            ++compared;
            const float want = tiled ? tile : plain;
            ASSERT_EQ(std::memcmp(&want, &scalar[m * N + n], sizeof(float)), 0) << "scalar twin, row " << m << " col " << n;
          }
        }
#if defined(__x86_64__)
        if (avx2) {
          // Below 8 rows the AVX2 kernel follows the AVX2 vec_dot (8 lanes), not the scalar one.
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
              const float want = tiled ? scalar[m * N + n]
                                       : vec_dot_q6_K_q8_K_avx2(K, w.data() + n * w_row, act.data() + m * a_row);
              ASSERT_EQ(std::memcmp(&want, &simd[m * N + n], sizeof(float)), 0)
                  << "row " << m << " col " << n << ": avx2 " << simd[m * N + n] << " vs " << want;
            }
        }
#endif
      }
    }
  }
  if (!avx2) std::printf("[  SKIPPED ] avx2 q6_K rows: this CPU lacks AVX2/FMA/F16C\n");
  EXPECT_GT(orders_differ, compared / 50) << "the tiled and vec_dot orders should round differently now and then";
  std::printf("[ q6_K    ] tiled vs vec_dot order: %zu of %zu dot products differ\n", orders_differ, compared);
}

// The dispatched choice is the first candidate this CPU runs that twins the per-row dot product
// the quant dispatch picked for the type; none when no candidate twins it (say the per-row
// dispatch chose an arithmetic the multi-row kernels do not follow), so the matmul loops it.
TEST(DotRowsDispatch, TwinsPerRowDispatch) {
  for (uint32_t type : {kTypeQ4_0, kTypeQ4_1, kTypeQ8_0, kTypeQ4_K, kTypeQ6_K}) {
    SCOPED_TRACE("type " + std::to_string(type));
    const VecDotRowsFn f = find_vec_dot_rows(type);
    const VecDotFn per_row = find_quant_kernels(type)->vec_dot;
    int n = 0;
    const VecDotRowsCandidate* c = vec_dot_rows_candidates(type, &n);
    int chosen = 0;
    while (chosen < n && !(c[chosen].cpu_has() && c[chosen].same_as == per_row)) ++chosen;
    if (chosen == n) {
      EXPECT_EQ(f, nullptr);
      std::printf("[  NOTE    ] type %u: no multi-row kernel twins the per-row dot product in use\n", type);
    } else {
      EXPECT_EQ(f, c[chosen].fn) << c[chosen].isa;
    }
  }
  EXPECT_EQ(find_vec_dot_rows(kTypeF32), nullptr);
}

}  // namespace
}  // namespace ember::kernels
