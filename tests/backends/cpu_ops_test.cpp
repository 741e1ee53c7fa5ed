// The CPU backend's ops (backends/cpu/ops/), each run through the whole backend path — a small
// OpGraph from graph::Builder, prepare(), execute() — with 1 and 2 threads, against scalar
// references written here in double precision, on odd shapes.
//
// Matmul weights are random *valid* blocks written directly (ember has no weight quantiser);
// the reference is the kernels' dequantised weight row · the activation after the kernels'
// own activation quantise + dequantise, summed in double. Tolerance: 2e-5 of Σ|w·a| (f32
// accumulation across blocks), plus, for Q4_1/Q5_1, 2^-10 of Σ_blocks |m|·Σ|a| (their dot uses
// the activation block sum stored as f16, which the dequantised reference does not round).
// A wrong nibble, scale or block order gives errors of order Σ|w·a|/sqrt(K), far above that.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "graph/graph.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"

namespace ember {
namespace {

namespace ek = ember::kernels;
using graph::Builder;
using graph::Value;

// ---- running a graph ----------------------------------------------------------------------------

class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t n) : d_(n) {}
  size_t size() const override { return d_.size(); }
  void* host_ptr() override { return d_.data(); }
  uint16_t* u16() { return reinterpret_cast<uint16_t*>(d_.data()); }

 private:
  std::vector<uint8_t> d_;
};

struct RunArgs {
  std::vector<InputBinding> inputs;
  std::vector<Buffer*> kv;
  const KvLayout* layout = nullptr;
};

// Runs `g` on a CPU backend; one byte vector per graph output (empty on failure, reported).
std::vector<std::vector<uint8_t>> run_on(Backend& be, const OpGraph& g, const RunArgs& ra) {
  auto plan = be.prepare(g);
  if (!plan.ok()) {
    ADD_FAILURE() << "prepare: " << plan.message();
    return {};
  }
  std::vector<std::vector<uint8_t>> outs;
  ExecArgs args;
  for (int o : g.outputs) {
    outs.emplace_back(g.nodes[o].out.bytes(), uint8_t{0xcd});
    args.outputs.push_back(outs.back().data());
  }
  args.inputs = ra.inputs;
  args.kv = ra.kv;
  args.kv_layout = ra.layout;
  Status s = be.execute(**plan, args);
  if (s.ok()) s = be.queue().synchronize();
  if (!s.ok()) {
    ADD_FAILURE() << "execute: " << s.message();
    return {};
  }
  return outs;
}

std::vector<std::vector<uint8_t>> run(const OpGraph& g, int threads, const RunArgs& ra) {
  auto be = make_cpu_backend(CpuOptions{threads});
  if (!be.ok()) {
    ADD_FAILURE() << be.message();
    return {};
  }
  return run_on(**be, g, ra);
}

std::vector<std::vector<uint8_t>> run_in(const OpGraph& g, int threads, std::vector<InputBinding> inputs) {
  RunArgs ra;
  ra.inputs = std::move(inputs);
  return run(g, threads, ra);
}

OpGraph finish(Builder& b) {
  Expected<OpGraph> g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return g.ok() ? std::move(*g) : OpGraph{};
}

std::vector<float> floats(const std::vector<uint8_t>& bytes) {
  std::vector<float> f(bytes.size() / sizeof(float));
  std::memcpy(f.data(), bytes.data(), f.size() * sizeof(float));
  return f;
}

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return v;
}

// Relative closeness with an absolute floor; prints the index on failure.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rel, double abs_tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = rel * std::fabs(want[i]) + abs_tol;
    ASSERT_LE(std::fabs(got[i] - want[i]), tol) << what << " at " << i << ": got " << got[i] << " want " << want[i];
  }
}

// IEEE binary16 value by the textbook formula (independent of kernels/cpu/fp16.h).
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31) v = m ? NAN : INFINITY;
  else if (e == 0) v = std::ldexp(static_cast<double>(m), -24);
  else v = std::ldexp(static_cast<double>(1024 + m), e - 25);
  return s ? -v : v;
}

const int kThreads[] = {1, 2};

// ---- matmul -------------------------------------------------------------------------------------

uint16_t half_of(float f) { return ek::f32_to_fp16(f); }

