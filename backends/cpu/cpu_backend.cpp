// The CPU backend: host memory, a synchronous queue, and plans that run every op of a graph
// on a persistent thread pool with a barrier between ops.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/gemm/pack.h"
#include "backends/cpu/thread_pool.h"
#include "kernels/cpu/quant/quant.h"

namespace ember {
namespace {

// EMBER_OP_PROFILE=1: per op kind and thread, the time spent in the op and waiting at the
// barrier after it, summed over the process and printed to stderr at exit. A diagnostic (what
// a step spends where, how unevenly the threads finish), off unless asked for.
class OpProfile {
 public:
  static OpProfile* get() {
    static OpProfile* p = [] {
      const char* v = std::getenv("EMBER_OP_PROFILE");
      return v && *v && std::strcmp(v, "0") != 0 ? new OpProfile : nullptr;
    }();
    return p;
  }
  void add(int ith, OpKind op, int64_t run_ns, int64_t wait_ns) {
    if (ith >= kThreads) return;
    Slot& s = slots_[ith][static_cast<int>(op)];
    s.run_ns += run_ns;
    s.wait_ns += wait_ns;
    ++s.calls;
  }
  ~OpProfile() = default;

 private:
  static constexpr int kThreads = 64, kOps = 64;
  struct Slot {
    int64_t run_ns = 0, wait_ns = 0, calls = 0;
  };
  OpProfile() { std::atexit([] { get()->print(); }); }
  void print() const {
    int64_t total = 0;
    for (const auto& t : slots_)
      for (const Slot& s : t) total += s.run_ns + s.wait_ns;
    std::fprintf(stderr, "ember op profile (ms; run / wait at the barrier after it, per thread):\n");
    for (int op = 0; op < kOps; ++op) {
      int64_t sum = 0;
      for (const auto& t : slots_) sum += t[op].run_ns + t[op].wait_ns;
      if (sum == 0) continue;
      std::fprintf(stderr, "  %-16s %5.1f%%", op_name(static_cast<OpKind>(op)), 100.0 * static_cast<double>(sum) / static_cast<double>(total));
      for (int t = 0; t < kThreads; ++t)
        if (slots_[t][op].calls)
          std::fprintf(stderr, "  t%d %.1f / %.1f", t, slots_[t][op].run_ns / 1e6, slots_[t][op].wait_ns / 1e6);
      std::fprintf(stderr, "  (%lld calls)\n", static_cast<long long>(slots_[0][op].calls));
    }
  }
  Slot slots_[kThreads][kOps];
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

class CpuBuffer final : public Buffer {
 public:
  explicit CpuBuffer(size_t n) : size_(n), data_(n ? std::aligned_alloc(kAlign, align_up(n)) : nullptr) {}
  ~CpuBuffer() override { std::free(data_); }
  bool ok() const { return size_ == 0 || data_ != nullptr; }
  size_t size() const override { return size_; }
  void* host_ptr() override { return data_; }

