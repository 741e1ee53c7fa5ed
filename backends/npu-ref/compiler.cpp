// npu-ref's compiler: judging nodes, lowering a subgraph into the IR of npu_ref.h, and the disk
// cache of lowered programs (the idea of NNAdapter's .nnc files: an NPU compile can take
// seconds, so a program compiled once is loaded on later runs).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "npu_ref.h"

namespace npu_ref {
namespace {

// Bumped whenever lowering changes, so programs cached by an older compiler are not reused.
constexpr uint32_t kCompilerVersion = 1;
constexpr char kMagic[8] = {'N', 'P', 'U', 'R', 'E', 'F', 'P', 'G'};

const char* dtype_str(uint32_t t) {
  switch (t) {
    case EMBER_DTYPE_F32: return "F32";
    case EMBER_DTYPE_F16: return "F16";
    case EMBER_DTYPE_Q4_0: return "Q4_0";
    case EMBER_DTYPE_Q4_1: return "Q4_1";
    case EMBER_DTYPE_Q5_0: return "Q5_0";
    case EMBER_DTYPE_Q5_1: return "Q5_1";
    case EMBER_DTYPE_Q8_0: return "Q8_0";
    case EMBER_DTYPE_Q4_K: return "Q4_K";
    case EMBER_DTYPE_Q5_K: return "Q5_K";
    case EMBER_DTYPE_Q6_K: return "Q6_K";
    case EMBER_DTYPE_I32: return "I32";
    case EMBER_DTYPE_BF16: return "BF16";
  }
  return "an unknown type";
}

const char* op_str(uint32_t op) {
  static const char* const names[] = {"input", "weight", "kv_cache", "embedding", "matmul", "add",
                                      "mul", "rms_norm", "rope", "kv_write", "attention", "silu",
                                      "silu_mul", "softmax", "get_rows", "reshape", "permute", "copy"};
  return op < EMBER_OP_COUNT ? names[op] : "an unknown op";
}

int64_t numel(const ember_tensor_desc& d) {
  int64_t n = 1;
  for (int i = 0; i < d.rank; ++i) n *= d.shape[i];
  return n;
}

void decline(ember_support* s, const char* fmt, const char* a = "", const char* b = "") {
  s->ok = 0;
  std::snprintf(s->reason, EMBER_REASON_MAX, fmt, a, b);
}

// Why node i cannot run here, or nullptr-equivalent (ok = 1).
void judge_node(const ember_graph& g, int32_t i, ember_support* s) {
  const ember_node& n = g.nodes[i];
  s->ok = 1;
  s->reason[0] = '\0';
  if (n.n_inputs < 0 || n.n_inputs > EMBER_MAX_NODE_INPUTS) return decline(s, "malformed node (input count)");
  for (int k = 0; k < n.n_inputs; ++k)
    if (n.inputs[k] < 0 || n.inputs[k] >= i) return decline(s, "malformed node (input index)");
  if (n.out.rank < 0 || n.out.rank > 4) return decline(s, "malformed node (rank)");
  auto in = [&](int k) -> const ember_tensor_desc& { return g.nodes[n.inputs[k]].out; };
  const bool out_f32 = n.out.dtype == EMBER_DTYPE_F32;
  switch (n.op) {
    case EMBER_OP_INPUT:
      if (!out_f32) return decline(s, "npu-ref takes f32 inputs only (this one is %s)", dtype_str(n.out.dtype));
      return;
    case EMBER_OP_WEIGHT:
      if (n.out.dtype != EMBER_DTYPE_F32 && n.out.dtype != EMBER_DTYPE_F16)
        return decline(s, "weight type %s is not supported (npu-ref computes with F32 and F16)", dtype_str(n.out.dtype));
      if (!n.weight) return decline(s, "weight without data");
      return;
    case EMBER_OP_RESHAPE:
      if (n.n_inputs != 1 || !out_f32 || in(0).dtype != EMBER_DTYPE_F32) return decline(s, "reshape of a non-f32 value");
      return;
    case EMBER_OP_MATMUL: {
      if (n.n_inputs != 2) return decline(s, "malformed matmul");
      const ember_tensor_desc &x = in(0), &w = in(1);
      if (w.dtype != EMBER_DTYPE_F32 && w.dtype != EMBER_DTYPE_F16)
        return decline(s, "matmul with %s weights is not supported (F32 and F16 only)", dtype_str(w.dtype));
      if (x.dtype != EMBER_DTYPE_F32 || !out_f32) return decline(s, "matmul activations must be f32");
      if (x.rank != 2 || w.rank != 2 || x.shape[1] != w.shape[1]) return decline(s, "matmul needs x[M,K] and w[N,K]");
      return;
    }
    case EMBER_OP_ADD:
    case EMBER_OP_MUL:
    case EMBER_OP_SILU_MUL: {
      if (n.n_inputs != 2) return decline(s, "malformed %s", op_str(n.op));
      const ember_tensor_desc &a = in(0), &b = in(1);
      if (a.dtype != EMBER_DTYPE_F32 || b.dtype != EMBER_DTYPE_F32 || !out_f32)
        return decline(s, "%s needs f32 operands", op_str(n.op));
      const bool same = numel(a) == numel(b);
      const bool row = a.rank > 0 && b.rank == 1 && b.shape[0] == a.shape[a.rank - 1];
      if (!same && !(row && n.op != EMBER_OP_SILU_MUL)) return decline(s, "%s operand shapes do not match", op_str(n.op));
      return;
    }
    case EMBER_OP_RMS_NORM:
      if (n.n_inputs != 1 || in(0).dtype != EMBER_DTYPE_F32 || !out_f32 || n.out.rank < 1)
        return decline(s, "rms_norm needs an f32 input");
      return;
    case EMBER_OP_KV_CACHE:
    case EMBER_OP_KV_WRITE:
    case EMBER_OP_ATTENTION:
      return decline(s, "%s needs the paged KV cache, which npu-ref does not hold", op_str(n.op));
    case EMBER_OP_ROPE:
      return decline(s, "rope is not in npu-ref's op set (no position-dependent kernels)");
    default:
      return decline(s, "%s is not in npu-ref's op set", op_str(n.op));
  }
}

// FNV-1a, 64 bit.
struct Hasher {
  uint64_t h = 1469598103934665603ull;
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  template <typename T>
  void pod(const T& v) { bytes(&v, sizeof v); }
  void str(const char* s) {
    const size_t n = s ? std::strlen(s) : 0;
    pod(n);
    bytes(s, n);
  }
};

std::string cache_dir() {
  if (const char* d = std::getenv("EMBER_NPU_REF_CACHE_DIR")) return std::strcmp(d, "off") == 0 ? "" : d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ember/npu-ref";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/ember/npu-ref";
  return "";
}

std::string cache_file(const std::string& dir, uint64_t hash) {
  char name[40];
  std::snprintf(name, sizeof name, "/%016llx.nrp", static_cast<unsigned long long>(hash));
  return dir + name;
}

void mkdirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

bool fits(uint64_t off, uint64_t count, uint64_t total) { return off <= total && count <= total - off; }

// Every address a program touches lies inside its memory.
bool valid(const Program& p) {
  const uint64_t m = p.memory_elems;
  for (const Instr& c : p.code) {
    if (c.rows < 0 || c.cols < 0 || c.k < 0 || c.rows > (1ll << 40) || c.cols > (1ll << 40) || c.k > (1ll << 40)) return false;
    const uint64_t out = static_cast<uint64_t>(c.rows) * static_cast<uint64_t>(c.cols);
    if (!fits(c.dst, out, m)) return false;
    switch (c.op) {
      case Opcode::MatMul:
        if (!fits(c.a, static_cast<uint64_t>(c.rows) * c.k, m) || !fits(c.b, static_cast<uint64_t>(c.cols) * c.k, m)) return false;
        break;
      case Opcode::Add:
      case Opcode::Mul:
      case Opcode::SiluMul:
        if (!fits(c.a, out, m) || !fits(c.b, c.k == 1 ? static_cast<uint64_t>(c.cols) : out, m)) return false;
        break;
      case Opcode::RmsNorm:
        if (!fits(c.a, out, m)) return false;
        break;
      default:
        return false;
    }
  }
  for (const WeightSlot& w : p.weights) if (!fits(w.offset, w.count, m)) return false;
  for (const IoSlot& s : p.inputs) if (!fits(s.offset, s.count, m)) return false;
  for (const IoSlot& s : p.outputs) if (!fits(s.offset, s.count, m)) return false;
  return true;
}

template <typename T>
bool read_pod(FILE* f, T* v) { return std::fread(v, sizeof *v, 1, f) == 1; }
template <typename T>
void write_pod(FILE* f, const T& v) { std::fwrite(&v, sizeof v, 1, f); }

bool read_slots(FILE* f, std::vector<IoSlot>* out) {
  uint64_t n;
  if (!read_pod(f, &n) || n > (1u << 20)) return false;
  out->resize(n);
  for (IoSlot& s : *out) {
    uint32_t len;
    if (!read_pod(f, &len) || len > 4096) return false;
    s.name.resize(len);
    if (len && std::fread(s.name.data(), 1, len, f) != len) return false;
    if (!read_pod(f, &s.offset) || !read_pod(f, &s.count)) return false;
  }
  return true;
}
void write_slots(FILE* f, const std::vector<IoSlot>& v) {
  write_pod(f, static_cast<uint64_t>(v.size()));
  for (const IoSlot& s : v) {
    write_pod(f, static_cast<uint32_t>(s.name.size()));
    std::fwrite(s.name.data(), 1, s.name.size(), f);
    write_pod(f, s.offset);
    write_pod(f, s.count);
  }
}

}  // namespace

CacheStats& cache_stats() {
  static CacheStats s{0, 0, 0};
  return s;
}

void judge(const ember_graph& g, ember_support* out) {
  for (int32_t i = 0; i < g.n_nodes; ++i) judge_node(g, i, &out[i]);
}

uint64_t graph_hash(const ember_graph& g) {
  Hasher h;
  h.pod(kCompilerVersion);
  h.pod(g.n_nodes);
  for (int32_t i = 0; i < g.n_nodes; ++i) {
    const ember_node& n = g.nodes[i];
    h.pod(n.op);
    h.pod(n.out.dtype);
    h.pod(n.out.rank);
    for (int d = 0; d < 4; ++d) h.pod(n.out.shape[d]);
    h.pod(n.n_inputs);
    for (int k = 0; k < n.n_inputs && k < EMBER_MAX_NODE_INPUTS; ++k) h.pod(n.inputs[k]);
    if (n.op == EMBER_OP_INPUT || n.op == EMBER_OP_WEIGHT) h.str(n.name);
    h.pod(n.eps);
  }
  h.pod(g.n_outputs);
  for (int32_t o = 0; o < g.n_outputs; ++o) h.pod(g.outputs[o]);
  return h.h;
}

// Lowering: every node gets a place in plan memory ([weights | inputs | activations], in
// f32 elements; reshape shares its input's place), then each compute node becomes one
// instruction. A production compiler would fuse, tile and reuse activation memory here.
ember_status lower(const ember_graph& g, Program* p) {
  std::vector<ember_support> sup(static_cast<size_t>(g.n_nodes));
  judge(g, sup.data());
  for (int32_t i = 0; i < g.n_nodes; ++i)
    if (!sup[i].ok) return fail(EMBER_STATUS_UNSUPPORTED, "node %d (%s %s): %s", i, op_str(g.nodes[i].op),
                                g.nodes[i].label ? g.nodes[i].label : "", sup[i].reason);
  std::vector<uint64_t> at(static_cast<size_t>(g.n_nodes), 0);
  uint64_t end = 0;
  for (int32_t i = 0; i < g.n_nodes; ++i)
    if (g.nodes[i].op == EMBER_OP_WEIGHT) {
      const uint64_t n = static_cast<uint64_t>(numel(g.nodes[i].out));
      p->weights.push_back({i, g.nodes[i].out.dtype, end, n});
      at[i] = end;
      end += n;
    }
  std::map<std::string, uint64_t> input_at;
  for (int32_t i = 0; i < g.n_nodes; ++i)
    if (g.nodes[i].op == EMBER_OP_INPUT) {
      const std::string name = g.nodes[i].name ? g.nodes[i].name : "";
      auto it = input_at.find(name);
      if (it != input_at.end()) {
        at[i] = it->second;
        continue;
      }
      const uint64_t n = static_cast<uint64_t>(numel(g.nodes[i].out));
      p->inputs.push_back({name, end, n});
      input_at[name] = at[i] = end;
      end += n;
    }
  for (int32_t i = 0; i < g.n_nodes; ++i) {
    const ember_node& n = g.nodes[i];
    if (n.op == EMBER_OP_WEIGHT || n.op == EMBER_OP_INPUT) continue;
    if (n.op == EMBER_OP_RESHAPE) {
      at[i] = at[n.inputs[0]];
      continue;
    }
    at[i] = end;
    end += static_cast<uint64_t>(numel(n.out));
    Instr c{};
    c.dst = at[i];
    c.a = at[n.inputs[0]];
    c.cols = n.out.rank ? n.out.shape[n.out.rank - 1] : 1;
    c.rows = c.cols ? numel(n.out) / c.cols : 0;
    switch (n.op) {
      case EMBER_OP_MATMUL:
        c.op = Opcode::MatMul;
        c.b = at[n.inputs[1]];
        c.k = g.nodes[n.inputs[0]].out.shape[1];
        break;
      case EMBER_OP_ADD:
      case EMBER_OP_MUL:
      case EMBER_OP_SILU_MUL:
        c.op = n.op == EMBER_OP_ADD ? Opcode::Add : n.op == EMBER_OP_MUL ? Opcode::Mul : Opcode::SiluMul;
        c.b = at[n.inputs[1]];
        c.k = numel(g.nodes[n.inputs[1]].out) != numel(n.out) ? 1 : 0;
        break;
      case EMBER_OP_RMS_NORM:
        c.op = Opcode::RmsNorm;
        c.eps = n.eps;
        break;
      default:
        return fail(EMBER_STATUS_INTERNAL, "no lowering for %s", op_str(n.op));
    }
    p->code.push_back(c);
  }
  for (int32_t o = 0; o < g.n_outputs; ++o) {
    const int32_t i = g.outputs[o];
    if (i < 0 || i >= g.n_nodes) return fail(EMBER_STATUS_INVALID_ARGUMENT, "output %d names no node", o);
    p->outputs.push_back({"", at[i], static_cast<uint64_t>(numel(g.nodes[i].out))});
  }
  p->memory_elems = end ? end : 1;
  return EMBER_STATUS_OK;
}

bool cache_load(const ember_graph& g, uint64_t hash, Program* out) {
  const std::string dir = cache_dir();
  if (dir.empty()) return false;
  FILE* f = std::fopen(cache_file(dir, hash).c_str(), "rb");
  if (!f) return false;
  Program p;
  char magic[8];
  uint32_t version = 0;
  uint64_t n = 0;
  bool ok = std::fread(magic, 1, 8, f) == 8 && std::memcmp(magic, kMagic, 8) == 0 && read_pod(f, &version) &&
            version == kCompilerVersion && read_pod(f, &p.hash) && p.hash == hash && read_pod(f, &p.memory_elems) &&
            read_pod(f, &n) && n <= (1u << 24);
  if (ok) {
    p.code.resize(n);
    ok = n == 0 || std::fread(p.code.data(), sizeof(Instr), n, f) == n;
  }
  ok = ok && read_pod(f, &n) && n <= (1u << 24);
  if (ok) {
    p.weights.resize(n);
    ok = n == 0 || std::fread(p.weights.data(), sizeof(WeightSlot), n, f) == n;
  }
  ok = ok && read_slots(f, &p.inputs) && read_slots(f, &p.outputs) && valid(p);
  std::fclose(f);
  // The weights a program binds must be the graph's (a hash collision must not run garbage).
  for (const WeightSlot& w : p.weights)
    ok = ok && w.node >= 0 && w.node < g.n_nodes && g.nodes[w.node].op == EMBER_OP_WEIGHT &&
         g.nodes[w.node].out.dtype == w.dtype && static_cast<uint64_t>(numel(g.nodes[w.node].out)) == w.count;
  ok = ok && p.outputs.size() == static_cast<size_t>(g.n_outputs);
  if (ok) *out = std::move(p);
  return ok;
}

void cache_store(const Program& p) {
  const std::string dir = cache_dir();
  if (dir.empty()) return;
  mkdirs(dir);
  const std::string path = cache_file(dir, p.hash);
  // Written under a private name, then renamed: a reader never sees half a file.
  const std::string tmp = path + "." + std::to_string(::getpid()) + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return;  // an unwritable cache only costs a recompile next time
  std::fwrite(kMagic, 1, 8, f);
  write_pod(f, kCompilerVersion);
  write_pod(f, p.hash);
  write_pod(f, p.memory_elems);
  write_pod(f, static_cast<uint64_t>(p.code.size()));
  if (!p.code.empty()) std::fwrite(p.code.data(), sizeof(Instr), p.code.size(), f);
  write_pod(f, static_cast<uint64_t>(p.weights.size()));
  if (!p.weights.empty()) std::fwrite(p.weights.data(), sizeof(WeightSlot), p.weights.size(), f);
  write_slots(f, p.inputs);
  write_slots(f, p.outputs);
  const bool ok = std::fclose(f) == 0;
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0) {
    cache_stats().stores++;
  } else {
    std::remove(tmp.c_str());
  }
}

}  // namespace npu_ref
