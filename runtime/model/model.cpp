#include "runtime/model/model.h"

#include "runtime/model/config.h"

namespace ember::runtime {

Expected<std::unique_ptr<Model>> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  EMBER_ASSIGN_OR_RETURN(m->file_, gguf::File::open(path));
  auto fail = [&](Status s) { return s.with_context(path); };
  auto cfg = read_model_config(*m->file_);
  if (!cfg.ok()) return fail(cfg.status());
  m->config_ = *cfg;
  if (Status s = check_model_tensors(*m->file_, m->config_); !s.ok()) return fail(s);
  for (const gguf::TensorInfo& t : m->file_->tensors()) {
    graph::WeightRef w;
    w.dtype = t.type;
    w.shape.assign(t.dims.rbegin(), t.dims.rend());  // GGUF lists the innermost dimension first
    w.data = t.data;
    m->weights_.emplace(t.name, std::move(w));
    m->weight_bytes_ += t.n_bytes;
  }
  auto tok = tokenizer::Tokenizer::from_gguf(*m->file_);
  if (!tok.ok()) return fail(tok.status());
  m->tokenizer_ = std::move(tok).value();
  m->weight_store_ = std::make_unique<graph::WeightStore>();
  const gguf::File* file = m->file_.get();
  m->weight_store_->on_packed = [file](const void* plain, size_t bytes) { file->release_pages(plain, bytes); };
  if (m->tokenizer_->n_vocab() > m->config_.n_vocab)
    return fail(Error("the tokenizer has %d tokens but token_embd.weight has only %lld rows",
                      m->tokenizer_->n_vocab(), (long long)m->config_.n_vocab));
  return m;
}

const graph::WeightRef* Model::find(const std::string& name) const {
  auto it = weights_.find(name);
  return it == weights_.end() ? nullptr : &it->second;
}

}  // namespace ember::runtime
