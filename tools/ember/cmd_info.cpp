// ember info MODEL: architecture, hyperparameters, tokenizer summary and the tensor table.
#include <cstdio>
#include <map>

#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"
#include "tools/ember/args.h"
#include "tools/ember/commands.h"
#include "tools/ember/json.h"

namespace ember::cli {
namespace {

std::string shape_str(const std::vector<int64_t>& dims) {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s;
}

struct TokenizerSummary {
  std::string model, pre;
  size_t vocab = 0, merges = 0;
  long long bos = -1, eos = -1;
  bool has_template = false;
};

TokenizerSummary summarize_tokenizer(const gguf::File& f) {
  TokenizerSummary t;
  if (auto v = f.get_string("tokenizer.ggml.model"); v.ok()) t.model = *v;
  if (auto v = f.get_string("tokenizer.ggml.pre"); v.ok()) t.pre = *v;
  if (const gguf::Value* v = f.find("tokenizer.ggml.tokens")) t.vocab = v->items.size();
  if (const gguf::Value* v = f.find("tokenizer.ggml.merges")) t.merges = v->items.size();
  if (auto v = f.get_uint("tokenizer.ggml.bos_token_id"); v.ok()) t.bos = (long long)*v;
  if (auto v = f.get_uint("tokenizer.ggml.eos_token_id"); v.ok()) t.eos = (long long)*v;
  t.has_template = f.find("tokenizer.chat_template") != nullptr;
  return t;
}

}  // namespace

int cmd_info(int argc, char** argv) {
  std::string path;
  bool json = false, all_metadata = false;
  Args args("info", "Shows a GGUF model's architecture, hyperparameters, tokenizer and tensor table.");
  args.positional("MODEL", &path, "path to a .gguf file");
  args.flag("--json", &json, "print one JSON object instead of text");
  args.flag("--metadata", &all_metadata, "also list every metadata key (text mode)");
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;

  auto file = gguf::File::open(path);
  if (!file.ok()) return fail("info", file.message());
  const gguf::File& f = **file;
  auto cfg = runtime::read_model_config(f);
  TokenizerSummary tok = summarize_tokenizer(f);
  uint64_t total_bytes = 0;
  std::map<std::string, int> type_counts;
  for (const gguf::TensorInfo& t : f.tensors()) {
    total_bytes += t.n_bytes;
    type_counts[dtype_name(t.type)]++;
  }

  if (json) {
    std::printf("{\"path\":%s,\"gguf_version\":%u,\"alignment\":%llu,\"file_bytes\":%zu,", json_str(path).c_str(),
                f.version(), (unsigned long long)f.alignment(), f.size());
    if (cfg.ok()) {
      const graph::ModelConfig& c = *cfg;
      std::printf("\"architecture\":%s,\"name\":%s,\"hparams\":{\"n_vocab\":%lld,\"n_ctx_train\":%lld,"
                  "\"n_embd\":%lld,\"n_layer\":%lld,\"n_ff\":%lld,\"n_head\":%lld,\"n_head_kv\":%lld,"
                  "\"head_dim\":%lld,\"n_rot\":%lld,\"rope_freq_base\":%g,\"rope_freq_scale\":%g,"
                  "\"rope_layout\":%s,\"rms_eps\":%g,\"tied_embeddings\":%s,\"qkv_bias\":%s},",
                  json_str(c.arch).c_str(), json_str(c.name).c_str(), (long long)c.n_vocab,
                  (long long)c.n_ctx_train, (long long)c.n_embd, (long long)c.n_layer, (long long)c.n_ff,
                  (long long)c.n_head, (long long)c.n_head_kv, (long long)c.head_dim, (long long)c.n_rot,
                  c.rope_freq_base, c.rope_freq_scale,
                  c.rope_layout == graph::RopeLayout::NeoX ? "\"neox\"" : "\"normal\"", c.rms_eps,
                  c.tied_embeddings ? "true" : "false", c.qkv_bias ? "true" : "false");
    } else {
      std::printf("\"config_error\":%s,", json_str(cfg.message()).c_str());
    }
    std::printf("\"tokenizer\":{\"model\":%s,\"pre\":%s,\"vocab\":%zu,\"merges\":%zu,\"bos\":%lld,"
                "\"eos\":%lld,\"chat_template\":%s},",
                json_str(tok.model).c_str(), json_str(tok.pre).c_str(), tok.vocab, tok.merges, tok.bos,
                tok.eos, tok.has_template ? "true" : "false");
    std::printf("\"metadata\":{");
    bool first = true;
    for (const gguf::KeyValue& kv : f.metadata()) {
      std::printf("%s%s:%s", first ? "" : ",", json_str(kv.key).c_str(),
                  json_str(gguf::value_to_string(kv.value)).c_str());
      first = false;
    }
    std::printf("},\"tensor_bytes\":%llu,\"tensors\":[", (unsigned long long)total_bytes);
    first = true;
    for (const gguf::TensorInfo& t : f.tensors()) {
      std::printf("%s{\"name\":%s,\"type\":\"%s\",\"shape\":[", first ? "" : ",", json_str(t.name).c_str(),
                  dtype_name(t.type));
      for (size_t d = 0; d < t.dims.size(); ++d) std::printf("%s%lld", d ? "," : "", (long long)t.dims[d]);
      std::printf("],\"offset\":%llu,\"bytes\":%llu}", (unsigned long long)t.offset, (unsigned long long)t.n_bytes);
      first = false;
    }
    std::printf("]}\n");
    return cfg.ok() ? 0 : 1;
  }

  std::printf("file:          %s (%zu bytes, GGUF v%u, alignment %llu)\n", path.c_str(), f.size(),
              f.version(), (unsigned long long)f.alignment());
  if (cfg.ok()) {
    const graph::ModelConfig& c = *cfg;
    std::printf("architecture:  %s  (%s)\n", c.arch.c_str(), c.name.c_str());
    std::printf("hyperparameters:\n");
    std::printf("  n_vocab %lld, n_ctx_train %lld, n_embd %lld, n_layer %lld, n_ff %lld\n",
                (long long)c.n_vocab, (long long)c.n_ctx_train, (long long)c.n_embd, (long long)c.n_layer,
                (long long)c.n_ff);
    std::printf("  n_head %lld, n_head_kv %lld (GQA %lld), head_dim %lld, n_rot %lld\n", (long long)c.n_head,
                (long long)c.n_head_kv, (long long)c.gqa_ratio(), (long long)c.head_dim, (long long)c.n_rot);
    std::printf("  rope %s, freq_base %g, freq_scale %g; rms_eps %g; %s embeddings%s\n",
                c.rope_layout == graph::RopeLayout::NeoX ? "neox" : "normal", c.rope_freq_base,
                c.rope_freq_scale, c.rms_eps, c.tied_embeddings ? "tied" : "separate output",
                c.qkv_bias ? "; QKV bias" : "");
  } else {
    std::printf("architecture:  (cannot build: %s)\n", cfg.message().c_str());
  }
  std::printf("tokenizer:     %s, pre '%s', %zu tokens, %zu merges, bos %lld, eos %lld, %s\n",
              tok.model.c_str(), tok.pre.c_str(), tok.vocab, tok.merges, tok.bos, tok.eos,
              tok.has_template ? "chat template present" : "no chat template");
  std::string types;
  for (auto& [n, k] : type_counts) types += (types.empty() ? "" : ", ") + std::to_string(k) + " " + n;
  std::printf("tensors:       %zu (%s), %.2f MiB\n", f.tensors().size(), types.c_str(),
              total_bytes / 1048576.0);
  if (all_metadata) {
    std::printf("\nmetadata:\n");
    for (const gguf::KeyValue& kv : f.metadata())
      std::printf("  %-40s %s\n", kv.key.c_str(), gguf::value_to_string(kv.value).c_str());
  }
  std::printf("\n%-32s %-6s %-16s %12s\n", "tensor", "type", "shape", "bytes");
  for (const gguf::TensorInfo& t : f.tensors())
    std::printf("%-32s %-6s %-16s %12llu\n", t.name.c_str(), dtype_name(t.type), shape_str(t.dims).c_str(),
                (unsigned long long)t.n_bytes);
  return cfg.ok() ? 0 : 1;
}

}  // namespace ember::cli
