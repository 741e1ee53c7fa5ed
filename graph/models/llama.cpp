#include "graph/models/llama.h"

#include <cmath>

#include "graph/graph.h"

namespace ember::graph {

Expected<OpGraph> build_llama(const ModelConfig& c, const WeightSource& ws, const StepShape& step) {
  if (step.n_tokens <= 0 || step.n_outputs <= 0 || step.n_outputs > step.n_tokens)
    return Error("invalid step shape: %lld tokens, %lld outputs", (long long)step.n_tokens,
                 (long long)step.n_outputs);
  Builder b;
  Status missing;
  auto W = [&](const std::string& name) -> Value {
    const WeightRef* w = ws.find(name);
    if (!w) {
      if (missing.ok()) missing = Error("tensor '%s' is missing", name.c_str());
      return Value();
    }
    return b.weight(name, w->dtype, w->shape, w->data);
  };
  const int64_t n = step.n_tokens, H = c.n_head, Hkv = c.n_head_kv, D = c.head_dim;
  const RopeMode mode = c.rope_layout == RopeLayout::NeoX ? RopeMode::NeoX : RopeMode::Normal;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  b.set_label("input");
  Value tokens = b.input("tokens", DType::I32, {n});
  Value positions = b.input("positions", DType::I32, {n});
  Value out_rows = b.input("out_rows", DType::I32, {step.n_outputs});
  b.set_label("token_embd");
  Value tok_embd = W("token_embd.weight");
  Value x = b.embedding(tok_embd, tokens);

  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    b.set_label(p + "attn");
    // One node-creating call per statement: argument evaluation order is unspecified, and
    // the node order (and so the printed graph) must not depend on the compiler.
    Value h = b.rms_norm(x, c.rms_eps);
    h = b.mul(h, W(p + "attn_norm.weight"));
    Value q = b.matmul(h, W(p + "attn_q.weight"));
    Value k = b.matmul(h, W(p + "attn_k.weight"));
    Value v = b.matmul(h, W(p + "attn_v.weight"));
    if (c.qkv_bias) {
      q = b.add(q, W(p + "attn_q.bias"));
      k = b.add(k, W(p + "attn_k.bias"));
      v = b.add(v, W(p + "attn_v.bias"));
    }
    q = b.rope(b.reshape(q, {n, H, D}), positions, static_cast<int>(c.n_rot), mode, c.rope_freq_base,
               c.rope_freq_scale);
    k = b.rope(b.reshape(k, {n, Hkv, D}), positions, static_cast<int>(c.n_rot), mode, c.rope_freq_base,
               c.rope_freq_scale);
    Value kc = b.kv_write(k, b.kv_cache(static_cast<int>(l), 0, step.kv_blocks, step.block_size, Hkv, D, step.kv_dtype));
    v = b.reshape(v, {n, Hkv, D});
    Value vc = b.kv_write(v, b.kv_cache(static_cast<int>(l), 1, step.kv_blocks, step.block_size, Hkv, D, step.kv_dtype));
    Value a = b.attention(q, kc, vc, scale);
    a = b.matmul(a, W(p + "attn_output.weight"));
    x = b.add(x, a);

    b.set_label(p + "ffn");
    h = b.rms_norm(x, c.rms_eps);
    h = b.mul(h, W(p + "ffn_norm.weight"));
    Value g = b.matmul(h, W(p + "ffn_gate.weight"));
    Value u = b.matmul(h, W(p + "ffn_up.weight"));
    Value m = b.silu_mul(g, u);
    m = b.matmul(m, W(p + "ffn_down.weight"));
    x = b.add(x, m);
    if (!missing.ok()) return missing;
  }

  b.set_label("output");
  x = b.get_rows(x, out_rows);
  x = b.rms_norm(x, c.rms_eps);
  x = b.mul(x, W("output_norm.weight"));
  Value out_w = c.tied_embeddings ? tok_embd : W("output.weight");
  b.output(b.matmul(x, out_w));
  if (!missing.ok()) return missing;
  return b.finish();
}

}  // namespace ember::graph
