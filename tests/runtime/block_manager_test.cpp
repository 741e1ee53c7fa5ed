// The paged KV block manager: targeted cases for prefix caching, copy-on-write and LRU
// eviction, then a long randomized run that checks every invariant after every operation
// and simulates the KV bytes (a shadow pool written through the block tables) to prove no
// sequence ever reads another's data.
#include "runtime/kv/block_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace ember::runtime {
namespace {

std::vector<uint8_t> prompt_styles(size_t n) { return std::vector<uint8_t>(n, 1); }

// A shadow of the KV pool: each slot holds the token whose K/V would be there.
struct Shadow {
  int32_t B;
  std::vector<int32_t> slot;
  Shadow(int32_t n_blocks, int32_t b) : B(b), slot(static_cast<size_t>(n_blocks) * b, -1) {}
  void apply(const std::vector<BlockCopy>& copies) {
    for (const BlockCopy& c : copies) std::copy_n(&slot[c.src * B], B, &slot[c.dst * B]);
  }
  void write(const BlockManager& bm, int32_t seq, int32_t from) {
    const auto& t = bm.tokens(seq);
    const auto& tab = bm.table(seq);
    for (size_t p = static_cast<size_t>(from); p < t.size(); ++p) slot[tab[p / B] * B + p % B] = t[p];
  }
  ::testing::AssertionResult matches(const BlockManager& bm, int32_t seq) const {
    const auto& t = bm.tokens(seq);
    const auto& tab = bm.table(seq);
    for (size_t p = 0; p < t.size(); ++p)
      if (slot[tab[p / B] * B + p % B] != t[p])
        return ::testing::AssertionFailure() << "sequence " << seq << " position " << p << " reads token "
                                             << slot[tab[p / B] * B + p % B] << ", wrote " << t[p];
    return ::testing::AssertionSuccess();
  }
};

Status append(BlockManager& bm, Shadow& sh, int32_t seq, const std::vector<int32_t>& toks, uint8_t style = 1) {
  std::vector<BlockCopy> copies;
  const int32_t from = bm.length(seq);
  std::vector<uint8_t> st(toks.size(), style);
  Status s = bm.append(seq, toks, st, &copies);
  if (!s.ok()) return s;
  sh.apply(copies);
  sh.write(bm, seq, from);
  bm.commit(seq);
  return s;
}

TEST(BlockManager, PrefixCachingReusesFullBlocksAndComputesTheRest) {
  BlockManager bm(16, 4, true);
  Shadow sh(16, 4);
  std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const int32_t a = bm.create_seq();
  EXPECT_EQ(bm.match_prefix(a, prompt, prompt_styles(prompt.size())), 0);
  ASSERT_TRUE(append(bm, sh, a, prompt).ok());
  // Same first 8 tokens: both full blocks are adopted; the rest is computed.
  std::vector<int32_t> p2 = {1, 2, 3, 4, 5, 6, 7, 8, 42, 43, 44};
  const int32_t b = bm.create_seq();
  EXPECT_EQ(bm.match_prefix(b, p2, prompt_styles(p2.size())), 8);
  EXPECT_EQ(bm.table(b)[0], bm.table(a)[0]);
  EXPECT_EQ(bm.table(b)[1], bm.table(a)[1]);
  ASSERT_TRUE(append(bm, sh, b, {42, 43, 44}).ok());
  EXPECT_TRUE(sh.matches(bm, b));
  // Differing in the first block: nothing is shared after it, even if later blocks match.
  std::vector<int32_t> p3 = {9, 2, 3, 4, 5, 6, 7, 8, 1};
  const int32_t c = bm.create_seq();
  EXPECT_EQ(bm.match_prefix(c, p3, prompt_styles(p3.size())), 0);
  // The same tokens with a different summation style are a different prefix.
  const int32_t d = bm.create_seq();
  std::vector<uint8_t> dec(prompt.size(), 0);
  EXPECT_EQ(bm.match_prefix(d, prompt, dec), 0);
  // A prompt that is exactly cached still leaves its last token to compute (its logits).
  std::vector<int32_t> p4(prompt.begin(), prompt.begin() + 8);
  const int32_t e = bm.create_seq();
  EXPECT_EQ(bm.match_prefix(e, p4, prompt_styles(8)), 4);
  EXPECT_TRUE(bm.check().ok()) << bm.check().message();
  BlockStats st = bm.stats();
  EXPECT_EQ(st.prefix_hits, 8 + 4);
}

TEST(BlockManager, FreedBlocksStayCachedAndAreEvictedLeastRecentlyUsedFirst) {
  BlockManager bm(4, 2, true);
  Shadow sh(4, 2);
  const int32_t a = bm.create_seq();
  ASSERT_TRUE(append(bm, sh, a, {1, 2, 3, 4}).ok());
  bm.free_seq(a);
  BlockStats st = bm.stats();
  EXPECT_EQ(st.cached, 2);
  EXPECT_EQ(st.free, 2);
  EXPECT_EQ(bm.available(), 4);
  // A later request with the same prefix still finds it.
  const int32_t b = bm.create_seq();
  EXPECT_EQ(bm.match_prefix(b, std::vector<int32_t>{1, 2, 3, 4, 5}, prompt_styles(5)), 4);
  bm.free_seq(b);
  // Taking all four blocks evicts the two cached ones: the tail block (3,4) first.
  const int32_t c = bm.create_seq();
  ASSERT_TRUE(append(bm, sh, c, {9, 9, 9, 9, 9}).ok());  // 3 blocks: 2 free + 1 evicted
  EXPECT_EQ(bm.stats().evictions, 1);
  const int32_t d = bm.create_seq();
  EXPECT_EQ(bm.match_prefix(d, std::vector<int32_t>{1, 2, 3, 4, 5}, prompt_styles(5)), 2)
      << "the prefix block (1,2) must outlive its tail block";
  EXPECT_TRUE(bm.check().ok()) << bm.check().message();
  // Full pool: an append that needs a block fails and changes nothing.
  bm.free_seq(d);
  const int32_t e = bm.create_seq();
  ASSERT_TRUE(append(bm, sh, e, {7, 7}).ok());
  Status s = append(bm, sh, c, {9, 9});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("kv cache is full"), std::string::npos) << s.message();
  EXPECT_EQ(bm.length(c), 5);
  EXPECT_TRUE(bm.check().ok()) << bm.check().message();
}

