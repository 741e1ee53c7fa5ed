// KV storage in fixed-size blocks: for every layer a K pool and a V pool of
// [n_blocks, block_size, n_kv_head, head_dim] f16 (or q8_0) in the backend's memory. Which block holds
// which tokens is the BlockManager's business (runtime/kv/block_manager.h); the pool only owns
// the bytes and copies whole blocks for copy-on-write.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "ember/core/status.h"
#include "graph/models/config.h"

namespace ember::runtime {

class KvPool {
 public:
  static Expected<std::unique_ptr<KvPool>> create(Backend& backend, const graph::ModelConfig& cfg,
                                                  int32_t block_size, int32_t n_blocks, DType dtype = DType::F16);
  // The same with each layer's pools on its own device: layer_backends[l] for layer l (placement).
  static Expected<std::unique_ptr<KvPool>> create(const std::vector<Backend*>& layer_backends,
                                                  const graph::ModelConfig& cfg, int32_t block_size,
                                                  int32_t n_blocks, DType dtype = DType::F16);
  DType dtype() const { return dtype_; }

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return static_cast<int32_t>(n_blocks_); }
  uint64_t bytes() const { return bytes_; }
  uint64_t block_bytes() const { return block_bytes_; }  // one block of one layer's K (or V)
  // [2*layer + which] -> the pool buffer (which: 0 = K, 1 = V).
  const std::vector<Buffer*>& buffers() const { return raw_; }

  // Copies block src into block dst in every layer's K and V pool, through each pool's own
  // device's queue when its memory is not host-visible.
  Status copy_block(int32_t src, int32_t dst);

 private:
  int32_t block_size_ = 16;
  DType dtype_ = DType::F16;
  int64_t n_blocks_ = 0;
  uint64_t bytes_ = 0;
  uint64_t block_bytes_ = 0;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::vector<Buffer*> raw_;
  std::vector<Backend*> owner_;  // per buffer: the device it lives on
  std::vector<uint8_t> staging_;  // for devices whose buffers are not host-visible
};

}  // namespace ember::runtime