// Random valid weight bytes for an [N, K] matrix of `t`; `mins` gets, per 32-element block, |m|
// for the types whose dot uses an f16 activation sum (Q4_1, Q5_1), else 0.
std::vector<uint8_t> random_weights(DType t, int64_t N, int64_t K, std::mt19937& rng, std::vector<double>* mins) {
  const size_t row = dtype_row_bytes(t, K);
  std::vector<uint8_t> w(row * N);
  std::uniform_int_distribution<int> byte(0, 255), q8(-127, 127), coin(0, 1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto scale = [&](float lo, float hi) {
    std::uniform_real_distribution<float> s(lo, hi);
    return half_of(coin(rng) ? s(rng) : -s(rng));
  };
  auto bytes = [&](uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(byte(rng));
  };
  const int64_t nb32 = N * K / 32;
  mins->assign(static_cast<size_t>(std::max<int64_t>(nb32, 1)), 0.0);
  uint8_t* p = w.data();
  const int64_t n = N * K;
  switch (t) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) {
        float f = u(rng);
        std::memcpy(p + 4 * i, &f, 4);
      }
      break;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = t == DType::F16 ? ek::f32_to_fp16(u(rng)) : ek::f32_to_bf16(u(rng));
        std::memcpy(p + 2 * i, &h, 2);
      }
      break;
    case DType::Q4_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        ek::BlockQ4_0 blk;
        blk.d = scale(0.01f, 0.1f);
        bytes(blk.qs, sizeof blk.qs);
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    case DType::Q4_1:
      for (int64_t b = 0; b < n / 32; ++b) {
        ek::BlockQ4_1 blk;
        blk.d = scale(0.01f, 0.1f);
        blk.m = half_of(u(rng) * 0.8f);
        (*mins)[b] = std::fabs(half_value(blk.m));
        bytes(blk.qs, sizeof blk.qs);
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    case DType::Q5_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        ek::BlockQ5_0 blk;
        blk.d = scale(0.01f, 0.1f);
        bytes(blk.qh, sizeof blk.qh);
        bytes(blk.qs, sizeof blk.qs);
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    case DType::Q5_1:
      for (int64_t b = 0; b < n / 32; ++b) {
        ek::BlockQ5_1 blk;
        blk.d = scale(0.01f, 0.1f);
        blk.m = half_of(u(rng) * 0.8f);
        (*mins)[b] = std::fabs(half_value(blk.m));
        bytes(blk.qh, sizeof blk.qh);
        bytes(blk.qs, sizeof blk.qs);
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    case DType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        ek::BlockQ8_0 blk;
        blk.d = scale(0.001f, 0.01f);
        for (int8_t& q : blk.qs) q = static_cast<int8_t>(q8(rng));
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    case DType::Q4_K:
      for (int64_t b = 0; b < n / 256; ++b) {
        ek::BlockQ4_K blk;
        blk.d = half_of(std::fabs(u(rng)) * 0.01f + 0.001f);
        blk.dmin = half_of(std::fabs(u(rng)) * 0.01f + 0.001f);
        bytes(blk.scales, sizeof blk.scales);
        bytes(blk.qs, sizeof blk.qs);
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    case DType::Q5_K:
      for (int64_t b = 0; b < n / 256; ++b) {
        ek::BlockQ5_K blk;
        blk.d = half_of(std::fabs(u(rng)) * 0.01f + 0.001f);
        blk.dmin = half_of(std::fabs(u(rng)) * 0.01f + 0.001f);
        bytes(blk.scales, sizeof blk.scales);
        bytes(blk.qh, sizeof blk.qh);
        bytes(blk.qs, sizeof blk.qs);
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    case DType::Q6_K:
      for (int64_t b = 0; b < n / 256; ++b) {
        ek::BlockQ6_K blk;
        bytes(blk.ql, sizeof blk.ql);
        bytes(blk.qh, sizeof blk.qh);
        for (int8_t& s : blk.scales) s = static_cast<int8_t>(byte(rng) - 128);
        blk.d = scale(0.0005f, 0.005f);
        std::memcpy(p + b * sizeof blk, &blk, sizeof blk);
      }
      break;
    default:
      ADD_FAILURE() << "no generator for " << dtype_name(t);
  }
  return w;
}

class CpuMatmul : public ::testing::TestWithParam<DType> {};

TEST_P(CpuMatmul, MatchesDequantisedReference) {
  const DType t = GetParam();
  const ek::QuantTypeKernels* wk = ek::find_quant_kernels(static_cast<uint32_t>(t));
  ASSERT_NE(wk, nullptr);
  const ek::QuantTypeKernels* ak = ek::find_quant_kernels(wk->act_type);
  ASSERT_NE(ak, nullptr);
  const bool kquant = wk->block_elems == 256;
  const std::vector<int64_t> Ks = kquant ? std::vector<int64_t>{256, 512}
                                         : (wk->block_elems == 32 ? std::vector<int64_t>{32, 64, 96}
                                                                  : std::vector<int64_t>{7, 32, 65});
  std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
  double worst = 0;  // largest error as a fraction of the tolerance, for the log
  for (int64_t K : Ks)
    for (int64_t N : {5, 17})
      for (int64_t M : {1, 3, 7}) {
        std::vector<double> mins;
        std::vector<uint8_t> w = random_weights(t, N, K, rng, &mins);
        std::vector<float> x = random_floats(static_cast<size_t>(M * K), rng);
        for (int64_t k = 0; k < K; ++k) x[k] *= 8.0f;  // rows of different magnitudes

        // Reference.
        const size_t wrow = dtype_row_bytes(t, K);
        std::vector<float> wf(K), af(static_cast<size_t>(M * K));
        std::vector<uint8_t> aq(ek::quant_row_bytes(*ak, K));
        for (int64_t m = 0; m < M; ++m) {
          ak->quantize_act(x.data() + m * K, aq.data(), K);
          ak->dequantize(aq.data(), af.data() + m * K, K);
        }
        std::vector<double> want(M * N), tol(M * N);
        for (int64_t nn = 0; nn < N; ++nn) {
          wk->dequantize(w.data() + nn * wrow, wf.data(), K);
          for (int64_t m = 0; m < M; ++m) {
            double s = 0, mag = 0, minterm = 0;
            for (int64_t k = 0; k < K; ++k) {
              const double a = af[m * K + k];
              s += static_cast<double>(wf[k]) * a;
              mag += std::fabs(static_cast<double>(wf[k]) * a);
              if (k % 32 == 0 && K % 32 == 0) {
                double asum = 0;
                for (int64_t j = k; j < k + 32; ++j) asum += std::fabs(af[m * K + j]);
                minterm += mins[(nn * K + k) / 32] * asum;
              }
            }
            want[m * N + nn] = s;
            tol[m * N + nn] = 2e-5 * mag + std::ldexp(minterm, -10) + 1e-6;
          }
        }

        Builder b;
        Value xi = b.input("x", DType::F32, {M, K});
        Value wi = b.weight("w", t, {N, K}, w.data());
        b.output(b.matmul(xi, wi));
        OpGraph g = finish(b);
        std::vector<float> first;
        for (int threads : kThreads) {
          auto out = run_in(g, threads, {{"x", x.data()}});
          ASSERT_EQ(out.size(), 1u);
          std::vector<float> y = floats(out[0]);
          for (int64_t i = 0; i < M * N; ++i) {
            const double err = std::fabs(y[i] - want[i]);
            worst = std::max(worst, err / tol[i]);
            ASSERT_LE(err, tol[i]) << dtype_name(t) << " M=" << M << " N=" << N << " K=" << K << " threads="
                                   << threads << " at (" << i / N << "," << i % N << "): got " << y[i]
                                   << " want " << want[i];
          }
          if (first.empty()) first = y;
          else EXPECT_EQ(y, first) << "1 and 2 threads differ";
        }
      }
  RecordProperty("worst_error_fraction_of_tolerance", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, CpuMatmul,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1,
                                           DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

TEST(CpuBackend, RejectsMatmulItCannotRun) {
  static const uint8_t w[4096] = {};
  {
    Builder b;
    b.set_label("blk.0.ffn");
    b.output(b.matmul(b.input("x", DType::F32, {2, 256}), b.weight("w", DType::Q2_K, {3, 256}, w)));
    OpGraph g = finish(b);
    auto be = make_cpu_backend(CpuOptions{1});
    ASSERT_TRUE(be.ok());
    auto plan = (*be)->prepare(g);
    ASSERT_FALSE(plan.ok());
    EXPECT_NE(plan.message().find("matmul"), std::string::npos) << plan.message();
    EXPECT_NE(plan.message().find("Q2_K"), std::string::npos) << plan.message();
    EXPECT_NE(plan.message().find("blk.0.ffn"), std::string::npos) << plan.message();
    EXPECT_FALSE((*be)->supports(g, 2).ok);
  }
  {  // a row that is not whole blocks
    Builder b;
    b.output(b.matmul(b.input("x", DType::F32, {2, 48}), b.weight("w", DType::Q4_0, {3, 48}, w)));
    auto be = make_cpu_backend(CpuOptions{1});
    auto plan = (*be)->prepare(finish(b));
    ASSERT_FALSE(plan.ok());
    EXPECT_NE(plan.message().find("block size"), std::string::npos) << plan.message();
  }
}

TEST(CpuBackend, ExecuteChecksItsArguments) {
  Builder b;
  Value x = b.input("x", DType::F32, {2, 4});
  b.output(b.silu(x));
  OpGraph g = finish(b);
  auto be = make_cpu_backend(CpuOptions{2});
  ASSERT_TRUE(be.ok());
  auto plan = (*be)->prepare(g);
  ASSERT_TRUE(plan.ok());
  float in[8] = {}, out[8];
  ExecArgs a;
  a.outputs = {out};
  Status s = (*be)->execute(**plan, a);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'x'"), std::string::npos) << s.message();
  a.inputs = {{"x", in}};
  a.outputs = {};
  s = (*be)->execute(**plan, a);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("outputs"), std::string::npos) << s.message();
  EXPECT_FALSE(make_cpu_backend(CpuOptions{0}).ok());
  EXPECT_EQ((*be)->info().threads, 2);
}

// ---- elementwise ------------------------------------------------------------------------------

TEST(CpuOps, AddAndMulWithBroadcast) {
  std::mt19937 rng(11);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{3, 5}, {3, 5}}, {{3, 5}, {5}}, {{2, 3, 7}, {7}}, {{2, 3, 7}, {2, 3, 7}}, {{1, 17}, {17}}, {{9}, {9}}};
  for (const auto& [as, bs] : cases)
    for (bool is_mul : {false, true}) {
      int64_t na = 1, nb = 1;
      for (int64_t s : as) na *= s;
      for (int64_t s : bs) nb *= s;
      std::vector<float> a = random_floats(na, rng, -3, 3), bv = random_floats(nb, rng, -3, 3);
      // Builder::input takes a braced shape, so spell out each rank.
      Builder b2;
      Value A, B;
      if (as.size() == 1) A = b2.input("a", DType::F32, {as[0]});
      else if (as.size() == 2) A = b2.input("a", DType::F32, {as[0], as[1]});
      else A = b2.input("a", DType::F32, {as[0], as[1], as[2]});
      if (bs.size() == 1) B = b2.input("b", DType::F32, {bs[0]});
      else if (bs.size() == 2) B = b2.input("b", DType::F32, {bs[0], bs[1]});
      else B = b2.input("b", DType::F32, {bs[0], bs[1], bs[2]});
      b2.output(is_mul ? b2.mul(A, B) : b2.add(A, B));
      OpGraph g = finish(b2);
      std::vector<double> want(na);
      for (int64_t i = 0; i < na; ++i) {
        const double x = a[i], y = bv[nb == na ? i : i % nb];
        want[i] = is_mul ? x * y : x + y;
      }
      for (int threads : kThreads) {
        auto out = run_in(g, threads, {{"a", a.data()}, {"b", bv.data()}});
        ASSERT_EQ(out.size(), 1u);
        expect_close(floats(out[0]), want, 1e-7, 0, is_mul ? "mul" : "add");
      }
    }
}

double silu_ref(double x) { return x / (1.0 + std::exp(-x)); }

TEST(CpuOps, SiluAndSiluMul) {
  std::mt19937 rng(12);
  for (int64_t rows : {1, 3, 7})
    for (int64_t n : {5, 17, 64}) {
      std::vector<float> g0 = random_floats(rows * n, rng, -12, 12), u = random_floats(rows * n, rng, -2, 2);
      g0[0] = -90.0f;  // exp(-x) overflows to inf: silu must still give -0
      Builder b;
      Value gi = b.input("g", DType::F32, {rows, n}), ui = b.input("u", DType::F32, {rows, n});
      b.output(b.silu(gi));
      b.output(b.silu_mul(gi, ui));
      OpGraph g = finish(b);
      std::vector<double> ws(rows * n), wm(rows * n);
      for (int64_t i = 0; i < rows * n; ++i) {
        ws[i] = silu_ref(g0[i]);
        wm[i] = silu_ref(g0[i]) * u[i];
      }
      for (int threads : kThreads) {
        auto out = run_in(g, threads, {{"g", g0.data()}, {"u", u.data()}});
        ASSERT_EQ(out.size(), 2u);
        expect_close(floats(out[0]), ws, 1e-6, 1e-30, "silu");
        expect_close(floats(out[1]), wm, 1e-6, 1e-30, "silu_mul");
      }
    }
}

TEST(CpuOps, RmsNorm) {
  std::mt19937 rng(13);
  for (int64_t rows : {1, 3, 7})
    for (int64_t n : {5, 17, 576})
      for (float eps : {1e-5f, 1e-6f, 0.5f}) {
        std::vector<float> x = random_floats(rows * n, rng, -4, 4);
        Builder b;
        b.output(b.rms_norm(b.input("x", DType::F32, {rows, n}), eps));
        OpGraph g = finish(b);
        std::vector<double> want(rows * n);
        for (int64_t r = 0; r < rows; ++r) {
          double ss = 0;
          for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[r * n + i]) * x[r * n + i];
          const double s = 1.0 / std::sqrt(ss / n + eps);
          for (int64_t i = 0; i < n; ++i) want[r * n + i] = x[r * n + i] * s;
        }
        for (int threads : kThreads) {
          auto out = run_in(g, threads, {{"x", x.data()}});
          ASSERT_EQ(out.size(), 1u);
          expect_close(floats(out[0]), want, 2e-6, 1e-7, "rms_norm");
        }
      }
  // 3-D input: rows over the last axis.
  std::vector<float> x = random_floats(2 * 3 * 8, rng);
  Builder b;
  b.output(b.rms_norm(b.input("x", DType::F32, {2, 3, 8}), 1e-5f));
  auto out = run_in(finish(b), 2, {{"x", x.data()}});
  ASSERT_EQ(out.size(), 1u);
  std::vector<double> want(48);
  for (int r = 0; r < 6; ++r) {
    double ss = 0;
    for (int i = 0; i < 8; ++i) ss += static_cast<double>(x[r * 8 + i]) * x[r * 8 + i];
    for (int i = 0; i < 8; ++i) want[r * 8 + i] = x[r * 8 + i] / std::sqrt(ss / 8 + 1e-5);
  }
  expect_close(floats(out[0]), want, 2e-6, 1e-7, "rms_norm 3-D");
}