TEST(BlockManager, ForkSharesBlocksAndCopiesOnTheFirstWrite) {
  BlockManager bm(8, 4, false);
  Shadow sh(8, 4);
  const int32_t a = bm.create_seq();
  ASSERT_TRUE(append(bm, sh, a, {1, 2, 3, 4, 5, 6}).ok());
  const int32_t b = bm.fork(a), c = bm.fork(a);
  EXPECT_EQ(bm.stats().used, 2);
  EXPECT_EQ(bm.blocks_needed(b, 1), 1) << "a write into the shared partial block needs a copy";
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(bm.append(b, std::vector<int32_t>{70}, std::vector<uint8_t>{0}, &copies).ok());
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, bm.table(a)[1]);
  EXPECT_EQ(copies[0].dst, bm.table(b)[1]);
  EXPECT_EQ(bm.table(b)[0], bm.table(a)[0]) << "full blocks stay shared";
  sh.apply(copies);
  sh.write(bm, b, 6);
  ASSERT_TRUE(append(bm, sh, c, {80}).ok());
  // a is now the only owner of its partial block: no copy.
  EXPECT_EQ(bm.blocks_needed(a, 1), 0);
  ASSERT_TRUE(append(bm, sh, a, {90}).ok());
  for (int32_t s : {a, b, c}) EXPECT_TRUE(sh.matches(bm, s));
  EXPECT_EQ(bm.tokens(b).back(), 70);
  EXPECT_TRUE(bm.check().ok()) << bm.check().message();
  for (int32_t s : {a, b, c}) bm.free_seq(s);
  EXPECT_EQ(bm.stats().free, 8);
}

TEST(BlockManager, TruncateUndoesAnUncommittedAppend) {
  BlockManager bm(8, 4, true);
  Shadow sh(8, 4);
  const int32_t a = bm.create_seq();
  ASSERT_TRUE(append(bm, sh, a, {1, 2, 3, 4, 5}).ok());
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(bm.append(a, std::vector<int32_t>(7, 3), std::vector<uint8_t>(7, 1), &copies).ok());
  EXPECT_EQ(bm.table(a).size(), 3u);
  bm.truncate(a, 5);
  EXPECT_EQ(bm.length(a), 5);
  EXPECT_EQ(bm.table(a).size(), 2u);
  EXPECT_TRUE(bm.check().ok()) << bm.check().message();
}