 private:
  size_t size_;
  void* data_;
};

class CpuQueue final : public Queue {
 public:
  Status write(Buffer& dst, size_t offset, const void* src, size_t bytes) override {
    if (offset > dst.size() || bytes > dst.size() - offset) return Error("write past the end of a buffer");
    std::memcpy(static_cast<uint8_t*>(dst.host_ptr()) + offset, src, bytes);
    return Status::Ok();
  }
  Status read(const Buffer& src, size_t offset, void* dst, size_t bytes) override {
    if (offset > src.size() || bytes > src.size() - offset) return Error("read past the end of a buffer");
    std::memcpy(dst, static_cast<const uint8_t*>(const_cast<Buffer&>(src).host_ptr()) + offset, bytes);
    return Status::Ok();
  }
  Status synchronize() override { return Status::Ok(); }
};

enum class Storage : uint8_t { Arena, Input, Weight, Kv, Alias, None };

struct Slot {
  Storage kind = Storage::None;
  size_t offset = 0;   // Arena: byte offset in the arena; Alias: byte offset in the aliased node
  int index = -1;      // Input: index into plan.input_names; Kv: 2*layer+which; Alias: node
};

using OpFn = void (*)(const cpu::OpCtx&);

OpFn op_fn(OpKind op) {
  switch (op) {
    case OpKind::Embedding: return cpu::op_embedding;
    case OpKind::MatMul: return cpu::op_matmul;
    case OpKind::Add: return cpu::op_add;
    case OpKind::Mul: return cpu::op_mul;
    case OpKind::RmsNorm: return cpu::op_rms_norm;
    case OpKind::Rope: return cpu::op_rope;
    case OpKind::KvWrite: return cpu::op_kv_write;
    case OpKind::Attention: return cpu::op_attention;
    case OpKind::Silu: return cpu::op_silu;
    case OpKind::SiluMul: return cpu::op_silu_mul;
    case OpKind::Softmax: return cpu::op_softmax;
    case OpKind::GetRows: return cpu::op_get_rows;
    case OpKind::Permute: return cpu::op_permute;
    case OpKind::Copy: return cpu::op_copy;
    case OpKind::MatMulCat: return cpu::op_matmul_cat;
    case OpKind::MatMulAdd: return cpu::op_matmul_add;
    case OpKind::RmsNormMul: return cpu::op_rms_norm_mul;
    case OpKind::Slice: return cpu::op_slice;
    case OpKind::NormMatMul: return cpu::op_norm_matmul;
    case OpKind::KvWriteRope: return cpu::op_kv_write_rope;
    case OpKind::AttentionRope: return cpu::op_attention_rope;
    default: return nullptr;
  }
}

class CpuPlan final : public Plan {
 public:
  OpGraph graph;
  std::vector<Slot> slots;
  std::vector<OpFn> fns;
  std::vector<std::string> input_names;
  std::vector<int> input_map;         // per input name: index into ExecArgs::inputs (filled at execute)
  std::vector<void*> ptrs;            // per node: resolved data pointer (filled at execute)
  std::vector<uint64_t> row_stride;   // per node: bytes between its rows (row_stride_bytes)
  std::unique_ptr<CpuBuffer> arena;
  std::unique_ptr<CpuBuffer> scratch;
  std::unique_ptr<CpuBuffer> thread_scratch;
  size_t thread_scratch_stride = 0;
  size_t arena_bytes = 0, naive_bytes = 0;
  int positions_node = -1;

  size_t scratch_bytes() const override {
    return arena_bytes + (scratch ? scratch->size() : 0) + (thread_scratch ? thread_scratch->size() : 0);
  }
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuOptions& o) : pool_(o.threads) {
    info_.name = "cpu";
    info_.vendor = "host";
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    info_.memory_bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : 0;
    info_.host_visible = true;
    info_.threads = pool_.size();
  }

  const DeviceInfo& info() const override { return info_; }

  WeightLayout weight_layout(const OpGraph& g, int node, int k) const override {
    return cpu::matmul_weight_layout(g, g.nodes[node], k);
  }

  Status pack_weight(const OpGraph& g, int node, int k, void* dst) const override {
    const Node& w = g.nodes[g.nodes[node].inputs[k]];
    switch (weight_layout(g, node, k)) {
      case WeightLayout::Q4_1x2:
        kernels::pack_q4_1x2(w.weight, w.out.shape[0], w.out.shape[1], dst);
        return Status::Ok();
      case WeightLayout::Q4_1x16:
        kernels::pack_q4_1x16(w.weight, w.out.shape[0], w.out.shape[1], dst);
        return Status::Ok();
      case WeightLayout::Q8_0x16:
        kernels::pack_q8_0x16(w.weight, w.out.shape[0], w.out.shape[1], dst);
        return Status::Ok();
      case WeightLayout::Plain: break;
    }
    return Error("cpu: node %d (%s) reads its weight %s as it lies", node, g.nodes[node].label.c_str(), w.attrs.name.c_str());
  }