TEST(CpuOps, Softmax) {
  std::mt19937 rng(14);
  for (int64_t rows : {1, 3, 7})
    for (int64_t n : {1, 5, 17, 100}) {
      std::vector<float> x = random_floats(rows * n, rng, -10, 10);
      x[0] += 1000.0f;  // needs the max subtracted
      if (rows > 1 && n > 1) x[n] = -INFINITY;  // a masked entry
      Builder b;
      b.output(b.softmax(b.input("x", DType::F32, {rows, n})));
      OpGraph g = finish(b);
      std::vector<double> want(rows * n);
      for (int64_t r = 0; r < rows; ++r) {
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(x[r * n + i]));
        for (int64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - mx);
        for (int64_t i = 0; i < n; ++i) want[r * n + i] = std::exp(x[r * n + i] - mx) / sum;
      }
      for (int threads : kThreads) {
        auto out = run_in(g, threads, {{"x", x.data()}});
        ASSERT_EQ(out.size(), 1u);
        expect_close(floats(out[0]), want, 2e-6, 1e-12, "softmax");
      }
    }
}

// ---- rope ---------------------------------------------------------------------------------------

struct RopeCase {
  RopeMode mode;
  int64_t H, D;
  int n_rot;
  float base, freq_scale;
};

TEST(CpuOps, Rope) {
  std::mt19937 rng(15);
  const std::vector<int32_t> pos = {7, 0, 31, 100, 3};  // not starting at 0, not sorted
  const int64_t n = static_cast<int64_t>(pos.size());
  const RopeCase cases[] = {
      {RopeMode::Normal, 3, 8, 8, 10000.0f, 1.0f},  {RopeMode::NeoX, 3, 8, 8, 10000.0f, 1.0f},
      {RopeMode::Normal, 2, 12, 4, 10000.0f, 1.0f}, {RopeMode::NeoX, 2, 12, 4, 10000.0f, 1.0f},
      {RopeMode::Normal, 1, 64, 64, 500000.0f, 0.25f}, {RopeMode::NeoX, 4, 64, 32, 1e6f, 0.5f},
  };
  for (const RopeCase& rc : cases) {
    std::vector<float> x = random_floats(n * rc.H * rc.D, rng, -2, 2);
    Builder b;
    Value xi = b.input("x", DType::F32, {n, rc.H, rc.D});
    b.output(b.rope(xi, b.input("positions", DType::I32, {n}), rc.n_rot, rc.mode, rc.base, rc.freq_scale));
    OpGraph g = finish(b);
    std::vector<double> want(x.begin(), x.end());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < rc.H; ++h)
        for (int i = 0; i < rc.n_rot / 2; ++i) {
          const double theta = pos[t] * static_cast<double>(rc.freq_scale) *
                               std::pow(static_cast<double>(rc.base), -2.0 * i / rc.n_rot);
          const int64_t i0 = rc.mode == RopeMode::NeoX ? i : 2 * i;
          const int64_t i1 = rc.mode == RopeMode::NeoX ? i + rc.n_rot / 2 : 2 * i + 1;
          const int64_t o = (t * rc.H + h) * rc.D;
          const double x0 = x[o + i0], x1 = x[o + i1];
          want[o + i0] = x0 * std::cos(theta) - x1 * std::sin(theta);
          want[o + i1] = x0 * std::sin(theta) + x1 * std::cos(theta);
        }
    for (int threads : kThreads) {
      auto out = run_in(g, threads, {{"x", x.data()}, {"positions", pos.data()}});
      ASSERT_EQ(out.size(), 1u);
      std::vector<float> y = floats(out[0]);
      // f32 angles built by repeated multiplication drift by a few ulps of pos (<= 100 here).
      expect_close(y, want, 0, 1e-4,
                   std::string(rc.mode == RopeMode::NeoX ? "neox" : "normal") + " n_rot=" + std::to_string(rc.n_rot));
      // Dimensions past n_rot pass through bit for bit.
      for (int64_t r = 0; r < n * rc.H; ++r)
        for (int64_t d = rc.n_rot; d < rc.D; ++d) ASSERT_EQ(y[r * rc.D + d], x[r * rc.D + d]);
    }
  }
}

