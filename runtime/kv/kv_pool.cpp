#include "runtime/kv/kv_pool.h"

namespace ember::runtime {

Expected<std::unique_ptr<KvPool>> KvPool::create(Backend& backend, const graph::ModelConfig& cfg,
                                                 int32_t block_size, int32_t n_blocks) {
  if (block_size < 1 || block_size > 1024) return Error("kv block size %d is out of range (1..1024)", block_size);
  if (n_blocks < 1) return Error("kv pool needs at least one block");
  auto p = std::make_unique<KvPool>();
  p->block_size_ = block_size;
  p->n_blocks_ = n_blocks;
  const uint64_t per_pool = static_cast<uint64_t>(n_blocks) * block_size * cfg.n_head_kv * cfg.head_dim * 2;
  for (int64_t l = 0; l < cfg.n_layer; ++l)
    for (int w = 0; w < 2; ++w) {
      auto b = backend.alloc(per_pool);
      if (!b.ok()) return b.status().with_context("allocating the kv cache");
      p->raw_.push_back(b->get());
      p->buffers_.push_back(std::move(b).value());
      p->bytes_ += per_pool;
    }
  p->free_.reserve(n_blocks);
  for (int32_t b = n_blocks - 1; b >= 0; --b) p->free_.push_back(b);
  return p;
}

Status KvPool::reserve(SeqBlocks& seq, int32_t n_tokens) {
  const size_t need = (static_cast<size_t>(n_tokens) + block_size_ - 1) / block_size_;
  if (need <= seq.blocks.size()) return Status::Ok();
  const size_t more = need - seq.blocks.size();
  if (more > free_.size())
    return Error("kv cache is full: %d tokens need %zu more blocks of %d, %zu are free", n_tokens, more,
                 block_size_, free_.size());
  for (size_t k = 0; k < more; ++k) {
    seq.blocks.push_back(free_.back());
    free_.pop_back();
  }
  return Status::Ok();
}

void KvPool::release(SeqBlocks& seq) {
  for (int32_t b : seq.blocks) free_.push_back(b);
  seq.blocks.clear();
  seq.n_tokens = 0;
}

}  // namespace ember::runtime
