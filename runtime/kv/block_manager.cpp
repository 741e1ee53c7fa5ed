#include "runtime/kv/block_manager.h"

#include <algorithm>
#include <cstring>

namespace ember::runtime {

namespace {

// splitmix64's finaliser: a cheap, well-mixed step for chaining 64-bit words.
inline uint64_t mix(uint64_t h, uint64_t v) {
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

BlockManager::BlockManager(int32_t n_blocks, int32_t block_size, bool prefix_caching)
    : block_size_(block_size), prefix_caching_(prefix_caching), blocks_(static_cast<size_t>(n_blocks)) {
  block_tokens_.assign(static_cast<size_t>(n_blocks) * block_size, 0);
  block_styles_.assign(static_cast<size_t>(n_blocks) * block_size, 0);
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
  cache_.reserve(static_cast<size_t>(n_blocks));
}

uint64_t BlockManager::block_hash(uint64_t parent, const int32_t* tokens, const uint8_t* styles) const {
  uint64_t h = mix(parent, 0x656d626572ull);  // "ember": no block hashes to a plain parent
  for (int32_t i = 0; i < block_size_; ++i)
    h = mix(h, (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])) << 8) | styles[i]);
  return h == 0 ? 1 : h;
}

BlockStats BlockManager::stats() const {
  BlockStats s;
  s.total = n_blocks();
  s.free = static_cast<int32_t>(free_.size());
  s.cached = lru_size_;
  s.used = s.total - s.free - s.cached;
  s.prefix_queries = prefix_queries_;
  s.prefix_hits = prefix_hits_;
  s.evictions = evictions_;
  return s;
}

void BlockManager::lru_push_back(int32_t b) {
  Block& k = blocks_[b];
  k.prev = lru_tail_;
  k.next = -1;
  if (lru_tail_ >= 0) blocks_[lru_tail_].next = b;
  else lru_head_ = b;
  lru_tail_ = b;
  k.in_lru = true;
  ++lru_size_;
}

void BlockManager::lru_remove(int32_t b) {
  Block& k = blocks_[b];
  if (k.prev >= 0) blocks_[k.prev].next = k.next;
  else lru_head_ = k.next;
  if (k.next >= 0) blocks_[k.next].prev = k.prev;
  else lru_tail_ = k.prev;
  k.prev = k.next = -1;
  k.in_lru = false;
  --lru_size_;
}

void BlockManager::unhash(int32_t b) {
  Block& k = blocks_[b];
  if (!k.hashed) return;
  auto it = cache_.find(k.hash);
  if (it != cache_.end() && it->second == b) cache_.erase(it);
  k.hashed = false;
  k.hash = k.parent = 0;
}

int32_t BlockManager::take_block() {
  int32_t b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (lru_head_ >= 0) {
    b = lru_head_;
    lru_remove(b);
    unhash(b);
    ++evictions_;
  } else {
    return -1;
  }
  blocks_[b].ref = 1;
  return b;
}

void BlockManager::release_block(int32_t b) {
  Block& k = blocks_[b];
  if (--k.ref > 0) return;
  if (k.hashed) lru_push_back(b);
  else free_.push_back(b);
}

bool BlockManager::evict_one() {
  if (lru_head_ < 0) return false;
  int32_t b = lru_head_;
  lru_remove(b);
  unhash(b);
  free_.push_back(b);
  ++evictions_;
  return true;
}

int32_t BlockManager::create_seq() {
  int32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<int32_t>(seqs_.size());
    seqs_.emplace_back();
  }
  Seq& s = seq_ref(id);
  s = Seq();
  s.live = true;
  return id;
}

bool BlockManager::is_live(int32_t seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < seqs_.size() && seqs_[seq].live;
}

int32_t BlockManager::fork(int32_t seq) {
  if (!is_live(seq)) return -1;
  int32_t id = create_seq();
  Seq& src = seq_ref(seq);  // after create_seq: seqs_ may have grown
  Seq& dst = seq_ref(id);
  dst.blocks = src.blocks;
  dst.tokens = src.tokens;
  dst.styles = src.styles;
  dst.committed = src.committed;
  dst.chain = src.chain;
  for (int32_t b : dst.blocks) blocks_[b].ref++;
  return id;
}

void BlockManager::free_seq(int32_t seq) {
  if (!is_live(seq)) return;
  Seq& s = seq_ref(seq);
  // Tail blocks first: they join the LRU list earliest, so they are evicted before the
  // prefix blocks that other prompts are more likely to share.
  for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) release_block(*it);
  s = Seq();
  free_ids_.push_back(seq);
}

int32_t BlockManager::length(int32_t seq) const {
  return is_live(seq) ? static_cast<int32_t>(seqs_[seq].tokens.size()) : -1;
}

const std::vector<int32_t>& BlockManager::table(int32_t seq) const { return seqs_[static_cast<size_t>(seq)].blocks; }
const std::vector<int32_t>& BlockManager::tokens(int32_t seq) const { return seqs_[static_cast<size_t>(seq)].tokens; }