// ---- layout ops ---------------------------------------------------------------------------------

TEST(CpuOps, GetRows) {
  std::mt19937 rng(16);
  std::vector<float> x = random_floats(6 * 5, rng);
  const std::vector<int32_t> rows = {5, 0, 0, 3};
  Builder b;
  b.output(b.get_rows(b.input("x", DType::F32, {6, 5}), b.input("rows", DType::I32, {4})));
  OpGraph g = finish(b);
  for (int threads : kThreads) {
    auto out = run_in(g, threads, {{"x", x.data()}, {"rows", rows.data()}});
    ASSERT_EQ(out.size(), 1u);
    std::vector<float> y = floats(out[0]);
    ASSERT_EQ(y.size(), 20u);
    for (int r = 0; r < 4; ++r)
      for (int e = 0; e < 5; ++e) EXPECT_EQ(y[r * 5 + e], x[rows[r] * 5 + e]);
  }
}

TEST(CpuOps, Permute) {
  std::mt19937 rng(17);
  struct Case {
    std::vector<int64_t> shape;
    std::array<int, 4> perm;
  };
  const Case cases[] = {
      {{3, 5}, {1, 0, 2, 3}},          {{2, 3, 5}, {2, 0, 1, 3}}, {{2, 3, 5}, {1, 0, 2, 3}},
      {{2, 3, 5}, {0, 2, 1, 3}},       {{2, 3, 4, 5}, {3, 1, 0, 2}}, {{2, 3, 4, 5}, {0, 2, 1, 3}},
      {{2, 3, 4, 5}, {0, 1, 2, 3}},
  };
  for (const Case& c : cases) {
    const int r = static_cast<int>(c.shape.size());
    int64_t total = 1;
    for (int64_t s : c.shape) total *= s;
    std::vector<float> x(total);
    for (int64_t i = 0; i < total; ++i) x[i] = static_cast<float>(i);
    Builder b2;
    Value in = b2.input("x", DType::F32, {total});
    Value shaped = r == 2   ? b2.reshape(in, {c.shape[0], c.shape[1]})
                   : r == 3 ? b2.reshape(in, {c.shape[0], c.shape[1], c.shape[2]})
                            : b2.reshape(in, {c.shape[0], c.shape[1], c.shape[2], c.shape[3]});
    b2.output(b2.permute(shaped, c.perm));
    OpGraph g = finish(b2);
    ASSERT_FALSE(g.nodes.empty());
    const TensorDesc& od = g.nodes[g.outputs[0]].out;
    // Reference: walk every output index, map back through perm.
    std::vector<double> want(total);
    int64_t in_stride[4] = {1, 1, 1, 1};
    for (int k = r - 2; k >= 0; --k) in_stride[k] = in_stride[k + 1] * c.shape[k + 1];
    for (int64_t o = 0; o < total; ++o) {
      int64_t rem = o, src = 0;
      for (int k = r - 1; k >= 0; --k) {
        const int64_t idx = rem % od.shape[k];
        rem /= od.shape[k];
        src += idx * in_stride[c.perm[k]];
      }
      want[o] = x[src];
    }
    for (int k = 0; k < r; ++k) ASSERT_EQ(od.shape[k], c.shape[c.perm[k]]);
    for (int threads : kThreads) {
      auto out = run_in(g, threads, {{"x", x.data()}});
      ASSERT_EQ(out.size(), 1u);
      expect_close(floats(out[0]), want, 0, 0, "permute rank " + std::to_string(r));
    }
  }
}