// At least 100k random operations (allocate with prefix matching, append, fork, free, evict,
// preempt, failed-step rollback) with every invariant and the shadow contents checked after
// each one; at the end the pool returns to empty.
TEST(BlockManager, RandomOperationsKeepEveryInvariant) {
  int64_t total_ops = 0;
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const int32_t n_blocks = 40, B = 2 + static_cast<int32_t>(seed % 3);  // block sizes 3, 4, 2
    BlockManager bm(n_blocks, B, seed != 2);
    Shadow sh(n_blocks, B);
    std::vector<int32_t> live;  // in creation order (newest last)
    auto rnd = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
    // Prompts drawn from three stems so prefixes repeat.
    const std::vector<std::vector<int32_t>> stems = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                                                     {1, 2, 3, 4, 20, 21, 22, 23},
                                                     {30, 31, 32, 33, 34, 35, 36, 37, 38}};
    int64_t ops = 0, failed_appends = 0;
    for (int i = 0; i < 40000; ++i) {
      const int op = rnd(100);
      if (op < 20 || live.empty()) {  // allocate: a new request with prefix matching
        if (live.size() >= 12) continue;
        const auto& stem = stems[rnd(3)];
        std::vector<int32_t> prompt(stem.begin(), stem.begin() + 1 + rnd(static_cast<int>(stem.size())));
        for (int k = rnd(4); k > 0; --k) prompt.push_back(rnd(5));
        const uint8_t style = rnd(10) == 0 ? 0 : 1;
        std::vector<uint8_t> st(prompt.size(), style);
        const int32_t s = bm.create_seq();
        const int32_t hit = bm.match_prefix(s, prompt, st);
        ASSERT_LT(hit, static_cast<int32_t>(prompt.size()));
        ASSERT_TRUE(sh.matches(bm, s)) << "adopted cached blocks must hold the prompt's tokens";
        std::vector<int32_t> rest(prompt.begin() + hit, prompt.end());
        if (append(bm, sh, s, rest, style).ok()) {
          live.push_back(s);
        } else {
          bm.free_seq(s);
          ++failed_appends;
        }
      } else if (op < 60) {  // append (decode or a prompt chunk)
        const int32_t s = live[rnd(static_cast<int>(live.size()))];
        std::vector<int32_t> toks(1 + rnd(op < 50 ? 1 : 6));
        for (auto& t : toks) t = rnd(6);
        if (!append(bm, sh, s, toks, static_cast<uint8_t>(rnd(2))).ok()) ++failed_appends;
      } else if (op < 70) {  // fork
        if (live.size() >= 12) continue;
        live.push_back(bm.fork(live[rnd(static_cast<int>(live.size()))]));
      } else if (op < 82) {  // free (a finished or cancelled request)
        const size_t k = static_cast<size_t>(rnd(static_cast<int>(live.size())));
        bm.free_seq(live[k]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
      } else if (op < 88) {  // preempt the newest
        bm.free_seq(live.back());
        live.pop_back();
      } else if (op < 94) {  // evict a cached block
        bm.evict_one();
      } else {  // a step that fails after append: roll back
        const int32_t s = live[rnd(static_cast<int>(live.size()))];
        const int32_t len = bm.length(s);
        std::vector<BlockCopy> copies;
        std::vector<int32_t> toks(1 + rnd(5), 3);
        if (bm.append(s, toks, std::vector<uint8_t>(toks.size(), 1), &copies).ok()) {
          sh.apply(copies);
          bm.truncate(s, len);
          ASSERT_EQ(bm.length(s), len);
        }
      }
      ++ops;
      Status c = bm.check();
      ASSERT_TRUE(c.ok()) << "after op " << i << ": " << c.message();
      for (int32_t s : live) ASSERT_TRUE(sh.matches(bm, s)) << "after op " << i;
    }
    EXPECT_GT(failed_appends, 0) << "the pool should have run full at times";
    if (seed != 2) {
      EXPECT_GT(bm.stats().prefix_hits, 0);
    }
    for (int32_t s : live) bm.free_seq(s);
    EXPECT_EQ(bm.stats().used, 0);
    while (bm.evict_one()) {
    }
    EXPECT_EQ(bm.stats().free, n_blocks) << "the pool returns to empty";
    ASSERT_TRUE(bm.check().ok()) << bm.check().message();
    if (seed != 2) {
      EXPECT_GT(bm.stats().evictions, 0);
    }
    total_ops += ops;
  }
  EXPECT_GE(total_ops, 100000);
}

}  // namespace
}  // namespace ember::runtime