int32_t BlockManager::match_prefix(int32_t seq, std::span<const int32_t> tokens, std::span<const uint8_t> styles) {
  if (!is_live(seq) || !seq_ref(seq).tokens.empty() || styles.size() != tokens.size()) return 0;
  prefix_queries_ += static_cast<int64_t>(tokens.size());
  if (!prefix_caching_ || tokens.empty()) return 0;
  Seq& s = seq_ref(seq);
  const size_t B = static_cast<size_t>(block_size_);
  uint64_t h = 0;
  size_t i = 0;
  // (i + 1) * B <= size - 1: the last token is always computed, since its logits are needed.
  for (; (i + 1) * B < tokens.size(); ++i) {
    const int32_t* t = tokens.data() + i * B;
    const uint8_t* st = styles.data() + i * B;
    uint64_t next = block_hash(h, t, st);
    auto it = cache_.find(next);
    if (it == cache_.end()) break;
    const int32_t b = it->second;
    if (blocks_[b].parent != h || std::memcmp(&block_tokens_[b * B], t, B * sizeof(int32_t)) != 0 ||
        std::memcmp(&block_styles_[b * B], st, B) != 0)
      break;  // a 64-bit collision: treat as a miss
    if (blocks_[b].ref == 0) lru_remove(b);
    blocks_[b].ref++;
    s.blocks.push_back(b);
    h = next;
  }
  const size_t n = i * B;
  s.tokens.assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n));
  s.styles.assign(styles.begin(), styles.begin() + static_cast<std::ptrdiff_t>(n));
  s.committed = static_cast<int32_t>(i);
  s.chain = h;
  prefix_hits_ += static_cast<int64_t>(n);
  return static_cast<int32_t>(n);
}

int32_t BlockManager::blocks_needed(int32_t seq, int32_t n) const {
  if (!is_live(seq) || n <= 0) return 0;
  const Seq& s = seqs_[seq];
  const int64_t len = static_cast<int64_t>(s.tokens.size());
  const int64_t want = (len + n + block_size_ - 1) / block_size_;
  int32_t need = static_cast<int32_t>(want - static_cast<int64_t>(s.blocks.size()));
  if (len % block_size_ != 0 && blocks_[s.blocks.back()].ref > 1) need += 1;  // copy-on-write
  return need;
}

Status BlockManager::append(int32_t seq, std::span<const int32_t> tokens, std::span<const uint8_t> styles,
                            std::vector<BlockCopy>* copies) {
  if (!is_live(seq)) return Error("kv sequence %d does not exist", seq);
  if (styles.size() != tokens.size()) return Error("kv append: %zu tokens but %zu styles", tokens.size(), styles.size());
  if (tokens.empty()) return Status::Ok();
  const int32_t n = static_cast<int32_t>(tokens.size());
  const int32_t need = blocks_needed(seq, n);
  if (need > available())
    return Error("kv cache is full: %d more tokens need %d blocks of %d, %d are available", n, need, block_size_,
                 available());
  Seq& s = seq_ref(seq);
  const size_t len = s.tokens.size();
  if (len % block_size_ != 0 && blocks_[s.blocks.back()].ref > 1) {
    const int32_t src = s.blocks.back();
    const int32_t dst = take_block();
    blocks_[src].ref--;  // still owned by the others, so it never reaches 0 here
    s.blocks.back() = dst;
    copies->push_back({src, dst});
  }
  const size_t want = (len + tokens.size() + block_size_ - 1) / block_size_;
  while (s.blocks.size() < want) s.blocks.push_back(take_block());
  // Grow the token record a block at a time, so appends inside a block never allocate.
  if (s.tokens.capacity() < want * block_size_) {
    s.tokens.reserve(want * block_size_);
    s.styles.reserve(want * block_size_);
  }
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  s.styles.insert(s.styles.end(), styles.begin(), styles.end());
  return Status::Ok();
}

void BlockManager::truncate(int32_t seq, int32_t n) {
  if (!is_live(seq)) return;
  Seq& s = seq_ref(seq);
  const size_t keep = std::max<size_t>(static_cast<size_t>(std::max(n, 0)),
                                       static_cast<size_t>(s.committed) * block_size_);
  if (keep >= s.tokens.size()) return;
  s.tokens.resize(keep);
  s.styles.resize(keep);
  const size_t want = (keep + block_size_ - 1) / block_size_;
  while (s.blocks.size() > want) {
    release_block(s.blocks.back());
    s.blocks.pop_back();
  }
}