TEST(CpuOps, CopyBetweenF32AndF16) {
  std::mt19937 rng(18);
  std::uniform_real_distribution<double> mant(1.0, 2.0);
  std::uniform_int_distribution<int> ex(-26, 15), coin(0, 1);
  const int64_t rows = 3, n = 7;
  std::vector<float> x(rows * n);
  for (float& f : x) f = static_cast<float>(std::ldexp(mant(rng), ex(rng)) * (coin(rng) ? 1 : -1));
  x[1] = 0.0f;
  x[2] = 65504.0f;  // largest half
  x[3] = 1.0f + 1.0f / 2048.0f;  // a tie: rounds to even (1.0)

  Builder b;
  Value xi = b.input("x", DType::F32, {rows, n});
  Value h = b.copy(xi, DType::F16);
  b.output(h);
  b.output(b.copy(h, DType::F32));
  b.output(b.copy(xi, DType::F32));
  OpGraph g = finish(b);
  for (int threads : kThreads) {
    auto out = run_in(g, threads, {{"x", x.data()}});
    ASSERT_EQ(out.size(), 3u);
    ASSERT_EQ(out[0].size(), static_cast<size_t>(rows * n * 2));
    std::vector<uint16_t> hb(rows * n);
    std::memcpy(hb.data(), out[0].data(), out[0].size());
    std::vector<float> back = floats(out[1]), same = floats(out[2]);
    for (int64_t i = 0; i < rows * n; ++i) {
      const double v = half_value(hb[i]);
      // Nearest: neither neighbouring half is closer to x.
      const double err = std::fabs(v - x[i]);
      const uint16_t mag = hb[i] & 0x7fff;
      if (mag < 0x7bff) {
        EXPECT_LE(err, std::fabs(half_value(static_cast<uint16_t>(hb[i] + 1)) - x[i])) << i;
      }
      if (mag > 0) {
        EXPECT_LE(err, std::fabs(half_value(static_cast<uint16_t>(hb[i] - 1)) - x[i])) << i;
      }
      EXPECT_EQ(static_cast<double>(back[i]), v) << "f16 -> f32 must be exact at " << i;
      EXPECT_EQ(same[i], x[i]);
    }
    EXPECT_EQ(hb[3], 0x3c00);
    EXPECT_EQ(hb[2], 0x7bff);
  }
  // f16 input straight from the caller.
  std::vector<uint16_t> hin = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000, 0x3555};
  Builder c;
  c.output(c.copy(c.input("h", DType::F16, {2, 3}), DType::F32));
  auto out = run_in(finish(c), 2, {{"h", hin.data()}});
  ASSERT_EQ(out.size(), 1u);
  std::vector<float> f = floats(out[0]);
  for (size_t i = 0; i < hin.size(); ++i) EXPECT_EQ(static_cast<double>(f[i]), half_value(hin[i])) << i;
}