  Support supports(const OpGraph& g, int i) const override {
    const Node& n = g.nodes[i];
    // A prepared weight only where this node's kernel reads that layout.
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Node& in = g.nodes[n.inputs[k]];
      if (in.op == OpKind::Weight && in.attrs.layout != WeightLayout::Plain &&
          cpu::matmul_weight_layout(g, n, static_cast<int>(k)) != in.attrs.layout)
        return {false, std::string("weight ") + in.attrs.name + " is in layout " + layout_name(in.attrs.layout) +
                           ", which this node's kernel does not read"};
    }
    switch (n.op) {
      case OpKind::Input: case OpKind::Weight: case OpKind::KvCache: case OpKind::Reshape:
        return {};
      case OpKind::MatMul:
      case OpKind::MatMulAdd:
        return cpu::matmul_supports(g.nodes[n.inputs[1]].out);
      case OpKind::MatMulCat:
        if (n.inputs.size() - 1 > static_cast<size_t>(cpu::kMaxMatMulWeights))
          return {false, "more than 3 weights"};
        for (size_t k = 1; k < n.inputs.size(); ++k)
          if (Support s = cpu::matmul_supports(g.nodes[n.inputs[k]].out); !s.ok) return s;
        return {};
      case OpKind::NormMatMul:
        if (n.inputs.size() - 2 > static_cast<size_t>(cpu::kMaxMatMulWeights))
          return {false, "more than 3 weights"};
        for (size_t k = 2; k < n.inputs.size(); ++k)
          if (Support s = cpu::norm_matmul_supports(g.nodes[n.inputs[k]].out); !s.ok) return s;
        return {};
      case OpKind::Embedding: {
        const TensorDesc& t = g.nodes[n.inputs[0]].out;
        if (!kernels::find_quant_kernels(static_cast<uint32_t>(t.dtype)))
          return {false, std::string("no CPU dequantisation for ") + dtype_name(t.dtype)};
        return {};
      }
      case OpKind::Rope:
      case OpKind::KvWriteRope:
      case OpKind::AttentionRope:
        if (n.attrs.rope_n_rot > 2 * cpu::kMaxRopePairs) return {false, "n_rot above 512"};
        return {};
      default:
        return op_fn(n.op) ? Support{} : Support{false, "op not implemented on the CPU"};
    }
  }

  Expected<std::unique_ptr<Buffer>> alloc(size_t bytes) override {
    auto b = std::make_unique<CpuBuffer>(bytes);
    if (!b->ok()) return Error("cannot allocate %zu bytes of host memory", bytes);
    return std::unique_ptr<Buffer>(std::move(b));
  }

  Queue& queue() override { return queue_; }

