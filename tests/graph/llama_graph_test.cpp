// build_llama (graph/models/llama.{h,cpp}) on a fake weight source: the printed graph of a
// 2-layer tiny model against a committed expected text, QKV bias, a separate output matrix,
// and errors for missing or mis-shaped tensors.
//
// tests/data/graph/tiny_llama_2layer.txt was written from this builder's print() after checking
// it by eye against the llama forward pass (set EMBER_UPDATE_GRAPH_GOLDENS=1 to rewrite it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "graph/graph.h"
#include "graph/models/llama.h"
#include "support/test_support.h"

namespace ember::graph {
namespace {

// Weights by name, each pointing at its own dummy f32 buffer (filled with small random values
// so the graph can also be run).
class FakeWeights final : public WeightSource {
 public:
  const WeightRef* find(const std::string& name) const override {
    auto it = refs_.find(name);
    return it == refs_.end() ? nullptr : &it->second;
  }
  void add(const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    auto buf = std::make_unique<std::vector<float>>(static_cast<size_t>(n));
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    for (float& f : *buf) f = u(rng_);
    if (name.find("norm") != std::string::npos)
      for (float& f : *buf) f += 1.0f;
    refs_[name] = WeightRef{DType::F32, std::move(shape), buf->data()};
    bufs_.push_back(std::move(buf));
  }
  void remove(const std::string& name) { refs_.erase(name); }
  WeightRef& ref(const std::string& name) { return refs_.at(name); }