// ---- embedding ----------------------------------------------------------------------------------

TEST(CpuOps, EmbeddingF32Table) {
  std::mt19937 rng(19);
  const int64_t V = 10, E = 12;
  std::vector<float> table = random_floats(V * E, rng);
  const std::vector<int32_t> ids = {3, 9, 0, 3, 7};
  Builder b;
  b.output(b.embedding(b.weight("tok", DType::F32, {V, E}, table.data()), b.input("ids", DType::I32, {5})));
  OpGraph g = finish(b);
  for (int threads : kThreads) {
    auto out = run_in(g, threads, {{"ids", ids.data()}});
    ASSERT_EQ(out.size(), 1u);
    std::vector<float> y = floats(out[0]);
    for (int r = 0; r < 5; ++r)
      for (int e = 0; e < E; ++e) ASSERT_EQ(y[r * E + e], table[ids[r] * E + e]);
  }
}

TEST(CpuOps, EmbeddingQuantisedTables) {
  std::mt19937 rng(20);
  const int64_t V = 7, E = 64;
  const std::vector<int32_t> ids = {6, 0, 2, 2};
  std::vector<double> mins;
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::F16}) {
    std::vector<uint8_t> table = random_weights(t, V, E, rng, &mins);
    const size_t row = dtype_row_bytes(t, E);
    // Reference from the block descriptions (x = d*q for Q8_0; d*(nibble-8) for Q4_0).
    std::vector<double> want(ids.size() * E);
    for (size_t r = 0; r < ids.size(); ++r)
      for (int64_t e = 0; e < E; ++e) {
        const uint8_t* rp = table.data() + ids[r] * row;
        double v = 0;
        if (t == DType::Q8_0) {
          ek::BlockQ8_0 blk;
          std::memcpy(&blk, rp + (e / 32) * sizeof blk, sizeof blk);
          v = half_value(blk.d) * blk.qs[e % 32];
        } else if (t == DType::Q4_0) {
          ek::BlockQ4_0 blk;
          std::memcpy(&blk, rp + (e / 32) * sizeof blk, sizeof blk);
          const int j = static_cast<int>(e % 32);
          const int q = j < 16 ? (blk.qs[j] & 15) : (blk.qs[j - 16] >> 4);
          v = half_value(blk.d) * (q - 8);
        } else {
          uint16_t h;
          std::memcpy(&h, rp + 2 * e, 2);
          v = half_value(h);
        }
        want[r * E + e] = v;
      }
    Builder b;
    b.output(b.embedding(b.weight("tok", t, {V, E}, table.data()), b.input("ids", DType::I32, {4})));
    OpGraph g = finish(b);
    for (int threads : kThreads) {
      auto out = run_in(g, threads, {{"ids", ids.data()}});
      ASSERT_EQ(out.size(), 1u);
      expect_close(floats(out[0]), want, 1e-7, 0, std::string("embedding ") + dtype_name(t));
    }
  }
}

// ---- kv_write + attention through the paged layout ---------------------------------------------

struct AttnParam {
  int threads;
  int64_t H, Hkv;
};

class CpuAttention : public ::testing::TestWithParam<AttnParam> {};