  Expected<std::unique_ptr<Plan>> prepare(const OpGraph& g) override {
    auto plan = std::make_unique<CpuPlan>();
    plan->graph = g;
    const size_t N = g.nodes.size();
    plan->slots.resize(N);
    plan->fns.resize(N, nullptr);
    plan->ptrs.resize(N, nullptr);
    plan->row_stride.resize(N, 0);
    size_t scratch = 0, tscratch = 0;
    for (size_t i = 0; i < N; ++i) {
      const Node& n = g.nodes[i];
      Support s = supports(g, static_cast<int>(i));
      if (!s.ok) return Error("cpu: cannot run node %zu (%s %s): %s", i, op_name(n.op), n.label.c_str(), s.reason.c_str());
      Slot& sl = plan->slots[i];
      switch (n.op) {
        case OpKind::Input: {
          sl.kind = Storage::Input;
          auto it = std::find(plan->input_names.begin(), plan->input_names.end(), n.attrs.name);
          sl.index = static_cast<int>(it - plan->input_names.begin());
          if (it == plan->input_names.end()) plan->input_names.push_back(n.attrs.name);
          if (n.attrs.name == "positions") plan->positions_node = static_cast<int>(i);
          break;
        }
        case OpKind::Weight: sl.kind = Storage::Weight; break;
        case OpKind::KvCache: sl.kind = Storage::Kv; sl.index = 2 * n.attrs.layer + n.attrs.kv_which; break;
        default: {
          int of = -1;
          uint64_t at = 0;
          if (is_view(g, static_cast<int>(i), &of, &at)) {
            sl.kind = Storage::Alias;
            sl.index = of;
            sl.offset = at;
          } else {
            sl.kind = Storage::Arena;
          }
          break;
        }
      }
      // A slice that is a view does nothing; kv_write is a view of its cache but still writes it.
      plan->fns[i] = n.op == OpKind::Slice && sl.kind == Storage::Alias ? nullptr : op_fn(n.op);
      plan->row_stride[i] = row_stride_bytes(g, static_cast<int>(i));
      if (n.op == OpKind::MatMul || n.op == OpKind::MatMulCat || n.op == OpKind::MatMulAdd)
        scratch = std::max(scratch, cpu::matmul_scratch_bytes(n, g.nodes[n.inputs[0]].out, g.nodes[n.inputs[1]].out));
      if (n.op == OpKind::NormMatMul) {
        scratch = std::max(scratch, cpu::matmul_scratch_bytes(n, g.nodes[n.inputs[0]].out, g.nodes[n.inputs[2]].out));
        tscratch = std::max(tscratch, cpu::norm_matmul_thread_scratch_bytes(g.nodes[n.inputs[0]].out));
      }
      if (n.op == OpKind::KvWriteRope)
        tscratch = std::max(tscratch, cpu::kv_write_rope_thread_scratch_bytes(g.nodes[n.inputs[0]].out));
      if (n.op == OpKind::Attention || n.op == OpKind::AttentionRope) {
        tscratch = std::max(tscratch, cpu::attention_thread_scratch_bytes(g.nodes[n.inputs[0]].out, g.nodes[n.inputs[1]].out));
        scratch = std::max(scratch, cpu::attention_scratch_bytes(g.nodes[n.inputs[0]].out, g.nodes[n.inputs[1]].out,
                                                                 static_cast<int>(pool_.size())));
      }
    }
    plan->input_map.resize(plan->input_names.size(), -1);
    EMBER_RETURN_IF_ERROR(place(*plan));
    EMBER_ASSIGN_OR_RETURN(auto arena, alloc(plan->arena_bytes));
    plan->arena.reset(static_cast<CpuBuffer*>(arena.release()));
    EMBER_ASSIGN_OR_RETURN(auto sc, alloc(scratch));
    plan->scratch.reset(static_cast<CpuBuffer*>(sc.release()));
    plan->thread_scratch_stride = align_up(tscratch);
    EMBER_ASSIGN_OR_RETURN(auto ts, alloc(plan->thread_scratch_stride * pool_.size()));
    plan->thread_scratch.reset(static_cast<CpuBuffer*>(ts.release()));
    return std::unique_ptr<Plan>(std::move(plan));
  }

