// Pass plan-memory — invariant: the graph carries a memory plan (OpGraph::memory): every node
// that needs storage of its own has an aligned block in one activation arena, and two blocks
// share bytes only if their lifetimes are disjoint. Must run last: a later rewrite would
// invalidate it (the verifier would say so).
//
// Liveness over the scheduled graph (node order is the execution order): a block is live
// from the node that writes it to the last node that reads it, directly or through views
// (reshape, kv_write, one-row slice: is_view in backends/op.h); graph outputs live to the
// end. Inputs, weights and kv caches are not in the arena. Two placements are tried and the
// one with the smaller arena kept (the first on a tie):
//  - in schedule order, best-fit in a free list with neighbours coalesced; the arena is the
//    highest end ever reached;
//  - largest block first, each at the lowest offset clear of the already placed blocks whose
//    lifetimes overlap its own (TFLite's greedy-by-size). Schedule order can strand a large
//    late block above a small one placed early in the middle of a freed range (at prefill the
//    residual rows above the attention output, under the FFN's [M,3072]); size order cannot.
// The backend allocates the arena once per plan, so executing a step allocates nothing.
#include <algorithm>
#include <map>

#include "graph/graph.h"
#include "graph/passes/pass.h"

namespace ember::graph {
namespace {

struct Lifetimes {
  std::vector<int> root;  // per node: the node whose storage it uses (itself unless a view)
  std::vector<uint64_t> at;  // per node: byte offset inside its root's block
  std::vector<int> last;  // per root: the last node that reads it (N for outputs)
};

Lifetimes lifetimes(const OpGraph& g) {
  const int N = static_cast<int>(g.nodes.size());
  Lifetimes l{std::vector<int>(N), std::vector<uint64_t>(N, 0), std::vector<int>(N, 0)};
  for (int i = 0; i < N; ++i) {
    int of = -1;
    uint64_t at = 0;
    if (is_view(g, i, &of, &at)) {
      l.root[i] = l.root[of];
      l.at[i] = l.at[of] + at;
    } else {
      l.root[i] = i;
    }
  }
  for (int i = 0; i < N; ++i) {
    l.last[l.root[i]] = std::max(l.last[l.root[i]], i);
    for (int in : g.nodes[i].inputs) l.last[l.root[in]] = std::max(l.last[l.root[in]], i);
  }
  for (int o : g.outputs) l.last[l.root[o]] = N;
  return l;
}

bool in_arena(const OpGraph& g, const Lifetimes& l, int i) {
  return l.root[i] == i && !is_external(g.nodes[i].op);
}

uint64_t round_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// Free byte ranges of the arena, coalesced; the arena grows at its end when nothing fits.
class FreeList {
 public:
  uint64_t take(uint64_t need) {
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->second >= need && (best == free_.end() || it->second < best->second)) best = it;
    if (best != free_.end()) {
      const uint64_t off = best->first, size = best->second;
      free_.erase(best);
      if (size > need) free_.emplace(off + need, size - need);
      return off;
    }
    // Nothing fits: grow, reusing a free range that touches the end.
    uint64_t off = end_;
    if (!free_.empty()) {
      auto last = std::prev(free_.end());
      if (last->first + last->second == end_) {
        off = last->first;
        free_.erase(last);
      }
    }
    end_ = off + need;
    peak_ = std::max(peak_, end_);
    return off;
  }
  void give(uint64_t off, uint64_t size) {
    auto it = free_.emplace(off, size).first;
    auto next = std::next(it);
    if (next != free_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  uint64_t peak() const { return peak_; }

 private:
  std::map<uint64_t, uint64_t> free_;  // offset -> size
  uint64_t end_ = 0, peak_ = 0;
};

// Schedule order, best-fit in the free list. Returns the arena size; sets offset per node.
uint64_t place_in_order(const OpGraph& g, const Lifetimes& l, uint64_t align, std::vector<int64_t>& offset) {
  const int N = static_cast<int>(g.nodes.size());
  std::vector<std::vector<int>> release_after(N + 1);
  FreeList fl;
  for (int i = 0; i < N; ++i) {
    if (in_arena(g, l, i)) {
      offset[i] = static_cast<int64_t>(fl.take(round_up(g.nodes[i].out.bytes(), align)));
      release_after[l.last[i]].push_back(i);
    }
    for (int r : release_after[i]) fl.give(static_cast<uint64_t>(offset[r]), round_up(g.nodes[r].out.bytes(), align));
  }
  return fl.peak();
}

// Largest first, each at the lowest offset clear of the placed blocks live at the same time.
// Returns the arena size; sets offset per node.
uint64_t place_by_size(const OpGraph& g, const Lifetimes& l, uint64_t align, std::vector<int64_t>& offset) {
  const int N = static_cast<int>(g.nodes.size());
  std::vector<int> order;
  for (int i = 0; i < N; ++i)
    if (in_arena(g, l, i)) order.push_back(i);
  auto size = [&](int i) { return round_up(g.nodes[i].out.bytes(), align); };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return size(a) > size(b); });
  std::vector<int> placed;  // sorted by offset
  uint64_t arena = 0;
  for (int i : order) {
    uint64_t at = 0;
    for (int p : placed) {
      if (l.last[p] < i || l.last[i] < p) continue;  // lifetimes [p, last[p]] and [i, last[i]] are disjoint
      const uint64_t begin = static_cast<uint64_t>(offset[p]);
      if (begin >= at + size(i)) break;  // the gap below p holds i
      at = std::max(at, begin + size(p));
    }
    offset[i] = static_cast<int64_t>(at);
    placed.insert(std::upper_bound(placed.begin(), placed.end(), i,
                                   [&](int a, int b) { return offset[a] < offset[b]; }),
                  i);
    arena = std::max(arena, at + size(i));
  }
  return arena;
}

}  // namespace

