#include "runtime/model/config.h"

#include <cmath>

namespace ember::runtime {

bool architecture_supported(const std::string& arch) {
  return arch == "llama" || arch == "qwen2" || arch == "mistral";
}

Expected<graph::ModelConfig> read_model_config(const gguf::File& f) {
  graph::ModelConfig c;
  EMBER_ASSIGN_OR_RETURN(c.arch, f.get_string("general.architecture"));
  if (!architecture_supported(c.arch))
    return Error("architecture '%s' is not supported (ember builds llama, mistral and qwen2)",
                 c.arch.c_str());
  if (auto n = f.get_string("general.name"); n.ok()) c.name = *n;
  const std::string p = c.arch + ".";
  auto u = [&](const char* key, int64_t* out) -> Status {
    EMBER_ASSIGN_OR_RETURN(uint64_t v, f.get_uint(p + key));
    if (v == 0 || v > (1ull << 31)) return Error("%s%s is %llu", p.c_str(), key, (unsigned long long)v);
    *out = static_cast<int64_t>(v);
    return Status::Ok();
  };
  EMBER_RETURN_IF_ERROR(u("embedding_length", &c.n_embd));
  EMBER_RETURN_IF_ERROR(u("block_count", &c.n_layer));
  EMBER_RETURN_IF_ERROR(u("feed_forward_length", &c.n_ff));
  EMBER_RETURN_IF_ERROR(u("attention.head_count", &c.n_head));
  EMBER_RETURN_IF_ERROR(u("context_length", &c.n_ctx_train));
  c.n_head_kv = c.n_head;
  if (f.find(p + "attention.head_count_kv")) EMBER_RETURN_IF_ERROR(u("attention.head_count_kv", &c.n_head_kv));
  if (c.n_head % c.n_head_kv != 0)
    return Error("%sattention.head_count (%lld) is not a multiple of head_count_kv (%lld)", p.c_str(),
                 (long long)c.n_head, (long long)c.n_head_kv);
  c.head_dim = c.n_embd / c.n_head;
  if (f.find(p + "attention.key_length")) EMBER_RETURN_IF_ERROR(u("attention.key_length", &c.head_dim));
  if (f.find(p + "attention.value_length")) {
    int64_t vl = 0;
    EMBER_RETURN_IF_ERROR(u("attention.value_length", &vl));
    if (vl != c.head_dim)
      return Error("%sattention.value_length (%lld) differs from key_length (%lld); not supported",
                   p.c_str(), (long long)vl, (long long)c.head_dim);
  }
  if (c.head_dim % 2 != 0) return Error("head dimension %lld is odd", (long long)c.head_dim);
  c.n_rot = c.head_dim;
  if (f.find(p + "rope.dimension_count")) EMBER_RETURN_IF_ERROR(u("rope.dimension_count", &c.n_rot));
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0)
    return Error("%srope.dimension_count %lld does not fit head dimension %lld", p.c_str(),
                 (long long)c.n_rot, (long long)c.head_dim);
  EMBER_ASSIGN_OR_RETURN(double base, f.get_float_or(p + "rope.freq_base", 10000.0));
  if (!(base > 0) || !std::isfinite(base)) return Error("%srope.freq_base is %g", p.c_str(), base);
  c.rope_freq_base = static_cast<float>(base);
  if (f.find(p + "rope.scaling.type")) {
    EMBER_ASSIGN_OR_RETURN(std::string type, f.get_string(p + "rope.scaling.type"));
    if (type == "linear") {
      EMBER_ASSIGN_OR_RETURN(double factor, f.get_float(p + "rope.scaling.factor"));
      if (!(factor > 0) || !std::isfinite(factor))
        return Error("%srope.scaling.factor is %g", p.c_str(), factor);
      c.rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (type != "none") {
      return Error("rope scaling type '%s' is not supported (ember supports none and linear)",
                   type.c_str());
    }
  } else if (f.find(p + "rope.scale_linear")) {
    EMBER_ASSIGN_OR_RETURN(double factor, f.get_float(p + "rope.scale_linear"));
    if (!(factor > 0) || !std::isfinite(factor)) return Error("%srope.scale_linear is %g", p.c_str(), factor);
    c.rope_freq_scale = static_cast<float>(1.0 / factor);
  }
  if (f.find_tensor("rope_freqs.weight"))
    return Error("per-dimension rope frequency factors (rope_freqs.weight, Llama 3.1 style) are "
                 "not supported yet");
  EMBER_ASSIGN_OR_RETURN(double eps, f.get_float(p + "attention.layer_norm_rms_epsilon"));
  if (!(eps > 0) || !(eps < 1)) return Error("%sattention.layer_norm_rms_epsilon is %g", p.c_str(), eps);
  c.rms_eps = static_cast<float>(eps);
  c.rope_layout = c.arch == "qwen2" ? graph::RopeLayout::NeoX : graph::RopeLayout::Normal;
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;

  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb) return Error("tensor 'token_embd.weight' is missing");
  if (emb->dims.size() != 2) return Error("tensor 'token_embd.weight' is not 2-dimensional");
  c.n_vocab = emb->dims[1];
  if (f.find(p + "vocab_size")) {
    int64_t vs = 0;
    EMBER_RETURN_IF_ERROR(u("vocab_size", &vs));
    if (vs != c.n_vocab)
      return Error("%svocab_size is %lld but token_embd.weight has %lld rows", p.c_str(),
                   (long long)vs, (long long)c.n_vocab);
  }
  return c;
}