 private:
  std::map<std::string, WeightRef> refs_;
  std::vector<std::unique_ptr<std::vector<float>>> bufs_;
  std::mt19937 rng_{1234};
};

ModelConfig tiny_config() {
  ModelConfig c;
  c.arch = "llama";
  c.name = "tiny";
  c.n_vocab = 32;
  c.n_ctx_train = 64;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_ff = 24;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 4;
  c.n_rot = 4;
  c.rope_freq_base = 10000.0f;
  c.rms_eps = 1e-5f;
  c.tied_embeddings = true;
  return c;
}

// Every tensor the config needs, in GGUF naming, with shapes outermost first.
void fill(FakeWeights& w, const ModelConfig& c) {
  const int64_t E = c.n_embd, qd = c.n_head * c.head_dim, kvd = c.n_head_kv * c.head_dim;
  w.add("token_embd.weight", {c.n_vocab, E});
  w.add("output_norm.weight", {E});
  if (!c.tied_embeddings) w.add("output.weight", {c.n_vocab, E});
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    w.add(p + "attn_norm.weight", {E});
    w.add(p + "attn_q.weight", {qd, E});
    w.add(p + "attn_k.weight", {kvd, E});
    w.add(p + "attn_v.weight", {kvd, E});
    if (c.qkv_bias) {
      w.add(p + "attn_q.bias", {qd});
      w.add(p + "attn_k.bias", {kvd});
      w.add(p + "attn_v.bias", {kvd});
    }
    w.add(p + "attn_output.weight", {E, qd});
    w.add(p + "ffn_norm.weight", {E});
    w.add(p + "ffn_gate.weight", {c.n_ff, E});
    w.add(p + "ffn_up.weight", {c.n_ff, E});
    w.add(p + "ffn_down.weight", {E, c.n_ff});
  }
}

StepShape tiny_step() {
  StepShape s;
  s.n_tokens = 3;
  s.n_outputs = 2;
  s.kv_blocks = 4;
  s.block_size = 4;
  return s;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b < s.size()) {
    size_t e = s.find('\n', b);
    if (e == std::string::npos) e = s.size();
    out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

int count_op(const OpGraph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op == op;
  return n;
}

const Node* find_weight(const OpGraph& g, const std::string& name) {
  for (const Node& n : g.nodes)
    if (n.op == OpKind::Weight && n.attrs.name == name) return &n;
  return nullptr;
}

TEST(LlamaGraph, TinyTwoLayerMatchesExpectedText) {
  ModelConfig c = tiny_config();
  FakeWeights w;
  fill(w, c);
  Expected<OpGraph> g = build_llama(c, w, tiny_step());
  ASSERT_TRUE(g.ok()) << g.message();
  ASSERT_TRUE(verify(*g).ok()) << verify(*g).message();
  const std::string got = print(*g);
  const std::string path = test::data_path("graph/tiny_llama_2layer.txt");
  if (std::getenv("EMBER_UPDATE_GRAPH_GOLDENS")) {
    std::ofstream(path, std::ios::binary) << got;
    GTEST_SKIP() << "rewrote " << path;
  }
  ASSERT_TRUE(test::file_exists(path)) << path << " is missing";
  const std::string want = test::read_text(path);
  // Line by line first, so a failure names the first differing node.
  std::vector<std::string> gl = lines(got), wl = lines(want);
  for (size_t i = 0; i < std::min(gl.size(), wl.size()); ++i) ASSERT_EQ(gl[i], wl[i]) << "line " << i + 1;
  EXPECT_EQ(gl.size(), wl.size());
  EXPECT_EQ(got, want);
}

TEST(LlamaGraph, StructureOfTheTinyGraph) {
  ModelConfig c = tiny_config();
  FakeWeights w;
  fill(w, c);
  Expected<OpGraph> g = build_llama(c, w, tiny_step());
  ASSERT_TRUE(g.ok()) << g.message();
  // Per layer: 7 matmuls (q k v o gate up down) + 1 output matmul; 2 ropes (q, k); 2 kv writes.
  EXPECT_EQ(count_op(*g, OpKind::MatMul), 7 * 2 + 1);
  EXPECT_EQ(count_op(*g, OpKind::Rope), 2 * 2);
  EXPECT_EQ(count_op(*g, OpKind::KvWrite), 2 * 2);
  EXPECT_EQ(count_op(*g, OpKind::KvCache), 2 * 2);
  EXPECT_EQ(count_op(*g, OpKind::Attention), 2);
  EXPECT_EQ(count_op(*g, OpKind::RmsNorm), 2 * 2 + 1);
  EXPECT_EQ(count_op(*g, OpKind::SiluMul), 2);
  EXPECT_EQ(count_op(*g, OpKind::Embedding), 1);
  EXPECT_EQ(count_op(*g, OpKind::GetRows), 1);
  EXPECT_EQ(count_op(*g, OpKind::Add), 2 * 2);  // two residuals per layer, no bias
  ASSERT_EQ(g->outputs.size(), 1u);
  const Node& out = g->nodes[g->outputs[0]];
  EXPECT_EQ(out.op, OpKind::MatMul);
  EXPECT_EQ(desc_string(out.out), "f32[2,32]");
  // Tied: the logits matmul reads the embedding table node itself.
  const Node& table = g->nodes[out.inputs[1]];
  EXPECT_EQ(table.op, OpKind::Weight);
  EXPECT_EQ(table.attrs.name, "token_embd.weight");
  EXPECT_EQ(find_weight(*g, "output.weight"), nullptr);
  // Every weight node points at the bytes the source gave.
  for (const Node& n : g->nodes) {
    if (n.op == OpKind::Weight) {
      EXPECT_EQ(n.weight, w.find(n.attrs.name)->data) << n.attrs.name;
    }
  }
  // Attention and its caches know their layer.
  int layer = 0;
  for (const Node& n : g->nodes)
    if (n.op == OpKind::Attention) {
      EXPECT_EQ(n.attrs.layer, layer) << "attention of layer " << layer;
      EXPECT_FLOAT_EQ(n.attrs.scale, 0.5f);  // 1/sqrt(head_dim 4)
      EXPECT_EQ(g->nodes[n.inputs[1]].attrs.layer, layer);
      EXPECT_EQ(g->nodes[n.inputs[2]].attrs.layer, layer);
      ++layer;
    }
}

TEST(LlamaGraph, QkvBiasAddsThreeBiasesPerLayer) {
  ModelConfig c = tiny_config();
  c.qkv_bias = true;
  c.rope_layout = RopeLayout::NeoX;
  FakeWeights w;
  fill(w, c);
  Expected<OpGraph> g = build_llama(c, w, tiny_step());
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(verify(*g).ok());
  EXPECT_EQ(count_op(*g, OpKind::Add), 2 * 2 + 3 * 2);
  for (const char* which : {"q", "k", "v"})
    for (int l = 0; l < 2; ++l) {
      const std::string name = "blk." + std::to_string(l) + ".attn_" + which + ".bias";
      const Node* bias = find_weight(*g, name);
      ASSERT_NE(bias, nullptr) << name;
      // The bias is added straight onto the projection's matmul.
      int users = 0;
      for (const Node& n : g->nodes)
        for (int in : n.inputs)
          if (&g->nodes[in] == bias) {
            ++users;
            EXPECT_EQ(n.op, OpKind::Add) << name;
            EXPECT_EQ(g->nodes[n.inputs[0]].op, OpKind::MatMul) << name;
          }
      EXPECT_EQ(users, 1) << name;
    }
  for (const Node& n : g->nodes) {
    if (n.op == OpKind::Rope) {
      EXPECT_EQ(n.attrs.rope_mode, RopeMode::NeoX);
    }
  }
  const std::string text = print(*g);
  EXPECT_NE(text.find("weight \"blk.1.attn_v.bias\" : f32[8]"), std::string::npos);
}

TEST(LlamaGraph, SeparateOutputMatrix) {
  ModelConfig c = tiny_config();
  c.tied_embeddings = false;
  FakeWeights w;
  fill(w, c);
  Expected<OpGraph> g = build_llama(c, w, tiny_step());
  ASSERT_TRUE(g.ok()) << g.message();
  const Node& out = g->nodes[g->outputs[0]];
  EXPECT_EQ(g->nodes[out.inputs[1]].attrs.name, "output.weight");
  // token_embd is used once, by the embedding.
  const Node* table = find_weight(*g, "token_embd.weight");
  ASSERT_NE(table, nullptr);
  int users = 0;
  for (const Node& n : g->nodes)
    for (int in : n.inputs) users += &g->nodes[in] == table;
  EXPECT_EQ(users, 1);

  // And without output.weight the error names it.
  w.remove("output.weight");
  Expected<OpGraph> bad = build_llama(c, w, tiny_step());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("'output.weight'"), std::string::npos) << bad.message();
}

TEST(LlamaGraph, MissingTensorIsNamed) {
  ModelConfig c = tiny_config();
  for (const char* name : {"blk.1.ffn_up.weight", "blk.0.attn_norm.weight", "token_embd.weight",
                           "output_norm.weight", "blk.1.attn_k.weight"}) {
    FakeWeights w;
    fill(w, c);
    w.remove(name);
    Expected<OpGraph> g = build_llama(c, w, tiny_step());
    ASSERT_FALSE(g.ok()) << name;
    EXPECT_NE(g.message().find(std::string("'") + name + "'"), std::string::npos) << g.message();
    EXPECT_NE(g.message().find("missing"), std::string::npos) << g.message();
  }
  // A bias is only required when the config says so.
  ModelConfig cb = c;
  cb.qkv_bias = true;
  FakeWeights w;
  fill(w, cb);
  w.remove("blk.0.attn_k.bias");
  Expected<OpGraph> g = build_llama(cb, w, tiny_step());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.message().find("'blk.0.attn_k.bias'"), std::string::npos) << g.message();
}

