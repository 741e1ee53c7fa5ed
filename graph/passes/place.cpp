// Pass place — invariant: unless every node runs on the CPU (then the graph stays unplaced),
// every node has a device (OpGraph::placement) that says it runs it,
// weights and step inputs have none (they stay in host memory, and each device reads its own
// copy: a plugin uploads a weight once and keeps it), a layer's kv caches, kv_writes and
// attention share one device, and every value read on a device other than its writer's is
// read through one `transfer` node placed on the reader's device, right before its first
// reader there.
//
// Runs after the device-independent rewrites (dce, cse) and before the merges and fusions:
// those ask, node by node, whether the node's own device runs the fused op (a fused node
// inherits the device of what it replaces, rewrite.h), and transfers stand between nodes
// of different devices, so nothing is ever fused across a device boundary. Memory planning
// comes last; the runtime cuts the placed graph into maximal runs of one device in schedule
// order (graph/partition.h) and plans each run's memory on its own.
//
// The policies (PlacementPolicy, pass.h):
//   device X   every node on X where X runs it (and can read its weights and inputs), else
//              on the CPU, which runs everything;
//   split      a node of layer l (label "blk.<l>.") on the device of the range holding l, or
//              the CPU; nodes before the first layer go with layer 0, nodes after the last
//              with the last layer; the same fallback to the CPU;
//   auto       in schedule order, each node on the device with the lowest estimated time:
//                 flops(node) / rate(device) + bytes of its inputs not yet on the device / link
//              with rate = 50 GFLOP/s for the CPU and 200 GFLOP/s for any other device (an
//              assumed 4x for a device with its own memory; nothing is measured), link = 8 GB/s,
//              flops = 2·M·N·K for matmuls, 4·n·H·D·256 for attention (a 256-token context)
//              and 4 per output element otherwise. So a matmul goes to an accelerator that runs
//              it, and a cheap op stays wherever its inputs already are.
// Whatever the policy, a layer's kv group (kv caches, kv_writes, attention) goes where its
// attention went if that device runs all of the group, else to the CPU: a layer's KV pool
// lives on one device.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <map>

#include "graph/graph.h"
#include "graph/passes/pass.h"
#include "graph/passes/rewrite.h"

namespace ember::graph {

std::vector<std::string> PlacementPolicy::named_devices() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& d) {
    if (d != "cpu" && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  };
  if (kind == Kind::Device) add(device);
  for (const Range& r : split) add(r.device);
  return out;
}

namespace {

bool parse_int(const std::string& s, int64_t* v) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *v = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

// "name" or "name:index", where name is [a-z0-9_-]+.
bool device_name_ok(const std::string& d) {
  if (d.empty()) return false;
  const size_t colon = d.find(':');
  const std::string name = d.substr(0, colon);
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  int64_t idx = 0;
  return colon == std::string::npos || parse_int(d.substr(colon + 1), &idx);
}

}  // namespace

Expected<PlacementPolicy> parse_placement(const std::string& device, const std::string& split) {
  PlacementPolicy p;
  if (!device.empty() && !split.empty())
    return Error("--device and --split both given: use one (--split names a device per layer range)");
  if (!device.empty()) {
    if (device == "cpu") return p;
    if (device == "auto") {
      p.kind = PlacementPolicy::Kind::Auto;
      return p;
    }
    if (!device_name_ok(device))
      return Error("--device '%s' is not a device name (cpu, auto, or NAME:INDEX such as opencl:0)", device.c_str());
    p.kind = PlacementPolicy::Kind::Device;
    p.device = device;
    return p;
  }
  if (split.empty()) return p;
  const std::string prefix = "layers:";
  if (split.compare(0, prefix.size(), prefix) != 0)
    return Error("--split '%s' must start with 'layers:' (e.g. layers:0-14=opencl:0,15-29=cpu)", split.c_str());
  const std::string body = split.substr(prefix.size());
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t comma = body.find(',', pos);
    if (comma == std::string::npos) comma = body.size();
    const std::string item = body.substr(pos, comma - pos);
    pos = comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      return Error("--split: '%s' is not RANGE=DEVICE (e.g. 0-14=opencl:0)", item.c_str());
    const std::string range = item.substr(0, eq), dev = item.substr(eq + 1);
    PlacementPolicy::Range r;
    const size_t dash = range.find('-');
    const bool ok = dash == std::string::npos
                        ? parse_int(range, &r.first) && (r.last = r.first, true)
                        : parse_int(range.substr(0, dash), &r.first) && parse_int(range.substr(dash + 1), &r.last);
    if (!ok) return Error("--split: '%s' is not a layer range (N or N-M)", range.c_str());
    if (r.first > r.last) return Error("--split: layer range %s runs backwards", range.c_str());
    if (!device_name_ok(dev) || dev == "auto")
      return Error("--split: '%s' is not a device name (cpu or NAME:INDEX such as opencl:0)", dev.c_str());
    for (const PlacementPolicy::Range& o : p.split)
      if (r.first <= o.last && o.first <= r.last)
        return Error("--split: layers %lld-%lld overlap layers %lld-%lld", (long long)r.first, (long long)r.last,
                     (long long)o.first, (long long)o.last);
    r.device = dev;
    p.split.push_back(r);
  }
  p.kind = PlacementPolicy::Kind::Split;
  return p;
}