// Two sequences in one pool of 10 blocks of 4 slots, each with a block table out of order;
// three steps (interleaved prefill of different lengths, a decode of both, a chunk of one that
// crosses a block boundary). Unused slots hold f16 NaN, so a read outside the block table or
// past a token's position poisons the output.
TEST_P(CpuAttention, PagedMatchesNaiveReference) {
  const AttnParam prm = GetParam();
  const int64_t H = prm.H, Hkv = prm.Hkv, D = 8, B = 4, n_blocks = 10;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const std::vector<std::vector<int32_t>> tables = {{7, 2, 9}, {4, 0, 8, 5}};
  const size_t row = static_cast<size_t>(Hkv * D);
  const size_t pool_elems = static_cast<size_t>(n_blocks * B) * row;
  HostBuffer kbuf(pool_elems * 2), vbuf(pool_elems * 2);
  std::fill(kbuf.u16(), kbuf.u16() + pool_elems, uint16_t{0x7e00});
  std::fill(vbuf.u16(), vbuf.u16() + pool_elems, uint16_t{0x7e00});

  // Reference store: per sequence, per position, the f16-rounded K and V rows.
  std::vector<std::vector<std::vector<double>>> refK(2), refV(2);
  auto r16 = [](float f) { return half_value(ek::f32_to_fp16(f)); };

  struct Tok {
    int32_t seq, pos;
  };
  std::vector<std::vector<Tok>> steps = {
      {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {1, 6}, {1, 7}, {1, 8},
       {0, 3}, {0, 4}, {0, 5}},
      {{1, 9}, {0, 6}},
      {{0, 7}, {0, 8}, {0, 9}, {0, 10}},
  };
  auto be = make_cpu_backend(CpuOptions{prm.threads});
  ASSERT_TRUE(be.ok());
  std::mt19937 rng(static_cast<uint32_t>(100 * H + Hkv + prm.threads));
  for (size_t step = 0; step < steps.size(); ++step) {
    const std::vector<Tok>& toks = steps[step];
    const int64_t n = static_cast<int64_t>(toks.size());
    std::vector<float> q = random_floats(n * H * D, rng, -2, 2);
    std::vector<float> k = random_floats(n * Hkv * D, rng, -2, 2);
    std::vector<float> v = random_floats(n * Hkv * D, rng, -1, 1);
    std::vector<int32_t> seq_of(n), pos(n);
    for (int64_t t = 0; t < n; ++t) {
      seq_of[t] = toks[t].seq;
      pos[t] = toks[t].pos;
      auto& K = refK[toks[t].seq];
      auto& Vv = refV[toks[t].seq];
      ASSERT_EQ(static_cast<int32_t>(K.size()), toks[t].pos) << "test setup: positions in order per sequence";
      K.emplace_back(row);
      Vv.emplace_back(row);
      for (size_t i = 0; i < row; ++i) {
        K.back()[i] = r16(k[t * row + i]);
        Vv.back()[i] = r16(v[t * row + i]);
      }
    }
    KvLayout layout;
    layout.block_size = static_cast<int>(B);
    layout.seq_of_token = seq_of.data();
    layout.positions = pos.data();
    for (const auto& tb : tables) {
      layout.seq_blocks.push_back(tb.data());
      layout.seq_n_blocks.push_back(static_cast<int32_t>(tb.size()));
    }

    Builder b;
    Value qi = b.input("q", DType::F32, {n, H, D});
    Value ki = b.input("k", DType::F32, {n, Hkv, D});
    Value vi = b.input("v", DType::F32, {n, Hkv, D});
    Value kc = b.kv_write(ki, b.kv_cache(0, 0, n_blocks, B, Hkv, D));
    Value vc = b.kv_write(vi, b.kv_cache(0, 1, n_blocks, B, Hkv, D));
    b.output(b.attention(qi, kc, vc, scale));
    OpGraph g = finish(b);

    RunArgs ra;
    ra.inputs = {{"q", q.data()}, {"k", k.data()}, {"v", v.data()}};
    ra.kv = {&kbuf, &vbuf};
    ra.layout = &layout;
    auto out = run_on(**be, g, ra);
    ASSERT_EQ(out.size(), 1u);
    std::vector<float> y = floats(out[0]);

    std::vector<double> want(n * H * D), tol(n * H * D);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t kvh = h / (H / Hkv);
        const auto& K = refK[seq_of[t]];
        const auto& Vv = refV[seq_of[t]];
        std::vector<double> sc(pos[t] + 1);
        double mx = -INFINITY;
        for (int32_t j = 0; j <= pos[t]; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += r16(q[(t * H + h) * D + d]) * K[j][kvh * D + d];
          sc[j] = dot * scale;
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (double& s : sc) sum += (s = std::exp(s - mx));
        // The probabilities meet V as f16, as in llama.cpp's f16-cache matmul.
        std::vector<double> w(sc.size());
        for (size_t j = 0; j < sc.size(); ++j) w[j] = r16(static_cast<float>(sc[j] / sum));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0, flip = 0;
          for (int32_t j = 0; j <= pos[t]; ++j) {
            acc += w[j] * Vv[j][kvh * D + d];
            flip = std::max(flip, std::fabs(w[j] * Vv[j][kvh * D + d]));
          }
          want[(t * H + h) * D + d] = acc;
          // f32 rounding of a probability can move it across an f16 rounding boundary: one
          // f16 ulp (<= 2^-10 relative) of one term.
          tol[(t * H + h) * D + d] = 2e-6 + 1e-5 * std::fabs(acc) + std::ldexp(flip, -10);
        }
      }
    ASSERT_EQ(y.size(), want.size());
    int flips = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_LE(std::fabs(y[i] - want[i]), tol[i]) << "attention step " << step << " at " << i << ": got " << y[i]
                                                   << " want " << want[i];
      flips += std::fabs(y[i] - want[i]) > 2e-6 + 1e-5 * std::fabs(want[i]);
    }
    EXPECT_LE(flips, static_cast<int>(y.size()) / 10) << "too many outputs needed the f16-boundary slack";
  }

  // The pools hold exactly what was written, where the block tables say, and nothing else.
  std::vector<bool> used(n_blocks * B, false);
  for (int s = 0; s < 2; ++s)
    for (size_t p = 0; p < refK[s].size(); ++p) {
      const size_t slot = static_cast<size_t>(tables[s][p / B]) * B + p % B;
      used[slot] = true;
      for (size_t i = 0; i < row; ++i) {
        ASSERT_EQ(half_value(kbuf.u16()[slot * row + i]), refK[s][p][i]) << "seq " << s << " pos " << p;
        ASSERT_EQ(half_value(vbuf.u16()[slot * row + i]), refV[s][p][i]) << "seq " << s << " pos " << p;
      }
    }
  for (size_t slot = 0; slot < used.size(); ++slot)
    if (!used[slot])
      for (size_t i = 0; i < row; ++i) {
        ASSERT_EQ(kbuf.u16()[slot * row + i], 0x7e00) << "slot " << slot << " was written";
        ASSERT_EQ(vbuf.u16()[slot * row + i], 0x7e00) << "slot " << slot << " was written";
      }
}

INSTANTIATE_TEST_SUITE_P(GqaAndThreads, CpuAttention,
                         ::testing::Values(AttnParam{1, 4, 2}, AttnParam{2, 4, 2}, AttnParam{1, 6, 2},
                                           AttnParam{2, 6, 2}, AttnParam{1, 3, 3}, AttnParam{2, 3, 1}),
                         [](const ::testing::TestParamInfo<AttnParam>& i) {
                           std::string name = "t";
                           name += std::to_string(i.param.threads);
                           name += "_H";
                           name += std::to_string(i.param.H);
                           name += "_Hkv";
                           name += std::to_string(i.param.Hkv);
                           return name;
                         });

