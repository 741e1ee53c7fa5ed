// The adapter: one plugin device driven as an ember::Backend. OpGraphs are translated to the
// C description of backend_plugin.h at the boundary (the op and dtype ids are the same
// numbers on both sides, checked below), buffers and queues wrap the plugin's handles, and
// every failure becomes a Status with the plugin's own message.
#include <algorithm>
#include <cstring>

#include "backends/plugin/loaded_plugin.h"

namespace ember::plugin {
namespace {

// The C ids are ember's own enumerators; a change to either side must fail to compile.
static_assert(EMBER_OP_INPUT == static_cast<int>(OpKind::Input));
static_assert(EMBER_OP_WEIGHT == static_cast<int>(OpKind::Weight));
static_assert(EMBER_OP_KV_CACHE == static_cast<int>(OpKind::KvCache));
static_assert(EMBER_OP_EMBEDDING == static_cast<int>(OpKind::Embedding));
static_assert(EMBER_OP_MATMUL == static_cast<int>(OpKind::MatMul));
static_assert(EMBER_OP_ADD == static_cast<int>(OpKind::Add));
static_assert(EMBER_OP_MUL == static_cast<int>(OpKind::Mul));
static_assert(EMBER_OP_RMS_NORM == static_cast<int>(OpKind::RmsNorm));
static_assert(EMBER_OP_ROPE == static_cast<int>(OpKind::Rope));
static_assert(EMBER_OP_KV_WRITE == static_cast<int>(OpKind::KvWrite));
static_assert(EMBER_OP_ATTENTION == static_cast<int>(OpKind::Attention));
static_assert(EMBER_OP_SILU == static_cast<int>(OpKind::Silu));
static_assert(EMBER_OP_SILU_MUL == static_cast<int>(OpKind::SiluMul));
static_assert(EMBER_OP_SOFTMAX == static_cast<int>(OpKind::Softmax));
static_assert(EMBER_OP_GET_ROWS == static_cast<int>(OpKind::GetRows));
static_assert(EMBER_OP_RESHAPE == static_cast<int>(OpKind::Reshape));
static_assert(EMBER_OP_PERMUTE == static_cast<int>(OpKind::Permute));
static_assert(EMBER_OP_COPY == static_cast<int>(OpKind::Copy));
static_assert(EMBER_OP_COUNT == static_cast<int>(OpKind::Copy) + 1);
static_assert(EMBER_ROPE_NORMAL == static_cast<int>(RopeMode::Normal));
static_assert(EMBER_ROPE_NEOX == static_cast<int>(RopeMode::NeoX));
static_assert(EMBER_DTYPE_F32 == static_cast<int>(DType::F32) && EMBER_DTYPE_F16 == static_cast<int>(DType::F16));
static_assert(EMBER_DTYPE_Q4_0 == static_cast<int>(DType::Q4_0) && EMBER_DTYPE_Q4_1 == static_cast<int>(DType::Q4_1));
static_assert(EMBER_DTYPE_Q5_0 == static_cast<int>(DType::Q5_0) && EMBER_DTYPE_Q5_1 == static_cast<int>(DType::Q5_1));
static_assert(EMBER_DTYPE_Q8_0 == static_cast<int>(DType::Q8_0) && EMBER_DTYPE_Q4_K == static_cast<int>(DType::Q4_K));
static_assert(EMBER_DTYPE_Q5_K == static_cast<int>(DType::Q5_K) && EMBER_DTYPE_Q6_K == static_cast<int>(DType::Q6_K));
static_assert(EMBER_DTYPE_I32 == static_cast<int>(DType::I32) && EMBER_DTYPE_BF16 == static_cast<int>(DType::BF16));

// An OpGraph in C form. Strings point into the OpGraph, which must outlive this.
struct CGraph {
  std::vector<ember_node> nodes;
  std::vector<int32_t> outputs;
  ember_graph g{};
};

Expected<std::unique_ptr<CGraph>> to_c(const OpGraph& og) {
  auto c = std::make_unique<CGraph>();
  c->nodes.resize(og.nodes.size());
  for (size_t i = 0; i < og.nodes.size(); ++i) {
    const Node& n = og.nodes[i];
    ember_node& e = c->nodes[i];
    std::memset(&e, 0, sizeof e);
    e.op = static_cast<uint32_t>(n.op);
    e.out.dtype = static_cast<uint32_t>(n.out.dtype);
    e.out.rank = n.out.rank;
    for (int d = 0; d < 4; ++d) e.out.shape[d] = d < n.out.rank ? n.out.shape[d] : 0;
    if (n.inputs.size() > EMBER_MAX_NODE_INPUTS)
      return Error("node %zu (%s) has %zu inputs, the plugin ABI carries at most %d", i, op_name(n.op),
                   n.inputs.size(), EMBER_MAX_NODE_INPUTS);
    e.n_inputs = static_cast<int32_t>(n.inputs.size());
    for (size_t k = 0; k < n.inputs.size(); ++k) e.inputs[k] = n.inputs[k];
    e.name = n.attrs.name.c_str();
    e.weight = n.weight;
    e.eps = n.attrs.eps;
    e.scale = n.attrs.scale;
    e.layer = n.attrs.layer;
    e.kv_which = n.attrs.kv_which;
    e.rope_n_rot = n.attrs.rope_n_rot;
    e.rope_mode = static_cast<int32_t>(n.attrs.rope_mode);
    e.rope_base = n.attrs.rope_base;
    e.rope_freq_scale = n.attrs.rope_freq_scale;
    for (int d = 0; d < 4; ++d) e.perm[d] = n.attrs.perm[d];
    e.label = n.label.c_str();
  }
  c->outputs.assign(og.outputs.begin(), og.outputs.end());
  c->g.n_nodes = static_cast<int32_t>(c->nodes.size());
  c->g.nodes = c->nodes.data();
  c->g.n_outputs = static_cast<int32_t>(c->outputs.size());
  c->g.outputs = c->outputs.data();
  return c;
}

class PluginBuffer final : public Buffer {
 public:
  PluginBuffer(std::shared_ptr<LoadedPlugin> p, ember_buffer h, size_t n)
      : p_(std::move(p)), h_(h), size_(n) {}
  ~PluginBuffer() override { p_->api().buffer_free(p_->ctx(), h_); }
  size_t size() const override { return size_; }
  void* host_ptr() override { return p_->api().buffer_host_ptr ? p_->api().buffer_host_ptr(p_->ctx(), h_) : nullptr; }
  ember_buffer handle() const { return h_; }
  const LoadedPlugin* owner() const { return p_.get(); }