namespace {

// The layer a node's label names ("blk.12.attn" -> 12), or -1.
int64_t label_layer(const std::string& label) {
  if (label.compare(0, 4, "blk.") != 0) return -1;
  size_t end = 4;
  while (end < label.size() && std::isdigit(static_cast<unsigned char>(label[end]))) ++end;
  int64_t l = -1;
  return parse_int(label.substr(4, end - 4), &l) ? l : -1;
}

// The layer of a kv-group node: a kv cache, a kv_write (of that cache) or an attention (over
// the layer's K kv_write); -1 for any other node.
int kv_layer(const OpGraph& g, int i) {
  const Node& n = g.nodes[i];
  switch (n.op) {
    case OpKind::KvCache: return n.attrs.layer;
    case OpKind::KvWrite: return n.inputs.size() == 2 ? kv_layer(g, n.inputs[1]) : -1;
    case OpKind::KvWriteRope: return n.inputs.size() == 3 ? kv_layer(g, n.inputs[1]) : -1;
    case OpKind::Attention: return n.inputs.size() == 3 ? kv_layer(g, n.inputs[1]) : -1;
    case OpKind::AttentionRope: return n.inputs.size() == 4 ? kv_layer(g, n.inputs[1]) : -1;
    default: return -1;
  }
}

double flops(const OpGraph& g, const Node& n) {
  switch (n.op) {
    case OpKind::MatMul:
    case OpKind::MatMulAdd: {
      const TensorDesc& w = g.nodes[n.inputs[1]].out;
      return 2.0 * static_cast<double>(n.out.rows()) * static_cast<double>(w.numel());
    }
    case OpKind::Attention:
    case OpKind::AttentionRope:
      return 4.0 * static_cast<double>(n.out.numel()) * 256.0;
    default:
      return 4.0 * static_cast<double>(n.out.numel());
  }
}

constexpr double kCpuRate = 50e9, kDeviceRate = 200e9, kLinkRate = 8e9;

}  // namespace

