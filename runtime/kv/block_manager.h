// The paged KV block manager: which physical KV block holds which tokens of which sequence.
//
// Pure bookkeeping (no KV bytes are touched here; the Session copies blocks when told to):
//  - a pool of n_blocks blocks of block_size tokens; a block table per sequence;
//  - reference counts: a block is owned by every sequence whose table lists it;
//  - prefix caching: a *full* block is identified by a hash of its tokens chained with the
//    hash of the blocks before it (so equal hashes mean equal prefixes, and the stored tokens
//    are compared on a match to rule out collisions). A new sequence adopts every cached block
//    of its prompt and computes only the rest. Blocks whose last owner leaves stay cached
//    and are evicted least-recently-used, only when a fresh block is needed;
//  - copy-on-write: fork() shares every block; the first append into a shared partial block
//    replaces it with a private copy (the copy is returned to the caller to perform);
//  - every token carries a summation "style" (see KvLayout::token_style): the K/V of a token
//    depend on the style of every token up to it, so the style is hashed with the token.
//
// Invariants (check() verifies them all): a block's refcount equals the number of live
// sequences listing it; a block with refcount 0 is in exactly one of the free list (no hash)
// or the LRU list (hashed); the hash table maps exactly the hashed blocks to themselves; a
// hashed block's stored tokens hash to its hash and equal the tokens of every owner at that
// place; every sequence holds ceil(len / block_size) blocks, none twice.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "ember/core/status.h"

namespace ember::runtime {

struct BlockCopy {
  int32_t src, dst;  // physical block ids: copy every layer's K and V rows of src into dst
};

struct BlockStats {
  int32_t total = 0;
  int32_t used = 0;    // refcount > 0
  int32_t cached = 0;  // refcount 0, kept for prefix reuse (evictable)
  int32_t free = 0;    // refcount 0, empty
  int64_t prefix_queries = 0;  // prompt tokens offered to match_prefix
  int64_t prefix_hits = 0;     // of those, tokens served from cached blocks
  int64_t evictions = 0;
};

class BlockManager {
 public:
  BlockManager(int32_t n_blocks, int32_t block_size, bool prefix_caching);

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  bool prefix_caching() const { return prefix_caching_; }
  // Blocks an allocation can take now: free ones plus evictable cached ones.
  int32_t available() const { return static_cast<int32_t>(free_.size()) + lru_size_; }
  BlockStats stats() const;

  // Sequences. Ids are small integers, reused after free_seq.
  int32_t create_seq();
  bool is_live(int32_t seq) const;
  // A new sequence sharing every block of `seq` (copy-on-write). -1 if seq is not live.
  int32_t fork(int32_t seq);
  // Releases the sequence's blocks (hashed ones stay cached) and retires the id.
  void free_seq(int32_t seq);

  int32_t length(int32_t seq) const;  // tokens held (positions 0..length-1)
  const std::vector<int32_t>& table(int32_t seq) const;
  const std::vector<int32_t>& tokens(int32_t seq) const;

  // For an empty sequence: adopts the cached blocks that hold a prefix of `tokens` (with
  // `styles`), leaving at least the last token to be computed. Returns the tokens adopted.
  int32_t match_prefix(int32_t seq, std::span<const int32_t> tokens, std::span<const uint8_t> styles);

  // Fresh blocks appending n tokens to seq needs (a copy-on-write copy included).
  int32_t blocks_needed(int32_t seq, int32_t n) const;
  // Makes room for `tokens` at the end of seq and records them. All or nothing: fails,
  // changing nothing, when fewer than blocks_needed() blocks are available. Copies the
  // caller must perform before writing K/V are appended to *copies.
  Status append(int32_t seq, std::span<const int32_t> tokens, std::span<const uint8_t> styles,
                std::vector<BlockCopy>* copies);
  // Drops the tokens past n (undoing an append whose step failed); never below the
  // committed prefix.
  void truncate(int32_t seq, int32_t n);
  // Called once the K/V of the appended tokens are written: registers the sequence's newly
  // full blocks in the prefix cache.
  void commit(int32_t seq);

  // Evicts the least recently used cached block; false when none is cached.
  bool evict_one();

  // Verifies every invariant listed above; the message names the first one broken.
  Status check() const;

 private:
  struct Block {
    int32_t ref = 0;
    bool hashed = false;
    uint64_t hash = 0;
    uint64_t parent = 0;                // hash of the prefix before this block
    int32_t prev = -1, next = -1;       // LRU links, when hashed && ref == 0
    bool in_lru = false;
  };
  struct Seq {
    bool live = false;
    std::vector<int32_t> blocks;
    std::vector<int32_t> tokens;
    std::vector<uint8_t> styles;
    int32_t committed = 0;  // leading full blocks already hashed (or offered to the cache)
    uint64_t chain = 0;     // hash of those blocks
  };

  uint64_t block_hash(uint64_t parent, const int32_t* tokens, const uint8_t* styles) const;
  int32_t take_block();   // -1 when none is available
  void release_block(int32_t b);
  void unhash(int32_t b);
  void lru_push_back(int32_t b);
  void lru_remove(int32_t b);
  Seq& seq_ref(int32_t s) { return seqs_[static_cast<size_t>(s)]; }

  int32_t block_size_;
  bool prefix_caching_;
  std::vector<Block> blocks_;
  std::vector<int32_t> block_tokens_;  // [n_blocks * block_size] the tokens a hashed block holds
  std::vector<uint8_t> block_styles_;  // likewise their styles
  std::vector<int32_t> free_;          // unhashed, unowned
  // Hashed, unowned blocks as an intrusive list (no allocation): head = least recently used.
  int32_t lru_head_ = -1, lru_tail_ = -1, lru_size_ = 0;
  std::unordered_map<uint64_t, int32_t> cache_;
  std::vector<Seq> seqs_;
  std::vector<int32_t> free_ids_;
  int64_t prefix_queries_ = 0, prefix_hits_ = 0, evictions_ = 0;
};

}  // namespace ember::runtime