Status run_plan_memory(OpGraph& g, const PassContext& ctx) {
  const int N = static_cast<int>(g.nodes.size());
  const uint64_t align = ctx.alignment ? ctx.alignment : 64;
  const Lifetimes l = lifetimes(g);
  MemoryPlan plan;
  plan.alignment = align;
  for (int i = 0; i < N; ++i)
    if (in_arena(g, l, i)) plan.naive_bytes += round_up(g.nodes[i].out.bytes(), align);
  std::vector<int64_t> in_order(N, -1), by_size(N, -1);
  const uint64_t a = place_in_order(g, l, align, in_order);
  const uint64_t b = place_by_size(g, l, align, by_size);
  plan.offset = b < a ? std::move(by_size) : std::move(in_order);
  plan.arena_bytes = std::min(a, b);
  g.memory = std::move(plan);
  return Status::Ok();
}

Status verify_memory_plan(const OpGraph& g) {
  const MemoryPlan& p = g.memory;
  if (p.empty()) return Status::Ok();
  const int N = static_cast<int>(g.nodes.size());
  if (static_cast<int>(p.offset.size()) != N)
    return Error("memory plan: %zu offsets for %d nodes", p.offset.size(), N);
  if (p.alignment == 0) return Error("memory plan: alignment is 0");
  const Lifetimes l = lifetimes(g);
  struct Block {
    uint64_t begin, end;
    int first, last, node;
  };
  std::vector<Block> blocks;
  for (int i = 0; i < N; ++i) {
    const Node& n = g.nodes[i];
    if (!in_arena(g, l, i)) {
      if (p.offset[i] != -1)
        return Error("memory plan: node %d (%s %s) has no storage of its own but an offset", i, op_name(n.op),
                     n.label.c_str());
      continue;
    }
    const int64_t off = p.offset[i];
    const uint64_t size = round_up(n.out.bytes(), p.alignment);
    if (off < 0 || static_cast<uint64_t>(off) % p.alignment || static_cast<uint64_t>(off) + size > p.arena_bytes)
      return Error("memory plan: node %d (%s %s) has no valid block (offset %lld, %llu bytes, arena %llu)", i,
                   op_name(n.op), n.label.c_str(), (long long)off, (unsigned long long)size,
                   (unsigned long long)p.arena_bytes);
    blocks.push_back({static_cast<uint64_t>(off), static_cast<uint64_t>(off) + size, i, l.last[i], i});
  }
  std::sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) { return a.begin < b.begin; });
  for (size_t a = 0; a < blocks.size(); ++a)
    for (size_t b = a + 1; b < blocks.size() && blocks[b].begin < blocks[a].end; ++b)
      if (blocks[a].first <= blocks[b].last && blocks[b].first <= blocks[a].last)
        return Error("memory plan: nodes %d and %d are live together but share bytes", blocks[a].node,
                     blocks[b].node);
  return Status::Ok();
}

}  // namespace ember::graph