 private:
  std::shared_ptr<LoadedPlugin> p_;
  ember_buffer h_;
  size_t size_;
};

class PluginQueue final : public Queue {
 public:
  PluginQueue(std::shared_ptr<LoadedPlugin> p, ember_queue q) : p_(std::move(p)), q_(q) {}
  ~PluginQueue() override {
    if (q_) p_->api().queue_destroy(p_->ctx(), q_);
  }
  Status write(Buffer& dst, size_t offset, const void* src, size_t bytes) override {
    EMBER_ASSIGN_OR_RETURN(const PluginBuffer* b, mine(dst));
    ember_status s = p_->api().copy_to_device(p_->ctx(), q_, b->handle(), offset, src, bytes);
    return s == EMBER_STATUS_OK ? Status::Ok() : p_->error("copy_to_device", s);
  }
  Status read(const Buffer& src, size_t offset, void* dst, size_t bytes) override {
    EMBER_ASSIGN_OR_RETURN(const PluginBuffer* b, mine(src));
    ember_status s = p_->api().copy_to_host(p_->ctx(), q_, b->handle(), offset, dst, bytes);
    return s == EMBER_STATUS_OK ? Status::Ok() : p_->error("copy_to_host", s);
  }
  Status synchronize() override {
    ember_status s = p_->api().queue_synchronize(p_->ctx(), q_);
    return s == EMBER_STATUS_OK ? Status::Ok() : p_->error("queue_synchronize", s);
  }
  ember_queue handle() const { return q_; }

