// The multi-row dot products (kernels/cpu/gemm) against the single-row ones they stand in for:
// every output must be bit-identical (memcmp) to the per-row kernel of the same ISA, for
// M = 1..9 activation rows (groups of 4 plus every remainder), ragged N, K from one block to
// the model's 1536, strided activation rows and strided outputs. Skips, visibly, where the CPU
// lacks the ISA.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/gemm/gemm.h"
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
    std::memcpy(p, &d, 2);
    if (type == kTypeQ4_1) std::memcpy(p + 2, &m, 2);
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
    for (int64_t K : {32, 64, 576, 1536}) {
      for (int64_t N : {1, 5, 7, 17}) {
        const std::vector<uint8_t> w = random_weights(type, N, K, static_cast<uint32_t>(K * 31 + N));
        const size_t w_row = quant_row_bytes(*wq, K);
        const size_t a_row = quant_row_bytes(*aq, K);
        for (int64_t M = 1; M <= 9; ++M) {
          for (size_t pad : {size_t{0}, size_t{14}}) {  // packed and strided rows (blocks keep their 2-byte alignment)
            SCOPED_TRACE(std::string(cands[c].isa) + " K=" + std::to_string(K) + " N=" +
                         std::to_string(N) + " M=" + std::to_string(M) + " pad=" + std::to_string(pad));
            const size_t a_stride = a_row + pad;
            std::vector<uint8_t> act(static_cast<size_t>(M) * a_stride, 0xa5);
            const std::vector<float> x = random_floats(static_cast<size_t>(M * K), static_cast<uint32_t>(M + 100 * K));
            for (int64_t m = 0; m < M; ++m) aq->quantize_act(x.data() + m * K, act.data() + m * a_stride, K);

            // y[M][N] by the per-row kernel, and by the multi-row one with y_stride = N.
            std::vector<float> want(static_cast<size_t>(M * N)), got(static_cast<size_t>(M * N), -1.0f);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n)
                want[m * N + n] = per_row(K, w.data() + n * w_row, act.data() + m * a_stride);
            for (int64_t n = 0; n < N; ++n) {
              DotRowsArgs p;
              p.n = K;
              p.w = w.data() + n * w_row;
              p.a = act.data();
              p.a_stride = a_stride;
              p.rows = M;
              p.y = got.data() + n;
              p.y_stride = N;
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
          }
        }
      }
    }
    ++tested;
  }
  ASSERT_GT(tested, 0) << "the scalar candidate always runs";
}

INSTANTIATE_TEST_SUITE_P(Types, DotRows, ::testing::Values(kTypeQ4_0, kTypeQ4_1, kTypeQ8_0));

// The dispatched choice is the first candidate this CPU runs that twins the per-row dot product
// the quant dispatch picked for the type; none when no candidate twins it (say the per-row
// dispatch chose an arithmetic the multi-row kernels do not follow), so the matmul loops it.
TEST(DotRowsDispatch, TwinsPerRowDispatch) {
  for (uint32_t type : {kTypeQ4_0, kTypeQ4_1, kTypeQ8_0}) {
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
  EXPECT_EQ(find_vec_dot_rows(kTypeQ4_K), nullptr);
  EXPECT_EQ(find_vec_dot_rows(kTypeF32), nullptr);
}

}  // namespace
}  // namespace ember::kernels