Status check_model_tensors(const gguf::File& f, const graph::ModelConfig& c) {
  auto check = [&](const std::string& name, std::initializer_list<int64_t> dims) -> Status {
    const gguf::TensorInfo* t = f.find_tensor(name);
    if (!t) return Error("tensor '%s' is missing", name.c_str());
    std::string want, got;
    for (int64_t d : dims) want += (want.empty() ? "" : " x ") + std::to_string(d);
    for (int64_t d : t->dims) got += (got.empty() ? "" : " x ") + std::to_string(d);
    if (t->dims.size() != dims.size() || !std::equal(dims.begin(), dims.end(), t->dims.begin()))
      return Error("tensor '%s' has shape [%s], expected [%s] from the hyperparameters",
                   name.c_str(), got.c_str(), want.c_str());
    return Status::Ok();
  };
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  EMBER_RETURN_IF_ERROR(check("token_embd.weight", {c.n_embd, c.n_vocab}));
  EMBER_RETURN_IF_ERROR(check("output_norm.weight", {c.n_embd}));
  if (!c.tied_embeddings) EMBER_RETURN_IF_ERROR(check("output.weight", {c.n_embd, c.n_vocab}));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    EMBER_RETURN_IF_ERROR(check(b + "attn_norm.weight", {c.n_embd}));
    EMBER_RETURN_IF_ERROR(check(b + "attn_q.weight", {c.n_embd, q_dim}));
    EMBER_RETURN_IF_ERROR(check(b + "attn_k.weight", {c.n_embd, kv_dim}));
    EMBER_RETURN_IF_ERROR(check(b + "attn_v.weight", {c.n_embd, kv_dim}));
    EMBER_RETURN_IF_ERROR(check(b + "attn_output.weight", {q_dim, c.n_embd}));
    if (c.qkv_bias) {
      EMBER_RETURN_IF_ERROR(check(b + "attn_q.bias", {q_dim}));
      EMBER_RETURN_IF_ERROR(check(b + "attn_k.bias", {kv_dim}));
      EMBER_RETURN_IF_ERROR(check(b + "attn_v.bias", {kv_dim}));
    }
    EMBER_RETURN_IF_ERROR(check(b + "ffn_norm.weight", {c.n_embd}));
    EMBER_RETURN_IF_ERROR(check(b + "ffn_gate.weight", {c.n_embd, c.n_ff}));
    EMBER_RETURN_IF_ERROR(check(b + "ffn_up.weight", {c.n_embd, c.n_ff}));
    EMBER_RETURN_IF_ERROR(check(b + "ffn_down.weight", {c.n_ff, c.n_embd}));
  }
  // Norms and biases are applied in f32.
  for (const gguf::TensorInfo& t : f.tensors()) {
    bool vec = t.name.find("norm") != std::string::npos || t.name.find(".bias") != std::string::npos;
    if (vec && t.type != DType::F32)
      return Error("tensor '%s' has type %s; ember expects F32 for norms and biases", t.name.c_str(),
                   dtype_name(t.type));
  }
  return Status::Ok();
}

}  // namespace ember::runtime
