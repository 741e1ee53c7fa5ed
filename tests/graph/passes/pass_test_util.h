// Shared by the pass tests (tests/graph/passes/*_test.cpp): weights with real data, the
// committed text of input and expected graphs (tests/data/graph/passes/), and running a graph
// on the CPU backend to compare a pass's output with its input bit for bit.
//
// The expected texts were written from print() and checked by eye against what each pass
// promises; EMBER_UPDATE_GRAPH_GOLDENS=1 rewrites them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "graph/graph.h"
#include "graph/passes/pass.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"
#include "support/test_support.h"

namespace ember::graph::passtest {

// Weight bytes owned for the test's lifetime: random values in [-1, 1) + offset, stored as
// `type` (f32, f16 or q8_0).
class Weights {
 public:
  const void* make(DType type, int64_t rows, int64_t cols, float offset = 0) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> f(static_cast<size_t>(rows * cols));
    for (float& v : f) v = u(rng_) + offset;
    const size_t row_bytes = dtype_row_bytes(type, cols);
    auto buf = std::make_unique<std::vector<uint8_t>>(row_bytes * rows + 64);
    for (int64_t r = 0; r < rows; ++r) {
      void* dst = buf->data() + r * row_bytes;
      const float* src = f.data() + r * cols;
      switch (type) {
        case DType::F32: kernels::quantize_row_f32(src, dst, cols); break;
        case DType::F16: kernels::quantize_row_f16(src, dst, cols); break;
        case DType::Q8_0: kernels::quantize_row_q8_0(src, dst, cols); break;
        case DType::Q4_1: quantize_q4_1(src, dst, cols); break;
        default: ADD_FAILURE() << "test weights of type " << dtype_name(type) << " are not made here";
      }
    }
    bufs_.push_back(std::move(buf));
    return bufs_.back()->data();
  }
  Value add(Builder& b, const std::string& name, DType type, std::vector<int64_t> shape, float offset = 0) {
    const int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
    return b.weight(name, type, shape, make(type, rows, cols, offset));
  }

 private:
  // q4_1 blocks of 32: m = the block's minimum, d = (max - min) / 15, q = round((x - m) / d).
  static void quantize_q4_1(const float* x, void* dst, int64_t n) {
    auto* b = static_cast<kernels::BlockQ4_1*>(dst);
    for (int64_t i = 0; i < n / kernels::kQK; ++i, x += kernels::kQK) {
      float lo = x[0], hi = x[0];
      for (int j = 1; j < kernels::kQK; ++j) lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
      const float d = (hi - lo) / 15.0f, id = d ? 1.0f / d : 0.0f;
      b[i].d = kernels::f32_to_fp16(d);
      b[i].m = kernels::f32_to_fp16(lo);
      for (int j = 0; j < kernels::kQK / 2; ++j) {
        const int q0 = std::min(15, static_cast<int>((x[j] - lo) * id + 0.5f));
        const int q1 = std::min(15, static_cast<int>((x[j + 16] - lo) * id + 0.5f));
        b[i].qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
      }
    }
  }
  std::vector<std::unique_ptr<std::vector<uint8_t>>> bufs_;
  std::mt19937 rng_{20251125};
};

inline std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return v;
}

// Compares print(g) with tests/data/graph/passes/<file> (or rewrites it, see above).
inline void expect_graph_text(const OpGraph& g, const std::string& file) {
  const std::string got = print(g);
  const std::string path = test::data_path("graph/passes/" + file);
  if (std::getenv("EMBER_UPDATE_GRAPH_GOLDENS")) {
    std::ofstream(path, std::ios::binary) << got;
    return;
  }
  ASSERT_TRUE(test::file_exists(path)) << path << " is missing";
  EXPECT_EQ(got, test::read_text(path)) << "graph differs from " << path;
}

inline std::unique_ptr<Backend> cpu_backend(int threads = 2) {
  CpuOptions o;
  o.threads = threads;
  auto b = make_cpu_backend(o);
  EXPECT_TRUE(b.ok()) << b.message();
  return b.ok() ? std::move(b).value() : nullptr;
}

// Runs g (no kv caches) with one f32 input "x" (and any `more` inputs) and returns every
// output's floats.
inline std::vector<std::vector<float>> run(Backend& be, const OpGraph& g, const std::vector<float>& x,
                                           const std::vector<InputBinding>& more = {}) {
  std::vector<std::vector<float>> outs(g.outputs.size());
  auto plan = be.prepare(g);
  EXPECT_TRUE(plan.ok()) << plan.message();
  if (!plan.ok()) return outs;
  ExecArgs args;
  args.inputs = {{"x", x.data()}};
  args.inputs.insert(args.inputs.end(), more.begin(), more.end());
  for (size_t o = 0; o < g.outputs.size(); ++o) {
    outs[o].resize(static_cast<size_t>(g.nodes[g.outputs[o]].out.numel()));
    args.outputs.push_back(outs[o].data());
  }
  Status s = be.execute(**plan, args);
  EXPECT_TRUE(s.ok()) << s.message();
  return outs;
}

inline bool bit_equal(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() || std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0)
      return false;
  return true;
}

// ---- one attention layer over a paged KV pool (merge-qkv's strided slices, fuse-rope) ----------