TEST(LlamaGraph, MisShapedTensorNamesTheLayer) {
  ModelConfig c = tiny_config();
  FakeWeights w;
  fill(w, c);
  w.ref("blk.1.attn_output.weight").shape = {16, 12};  // expects {16, 16}
  Expected<OpGraph> g = build_llama(c, w, tiny_step());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.message().find("matmul"), std::string::npos) << g.message();
  EXPECT_NE(g.message().find("blk.1.attn"), std::string::npos) << g.message();
}

TEST(LlamaGraph, RejectsBadStepShapes) {
  ModelConfig c = tiny_config();
  FakeWeights w;
  fill(w, c);
  for (StepShape s : {StepShape{0, 1, 4, 4}, StepShape{3, 0, 4, 4}, StepShape{3, 4, 4, 4}}) {
    Expected<OpGraph> g = build_llama(c, w, s);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.message().find("step shape"), std::string::npos) << g.message();
  }
}

// The built graph also runs on the CPU backend: finite logits of the declared shape, the same
// with 1 and 2 threads.
TEST(LlamaGraph, RunsOnTheCpuBackend) {
  ModelConfig c = tiny_config();
  FakeWeights w;
  fill(w, c);
  StepShape step = tiny_step();
  Expected<OpGraph> g = build_llama(c, w, step);
  ASSERT_TRUE(g.ok()) << g.message();
  const int32_t tokens[3] = {5, 31, 0}, positions[3] = {0, 1, 2}, out_rows[2] = {1, 2};
  const int32_t seq_of_token[3] = {0, 0, 0}, blocks[1] = {2};
  KvLayout layout;
  layout.block_size = 4;
  layout.seq_of_token = seq_of_token;
  layout.positions = positions;
  layout.seq_blocks = {blocks};
  layout.seq_n_blocks = {1};
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2}) {
    auto be = make_cpu_backend(CpuOptions{threads});
    ASSERT_TRUE(be.ok()) << be.message();
    auto plan = (*be)->prepare(*g);
    ASSERT_TRUE(plan.ok()) << plan.message();
    const size_t pool_bytes = static_cast<size_t>(step.kv_blocks * step.block_size * c.n_head_kv * c.head_dim) * 2;
    std::vector<std::unique_ptr<Buffer>> kv;
    ExecArgs args;
    for (int i = 0; i < 2 * c.n_layer; ++i) {
      auto b = (*be)->alloc(pool_bytes);
      ASSERT_TRUE(b.ok());
      kv.push_back(std::move(*b));
      args.kv.push_back(kv.back().get());
    }
    std::vector<float> logits(2 * c.n_vocab, NAN);
    args.inputs = {{"tokens", tokens}, {"positions", positions}, {"out_rows", out_rows}};
    args.kv_layout = &layout;
    args.outputs = {logits.data()};
    ASSERT_TRUE((*be)->execute(**plan, args).ok());
    ASSERT_TRUE((*be)->queue().synchronize().ok());
    for (float f : logits) ASSERT_TRUE(std::isfinite(f));
    results.push_back(logits);
  }
  EXPECT_EQ(results[0], results[1]);
}

}  // namespace
}  // namespace ember::graph
