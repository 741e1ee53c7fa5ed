// CPU decode attention through the paged KV cache on the default model's real shapes
// (SmolLM2-135M: 9 query heads, 3 kv heads (GQA 3), head_dim 64, block size 16).
//
//   attention/<kv type>/ctx<C>/seqs<S>/t<threads>  the CPU backend's op_attention: S sequences
//                                                  each decoding one token (kStyleDecode) at
//                                                  position C-1, so each attends to C positions;
//                                                  the work split across the backend's pool
//   probe/read_bw/256MiB/t<threads>                streaming read bandwidth (AVX2), the ceiling
//                                                  kv_bytes is read against
//
// K/V are "cold", as when a long context does not stay in cache between layers: each
// iteration uses the next of several copies of the KV pools spread over >= 128 MiB. Within a
// copy the blocks are scattered (a shuffled block table per sequence), as a block manager
// leaves them. Counter kv_bytes: the K and V bytes the step must read (per sequence:
// C x n_kv_head x row bytes of head_dim, for K and for V), per second of wall time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/ops/ops.h"
#include "backends/cpu/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"

#include "bench/bench_common.h"

#if defined(__x86_64__)
#include "bench/probes.h"
#endif

namespace ember::bench {
namespace {

namespace k = kernels;

// SmolLM2-135M.
constexpr int64_t kHeads = 9, kKvHeads = 3, kHeadDim = 64, kBlock = 16;
constexpr size_t kColdSlack = size_t{64} << 20;
constexpr size_t kAlign = 64;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t, FreeDeleter>;

AlignedBytes aligned_bytes(size_t n) {
  const size_t rounded = (n + kAlign - 1) / kAlign * kAlign;
  return AlignedBytes(static_cast<uint8_t*>(std::aligned_alloc(kAlign, rounded ? rounded : kAlign)));
}

// Valid KV rows of one type (random f16 values; q8_0 blocks with a finite scale and random
// quants), reused by every shape as consecutive [K pool | V pool] copies. A step reads half of
// its pools' blocks, so a cycle of copies that reads >= kColdBytes spans >= 2 x kColdBytes;
// kColdSlack covers the rounding up to whole copies (the largest copy is 24 MiB).
struct KvBytes {
  AlignedBytes bytes;
  size_t size = 0;
};

const KvBytes& kv_bytes_pool(DType type) {
  static std::map<DType, std::unique_ptr<KvBytes>> pools;
  auto& p = pools[type];
  if (p) return *p;
  p = std::make_unique<KvBytes>();
  p->size = 2 * kColdBytes + kColdSlack;
  p->bytes = aligned_bytes(p->size);
  uint8_t* b = p->bytes.get();
  Rng rng{0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(type)};
  if (type == DType::F16) {
    uint16_t* h = reinterpret_cast<uint16_t*>(b);
    for (size_t i = 0; i < p->size / 2; ++i) h[i] = k::f32_to_fp16(rng.uniform());
  } else {
    // q8_0 rows (34-byte blocks) are packed back to back, so blocks start at any multiple of
    // 34 from a copy's start: write random quants everywhere, then a finite scale per block.
    for (size_t i = 0; i + 8 <= p->size; i += 8) {
      const uint64_t r = rng.next();
      std::memcpy(b + i, &r, 8);
    }
    const uint16_t d = k::f32_to_fp16(1.0f / 127.0f);
    const size_t bb = dtype_row_bytes(DType::Q8_0, 32);
    for (size_t i = 0; i + bb <= p->size; i += bb) std::memcpy(b + i, &d, 2);
  }
  return *p;
}

// A step of `seqs` sequences, one decoding token each at position ctx - 1, over KV pools in
// which their blocks lie scattered.
struct Step {
  TensorDesc qd, cd;
  Node node;
  std::vector<float> q, out;
  std::vector<int32_t> blocks;  // a permutation of the pool's blocks; [seqs][ctx / kBlock] first
  std::vector<int32_t> seq_of_token, positions;
  std::vector<uint8_t> style;
  KvLayout kv;
};

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  Rng rng{seed | 1};
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = rng.uniform();
  return x;
}

// A plain f32 oracle of one query head against the rows the op reads (q rounded to f16 as the
// op rounds it): used once per benchmark to check the block tables are read as intended.
void reference_head(const Step& s, const uint8_t* kpool, const uint8_t* vpool, int64_t tok, int64_t h, float* o) {
  const size_t row_bytes = dtype_row_bytes(s.cd.dtype, kHeadDim);
  const size_t slot = static_cast<size_t>(kKvHeads) * row_bytes, blk = static_cast<size_t>(kBlock) * slot;
  const int64_t kvh = h / (kHeads / kKvHeads), n = s.positions[static_cast<size_t>(tok)] + 1;
  const int32_t* table = s.kv.seq_blocks[static_cast<size_t>(s.seq_of_token[static_cast<size_t>(tok)])];
  auto row = [&](const uint8_t* pool, int64_t j, float* dst) {
    const uint8_t* r = pool + static_cast<size_t>(table[j / kBlock]) * blk + static_cast<size_t>(j % kBlock) * slot +
                       static_cast<size_t>(kvh) * row_bytes;
    if (s.cd.dtype == DType::F16) {
      k::fp16_to_f32_row(reinterpret_cast<const uint16_t*>(r), dst, kHeadDim);
    } else {
      k::dequantize_row_q8_0(r, dst, kHeadDim);
    }
  };
  const float* qh = s.q.data() + (tok * kHeads + h) * kHeadDim;
  std::vector<double> sc(static_cast<size_t>(n));
  float kr[kHeadDim];
  double mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    row(kpool, j, kr);
    double d = 0;
    for (int64_t e = 0; e < kHeadDim; ++e) d += static_cast<double>(k::fp16_to_f32(k::f32_to_fp16(qh[e]))) * kr[e];
    sc[static_cast<size_t>(j)] = d * s.node.attrs.scale;
    mx = std::max(mx, sc[static_cast<size_t>(j)]);
  }
  double sum = 0;
  for (double& v : sc) sum += (v = std::exp(v - mx));
  double acc[kHeadDim] = {};
  for (int64_t j = 0; j < n; ++j) {
    row(vpool, j, kr);
    for (int64_t e = 0; e < kHeadDim; ++e) acc[e] += sc[static_cast<size_t>(j)] / sum * kr[e];
  }
  for (int64_t e = 0; e < kHeadDim; ++e) o[e] = static_cast<float>(acc[e]);
}