struct AttnShape {
  int64_t H = 4, Hkv = 2, D = 32, K = 64;  // heads, kv heads, head dim, activation width
  int n_rot = 32;
  RopeMode mode = RopeMode::Normal;
  DType kv = DType::F16;
  int64_t n_blocks = 4, block = 4;
};

// The Q, K and V projection weights (q8_0) of one layer, shared by the graphs of every step.
struct AttnWeights {
  const void *q, *k, *v;
  AttnWeights(Weights& w, const AttnShape& s)
      : q(w.make(DType::Q8_0, s.H * s.D, s.K)), k(w.make(DType::Q8_0, s.Hkv * s.D, s.K)),
        v(w.make(DType::Q8_0, s.Hkv * s.D, s.K)) {}
};

// One step of M tokens: x [M,K] -> Q/K/V projections -> rope(q), rope(k) -> kv_write(k),
// kv_write(v) -> attention, the output (and the roped k too when k_also_output).
inline OpGraph attention_graph(const AttnWeights& w, const AttnShape& s, int64_t M, bool k_also_output = false) {
  Builder b;
  b.set_label("blk.0.attn");
  Value x = b.input("x", DType::F32, {M, s.K});
  Value pos = b.input("positions", DType::I32, {M});
  Value q = b.matmul(x, b.weight("q", DType::Q8_0, {s.H * s.D, s.K}, w.q));
  Value k = b.matmul(x, b.weight("k", DType::Q8_0, {s.Hkv * s.D, s.K}, w.k));
  Value v = b.matmul(x, b.weight("v", DType::Q8_0, {s.Hkv * s.D, s.K}, w.v));
  q = b.rope(b.reshape(q, {M, s.H, s.D}), pos, s.n_rot, s.mode, 10000.0f, 0.5f);
  k = b.rope(b.reshape(k, {M, s.Hkv, s.D}), pos, s.n_rot, s.mode, 10000.0f, 0.5f);
  // One node per statement: the order of a call's arguments is unspecified (g++ and clang
  // differ), and the expected texts depend on the node order.
  Value kcache = b.kv_cache(0, 0, s.n_blocks, s.block, s.Hkv, s.D, s.kv);
  Value kc = b.kv_write(k, kcache);
  Value vcache = b.kv_cache(0, 1, s.n_blocks, s.block, s.Hkv, s.D, s.kv);
  Value v3 = b.reshape(v, {M, s.Hkv, s.D});
  Value vc = b.kv_write(v3, vcache);
  b.output(b.attention(q, kc, vc, 0.25f));
  if (k_also_output) b.output(k);
  auto g = b.finish();
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

// The KV pools of one sequence whose block table is out of order, filled with f16 NaN bytes
// so that a slot written wrongly or read before it is written shows.
struct AttnPools {
  std::vector<uint8_t> k, v;
  std::vector<int32_t> table{2, 0, 3, 1};
  explicit AttnPools(const AttnShape& s) {
    const size_t bytes = dtype_row_bytes(s.kv, s.n_blocks * s.block * s.Hkv * s.D);
    k.assign(bytes, 0x7e);
    v.assign(bytes, 0x7e);
  }
};

// Runs an attention_graph step of M tokens at positions first_pos.. on the pools; returns
// every output's floats.
inline std::vector<std::vector<float>> run_attention(Backend& be, const OpGraph& g, const AttnShape& s,
                                                     AttnPools& pools, const std::vector<float>& x,
                                                     int32_t first_pos) {
  class Bytes final : public Buffer {
   public:
    explicit Bytes(std::vector<uint8_t>& d) : d_(d) {}
    size_t size() const override { return d_.size(); }
    void* host_ptr() override { return d_.data(); }

   private:
    std::vector<uint8_t>& d_;
  };
  const int64_t M = static_cast<int64_t>(x.size()) / s.K;
  std::vector<int32_t> pos(M), seq(M, 0);
  for (int64_t t = 0; t < M; ++t) pos[t] = first_pos + static_cast<int32_t>(t);
  KvLayout layout;
  layout.block_size = static_cast<int>(s.block);
  layout.n_tokens = static_cast<int>(M);
  layout.seq_of_token = seq.data();
  layout.positions = pos.data();
  layout.seq_blocks = {pools.table.data()};
  layout.seq_n_blocks = {static_cast<int32_t>(pools.table.size())};
  Bytes kb(pools.k), vb(pools.v);
  std::vector<std::vector<float>> outs(g.outputs.size());
  auto plan = be.prepare(g);
  EXPECT_TRUE(plan.ok()) << plan.message();
  if (!plan.ok()) return outs;
  ExecArgs args;
  args.inputs = {{"x", x.data()}, {"positions", pos.data()}};
  args.kv = {&kb, &vb};
  args.kv_layout = &layout;
  for (size_t o = 0; o < g.outputs.size(); ++o) {
    outs[o].resize(static_cast<size_t>(g.nodes[g.outputs[o]].out.numel()));
    args.outputs.push_back(outs[o].data());
  }
  Status st = be.execute(**plan, args);
  EXPECT_TRUE(st.ok()) << st.message();
  return outs;
}

inline int count_op(const OpGraph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op == op;
  return n;
}

}  // namespace ember::graph::passtest