// Flash-decoding (sequences decoding at long context, fewer tiles than about two per thread:
// every thread works on every tile, the kv heads' tiles batched between the barriers) must give
// the bits of the one-thread tile path, for f16 and q8_0 pools, GQA and MHA, one sequence and
// two (two batches when the tiles outnumber a batch), contexts either side of the split threshold
// (1024 positions).
TEST(CpuAttention, FlashDecodingIsBitIdenticalToOneThread) {
  struct Case {
    int64_t H, Hkv, D;
    DType dtype;
    std::vector<int32_t> positions;  // one decoding token per sequence
  };
  const std::vector<Case> cases = {
      {9, 3, 64, DType::F16, {1100}},       {9, 3, 64, DType::Q8_0, {1300}},     {4, 4, 32, DType::F16, {1023}},
      {4, 4, 32, DType::F16, {1024}},       {2, 1, 64, DType::F16, {1200, 999}}, {2, 1, 64, DType::Q8_0, {1030, 300}},
      {6, 2, 32, DType::Q8_0, {1100, 40}},
  };
  const int64_t B = 16, n_blocks = 183;  // coprime with 37: the tables below are distinct blocks
  for (const Case& cs : cases) {
    const int64_t n = static_cast<int64_t>(cs.positions.size()), row_bytes = dtype_row_bytes(cs.dtype, cs.D);
    SCOPED_TRACE("H=" + std::to_string(cs.H) + " Hkv=" + std::to_string(cs.Hkv) + " D=" + std::to_string(cs.D) +
                 " q8_0=" + std::to_string(cs.dtype == DType::Q8_0) + " first pos=" + std::to_string(cs.positions[0]));
    std::mt19937 rng(static_cast<uint32_t>(cs.H * 131 + cs.positions[0]));
    const size_t pool_bytes = static_cast<size_t>(n_blocks * B * cs.Hkv * row_bytes);
    HostBuffer kbuf(pool_bytes), vbuf(pool_bytes);
    for (HostBuffer* buf : {&kbuf, &vbuf}) {
      auto* bytes = static_cast<uint8_t*>(buf->host_ptr());
      for (size_t off = 0; off < pool_bytes; off += static_cast<size_t>(row_bytes)) {
        std::vector<float> x = random_floats(static_cast<size_t>(cs.D), rng, -2, 2);
        if (cs.dtype == DType::F16) {
          for (int64_t d = 0; d < cs.D; ++d) {
            const uint16_t h = ek::f32_to_fp16(x[d]);
            std::memcpy(bytes + off + 2 * d, &h, 2);
          }
        } else {
          ek::quantize_row_q8_0_ref(x.data(), bytes + off, cs.D);
        }
      }
    }
    // Scattered block tables, disjoint between the sequences.
    std::vector<std::vector<int32_t>> tables(n);
    for (int64_t sq = 0; sq < n; ++sq)
      for (int64_t b = 0; b <= cs.positions[sq] / B; ++b)
        tables[sq].push_back(static_cast<int32_t>((b * 2 + sq) * 37 % n_blocks));
    std::vector<int32_t> seq_of(n), pos = cs.positions;
    std::vector<uint8_t> style(n, kStyleDecode);
    KvLayout layout;
    layout.block_size = static_cast<int>(B);
    layout.n_tokens = static_cast<int>(n);
    layout.seq_of_token = seq_of.data();
    layout.positions = pos.data();
    layout.token_style = style.data();
    for (int64_t sq = 0; sq < n; ++sq) {
      seq_of[sq] = static_cast<int32_t>(sq);
      layout.seq_blocks.push_back(tables[sq].data());
      layout.seq_n_blocks.push_back(static_cast<int32_t>(tables[sq].size()));
    }
    Builder b;
    Value qi = b.input("q", DType::F32, {n, cs.H, cs.D});
    b.output(b.attention(qi, b.kv_cache(0, 0, n_blocks, B, cs.Hkv, cs.D, cs.dtype),
                         b.kv_cache(0, 1, n_blocks, B, cs.Hkv, cs.D, cs.dtype), 0.125f));
    OpGraph g = finish(b);
    std::vector<float> q = random_floats(static_cast<size_t>(n * cs.H * cs.D), rng, -3, 3);
    RunArgs ra;
    ra.inputs = {{"q", q.data()}};
    ra.kv = {&kbuf, &vbuf};
    ra.layout = &layout;
    const std::vector<std::vector<uint8_t>> want = run(g, 1, ra);
    ASSERT_EQ(want.size(), 1u);
    for (int threads : {2, 3}) {
      const std::vector<std::vector<uint8_t>> got = run(g, threads, ra);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0], want[0]) << threads << " threads";
    }
  }
}

TEST(CpuAttention, NeedsAKvLayoutAndBoundPools) {
  Builder b;
  Value q = b.input("q", DType::F32, {1, 2, 4});
  Value k = b.input("k", DType::F32, {1, 1, 4});
  Value kc = b.kv_write(k, b.kv_cache(0, 0, 2, 4, 1, 4));
  b.output(b.attention(q, kc, kc, 0.5f));
  OpGraph g = finish(b);
  auto be = make_cpu_backend(CpuOptions{1});
  auto plan = (*be)->prepare(g);
  ASSERT_TRUE(plan.ok()) << plan.message();
  float qd[8] = {}, kd[4] = {}, out[8];
  HostBuffer small(8), pool(2 * 4 * 4 * 2);
  ExecArgs a;
  a.inputs = {{"q", qd}, {"k", kd}};
  a.outputs = {out};
  Status s = (*be)->execute(**plan, a);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("kv cache of layer 0"), std::string::npos) << s.message();
  a.kv = {&small};
  s = (*be)->execute(**plan, a);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("too small"), std::string::npos) << s.message();
  a.kv = {&pool};
  s = (*be)->execute(**plan, a);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("kv layout"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace ember
