// The matmul / dot-product family on the default model's real shapes (SmolLM2-135M: n_embd
// 576, n_ff 1536, K/V width 192, vocab 49152), with M = 1 (decode), 16, 128 and 512 (prefill).
//
//   matmul/<type>/K../N../M../t<threads>  the CPU backend's op_matmul (activation conversion,
//                                         rows split across the backend's thread pool)
//   matmul/q4_1x2/...                     the same on q4_1 weights packed as prepare-weights
//                                         stores them under EMBER_LLAMA_EXACT=1 (gemm/pack.h)
//   matmul/q4_1x16/..., matmul/q8_0x16/... the same in the default block-sum order's layouts
//                                         (the output head also at M = 16: a serving step)
//   vec_dot/<type>/<isa>/K../N..          each dot-product candidate alone, one thread, M = 1
//                                         (q4_K, q5_K, q6_K: K1536/N576 only)
//   dnnl_sgemm/..., eigen/...             f32 baselines, where oneDNN / Eigen were found
//   dnnl_u8s8s32/...                      oneDNN's integer GEMM (u8 x s8 -> s32, threads: OpenMP's)
//
// EMBER_MAX_CPU_ISA=avx2 (or scalar) runs ember's rows with a lower kernel set, for side-by-side
// figures of the AVX-512 and AVX2 kernels on one machine.
//   prefill_f32/{ember,dnnl_sgemm}/...   f32 GEMM at M = 128, 512 on the model's shapes and 1024^3;
//                                         oneDNN only at t = OMP_NUM_THREADS
//   probe/read_bw, probe/fma_peak         what the machine can do: streaming read bandwidth
//                                         and peak f32 FMA rate (AVX2; AVX-512 where the CPU has
//                                         it), for stating ratios
//
// Weights are "cold", as in decoding a model larger than the last-level cache: each
// iteration uses the next of several copies spread over >= 128 MiB. Counters: flops (2·M·N·K
// per iteration) and weight_bytes (N rows of weights per iteration; GB/s of weights for M = 1),
// both per second of wall time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/ops/ops.h"
#include "backends/cpu/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/pack.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/quant/simd.h"

#include "bench/bench_common.h"

#if defined(__x86_64__)
#include "bench/probes.h"
#endif
#if defined(EMBER_BENCH_DNNL)
#include <dnnl.h>
#endif
#if defined(EMBER_BENCH_EIGEN)
#include <Eigen/Core>
#endif