  Expected<const PluginBuffer*> mine(const Buffer& b) const {
    auto* pb = dynamic_cast<const PluginBuffer*>(&b);
    if (!pb || pb->owner() != p_.get())
      return Error("plugin '%s': a buffer that is not memory of this plugin was passed to its queue", p_->name().c_str());
    return pb;
  }

 private:
  std::shared_ptr<LoadedPlugin> p_;
  ember_queue q_;
};

class PluginPlan final : public Plan {
 public:
  PluginPlan(std::shared_ptr<LoadedPlugin> p, ember_plan h, const OpGraph& g) : p_(std::move(p)), h_(h) {
    for (const Node& n : g.nodes)
      if (n.op == OpKind::Input && std::find(input_names.begin(), input_names.end(), n.attrs.name) == input_names.end())
        input_names.push_back(n.attrs.name);
    n_outputs = g.outputs.size();
    for (const Node& n : g.nodes)
      if (n.op == OpKind::KvWrite || n.op == OpKind::Attention) needs_kv = true;
  }
  ~PluginPlan() override { p_->api().plan_destroy(p_->ctx(), h_); }
  size_t scratch_bytes() const override { return 0; }  // held in device memory, not reported by the ABI
  ember_plan handle() const { return h_; }

  std::vector<std::string> input_names;
  size_t n_outputs = 0;
  bool needs_kv = false;

 private:
  std::shared_ptr<LoadedPlugin> p_;
  ember_plan h_;
};

class PluginBackendImpl final : public PluginBackend {
 public:
  PluginBackendImpl(std::shared_ptr<LoadedPlugin> p, const PluginDevice& d, ember_queue q)
      : p_(p), dev_(d), queue_(std::move(p), q) {}

  const DeviceInfo& info() const override { return dev_.info; }
  const std::string& plugin_name() const override { return p_->name(); }
  void* proc(const char* name) const override {
    return p_->api().get_proc_address ? p_->api().get_proc_address(p_->ctx(), name) : nullptr;
  }

  std::vector<Support> supports_all(const OpGraph& g) const override {
    std::vector<Support> out(g.nodes.size());
    auto c = to_c(g);
    if (!c.ok()) {
      for (Support& s : out) s = {false, c.message()};
      return out;
    }
    std::vector<ember_support> cs(g.nodes.size());
    for (ember_support& s : cs) {
      s.ok = 0;
      std::memset(s.reason, 0, sizeof s.reason);
    }
    ember_status st = p_->api().supports(p_->ctx(), dev_.index, &(*c)->g, cs.data());
    if (st != EMBER_STATUS_OK) {
      std::string m = p_->error("supports", st).message();
      for (Support& s : out) s = {false, m};
      return out;
    }
    for (size_t i = 0; i < cs.size(); ++i) {
      cs[i].reason[EMBER_REASON_MAX - 1] = '\0';
      out[i].ok = cs[i].ok != 0;
      if (!out[i].ok) out[i].reason = cs[i].reason[0] ? cs[i].reason : "declined (no reason given)";
    }
    return out;
  }

  // The plugin judges nodes within their graph, so the whole graph goes across; a placement
  // pass should call supports_all() once instead of this per node.
  Support supports(const OpGraph& g, int node) const override {
    if (node < 0 || static_cast<size_t>(node) >= g.nodes.size()) return {false, "no such node"};
    return supports_all(g)[node];
  }

  Expected<std::unique_ptr<Buffer>> alloc(size_t bytes) override {
    ember_buffer h = nullptr;
    // Zero-byte requests get one byte: the ABI promises plugins bytes > 0.
    ember_status s = p_->api().buffer_alloc(p_->ctx(), dev_.index, bytes ? bytes : 1, &h);
    if (s != EMBER_STATUS_OK) return p_->error(strfmt("buffer_alloc(%zu bytes)", bytes).c_str(), s);
    return std::unique_ptr<Buffer>(new PluginBuffer(p_, h, bytes));
  }

  Queue& queue() override { return queue_; }