void BlockManager::commit(int32_t seq) {
  if (!is_live(seq)) return;
  Seq& s = seq_ref(seq);
  const size_t B = static_cast<size_t>(block_size_);
  while ((static_cast<size_t>(s.committed) + 1) * B <= s.tokens.size()) {
    const size_t i = static_cast<size_t>(s.committed);
    const int32_t b = s.blocks[i];
    const uint64_t h = block_hash(s.chain, &s.tokens[i * B], &s.styles[i * B]);
    if (prefix_caching_ && !blocks_[b].hashed && !cache_.count(h)) {
      // (An identical block already cached elsewhere stays the canonical one; this copy
      // is simply freed when its owners leave.)
      Block& k = blocks_[b];
      k.hashed = true;
      k.hash = h;
      k.parent = s.chain;
      std::memcpy(&block_tokens_[b * B], &s.tokens[i * B], B * sizeof(int32_t));
      std::memcpy(&block_styles_[b * B], &s.styles[i * B], B);
      cache_.emplace(h, b);
    }
    s.chain = h;
    s.committed++;
  }
}

Status BlockManager::check() const {
  const size_t nb = blocks_.size();
  const size_t B = static_cast<size_t>(block_size_);
  std::vector<int32_t> owners(nb, 0);
  std::vector<uint8_t> seen(nb, 0);
  for (size_t si = 0; si < seqs_.size(); ++si) {
    const Seq& s = seqs_[si];
    if (!s.live) {
      if (!s.blocks.empty()) return Error("retired sequence %zu still lists %zu blocks", si, s.blocks.size());
      continue;
    }
    if (s.styles.size() != s.tokens.size()) return Error("sequence %zu: tokens and styles differ in length", si);
    if (s.blocks.size() != (s.tokens.size() + B - 1) / B)
      return Error("sequence %zu holds %zu tokens in %zu blocks of %zu", si, s.tokens.size(), s.blocks.size(), B);
    if (static_cast<size_t>(s.committed) * B > s.tokens.size())
      return Error("sequence %zu committed %d blocks beyond its %zu tokens", si, s.committed, s.tokens.size());
    for (size_t i = 0; i < s.blocks.size(); ++i) {
      const int32_t b = s.blocks[i];
      if (b < 0 || static_cast<size_t>(b) >= nb) return Error("sequence %zu lists block %d out of range", si, b);
      if (seen[b] == 1) return Error("sequence %zu lists block %d twice", si, b);
      seen[b] = 1;
      owners[b]++;
      const Block& k = blocks_[b];
      if (k.hashed && (i + 1) * B <= s.tokens.size() &&
          (std::memcmp(&block_tokens_[b * B], &s.tokens[i * B], B * sizeof(int32_t)) != 0 ||
           std::memcmp(&block_styles_[b * B], &s.styles[i * B], B) != 0))
        return Error("cached block %d does not hold the tokens of sequence %zu at block %zu", b, si, i);
      if (k.hashed && (i + 1) * B > s.tokens.size())
        return Error("block %d is cached but only partly filled by sequence %zu", b, si);
    }
    for (int32_t b : s.blocks) seen[b] = 0;
  }
  std::vector<uint8_t> where(nb, 0);  // 1 free list, 2 lru
  for (int32_t b : free_) {
    if (b < 0 || static_cast<size_t>(b) >= nb) return Error("free list holds block %d out of range", b);
    if (where[b]) return Error("block %d is on the free list twice", b);
    where[b] = 1;
  }
  int32_t count = 0, prev = -1;
  for (int32_t b = lru_head_; b >= 0; b = blocks_[b].next) {
    if (++count > static_cast<int32_t>(nb)) return Error("the LRU list has a cycle");
    if (where[b]) return Error("block %d is both free and cached", b);
    if (!blocks_[b].in_lru || blocks_[b].prev != prev) return Error("LRU links of block %d are broken", b);
    where[b] = 2;
    prev = b;
  }
  if (prev != lru_tail_ || count != lru_size_) return Error("LRU list size or tail is wrong");
  size_t n_hashed = 0;
  for (size_t b = 0; b < nb; ++b) {
    const Block& k = blocks_[b];
    if (k.ref != owners[b]) return Error("block %zu has refcount %d but %d owners", b, k.ref, owners[b]);
    if (k.ref > 0 && where[b]) return Error("block %zu is owned but on the %s list", b, where[b] == 1 ? "free" : "LRU");
    if (k.ref == 0 && !where[b]) return Error("block %zu is leaked: no owner, on no list", b);
    if (k.ref == 0 && where[b] == 1 && k.hashed) return Error("free block %zu is still hashed", b);
    if (k.ref == 0 && where[b] == 2 && !k.hashed) return Error("cached block %zu has no hash", b);
    if (k.in_lru != (where[b] == 2)) return Error("block %zu: LRU flag disagrees with the list", b);
    if (k.hashed) {
      ++n_hashed;
      auto it = cache_.find(k.hash);
      if (it == cache_.end() || it->second != static_cast<int32_t>(b))
        return Error("hashed block %zu is missing from the hash table", b);
      if (block_hash(k.parent, &block_tokens_[b * B], &block_styles_[b * B]) != k.hash)
        return Error("cached block %zu: its tokens do not hash to its hash", b);
    }
  }
  if (n_hashed != cache_.size()) return Error("hash table has %zu entries for %zu hashed blocks", cache_.size(), n_hashed);
  return Status::Ok();
}

}  // namespace ember::runtime
