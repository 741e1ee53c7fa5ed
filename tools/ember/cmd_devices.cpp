// ember devices: every device ember can use — the CPU and each plugin's devices — what each
// runs (probed with one small graph per op and weight type), and every plugin that was
// refused, with the reason. Plugins are searched in <exe>/../plugins, $EMBER_PLUGIN_PATH and
// --plugin-dir.
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "backends/plugin/plugin.h"
#include "graph/graph.h"
#include "tools/ember/args.h"
#include "tools/ember/commands.h"

namespace ember::cli {
namespace {

using graph::Builder;
using graph::Value;

// One probe: a graph whose last node is the op being asked about.
struct Probe {
  std::string op;     // "matmul"
  DType dtype;        // the weight / table type it is asked with (F32 for plain ops)
  OpGraph g;
};

const DType kWeightTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                              DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<Probe> make_probes(std::vector<uint8_t>* zeros) {
  // Weight probes point at zeroed bytes large enough for any of the shapes below.
  zeros->assign(256 * 256 * 4, 0);
  const void* w = zeros->data();
  std::vector<Probe> out;
  auto add = [&](const char* op, DType t, Builder& b) {
    auto g = b.finish();
    if (g.ok()) out.push_back({op, t, std::move(*g)});
  };
  for (DType t : kWeightTypes) {
    Builder b;
    Value x = b.input("x", DType::F32, {2, 256});
    b.output(b.matmul(x, b.weight("w", t, {8, 256}, w)));
    add("matmul", t, b);
  }
  for (DType t : kWeightTypes) {
    Builder b;
    Value ids = b.input("tokens", DType::I32, {2});
    b.output(b.embedding(b.weight("table", t, {8, 256}, w), ids));
    add("embedding", t, b);
  }
  const std::vector<std::pair<const char*, int>> plain = {{"add", 0},     {"mul", 1},     {"rms_norm", 2},
                                                          {"silu", 3},    {"silu_mul", 4}, {"softmax", 5},
                                                          {"rope", 6},    {"kv_write", 7}, {"attention", 8},
                                                          {"get_rows", 9}};
  for (auto [name, which] : plain) {
    Builder b;
    Value x = b.input("x", DType::F32, {2, 64});
    Value y = b.input("y", DType::F32, {2, 64});
    switch (which) {
      case 0: b.output(b.add(x, y)); break;
      case 1: b.output(b.mul(x, y)); break;
      case 2: b.output(b.rms_norm(x, 1e-5f)); break;
      case 3: b.output(b.silu(x)); break;
      case 4: b.output(b.silu_mul(x, y)); break;
      case 5: b.output(b.softmax(x)); break;
      case 6: {
        Value pos = b.input("positions", DType::I32, {2});
        b.output(b.rope(b.reshape(x, {2, 4, 16}), pos, 16, RopeMode::Normal, 10000.0f, 1.0f));
        break;
      }
      case 7: b.output(b.kv_write(b.reshape(x, {2, 4, 16}), b.kv_cache(0, 0, 4, 16, 4, 16))); break;
      case 8: {
        Value k = b.kv_cache(0, 0, 4, 16, 4, 16), v = b.kv_cache(0, 1, 4, 16, 4, 16);
        b.output(b.attention(b.reshape(x, {2, 4, 16}), k, v, 0.25f));
        break;
      }
      case 9: b.output(b.get_rows(x, b.input("rows", DType::I32, {1}))); break;
    }
    add(name, DType::F32, b);
  }
  return out;
}

std::string gib(uint64_t b) {
  if (b < (1ull << 30)) return strfmt("%.1f MiB", static_cast<double>(b) / (1ull << 20));
  return strfmt("%.1f GiB", static_cast<double>(b) / (1ull << 30));
}

// "matmul(F32 F16 Q4_1) add mul ..." for what runs; one line per declined probe when verbose.
void print_support(const std::vector<Probe>& probes, const std::vector<Support>& verdicts, bool verbose) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> ok_types;
  std::map<std::string, bool> typed;
  for (size_t i = 0; i < probes.size(); ++i) {
    const Probe& p = probes[i];
    if (!ok_types.count(p.op)) order.push_back(p.op);
    ok_types[p.op];
    typed[p.op] = p.op == "matmul" || p.op == "embedding";
    if (verdicts[i].ok) ok_types[p.op].push_back(dtype_name(p.dtype));
  }
  std::string runs, declines;
  for (const std::string& op : order) {
    const auto& t = ok_types[op];
    if (t.empty()) {
      declines += " " + op;
      continue;
    }
    runs += " " + op;
    if (typed[op]) {
      runs += "(";
      for (size_t k = 0; k < t.size(); ++k) runs += (k ? " " : "") + t[k];
      runs += ")";
    }
  }
  std::printf("    runs:    %s\n", runs.empty() ? " nothing" : runs.c_str());
  if (!declines.empty()) std::printf("    declines:%s\n", declines.c_str());
  if (!verbose) return;
  for (size_t i = 0; i < probes.size(); ++i)
    if (!verdicts[i].ok)
      std::printf("      %s(%s): %s\n", probes[i].op.c_str(), dtype_name(probes[i].dtype), verdicts[i].reason.c_str());
}

// The verdict of each probe: its last node (the op asked about), or the first declined node
// feeding it (a device that cannot hold the input cannot run the op either).
std::vector<Support> judge(const std::vector<Probe>& probes, const std::function<std::vector<Support>(const OpGraph&)>& all) {
  std::vector<Support> v;
  for (const Probe& p : probes) {
    std::vector<Support> s = all(p.g);
    Support verdict = s.back();
    for (size_t i = 0; i + 1 < s.size() && verdict.ok; ++i)
      if (!s[i].ok && p.g.nodes[i].op != OpKind::Input) verdict = s[i];
    v.push_back(verdict);
  }
  return v;
}

}  // namespace