Status run_place(OpGraph& g, const PassContext& ctx) {
  const PlacementPolicy& pol = ctx.placement;
  if (pol.kind == PlacementPolicy::Kind::None) return Status::Ok();
  if (ctx.devices.empty() || ctx.devices[0].name != "cpu" || !ctx.devices[0].backend)
    return Error("placement needs the CPU as its first device");
  if (!g.placement.empty()) return Error("the graph is placed already");
  if (!g.memory.empty()) return Error("place must run before plan-memory");
  const int N = static_cast<int>(g.nodes.size());
  const int D = static_cast<int>(ctx.devices.size());
  std::string present;
  for (const PlacementDevice& d : ctx.devices) present += (present.empty() ? "" : ", ") + d.name;
  auto index_of = [&](const std::string& name) -> Expected<int> {
    for (int d = 0; d < D; ++d)
      if (ctx.devices[d].name == name) return d;
    return Error("unknown device '%s' (present: %s)", name.c_str(), present.c_str());
  };

  // What each device runs: a node, with the weights, inputs and caches it reads.
  std::vector<std::vector<Support>> sup(D);
  for (int d = 0; d < D; ++d) {
    if (!ctx.devices[d].backend) return Error("device %s has no backend", ctx.devices[d].name.c_str());
    sup[d] = ctx.devices[d].backend->supports_all(g);
  }
  auto runs = [&](int d, int i) {
    if (!sup[d][i].ok) return false;
    for (int in : g.nodes[i].inputs)
      if (is_external(g.nodes[in].op) && !sup[d][in].ok) return false;
    return true;
  };

  // 1. The device the policy wants for each node.
  std::vector<int> want(N, 0);
  if (pol.kind == PlacementPolicy::Kind::Device) {
    EMBER_ASSIGN_OR_RETURN(int d, index_of(pol.device));
    std::fill(want.begin(), want.end(), d);
  } else if (pol.kind == PlacementPolicy::Kind::Split) {
    int64_t n_layer = 0;
    for (const Node& n : g.nodes) n_layer = std::max(n_layer, label_layer(n.label) + 1);
    std::vector<int> layer_dev(static_cast<size_t>(std::max<int64_t>(n_layer, 1)), 0);
    for (const PlacementPolicy::Range& r : pol.split) {
      if (r.last >= n_layer)
        return Error("--split: layers %lld-%lld go beyond the model's last layer %lld", (long long)r.first,
                     (long long)r.last, (long long)n_layer - 1);
      EMBER_ASSIGN_OR_RETURN(int d, index_of(r.device));
      for (int64_t l = r.first; l <= r.last; ++l) layer_dev[l] = d;
    }
    int64_t cur = 0;  // nodes outside a layer go with the layer before them (or layer 0)
    for (int i = 0; i < N; ++i) {
      const int64_t l = label_layer(g.nodes[i].label);
      if (l >= 0) cur = l;
      want[i] = layer_dev[cur];
    }
  } else {
    // Auto: greedy in schedule order; resident[v] holds the devices a value is on.
    std::vector<uint32_t> resident(N, 0);
    for (int i = 0; i < N; ++i) {
      const Node& n = g.nodes[i];
      if (is_external(n.op)) continue;
      double best = 0;
      int best_d = -1;
      for (int d = 0; d < D && d < 32; ++d) {
        if (!runs(d, i)) continue;
        double t = flops(g, n) / (d == 0 ? kCpuRate : kDeviceRate);
        for (int in : n.inputs)
          if (!is_external(g.nodes[in].op) && !(resident[in] & (1u << d)))
            t += static_cast<double>(g.nodes[in].out.bytes()) / kLinkRate;
        if (best_d < 0 || t < best) best = t, best_d = d;  // ties stay on the earlier (the CPU)
      }
      if (best_d < 0) best_d = 0;
      want[i] = best_d;
      resident[i] |= 1u << best_d;
      for (int in : n.inputs) resident[in] |= 1u << best_d;
    }
  }

  // 2. Fall back to the CPU where the wanted device declines.
  std::vector<int> dev(N, -1);
  for (int i = 0; i < N; ++i) {
    if (is_external(g.nodes[i].op)) continue;
    dev[i] = runs(want[i], i) ? want[i] : 0;
  }
  // 3. A layer's kv group goes where its attention went, if that device runs all of it.
  std::map<int, std::vector<int>> group;  // layer -> its kv caches, kv_writes and attentions
  for (int i = 0; i < N; ++i)
    if (int l = kv_layer(g, i); l >= 0) group[l].push_back(i);
  for (auto& [layer, members] : group) {
    int d = -1;
    for (int i : members)
      if (g.nodes[i].op == OpKind::Attention || g.nodes[i].op == OpKind::AttentionRope) d = dev[i];
    if (d < 0) d = want[members.front()];
    for (int i : members)
      if (!runs(d, i)) d = 0;
    for (int i : members) dev[i] = d;
  }
  // 3b. A reshape (a view: moving it costs nothing) goes to its readers' device when they all
  //     agree and that device runs it, so a value crosses after the view, not before, and a
  //     run is not cut for a view alone.
  {
    std::vector<int> reader_dev(N, -2);  // -2: no reader yet; -3: readers disagree
    for (int i = 0; i < N; ++i)
      for (int in : g.nodes[i].inputs) {
        const int d = dev[i];
        reader_dev[in] = reader_dev[in] == -2 || reader_dev[in] == d ? d : -3;
      }
    for (int o : g.outputs) reader_dev[o] = -3;
    for (int i = N - 1; i >= 0; --i)
      if (g.nodes[i].op == OpKind::Reshape && reader_dev[i] >= 0 && reader_dev[i] != dev[i] &&
          runs(reader_dev[i], i))
        dev[i] = reader_dev[i];
  }
  // 4. The CPU must run whatever no device took.
  for (int i = 0; i < N; ++i) {
    if (dev[i] != 0 || runs(0, i)) continue;
    std::string why;
    for (int d = 0; d < D; ++d) why += "; " + ctx.devices[d].name + ": " + (sup[d][i].ok ? "its inputs" : sup[d][i].reason);
    return Error("node %d (%s %s) runs on no device%s", i, op_name(g.nodes[i].op), g.nodes[i].label.c_str(),
                 why.c_str());
  }

  // Everything on the CPU: no placement at all, so the graph runs as an unplaced one would.
  if (std::all_of(dev.begin(), dev.end(), [](int d) { return d <= 0; })) return Status::Ok();

  // 5. Rebuild with a transfer before the first reader of a value on another device.
  OpGraph out;
  out.placement.devices.reserve(D);
  for (const PlacementDevice& d : ctx.devices) out.placement.devices.push_back(d.name);
  std::vector<int> map(N, -1);
  std::map<std::pair<int, int>, int> moved;  // (old value, device) -> its transfer
  for (int i = 0; i < N; ++i) {
    Node n = g.nodes[i];
    for (int& in : n.inputs) {
      const int src = in;
      in = map[src];
      if (is_external(g.nodes[src].op) || dev[src] == dev[i]) continue;
      auto [it, fresh] = moved.try_emplace({src, dev[i]}, -1);
      if (fresh) {
        Node t;
        t.op = OpKind::Transfer;
        t.inputs = {map[src]};
        t.out = g.nodes[src].out;
        t.label = g.nodes[src].label;
        out.nodes.push_back(std::move(t));
        out.placement.device.push_back(dev[i]);
        it->second = static_cast<int>(out.nodes.size() - 1);
      }
      in = it->second;
    }
    out.nodes.push_back(std::move(n));
    out.placement.device.push_back(dev[i]);
    map[i] = static_cast<int>(out.nodes.size() - 1);
  }
  for (int o : g.outputs) out.outputs.push_back(map[o]);
  g = std::move(out);
  return Status::Ok();
}