  Status execute(Plan& base, const ExecArgs& args) override {
    CpuPlan& p = static_cast<CpuPlan&>(base);
    const OpGraph& g = p.graph;
    for (size_t k = 0; k < p.input_names.size(); ++k) {
      p.input_map[k] = -1;
      for (size_t a = 0; a < args.inputs.size(); ++a)
        if (args.inputs[a].name == p.input_names[k]) p.input_map[k] = static_cast<int>(a);
      if (p.input_map[k] < 0) return Error("cpu: input '%s' is not bound", p.input_names[k].c_str());
    }
    if (args.outputs.size() != g.outputs.size())
      return Error("cpu: %zu outputs bound, graph has %zu", args.outputs.size(), g.outputs.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      const Slot& s = p.slots[i];
      switch (s.kind) {
        case Storage::Arena: p.ptrs[i] = static_cast<uint8_t*>(p.arena->host_ptr()) + s.offset; break;
        case Storage::Input: p.ptrs[i] = const_cast<void*>(args.inputs[p.input_map[s.index]].data); break;
        case Storage::Weight: p.ptrs[i] = const_cast<void*>(n.weight); break;
        case Storage::Kv: {
          if (static_cast<size_t>(s.index) >= args.kv.size() || !args.kv[s.index])
            return Error("cpu: kv cache of layer %d is not bound", n.attrs.layer);
          Buffer* b = args.kv[s.index];
          if (b->size() < n.out.bytes()) return Error("cpu: kv cache of layer %d is too small", n.attrs.layer);
          p.ptrs[i] = b->host_ptr();
          break;
        }
        case Storage::Alias: p.ptrs[i] = static_cast<uint8_t*>(p.ptrs[s.index]) + s.offset; break;
        case Storage::None: break;
      }
      if ((writes_kv(n.op) || n.op == OpKind::Attention || n.op == OpKind::AttentionRope) && !args.kv_layout)
        return Error("cpu: node %zu (%s) needs a kv layout", i, op_name(n.op));
    }
    const int32_t* positions = p.positions_node >= 0 ? static_cast<const int32_t*>(p.ptrs[p.positions_node]) : nullptr;
    uint8_t* tscratch = static_cast<uint8_t*>(p.thread_scratch->host_ptr());
    uint8_t* scratch = static_cast<uint8_t*>(p.scratch->host_ptr());
    pool_.run([&](int ith, int nth) {
      cpu::OpCtx c{};
      c.ith = ith;
      c.nth = nth;
      c.pool = &pool_;
      c.scratch = scratch;
      c.thread_scratch = tscratch + p.thread_scratch_stride * ith;
      c.kv = args.kv_layout;
      c.positions = positions;
      for (size_t i = 0; i < g.nodes.size(); ++i) {
        OpFn fn = p.fns[i];
        if (!fn) continue;
        const Node& n = g.nodes[i];
        c.node = &n;
        c.out = p.ptrs[i];
        for (size_t k = 0; k < n.inputs.size() && k < static_cast<size_t>(cpu::kMaxOpInputs); ++k) {
          c.in[k] = p.ptrs[n.inputs[k]];
          c.in_desc[k] = &g.nodes[n.inputs[k]].out;
          c.in_layout[k] = g.nodes[n.inputs[k]].attrs.layout;
          c.in_stride[k] = p.row_stride[n.inputs[k]];
        }
        if (OpProfile* prof = OpProfile::get()) {
          const int64_t t0 = now_ns();
          fn(c);
          const int64_t t1 = now_ns();
          pool_.barrier();
          prof->add(ith, n.op, t1 - t0, now_ns() - t1);
          continue;
        }
        fn(c);
        pool_.barrier();
      }
    });
    for (size_t o = 0; o < g.outputs.size(); ++o)
      std::memcpy(args.outputs[o], p.ptrs[g.outputs[o]], g.nodes[g.outputs[o]].out.bytes());
    return Status::Ok();
  }

 private:
  // Arena offsets come from the graph's memory plan (graph/passes/plan_memory.cpp), checked
  // here only for alignment and bounds; an unplanned graph gets the naive layout, every
  // arena node its own block.
  static Status place(CpuPlan& p) {
    const OpGraph& g = p.graph;
    const size_t N = g.nodes.size();
    const bool planned = !g.memory.empty();
    if (planned && (g.memory.offset.size() != N || g.memory.alignment % kAlign != 0))
      return Error("cpu: the memory plan does not fit the graph (%zu offsets for %zu nodes, alignment %llu)",
                   g.memory.offset.size(), N, (unsigned long long)g.memory.alignment);
    size_t end = 0;
    for (size_t i = 0; i < N; ++i) {
      if (p.slots[i].kind != Storage::Arena) continue;
      const size_t need = align_up(g.nodes[i].out.bytes());
      p.naive_bytes += need;
      if (!planned) {
        p.slots[i].offset = end;
        end += need;
        continue;
      }
      const int64_t off = g.memory.offset[i];
      if (off < 0 || static_cast<uint64_t>(off) % kAlign != 0 || static_cast<uint64_t>(off) + need > g.memory.arena_bytes)
        return Error("cpu: node %zu (%s %s) has no valid place in the memory plan", i, op_name(g.nodes[i].op),
                     g.nodes[i].label.c_str());
      p.slots[i].offset = static_cast<size_t>(off);
    }
    p.arena_bytes = planned ? g.memory.arena_bytes : end;
    return Status::Ok();
  }

  DeviceInfo info_;
  cpu::ThreadPool pool_;
  CpuQueue queue_;
};

}  // namespace

Expected<std::unique_ptr<Backend>> make_cpu_backend(const CpuOptions& opts) {
  int t = opts.threads;
  if (t < 1 || t > 1024) return Error("thread count %d is out of range (1..1024)", t);
  return std::unique_ptr<Backend>(new CpuBackend(opts));
}

}  // namespace ember
