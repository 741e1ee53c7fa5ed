#include "runtime/kv/kv_pool.h"

#include <algorithm>
#include <cstring>

namespace ember::runtime {

Expected<std::unique_ptr<KvPool>> KvPool::create(Backend& backend, const graph::ModelConfig& cfg,
                                                 int32_t block_size, int32_t n_blocks, DType dtype) {
  return create(std::vector<Backend*>(static_cast<size_t>(std::max<int64_t>(cfg.n_layer, 0)), &backend), cfg,
                block_size, n_blocks, dtype);
}

Expected<std::unique_ptr<KvPool>> KvPool::create(const std::vector<Backend*>& layer_backends,
                                                 const graph::ModelConfig& cfg, int32_t block_size,
                                                 int32_t n_blocks, DType dtype) {
  if (static_cast<int64_t>(layer_backends.size()) != cfg.n_layer)
    return Error("kv pool: %zu layer devices for %lld layers", layer_backends.size(), (long long)cfg.n_layer);
  if (dtype != DType::F16 && dtype != DType::Q8_0) return Error("kv cache type must be f16 or q8_0");
  if (dtype == DType::Q8_0 && cfg.head_dim % 32 != 0)
    return Error("a q8_0 kv cache needs a head dimension that is a multiple of 32 (this model's is %lld)",
                 (long long)cfg.head_dim);
  if (block_size < 1 || block_size > 1024) return Error("kv block size %d is out of range (1..1024)", block_size);
  if (n_blocks < 1) return Error("kv pool needs at least one block");
  auto p = std::make_unique<KvPool>();
  p->block_size_ = block_size;
  p->n_blocks_ = n_blocks;
  p->dtype_ = dtype;
  const uint64_t row = dtype_row_bytes(dtype, cfg.head_dim);  // one head of one token
  const uint64_t per_pool = static_cast<uint64_t>(n_blocks) * block_size * cfg.n_head_kv * row;
  for (int64_t l = 0; l < cfg.n_layer; ++l)
    for (int w = 0; w < 2; ++w) {
      Backend& backend = *layer_backends[l];
      auto b = backend.alloc(per_pool);
      if (!b.ok()) return b.status().with_context("allocating the kv cache");
      p->owner_.push_back(&backend);
      p->raw_.push_back(b->get());
      p->buffers_.push_back(std::move(b).value());
      p->bytes_ += per_pool;
    }
  p->block_bytes_ = static_cast<uint64_t>(block_size) * cfg.n_head_kv * row;
  return p;
}

Status KvPool::copy_block(int32_t src, int32_t dst) {
  if (src < 0 || dst < 0 || src >= n_blocks_ || dst >= n_blocks_)
    return Error("kv block copy %d -> %d is out of range (%lld blocks)", src, dst, (long long)n_blocks_);
  const size_t n = block_bytes_, so = n * static_cast<size_t>(src), dof = n * static_cast<size_t>(dst);
  for (size_t k = 0; k < raw_.size(); ++k) {
    Buffer* b = raw_[k];
    Queue& q = owner_[k]->queue();
    if (auto* base = static_cast<uint8_t*>(b->host_ptr())) {
      std::memcpy(base + dof, base + so, n);
    } else {
      staging_.resize(n);
      EMBER_RETURN_IF_ERROR(q.read(*b, so, staging_.data(), n));
      EMBER_RETURN_IF_ERROR(q.write(*b, dof, staging_.data(), n));
      EMBER_RETURN_IF_ERROR(q.synchronize());
    }
  }
  return Status::Ok();
}

}  // namespace ember::runtime