Status verify_placement(const OpGraph& g) {
  const Placement& p = g.placement;
  if (p.empty()) return Status::Ok();
  if (p.device.size() != g.nodes.size())
    return Error("placement: %zu devices for %zu nodes", p.device.size(), g.nodes.size());
  const int D = static_cast<int>(p.devices.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const int d = p.device[i];
    const bool host = n.op == OpKind::Input || n.op == OpKind::Weight;
    if (host ? d != -1 : (d < 0 || d >= D))
      return Error("placement: node %zu (%s %s) has device %d", i, op_name(n.op), n.label.c_str(), d);
    if (host) continue;
    for (int in : n.inputs) {
      const Node& src = g.nodes[in];
      if (src.op == OpKind::Input || src.op == OpKind::Weight) continue;
      const bool crosses = p.device[in] != d;
      if (n.op == OpKind::Transfer ? !crosses : crosses)
        return Error("placement: node %zu (%s %s) on %s reads node %d (%s) on %s %s", i, op_name(n.op),
                     n.label.c_str(), p.devices[d].c_str(), in, op_name(src.op), p.devices[p.device[in]].c_str(),
                     n.op == OpKind::Transfer ? "(a transfer to its own device)" : "without a transfer");
    }
  }
  return Status::Ok();
}

namespace {

// Answers supports() for a placed graph with the backend of each node's device.
class PlacedSupport final : public Backend {
 public:
  explicit PlacedSupport(std::vector<PlacementDevice> devices) : devices_(std::move(devices)) {
    info_.name = "placed";
  }
  const DeviceInfo& info() const override { return info_; }
  Support supports(const OpGraph& g, int node) const override {
    const size_t i = static_cast<size_t>(node);
    const int d = i < g.placement.device.size() ? g.placement.device[i] : inherited_device(g, g.nodes[i]);
    if (d < 0) return {false, "its device is unknown (it reads host values only)"};
    if (static_cast<size_t>(d) >= devices_.size() || !devices_[d].backend) return {false, "no backend for its device"};
    return devices_[d].backend->supports(g, node);
  }
  // The backend of a node's device; nullptr when unknown.
  const Backend* backend_of(const OpGraph& g, int node) const {
    const size_t i = static_cast<size_t>(node);
    const int d = i < g.placement.device.size() ? g.placement.device[i] : inherited_device(g, g.nodes[i]);
    return d >= 0 && static_cast<size_t>(d) < devices_.size() ? devices_[d].backend : nullptr;
  }
  WeightLayout weight_layout(const OpGraph& g, int node, int k) const override {
    const Backend* b = backend_of(g, node);
    return b ? b->weight_layout(g, node, k) : WeightLayout::Plain;
  }
  Status pack_weight(const OpGraph& g, int node, int k, void* dst) const override {
    const Backend* b = backend_of(g, node);
    if (!b) return Error("placed: node %d has no device", node);
    return b->pack_weight(g, node, k, dst);
  }
  Expected<std::unique_ptr<Buffer>> alloc(size_t) override { return Error("placed: answers supports() only"); }
  Queue& queue() override { std::abort(); }
  Expected<std::unique_ptr<Plan>> prepare(const OpGraph&) override { return Error("placed: answers supports() only"); }
  Status execute(Plan&, const ExecArgs&) override { return Error("placed: answers supports() only"); }

 private:
  std::vector<PlacementDevice> devices_;
  DeviceInfo info_;
};

}  // namespace

std::unique_ptr<Backend> make_placed_support(const PassContext& ctx) {
  return std::make_unique<PlacedSupport>(ctx.devices);
}

}  // namespace ember::graph