// ---- the CPU backend's attention op ------------------------------------------------------------
void bm_attention_op(benchmark::State& st, DType type, int64_t ctx, int seqs, int threads) {
  // The pool holds twice the blocks the step reads (a block manager's free blocks), so the
  // block tables pick a scattered subset of it.
  const int64_t per_seq = (ctx + kBlock - 1) / kBlock, n_blocks = 2 * per_seq * seqs;
  const size_t row_bytes = dtype_row_bytes(type, kHeadDim);
  const size_t pool_bytes = static_cast<size_t>(n_blocks * kBlock * kKvHeads) * row_bytes;  // one K (or V) pool
  const size_t copy_bytes = (2 * pool_bytes + kAlign - 1) / kAlign * kAlign;
  const KvBytes& cold = kv_bytes_pool(type);
  // Enough copies that the rows read over a cycle (half of each copy) reach kColdBytes.
  const size_t copies = std::max<size_t>(2, (kColdBytes + copy_bytes / 2 - 1) / (copy_bytes / 2));
  if (copies * copy_bytes > cold.size) {
    st.SkipWithError("KV pools too large for the cold buffer");
    return;
  }
  // The q8_0 scales were written at multiples of the block size from the buffer's start.
  const size_t elem_block = dtype_row_bytes(type, dtype_info(type).block_elems);
  if (pool_bytes % elem_block != 0 || copy_bytes % elem_block != 0) {
    st.SkipWithError("KV pools do not start on whole element blocks of the cold buffer");
    return;
  }

  Step s;
  s.qd.dtype = DType::F32;
  s.qd.rank = 3;
  s.qd.shape = {seqs, kHeads, kHeadDim, 0};
  s.cd.dtype = type;
  s.cd.rank = 4;
  s.cd.shape = {n_blocks, kBlock, kKvHeads, kHeadDim};
  s.node.op = OpKind::Attention;
  s.node.attrs.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  s.q = random_floats(seqs * kHeads * kHeadDim, 7);
  s.out.assign(static_cast<size_t>(seqs * kHeads * kHeadDim), 0.0f);
  // A shuffled permutation of the pool's blocks, its first half dealt to the sequences in turn.
  s.blocks.resize(static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < n_blocks; ++b) s.blocks[static_cast<size_t>(b)] = static_cast<int32_t>(b);
  Rng rng{0xB10C5ull + static_cast<uint64_t>(n_blocks)};
  for (int64_t b = n_blocks - 1; b > 0; --b)
    std::swap(s.blocks[static_cast<size_t>(b)], s.blocks[rng.next() % static_cast<uint64_t>(b + 1)]);
  for (int i = 0; i < seqs; ++i) {
    s.seq_of_token.push_back(i);
    s.positions.push_back(static_cast<int32_t>(ctx - 1));
    s.style.push_back(kStyleDecode);
    s.kv.seq_blocks.push_back(s.blocks.data() + static_cast<size_t>(i) * per_seq);
    s.kv.seq_n_blocks.push_back(static_cast<int32_t>(per_seq));
  }
  s.kv.block_size = static_cast<int>(kBlock);
  s.kv.n_tokens = seqs;
  s.kv.seq_of_token = s.seq_of_token.data();
  s.kv.positions = s.positions.data();
  s.kv.token_style = s.style.data();

  const size_t scratch_bytes = cpu::attention_scratch_bytes(s.qd, s.cd, threads);
  const size_t tstride = (cpu::attention_thread_scratch_bytes(s.qd, s.cd) + kAlign - 1) / kAlign * kAlign;
  AlignedBytes scratch = aligned_bytes(scratch_bytes), tscratch = aligned_bytes(tstride * static_cast<size_t>(threads));
  cpu::ThreadPool tp(threads);
  auto run = [&](const uint8_t* kpool, const uint8_t* vpool) {
    tp.run([&](int ith, int nth) {
      cpu::OpCtx c{};
      c.node = &s.node;
      c.out = s.out.data();
      c.in[0] = s.q.data();
      c.in[1] = kpool;
      c.in[2] = vpool;
      c.in_desc[0] = &s.qd;
      c.in_desc[1] = &s.cd;
      c.in_desc[2] = &s.cd;
      c.in_stride[0] = static_cast<uint64_t>(kHeads * kHeadDim) * sizeof(float);
      c.in_stride[1] = c.in_stride[2] = static_cast<uint64_t>(kBlock * kKvHeads) * row_bytes;
      c.ith = ith;
      c.nth = nth;
      c.pool = &tp;
      c.scratch = scratch.get();
      c.thread_scratch = tscratch.get() + tstride * static_cast<size_t>(ith);
      c.kv = &s.kv;
      cpu::op_attention(c);
    });
  };

  // Once, untimed: the op against the f32 oracle on the first copy (first and last sequence).
  {
    const uint8_t* kp = cold.bytes.get();
    run(kp, kp + pool_bytes);
    float ref[kHeadDim];
    double worst = 0;
    for (int64_t tok : {int64_t{0}, int64_t{seqs - 1}})
      for (int64_t h = 0; h < kHeads; ++h) {
        reference_head(s, kp, kp + pool_bytes, tok, h, ref);
        const float* o = s.out.data() + (tok * kHeads + h) * kHeadDim;
        for (int64_t e = 0; e < kHeadDim; ++e)
          worst = std::max(worst, std::fabs(static_cast<double>(o[e]) - ref[e]) / (std::fabs(ref[e]) + 1e-2));
      }
    if (!(worst < 0.05)) {
      st.SkipWithError(("op_attention disagrees with the f32 oracle (worst relative error " + std::to_string(worst) + ")").c_str());
      return;
    }
  }

  size_t it = 0;
  for (auto _ : st) {
    const uint8_t* kp = cold.bytes.get() + (it++ % copies) * copy_bytes;
    run(kp, kp + pool_bytes);
    benchmark::DoNotOptimize(s.out.data());
    benchmark::ClobberMemory();
  }
  using C = benchmark::Counter;
  const double read = 2.0 * static_cast<double>(seqs) * static_cast<double>(ctx * kKvHeads) * static_cast<double>(row_bytes);
  st.counters["kv_bytes"] = C(read, C::kIsIterationInvariantRate, C::kIs1000);
}