namespace ember::bench {
namespace {

namespace k = kernels;

struct Shape {
  int64_t K, N;
  const char* what;
};
// SmolLM2-135M: q/o (576x576), k/v (576->192), gate/up (576->1536), down (1536->576), output.
constexpr Shape kShapes[] = {
    {576, 576, "attn_q/o"}, {576, 192, "attn_k/v"}, {576, 1536, "ffn_gate/up"},
    {1536, 576, "ffn_down"}, {576, 49152, "output"},
};
constexpr int64_t kMs[] = {1, 16, 128, 512};
constexpr uint32_t kTypes[] = {k::kTypeQ4_1, k::kTypeQ8_0, k::kTypeF16, k::kTypeF32};

// A buffer of valid weight data of one type (finite scales, any quants), reused by every
// shape as consecutive matrices so that iterations can walk through cold copies.
struct WeightPool {
  std::vector<uint8_t> bytes;
};

const WeightPool& weight_pool(uint32_t type, size_t at_least) {
  static std::map<uint32_t, std::unique_ptr<WeightPool>> pools;
  auto& p = pools[type];
  if (p && p->bytes.size() >= at_least) return *p;
  const k::QuantTypeKernels* qk = k::find_quant_kernels(type);
  const size_t blocks = (std::max(at_least, kColdBytes) + qk->block_bytes - 1) / qk->block_bytes;
  p = std::make_unique<WeightPool>();
  p->bytes.resize(blocks * qk->block_bytes);
  Rng rng{0x9E3779B97F4A7C15ull ^ type};
  uint8_t* b = p->bytes.data();
  if (type == k::kTypeF32) {
    float* f = reinterpret_cast<float*>(b);
    for (size_t i = 0; i < blocks; ++i) f[i] = rng.uniform();
  } else if (type == k::kTypeF16) {
    uint16_t* h = reinterpret_cast<uint16_t*>(b);
    for (size_t i = 0; i < blocks; ++i) h[i] = k::f32_to_fp16(rng.uniform());
  } else {
    for (size_t i = 0; i < p->bytes.size(); i += 8) {
      uint64_t r = rng.next();
      std::memcpy(b + i, &r, std::min<size_t>(8, p->bytes.size() - i));
    }
    // Legacy quant blocks start with an f16 scale (and Q4_1/Q5_1 an f16 min): make them finite.
    const uint16_t d = k::f32_to_fp16(0.01f), m = k::f32_to_fp16(-0.08f);
    for (size_t i = 0; i < blocks; ++i) {
      uint8_t* blk = b + i * qk->block_bytes;
      if (type == k::kTypeQ6_K) {  // its f16 scale comes last
        std::memcpy(blk + offsetof(k::BlockQ6_K, d), &d, 2);
        continue;
      }
      std::memcpy(blk, &d, 2);
      if (type == k::kTypeQ4_1 || type == k::kTypeQ5_1 || type == k::kTypeQ4_K || type == k::kTypeQ5_K)
        std::memcpy(blk + 2, &d, 2);  // the min (dmin for K-quants)
      if (type == k::kTypeQ4_1 || type == k::kTypeQ5_1) std::memcpy(blk + 2, &m, 2);
    }
  }
  return *p;
}

std::vector<float> random_activations(int64_t n, uint64_t seed) {
  Rng rng{seed | 1};
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = rng.uniform();
  return x;
}

void set_counters(benchmark::State& st, int64_t M, int64_t N, int64_t K, size_t w_bytes) {
  using C = benchmark::Counter;
  st.counters["flops"] = C(2.0 * static_cast<double>(M * N * K), C::kIsIterationInvariantRate, C::kIs1000);
  st.counters["weight_bytes"] = C(static_cast<double>(w_bytes), C::kIsIterationInvariantRate, C::kIs1000);
}

// ---- the CPU backend's matmul op -------------------------------------------------------------
// The same copies rearranged into `layout` (what prepare-weights does at load), made once.
const std::vector<uint8_t>& packed_pool(const WeightPool& pool, size_t w_bytes, int64_t N, int64_t K, WeightLayout layout) {
  static std::map<std::tuple<const void*, size_t, WeightLayout>, std::vector<uint8_t>> packed;
  std::vector<uint8_t>& out = packed[{&pool, w_bytes, layout}];
  if (out.empty()) {
    out.resize(pool.bytes.size());
    for (size_t c = 0; c + w_bytes <= pool.bytes.size(); c += w_bytes) {
      if (layout == WeightLayout::Q4_1x2) k::pack_q4_1x2(pool.bytes.data() + c, N, K, out.data() + c);
      else if (layout == WeightLayout::Q4_1x16) k::pack_q4_1x16(pool.bytes.data() + c, N, K, out.data() + c);
      else k::pack_q8_0x16(pool.bytes.data() + c, N, K, out.data() + c);
    }
  }
  return out;
}

void bm_matmul_op(benchmark::State& st, uint32_t type, int64_t K, int64_t N, int64_t M, int threads,
                  WeightLayout layout) {
  const size_t w_bytes = static_cast<size_t>(N) * dtype_row_bytes(static_cast<DType>(type), K);
  const WeightPool& pool = weight_pool(type, 2 * w_bytes);
  const size_t copies = pool.bytes.size() / w_bytes;
  const uint8_t* weights =
      layout != WeightLayout::Plain ? packed_pool(pool, w_bytes, N, K, layout).data() : pool.bytes.data();
  TensorDesc xd, wd;
  xd.dtype = DType::F32;
  xd.rank = 2;
  xd.shape = {M, K, 0, 0};
  wd.dtype = static_cast<DType>(type);
  wd.rank = 2;
  wd.shape = {N, K, 0, 0};
  Node node;
  node.op = OpKind::MatMul;
  std::vector<float> x = random_activations(M * K, 7), y(static_cast<size_t>(M * N));
  std::vector<uint8_t> scratch(cpu::matmul_scratch_bytes(node, xd, wd) + 64);
  cpu::ThreadPool tp(threads);
  size_t it = 0;
  for (auto _ : st) {
    const uint8_t* w = weights + (it++ % copies) * w_bytes;
    tp.run([&](int ith, int nth) {
      cpu::OpCtx c{};
      c.node = &node;
      c.out = y.data();
      c.in[0] = x.data();
      c.in[1] = w;
      c.in_desc[0] = &xd;
      c.in_desc[1] = &wd;
      c.in_layout[1] = layout;
      c.ith = ith;
      c.nth = nth;
      c.pool = &tp;
      c.scratch = scratch.data();
      cpu::op_matmul(c);
    });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M, N, K, w_bytes);
}

// ---- one dot-product candidate over N rows, one thread, M = 1 ---------------------------------
void bm_vec_dot(benchmark::State& st, uint32_t type, k::VecDotFn fn, int64_t K, int64_t N) {
  const k::QuantTypeKernels* wk = k::find_quant_kernels(type);
  const k::QuantTypeKernels* ak = k::find_quant_kernels(wk->act_type);
  const size_t row = k::quant_row_bytes(*wk, K), w_bytes = static_cast<size_t>(N) * row;
  const WeightPool& pool = weight_pool(type, 2 * w_bytes);
  const size_t copies = pool.bytes.size() / w_bytes;
  std::vector<float> x = random_activations(K, 11), y(static_cast<size_t>(N));
  std::vector<uint8_t> act(k::quant_row_bytes(*ak, K) + 64);
  ak->quantize_act(x.data(), act.data(), K);
  size_t it = 0;
  for (auto _ : st) {
    const uint8_t* w = pool.bytes.data() + (it++ % copies) * w_bytes;
    for (int64_t n = 0; n < N; ++n) y[static_cast<size_t>(n)] = fn(K, w + static_cast<size_t>(n) * row, act.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, 1, N, K, w_bytes);
}

// ---- f32 baselines -----------------------------------------------------------------------------
#if defined(EMBER_BENCH_DNNL)
void bm_dnnl_sgemm(benchmark::State& st, int64_t K, int64_t N, int64_t M) {
  const size_t w_bytes = static_cast<size_t>(N * K) * sizeof(float);
  const WeightPool& pool = weight_pool(k::kTypeF32, 2 * w_bytes);
  const size_t copies = pool.bytes.size() / w_bytes;
  std::vector<float> x = random_activations(M * K, 7), y(static_cast<size_t>(M * N));
  size_t it = 0;
  for (auto _ : st) {
    const float* w = reinterpret_cast<const float*>(pool.bytes.data() + (it++ % copies) * w_bytes);
    // Row-major y[M,N] = x[M,K] · w[N,K]ᵀ.
    dnnl_sgemm('N', 'T', M, N, K, 1.0f, x.data(), K, w, K, 0.0f, y.data(), N);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M, N, K, w_bytes);
}
#endif

#if defined(EMBER_BENCH_DNNL)
// oneDNN's integer GEMM, the baseline for the quantized matmuls: u8 activations [M,K] times s8
// weights [N,K]ᵀ into s32, one byte per weight element (no block scales: an upper bound on
// what a block-quantized kernel could do with the same integer instructions).
void bm_dnnl_u8s8s32(benchmark::State& st, int64_t K, int64_t N, int64_t M) {
  const size_t w_bytes = static_cast<size_t>(N * K);
  const WeightPool& pool = weight_pool(k::kTypeF32, 2 * w_bytes);  // any bytes will do
  const size_t copies = pool.bytes.size() / w_bytes;
  std::vector<uint8_t> x(static_cast<size_t>(M * K));
  Rng rng{99};
  for (uint8_t& v : x) v = static_cast<uint8_t>(rng.next() & 0x7f);
  std::vector<int32_t> y(static_cast<size_t>(M * N));
  const int32_t co = 0;
  size_t it = 0;
  for (auto _ : st) {
    const auto* w = reinterpret_cast<const int8_t*>(pool.bytes.data() + (it++ % copies) * w_bytes);
    dnnl_gemm_u8s8s32('N', 'T', 'F', M, N, K, 1.0f, x.data(), K, 0, w, K, 0, 0.0f, y.data(), N, &co);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M, N, K, w_bytes);
}
#endif

#if defined(EMBER_BENCH_EIGEN)
void bm_eigen(benchmark::State& st, int64_t K, int64_t N, int64_t M) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const size_t w_bytes = static_cast<size_t>(N * K) * sizeof(float);
  const WeightPool& pool = weight_pool(k::kTypeF32, 2 * w_bytes);
  const size_t copies = pool.bytes.size() / w_bytes;
  std::vector<float> x = random_activations(M * K, 7);
  RowMajor y(M, N);
  Eigen::Map<const RowMajor> xm(x.data(), M, K);
  size_t it = 0;
  for (auto _ : st) {
    const float* w = reinterpret_cast<const float*>(pool.bytes.data() + (it++ % copies) * w_bytes);
    Eigen::Map<const RowMajor> wm(w, N, K);
    y.noalias() = xm * wm.transpose();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M, N, K, w_bytes);
}
#endif

// ---- machine probes (bm_probe_read: bench_common.h) ----------------------------------------------
#if defined(__x86_64__)
// fma: probe_fma_avx2 (8 lanes) or probe_fma_avx512 (16).
void bm_probe_fma(benchmark::State& st, int threads, float (*fma)(int64_t, float), int lanes) {
  constexpr int64_t kIters = int64_t{1} << 22;
  cpu::ThreadPool tp(threads);
  std::vector<float> sums(static_cast<size_t>(threads) * 16);
  for (auto _ : st) {
    tp.run([&](int ith, int) {
      sums[static_cast<size_t>(ith) * 16] = fma(kIters, static_cast<float>(ith));
    });
    benchmark::DoNotOptimize(sums.data());
  }
  using C = benchmark::Counter;
  st.counters["flops"] = C(2.0 * lanes * kProbeFmaPerIter * static_cast<double>(kIters) * threads,
                           C::kIsIterationInvariantRate, C::kIs1000);
}
#endif


void register_all() {
  constexpr int kThreads[] = {1, 2};
#if defined(__x86_64__)
  if (k::cpu_features().avx2 && k::cpu_features().fma) {
    for (int t : kThreads) {
      benchmark::RegisterBenchmark(sfmt("probe/read_bw/256MiB/t%d", t).c_str(), bm_probe_read, t)
          ->UseRealTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(sfmt("probe/fma_peak/avx2/t%d", t).c_str(), bm_probe_fma, t, probe_fma_avx2, 8)
          ->UseRealTime()->Unit(benchmark::kMillisecond);
      if (k::cpu_features().avx512f)
        benchmark::RegisterBenchmark(sfmt("probe/fma_peak/avx512/t%d", t).c_str(), bm_probe_fma, t, probe_fma_avx512, 16)
            ->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  }
#endif
  for (uint32_t type : kTypes) {
    const char* tn = k::find_quant_kernels(type)->name;
    for (const Shape& s : kShapes) {
      for (int64_t M : kMs) {
        // The output head runs on the last token of each sequence: M = 1, or 16 in a serving step.
        if (s.N == 49152 && M > 16) continue;
        for (int t : kThreads) {
          std::string name = sfmt("matmul/%s/K%lld/N%lld/M%lld/t%d", tn, ll(s.K), ll(s.N), ll(M), t);
          benchmark::RegisterBenchmark(name.c_str(), bm_matmul_op, type, s.K, s.N, M, t, WeightLayout::Plain)
              ->UseRealTime()->Unit(benchmark::kMicrosecond);
          // q4_1 / q8_0 as prepare-weights stores them in the block-sum order (the default).
          if ((type == k::kTypeQ4_1 || type == k::kTypeQ8_0) && k::find_gemm_x16(type) && s.N % 16 == 0) {
            const WeightLayout l = type == k::kTypeQ4_1 ? WeightLayout::Q4_1x16 : WeightLayout::Q8_0x16;
            name = sfmt("matmul/%s/K%lld/N%lld/M%lld/t%d", layout_name(l), ll(s.K), ll(s.N), ll(M), t);
            benchmark::RegisterBenchmark(name.c_str(), bm_matmul_op, type, s.K, s.N, M, t, l)
                ->UseRealTime()->Unit(benchmark::kMicrosecond);
          }
          // q4_1 as prepare-weights stores it where the chosen kernel reads q4_1x2.
          if (type == k::kTypeQ4_1 && k::find_vec_dot_rows_packed_pairs(type)) {
            name = sfmt("matmul/q4_1x2/K%lld/N%lld/M%lld/t%d", ll(s.K), ll(s.N), ll(M), t);
            benchmark::RegisterBenchmark(name.c_str(), bm_matmul_op, type, s.K, s.N, M, t, WeightLayout::Q4_1x2)
                ->UseRealTime()->Unit(benchmark::kMicrosecond);
          }
        }
      }
    }
  }
  // The K-quants' dot-product candidates (AVX-512 VNNI against AVX2) on the one model shape whose
  // K is a multiple of their 256-element super-block.
  for (uint32_t type : {k::kTypeQ4_K, k::kTypeQ5_K, k::kTypeQ6_K}) {
    int n = 0;
    const k::VecDotCandidate* cands = k::vec_dot_candidates(type, &n);
    for (int i = 0; i < n; ++i) {
      if (!cands[i].cpu_has()) continue;
      const std::string name = sfmt("vec_dot/%s/%s/K1536/N576", k::find_quant_kernels(type)->name, cands[i].isa);
      benchmark::RegisterBenchmark(name.c_str(), bm_vec_dot, type, cands[i].fn, int64_t{1536}, int64_t{576})
          ->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  }
  for (uint32_t type : kTypes) {
    int n = 0;
    const k::VecDotCandidate* cands = k::vec_dot_candidates(type, &n);
    for (int i = 0; i < n; ++i) {
      if (!cands[i].cpu_has()) continue;
      for (const Shape& s : kShapes) {
        std::string name = sfmt("vec_dot/%s/%s/K%lld/N%lld", k::find_quant_kernels(type)->name, cands[i].isa,
                                ll(s.K), ll(s.N));
        benchmark::RegisterBenchmark(name.c_str(), bm_vec_dot, type, cands[i].fn, s.K, s.N)
            ->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
    }
  }
  // f32 GEMM at prefill sizes, ember's op against oneDNN: the model's shapes at M = 128 and 512,
  // and 1024^3 (read against probe/fma_peak). oneDNN's threads are its OpenMP runtime's: run
  // with OMP_NUM_THREADS=<t> and filter on /t<t>, so the names carry that count.
  {
    const char* omp = std::getenv("OMP_NUM_THREADS");
    const int omp_threads = omp && std::atoi(omp) > 0 ? std::atoi(omp) : 0;
    constexpr Shape kPrefill[] = {{576, 576, "attn_q/o"}, {576, 1536, "ffn_gate/up"}, {1536, 576, "ffn_down"}, {1024, 1024, "square"}};
    for (const Shape& s : kPrefill) {
      for (int64_t M : {int64_t{128}, int64_t{512}, int64_t{1024}}) {
        if ((s.K == 1024) != (M == 1024)) continue;
        for (int t : kThreads) {
          const std::string suffix = sfmt("K%lld/N%lld/M%lld/t%d", ll(s.K), ll(s.N), ll(M), t);
          benchmark::RegisterBenchmark(("prefill_f32/ember/" + suffix).c_str(), bm_matmul_op, k::kTypeF32, s.K, s.N, M, t, WeightLayout::Plain)
              ->UseRealTime()->Unit(benchmark::kMicrosecond);
#if defined(EMBER_BENCH_DNNL)
          if (omp_threads == t)
            benchmark::RegisterBenchmark(("prefill_f32/dnnl_sgemm/" + suffix).c_str(), bm_dnnl_sgemm, s.K, s.N, M)
                ->UseRealTime()->Unit(benchmark::kMicrosecond);
#endif
        }
      }
    }
    (void)omp_threads;
  }
  for (const Shape& s : kShapes) {
    for (int64_t M : kMs) {
      if (s.N == 49152 && M != 1) continue;
      const std::string suffix = sfmt("f32/K%lld/N%lld/M%lld", ll(s.K), ll(s.N), ll(M));
#if defined(EMBER_BENCH_DNNL)
      benchmark::RegisterBenchmark(("dnnl_sgemm/" + suffix).c_str(), bm_dnnl_sgemm, s.K, s.N, M)
          ->UseRealTime()->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(sfmt("dnnl_u8s8s32/K%lld/N%lld/M%lld", ll(s.K), ll(s.N), ll(M)).c_str(),
                                   bm_dnnl_u8s8s32, s.K, s.N, M)
          ->UseRealTime()->Unit(benchmark::kMicrosecond);
#endif
#if defined(EMBER_BENCH_EIGEN)
      benchmark::RegisterBenchmark(("eigen/" + suffix).c_str(), bm_eigen, s.K, s.N, M)
          ->UseRealTime()->Unit(benchmark::kMicrosecond);
#endif
      (void)suffix;
    }
  }
}

}  // namespace
}  // namespace ember::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ember::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
