// KV storage in fixed-size blocks: for every layer a K pool and a V pool of
// [n_blocks, block_size, n_kv_head, head_dim] f16 in the backend's memory, a free list of
// block ids, and per sequence a block table (logical block i -> physical block id).
// The paged KV manager of the serving issue (refcounts, prefix cache, copy-on-write)
// builds on this.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "ember/core/status.h"
#include "graph/models/config.h"

namespace ember::runtime {

struct SeqBlocks {
  std::vector<int32_t> blocks;  // physical block ids, in position order
  int32_t n_tokens = 0;         // positions 0..n_tokens-1 hold K/V
};

class KvPool {
 public:
  static Expected<std::unique_ptr<KvPool>> create(Backend& backend, const graph::ModelConfig& cfg,
                                                  int32_t block_size, int32_t n_blocks);

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return static_cast<int32_t>(n_blocks_); }
  int32_t free_blocks() const { return static_cast<int32_t>(free_.size()); }
  uint64_t bytes() const { return bytes_; }
  // [2*layer + which] -> the pool buffer (which: 0 = K, 1 = V).
  const std::vector<Buffer*>& buffers() const { return raw_; }

  // Makes `seq` able to hold `n_tokens` positions, taking blocks from the free list.
  // Fails (changing nothing) when the pool has too few free blocks.
  Status reserve(SeqBlocks& seq, int32_t n_tokens);
  // Returns all of `seq`'s blocks to the free list.
  void release(SeqBlocks& seq);

 private:
  int32_t block_size_ = 16;
  int64_t n_blocks_ = 0;
  uint64_t bytes_ = 0;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::vector<Buffer*> raw_;
  std::vector<int32_t> free_;
};

}  // namespace ember::runtime