// The read-bandwidth probe (bm_probe_read) is bench_common.h's, as in bench_matmul.


void register_all() {
  constexpr int kThreads[] = {1, 2};
#if defined(__x86_64__)
  if (k::cpu_features().avx2 && k::cpu_features().fma) {
    for (int t : kThreads)
      benchmark::RegisterBenchmark(sfmt("probe/read_bw/256MiB/t%d", t).c_str(), bm_probe_read, t)
          ->UseRealTime()->Unit(benchmark::kMillisecond);
  }
#endif
  struct Case {
    int64_t ctx;
    int seqs;
  };
  // One sequence decoding at growing context; 16 sequences at 128 and 512 (serving batches).
  constexpr Case kCases[] = {{512, 1}, {1024, 1}, {4096, 1}, {16384, 1}, {128, 16}, {512, 16}};
  constexpr struct {
    DType type;
    const char* name;
  } kTypes[] = {{DType::F16, "f16"}, {DType::Q8_0, "q8_0"}};
  for (const auto& ty : kTypes)
    for (const Case& cs : kCases)
      for (int t : kThreads) {
        const std::string name = sfmt("attention/%s/ctx%lld/seqs%d/t%d", ty.name, ll(cs.ctx), cs.seqs, t);
        benchmark::RegisterBenchmark(name.c_str(), bm_attention_op, ty.type, cs.ctx, cs.seqs, t)
            ->UseRealTime()->Unit(benchmark::kMicrosecond);
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