int cmd_devices(int argc, char** argv) {
  std::string dir;
  bool verbose = false;
  Args args("devices",
            "Lists every device ember can use (the CPU and each backend plugin's devices), what each runs, "
            "and every plugin that was refused with the reason. Plugins are searched in <exe>/../plugins, "
            "then in $EMBER_PLUGIN_PATH (':'-separated folders or files), then in --plugin-dir.");
  args.option("--plugin-dir", &dir, "DIR", "also load the plugins in DIR");
  args.flag("-v,--verbose", &verbose, "give the reason for every op and type a device declines");
  int code = 0;
  if (!args.parse(argc, argv, &code)) return code;

  std::vector<uint8_t> zeros;
  const std::vector<Probe> probes = make_probes(&zeros);

  auto cpu = make_cpu_backend(CpuOptions{1});
  if (!cpu.ok()) return fail("devices", cpu.message());
  const DeviceInfo& ci = (*cpu)->info();
  std::printf("cpu  (built in)\n    %s, %s of memory\n", ci.vendor.c_str(), gib(ci.memory_bytes).c_str());
  Backend& cb = **cpu;
  print_support(probes, judge(probes, [&](const OpGraph& g) {
                  std::vector<Support> s;
                  for (size_t i = 0; i < g.nodes.size(); ++i) s.push_back(cb.supports(g, static_cast<int>(i)));
                  return s;
                }), verbose);

  plugin::Registry reg;
  reg.load_default();
  if (!dir.empty()) reg.load_dir(dir);
  bool opencl_seen = false;
  int refused = 0;
  for (size_t p = 0; p < reg.plugins().size(); ++p) {
    const plugin::PluginRecord& r = reg.plugins()[p];
    if (r.name == "opencl") opencl_seen = true;
    if (!r.loaded) {
      ++refused;
      continue;
    }
    if (r.devices.empty()) std::printf("%s  (plugin %s): no devices: %s\n", r.name.c_str(), r.path.c_str(), r.note.c_str());
    for (size_t d = 0; d < r.devices.size(); ++d) {
      const plugin::PluginDevice& dev = r.devices[d];
      std::string types;
      for (DType t : dev.dtypes) types += std::string(" ") + dtype_name(t);
      std::printf("%s  (plugin %s)\n    %s, %s of %s memory, computes with%s\n", dev.info.name.c_str(), r.path.c_str(),
                  dev.info.vendor.c_str(), gib(dev.info.memory_bytes).c_str(),
                  dev.info.host_visible ? "host-visible" : "device", types.empty() ? " (none listed)" : types.c_str());
      auto be = reg.open(p, static_cast<int>(d));
      if (!be.ok()) {
        std::printf("    cannot be opened: %s\n", be.message().c_str());
        continue;
      }
      plugin::PluginBackend* pb = be->get();
      print_support(probes, judge(probes, [&](const OpGraph& g) { return pb->supports_all(g); }), verbose);
    }
  }
  if (!opencl_seen)
    std::printf("opencl: no OpenCL plugin was found, so no OpenCL device is used (ember runs on the CPU)\n");
  if (refused) {
    std::printf("refused plugins:\n");
    for (const plugin::PluginRecord& r : reg.plugins())
      if (!r.loaded) std::printf("  %s: %s\n", r.path.c_str(), r.refusal.c_str());
  }
  return 0;
}

}  // namespace ember::cli