  Expected<std::unique_ptr<Plan>> prepare(const OpGraph& g) override {
    std::vector<Support> sup = supports_all(g);
    for (size_t i = 0; i < sup.size(); ++i)
      if (!sup[i].ok)
        return Error("%s: cannot run node %zu (%s %s): %s", dev_.info.name.c_str(), i, op_name(g.nodes[i].op),
                     g.nodes[i].label.c_str(), sup[i].reason.c_str());
    EMBER_ASSIGN_OR_RETURN(auto c, to_c(g));
    ember_plan h = nullptr;
    ember_status s = p_->api().compile(p_->ctx(), dev_.index, &c->g, &h);
    if (s != EMBER_STATUS_OK) return p_->error("compile", s);
    return std::unique_ptr<Plan>(new PluginPlan(p_, h, g));
  }

  Status execute(Plan& base, const ExecArgs& args) override {
    auto* plan = dynamic_cast<PluginPlan*>(&base);
    if (!plan) return Error("%s: execute was given a plan another backend prepared", dev_.info.name.c_str());
    std::vector<ember_binding> ins;
    for (const std::string& name : plan->input_names) {
      const InputBinding* b = nullptr;
      for (const InputBinding& a : args.inputs)
        if (a.name == name) b = &a;
      if (!b) return Error("%s: input '%s' is not bound", dev_.info.name.c_str(), name.c_str());
      ins.push_back({b->name.c_str(), const_cast<void*>(b->data), nullptr, 0});
    }
    if (args.outputs.size() != plan->n_outputs)
      return Error("%s: %zu outputs bound, graph has %zu", dev_.info.name.c_str(), args.outputs.size(), plan->n_outputs);
    std::vector<ember_binding> outs;
    for (void* o : args.outputs) outs.push_back({"", o, nullptr, 0});
    std::vector<ember_buffer> kv(args.kv.size(), nullptr);
    for (size_t i = 0; i < args.kv.size(); ++i) {
      if (!args.kv[i]) continue;
      auto pb = queue_.mine(*args.kv[i]);
      if (!pb.ok())
        return Error("%s: the KV pool of layer %zu is not memory of this device", dev_.info.name.c_str(), i / 2);
      kv[i] = (*pb)->handle();
    }
    ember_kv_layout lay{};
    std::vector<const int32_t*> blocks;
    if (args.kv_layout) {
      const KvLayout& l = *args.kv_layout;
      lay.block_size = l.block_size;
      lay.seq_of_token = l.seq_of_token;
      lay.positions = l.positions;
      lay.n_seqs = static_cast<int32_t>(l.seq_blocks.size());
      lay.n_tokens = l.n_tokens;
      blocks.assign(l.seq_blocks.begin(), l.seq_blocks.end());
      lay.seq_blocks = blocks.data();
      lay.seq_n_blocks = l.seq_n_blocks.data();
      lay.token_style = l.token_style;
    } else if (plan->needs_kv) {
      return Error("%s: the plan has kv_write/attention but no KV layout is bound", dev_.info.name.c_str());
    }
    ember_exec_args ea{};
    ea.n_inputs = static_cast<int32_t>(ins.size());
    ea.inputs = ins.data();
    ea.n_outputs = static_cast<int32_t>(outs.size());
    ea.outputs = outs.data();
    ea.n_kv = static_cast<int32_t>(kv.size());
    ea.kv = kv.data();
    ea.kv_layout = args.kv_layout ? &lay : nullptr;
    ember_status s = p_->api().execute(p_->ctx(), queue_.handle(), plan->handle(), &ea);
    return s == EMBER_STATUS_OK ? Status::Ok() : p_->error("execute", s);
  }

 private:
  std::shared_ptr<LoadedPlugin> p_;
  PluginDevice dev_;
  PluginQueue queue_;
};

}  // namespace

Expected<std::unique_ptr<PluginBackend>> make_plugin_backend(std::shared_ptr<LoadedPlugin> p, const PluginDevice& dev) {
  ember_queue q = nullptr;
  ember_status s = p->api().queue_create(p->ctx(), dev.index, &q);
  if (s != EMBER_STATUS_OK) return p->error(strfmt("queue_create(%d)", dev.index).c_str(), s);
  return std::unique_ptr<PluginBackend>(new PluginBackendImpl(std::move(p), dev, q));
}

}  // namespace ember::plugin
