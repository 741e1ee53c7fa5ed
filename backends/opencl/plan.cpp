// The OpenCL plugin's graph side: which nodes it runs, compiling a subgraph into a plan of one
// kernel launch per node (device buffers for every value, weights uploaded once per device and
// shared between plans), and executing a plan on a queue. The kernels are kernels/opencl/*.cl.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "opencl.h"

namespace ember_opencl {
namespace {

const char* op_str(uint32_t op) {
  static const char* const names[] = {"input", "weight", "kv_cache", "embedding", "matmul", "add",
                                      "mul", "rms_norm", "rope", "kv_write", "attention", "silu",
                                      "silu_mul", "softmax", "get_rows", "reshape", "permute", "copy"};
  return op < EMBER_OP_COUNT ? names[op] : "an unknown op";
}
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
// The elements of a block of a weight type (1 for float types), 0 when it has no kernels.
int block_elems(uint32_t t) {
  const WeightType* w = weight_type(t);
  return w ? w->block_elems : 0;
}

int64_t numel(const ember_tensor_desc& d) {
  int64_t n = 1;
  for (int i = 0; i < d.rank; ++i) n *= d.shape[i];
  return n;
}
// Bytes of a tensor of the types this plugin stores (0 for others).
uint64_t bytes_of(const ember_tensor_desc& d) {
  const int64_t n = numel(d);
  if (d.dtype == EMBER_DTYPE_I32) return static_cast<uint64_t>(n) * 4;
  const WeightType* w = weight_type(d.dtype);
  return w ? static_cast<uint64_t>(n / w->block_elems) * w->block_bytes : 0;
}

void reason(ember_support* s, const char* fmt, const char* a = "", const char* b = "") {
  s->ok = 0;
  std::snprintf(s->reason, EMBER_REASON_MAX, fmt, a, b);
}

void judge_node(const ember_graph& g, int32_t i, ember_support* s) {
  const ember_node& n = g.nodes[i];
  s->ok = 1;
  s->reason[0] = '\0';
  if (n.n_inputs < 0 || n.n_inputs > EMBER_MAX_NODE_INPUTS || n.out.rank < 0 || n.out.rank > 4)
    return reason(s, "malformed node");
  for (int k = 0; k < n.n_inputs; ++k)
    if (n.inputs[k] < 0 || n.inputs[k] >= i) return reason(s, "malformed node (input index)");
  auto in = [&](int k) -> const ember_tensor_desc& { return g.nodes[n.inputs[k]].out; };
  const bool f32 = n.out.dtype == EMBER_DTYPE_F32;
  switch (n.op) {
    case EMBER_OP_INPUT:
      if (!f32 && n.out.dtype != EMBER_DTYPE_I32) return reason(s, "inputs of type %s are not supported", dtype_str(n.out.dtype));
      return;
    case EMBER_OP_WEIGHT:
      if (!block_elems(n.out.dtype)) return reason(s, "weight type %s has no OpenCL kernels", dtype_str(n.out.dtype));
      if (n.out.rank > 0 && n.out.shape[n.out.rank - 1] % block_elems(n.out.dtype))
        return reason(s, "rows of %s weights must hold whole blocks", dtype_str(n.out.dtype));
      if (!n.weight) return reason(s, "weight without data");
      return;
    case EMBER_OP_KV_CACHE:
      if (n.out.dtype != EMBER_DTYPE_F16 || n.out.rank != 4) return reason(s, "KV pools must be f16 [blocks, B, Hkv, D]");
      return;
    case EMBER_OP_RESHAPE:
      return;
    case EMBER_OP_MATMUL:
      if (n.n_inputs != 2 || in(0).rank != 2 || in(1).rank != 2 || in(0).dtype != EMBER_DTYPE_F32)
        return reason(s, "matmul needs x f32[M,K] and w[N,K]");
      if (!block_elems(in(1).dtype)) return reason(s, "matmul with %s weights has no OpenCL kernel", dtype_str(in(1).dtype));
      if (in(1).shape[1] % block_elems(in(1).dtype)) return reason(s, "K is not a multiple of the %s block size", dtype_str(in(1).dtype));
      return;
    case EMBER_OP_ADD:
    case EMBER_OP_MUL:
    case EMBER_OP_SILU_MUL: {
      if (n.n_inputs != 2 || in(0).dtype != EMBER_DTYPE_F32 || in(1).dtype != EMBER_DTYPE_F32 || !f32)
        return reason(s, "%s needs f32 operands", op_str(n.op));
      const bool row = in(0).rank > 0 && numel(in(1)) == in(0).shape[in(0).rank - 1];
      if (numel(in(0)) != numel(in(1)) && !row) return reason(s, "%s operand shapes do not match", op_str(n.op));
      return;
    }
    case EMBER_OP_SILU:
    case EMBER_OP_RMS_NORM:
    case EMBER_OP_SOFTMAX:
      if (n.n_inputs != 1 || in(0).dtype != EMBER_DTYPE_F32 || !f32 || n.out.rank < 1) return reason(s, "%s needs an f32 input", op_str(n.op));
      return;
    case EMBER_OP_ROPE:
      if (n.out.rank != 3 || in(1).dtype != EMBER_DTYPE_I32 || n.rope_n_rot < 0 || n.rope_n_rot > n.out.shape[2] || n.rope_n_rot % 2)
        return reason(s, "rope needs x f32[n,H,D], i32 positions and an even n_rot <= D");
      return;
    case EMBER_OP_EMBEDDING:
      if (!block_elems(in(0).dtype)) return reason(s, "embedding tables of type %s have no OpenCL kernel", dtype_str(in(0).dtype));
      if (in(0).rank != 2 || in(0).shape[0] <= 0 || in(0).shape[1] % block_elems(in(0).dtype))
        return reason(s, "embedding needs a [V,E] table of whole blocks");
      if (in(1).dtype != EMBER_DTYPE_I32) return reason(s, "embedding ids must be i32");
      return;
    case EMBER_OP_GET_ROWS:
      if (in(0).dtype != EMBER_DTYPE_F32 || in(0).rank != 2 || in(1).dtype != EMBER_DTYPE_I32) return reason(s, "get_rows needs f32[n,E] and i32 rows");
      return;
    case EMBER_OP_KV_WRITE:
      if (in(0).dtype != EMBER_DTYPE_F32 || in(0).rank != 3 || in(1).rank != 4) return reason(s, "kv_write needs f32[n,Hkv,D] and a pool");
      return;
    case EMBER_OP_ATTENTION:
      if (in(0).rank != 3 || in(1).rank != 4 || in(2).rank != 4 || in(1).shape[2] <= 0 || in(0).shape[1] % in(1).shape[2])
        return reason(s, "attention needs q f32[n,H,D] and pools with H a multiple of Hkv");
      return;
    default:
      return reason(s, "%s is not implemented in the OpenCL backend", op_str(n.op));
  }
}

enum class MemKind : uint8_t { Own, Weight, Kv, Alias };

struct NodeMem {
  MemKind kind = MemKind::Own;
  cl_mem own = nullptr;     // Own (also INPUT nodes)
  const void* weight = nullptr;  // Weight: key into the device's shared weights
  int index = -1;           // Kv: 2*layer+which; Alias: the node aliased
};

// A kernel argument: a node's buffer, one of the plan's layout/scratch buffers, or a scalar.
struct Arg {
  enum Kind : uint8_t { Node, TokSeq, TokPos, TblOff, Tables, Scores, I32, F32 } kind;
  int32_t i = 0;
  float f = 0;
};

struct Launch {
  cl_kernel kernel = nullptr;
  int node = 0;
  size_t global[2] = {1, 1}, local[2] = {1, 1};
  cl_uint dims = 1;
  bool use_local = false;
  std::vector<Arg> args;
};

struct InputSlot {
  std::string name;
  int node;
  uint64_t bytes;
};

struct Plan {
  int device = 0;
  std::vector<NodeMem> mem;
  std::vector<cl_mem> bound;     // per node, resolved at execute
  std::vector<uint64_t> node_bytes;
  std::vector<Launch> launches;
  std::vector<InputSlot> inputs;
  std::vector<int> outputs;
  // KV layout on the device (when the graph has kv_write / attention).
  bool kv = false;
  int32_t tok_cap = 0, table_cap = 0, pool_blocks = 0, block_size = 0;
  cl_mem tok_seq = nullptr, tok_pos = nullptr, tbl_off = nullptr, tables = nullptr, scores = nullptr;
  std::vector<int32_t> h_seq, h_pos, h_off, h_tables;  // host staging
};

cl_mem create(Device& d, uint64_t bytes, ember_status* st, const void* init = nullptr) {
  cl_int e = CL_SUCCESS;
  cl_mem m = clCreateBuffer(d.context, CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0), bytes ? bytes : 4,
                            const_cast<void*>(init), &e);
  if (e != CL_SUCCESS) {
    *st = fail(EMBER_STATUS_OUT_OF_MEMORY, "clCreateBuffer(%llu bytes) on %s: %s", static_cast<unsigned long long>(bytes),
               d.name.c_str(), cl_error_name(e));
    return nullptr;
  }
  return m;
}

void release_plan(Plan* p) {
  if (!p) return;
  Device& d = devices()[p->device];
  for (Launch& l : p->launches)
    if (l.kernel) clReleaseKernel(l.kernel);
  for (NodeMem& m : p->mem) {
    if (m.own) clReleaseMemObject(m.own);
    if (m.kind == MemKind::Weight) {
      auto it = d.weights.find(m.weight);
      if (it != d.weights.end() && --it->second.refs == 0) {
        clReleaseMemObject(it->second.mem);
        d.weights.erase(it);
      }
    }
  }
  for (cl_mem m : {p->tok_seq, p->tok_pos, p->tbl_off, p->tables, p->scores})
    if (m) clReleaseMemObject(m);
  delete p;
}

}  // namespace

ember_status judge(const Device&, const ember_graph& g, ember_support* out) {
  for (int32_t i = 0; i < g.n_nodes; ++i) judge_node(g, i, &out[i]);
  return EMBER_STATUS_OK;
}

ember_status compile(int device, const ember_graph& g, ember_plan* out) {
  Device& d = devices()[device];
  std::vector<ember_support> sup(static_cast<size_t>(g.n_nodes));
  judge(d, g, sup.data());
  for (int32_t i = 0; i < g.n_nodes; ++i)
    if (!sup[i].ok)
      return fail(EMBER_STATUS_UNSUPPORTED, "node %d (%s %s): %s", i, op_str(g.nodes[i].op),
                  g.nodes[i].label ? g.nodes[i].label : "", sup[i].reason);
  ember_status st = ensure_program(d);
  if (st != EMBER_STATUS_OK) return st;

  auto* p = new Plan();
  p->device = device;
  p->mem.resize(static_cast<size_t>(g.n_nodes));
  p->bound.resize(static_cast<size_t>(g.n_nodes), nullptr);
  p->node_bytes.resize(static_cast<size_t>(g.n_nodes), 0);
  auto bail = [&](ember_status s) {
    release_plan(p);
    return s;
  };
  auto root = [&](int i) {
    while (p->mem[i].kind == MemKind::Alias) i = p->mem[i].index;
    return i;
  };
  const int wg = static_cast<int>(d.wg);
  for (int32_t i = 0; i < g.n_nodes; ++i) {
    const ember_node& n = g.nodes[i];
    NodeMem& m = p->mem[i];
    p->node_bytes[i] = bytes_of(n.out);
    switch (n.op) {
      case EMBER_OP_WEIGHT: {
        m.kind = MemKind::Weight;
        m.weight = n.weight;
        SharedWeight& w = d.weights[n.weight];
        if (w.mem && w.bytes != p->node_bytes[i]) return bail(fail(EMBER_STATUS_INVALID_ARGUMENT, "weight %s seen with two sizes", n.name));
        if (!w.mem) {
          w.mem = create(d, p->node_bytes[i], &st, n.weight);
          if (!w.mem) {
            d.weights.erase(n.weight);
            m.kind = MemKind::Own;
            return bail(st);
          }
          w.bytes = p->node_bytes[i];
        }
        w.refs++;
        continue;
      }
      case EMBER_OP_KV_CACHE:
        m.kind = MemKind::Kv;
        m.index = 2 * n.layer + n.kv_which;
        continue;
      case EMBER_OP_RESHAPE:
        m.kind = MemKind::Alias;
        m.index = root(n.inputs[0]);
        continue;
      case EMBER_OP_KV_WRITE:
        m.kind = MemKind::Alias;
        m.index = root(n.inputs[1]);
        break;
      default:
        m.own = create(d, p->node_bytes[i], &st);
        if (!m.own) return bail(st);
        break;
    }
    if (n.op == EMBER_OP_INPUT) {
      p->inputs.push_back({n.name ? n.name : "", i, p->node_bytes[i]});
      continue;
    }
    // One launch for this node.
    Launch l;
    l.node = i;
    const char* kname = nullptr;
    auto node_arg = [](int k) { return Arg{Arg::Node, k, 0}; };
    auto i32 = [](int64_t v) { return Arg{Arg::I32, static_cast<int32_t>(v), 0}; };
    auto f32 = [](float v) { return Arg{Arg::F32, 0, v}; };
    const int64_t N = n.out.rank ? n.out.shape[n.out.rank - 1] : 1;
    switch (n.op) {
      case EMBER_OP_MATMUL: {
        const ember_tensor_desc& w = g.nodes[n.inputs[1]].out;
        MatmulChoice ch;
        st = tuned_matmul(d, w.dtype, static_cast<int>(w.shape[1]), static_cast<int>(w.shape[0]), &ch);
        if (st != EMBER_STATUS_OK) return bail(st);
        cl_int e = CL_SUCCESS;
        l.kernel = matmul_kernel(d, *weight_type(w.dtype), ch, &e);
        if (!l.kernel)
          return bail(fail(EMBER_STATUS_DEVICE_ERROR, "the %s matmul kernel for %s: %s", matmul_kind_name(ch.kind),
                           dtype_str(w.dtype), cl_error_name(e)));
        l.dims = 2;
        const size_t* lp = nullptr;
        matmul_launch_size(d, ch, w.shape[0], n.out.shape[0], l.global, l.local, &lp);
        l.use_local = lp != nullptr;
        l.args = {node_arg(n.inputs[0]), node_arg(n.inputs[1]), node_arg(i), i32(w.shape[1]), i32(w.shape[0])};
        break;
      }
      case EMBER_OP_ADD:
      case EMBER_OP_MUL:
      case EMBER_OP_SILU_MUL: {
        kname = n.op == EMBER_OP_ADD ? "add_f32" : n.op == EMBER_OP_MUL ? "mul_f32" : "silu_mul_f32";
        l.global[0] = static_cast<size_t>(numel(n.out));
        const bool bcast = numel(g.nodes[n.inputs[1]].out) != numel(n.out);
        l.args = {node_arg(n.inputs[0]), node_arg(n.inputs[1]), node_arg(i), i32(N), i32(bcast)};
        break;
      }
      case EMBER_OP_SILU:
        kname = "silu_f32";
        l.global[0] = static_cast<size_t>(numel(n.out));
        l.args = {node_arg(n.inputs[0]), node_arg(i)};
        break;
      case EMBER_OP_RMS_NORM:
      case EMBER_OP_SOFTMAX:
        kname = n.op == EMBER_OP_RMS_NORM ? "rms_norm_f32" : "softmax_f32";
        l.global[0] = static_cast<size_t>(numel(n.out) / (N ? N : 1)) * wg;
        l.local[0] = wg;
        l.use_local = true;
        l.args = {node_arg(n.inputs[0]), node_arg(i), i32(N)};
        if (n.op == EMBER_OP_RMS_NORM) l.args.push_back(f32(n.eps));
        break;
      case EMBER_OP_ROPE: {
        kname = "rope_f32";
        l.global[0] = static_cast<size_t>(n.out.shape[0] * n.out.shape[1]);
        const float theta_scale = std::pow(n.rope_base, -2.0f / static_cast<float>(n.rope_n_rot ? n.rope_n_rot : 2));
        l.args = {node_arg(n.inputs[0]), node_arg(n.inputs[1]), node_arg(i), i32(n.out.shape[1]), i32(n.out.shape[2]),
                  i32(n.rope_n_rot), i32(n.rope_mode), f32(theta_scale), f32(n.rope_freq_scale)};
        break;
      }
      case EMBER_OP_EMBEDDING:
        kname = "embedding";
        l.global[0] = static_cast<size_t>(numel(n.out));
        l.args = {node_arg(n.inputs[0]), node_arg(n.inputs[1]), node_arg(i), i32(N),
                  i32(static_cast<int64_t>(bytes_of(g.nodes[n.inputs[0]].out) / g.nodes[n.inputs[0]].out.shape[0])),
                  i32(g.nodes[n.inputs[0]].out.dtype)};
        break;
      case EMBER_OP_GET_ROWS:
        kname = "get_rows_f32";
        l.global[0] = static_cast<size_t>(numel(n.out));
        l.args = {node_arg(n.inputs[0]), node_arg(n.inputs[1]), node_arg(i), i32(N)};
        break;
      case EMBER_OP_KV_WRITE: {
        kname = "kv_write";
        const ember_tensor_desc &x = g.nodes[n.inputs[0]].out, &pool = g.nodes[n.inputs[1]].out;
        l.global[0] = static_cast<size_t>(numel(x));
        l.args = {node_arg(n.inputs[0]), node_arg(i), {Arg::TokSeq}, {Arg::TokPos}, {Arg::TblOff}, {Arg::Tables},
                  i32(x.shape[1] * x.shape[2]), i32(pool.shape[1])};
        p->kv = true;
        p->tok_cap = std::max<int32_t>(p->tok_cap, static_cast<int32_t>(x.shape[0]));
        p->pool_blocks = static_cast<int32_t>(pool.shape[0]);
        p->block_size = static_cast<int32_t>(pool.shape[1]);
        break;
      }
      case EMBER_OP_ATTENTION: {
        kname = "attention";
        const ember_tensor_desc &q = g.nodes[n.inputs[0]].out, &pool = g.nodes[n.inputs[1]].out;
        l.global[0] = static_cast<size_t>(q.shape[0] * q.shape[1]);
        const int64_t max_ctx = pool.shape[0] * pool.shape[1];
        l.args = {node_arg(n.inputs[0]), node_arg(n.inputs[1]), node_arg(n.inputs[2]), node_arg(i), {Arg::Scores},
                  {Arg::TokSeq}, {Arg::TokPos}, {Arg::TblOff}, {Arg::Tables}, i32(q.shape[1]), i32(pool.shape[2]),
                  i32(q.shape[2]), i32(pool.shape[1]), i32(max_ctx), f32(n.scale)};
        p->kv = true;
        p->tok_cap = std::max<int32_t>(p->tok_cap, static_cast<int32_t>(q.shape[0]));
        p->pool_blocks = static_cast<int32_t>(pool.shape[0]);
        p->block_size = static_cast<int32_t>(pool.shape[1]);
        if (!p->scores) {
          p->scores = create(d, static_cast<uint64_t>(q.shape[0] * q.shape[1] * max_ctx) * 4, &st);
          if (!p->scores) return bail(st);
        }
        break;
      }
      default:
        return bail(fail(EMBER_STATUS_INTERNAL, "no OpenCL launch for %s", op_str(n.op)));
    }
    if (!l.kernel) {
      cl_int e = CL_SUCCESS;
      l.kernel = clCreateKernel(d.program, kname, &e);
      if (e != CL_SUCCESS) return bail(fail(EMBER_STATUS_DEVICE_ERROR, "clCreateKernel(%s): %s", kname, cl_error_name(e)));
    }
    p->launches.push_back(std::move(l));
  }
  if (p->kv) {
    p->table_cap = p->tok_cap * std::max(p->pool_blocks, 1);
    for (cl_mem* m : {&p->tok_seq, &p->tok_pos, &p->tbl_off}) {
      *m = create(d, static_cast<uint64_t>(p->tok_cap) * 4, &st);
      if (!*m) return bail(st);
    }
    p->tables = create(d, static_cast<uint64_t>(p->table_cap) * 4, &st);
    if (!p->tables) return bail(st);
  }
  for (int32_t o = 0; o < g.n_outputs; ++o) {
    if (g.outputs[o] < 0 || g.outputs[o] >= g.n_nodes) return bail(fail(EMBER_STATUS_INVALID_ARGUMENT, "output %d names no node", o));
    p->outputs.push_back(g.outputs[o]);
  }
  *out = reinterpret_cast<ember_plan>(p);
  return EMBER_STATUS_OK;
}

void destroy_plan(ember_plan h) { release_plan(reinterpret_cast<Plan*>(h)); }

ember_status execute(Queue& q, ember_plan h, const ember_exec_args& a) {
  Plan& p = *reinterpret_cast<Plan*>(h);
  if (q.device != p.device) return fail(EMBER_STATUS_INVALID_ARGUMENT, "the queue is on another device than the plan");
  Device& d = devices()[p.device];
  // Resolve every node's buffer.
  for (size_t i = 0; i < p.mem.size(); ++i) {
    const NodeMem& m = p.mem[i];
    switch (m.kind) {
      case MemKind::Own: p.bound[i] = m.own; break;
      case MemKind::Weight: p.bound[i] = d.weights[m.weight].mem; break;
      case MemKind::Alias: p.bound[i] = p.bound[m.index]; break;
      case MemKind::Kv: {
        if (m.index < 0 || m.index >= a.n_kv || !a.kv[m.index])
          return fail(EMBER_STATUS_INVALID_ARGUMENT, "KV pool %d (layer %d) is not bound", m.index, m.index / 2);
        auto* b = reinterpret_cast<Buffer*>(a.kv[m.index]);
        if (b->bytes < p.node_bytes[i]) return fail(EMBER_STATUS_INVALID_ARGUMENT, "KV pool %d is too small", m.index);
        p.bound[i] = b->mem;
        break;
      }
    }
  }
  cl_int e = CL_SUCCESS;
  for (const InputSlot& in : p.inputs) {
    const ember_binding* b = nullptr;
    for (int32_t k = 0; k < a.n_inputs; ++k)
      if (a.inputs[k].name && in.name == a.inputs[k].name) b = &a.inputs[k];
    if (!b || (!b->host && !b->buffer)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "input '%s' is not bound", in.name.c_str());
    if (!in.bytes) continue;
    if (b->host) {
      e = clEnqueueWriteBuffer(q.q, p.bound[in.node], CL_FALSE, 0, in.bytes, b->host, 0, nullptr, nullptr);
    } else {
      auto* src = reinterpret_cast<Buffer*>(b->buffer);
      if (b->offset > src->bytes || in.bytes > src->bytes - b->offset)
        return fail(EMBER_STATUS_INVALID_ARGUMENT, "input '%s' is outside its buffer", in.name.c_str());
      e = clEnqueueCopyBuffer(q.q, src->mem, p.bound[in.node], b->offset, 0, in.bytes, 0, nullptr, nullptr);
    }
    if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "uploading input '%s': %s", in.name.c_str(), cl_error_name(e));
  }
  if (p.kv) {
    // The layout is checked here, on the host: a bad block id must be an error, not a stray
    // device write.
    const ember_kv_layout* l = a.kv_layout;
    if (!l) return fail(EMBER_STATUS_INVALID_ARGUMENT, "the plan has kv_write/attention but no KV layout is bound");
    if (l->block_size != p.block_size) return fail(EMBER_STATUS_INVALID_ARGUMENT, "KV block size %d, the plan was built for %d", l->block_size, p.block_size);
    if (l->n_tokens > p.tok_cap || l->n_seqs > p.tok_cap || l->n_seqs < 0)
      return fail(EMBER_STATUS_INVALID_ARGUMENT, "KV layout of %d tokens / %d sequences exceeds the plan's %d", l->n_tokens, l->n_seqs, p.tok_cap);
    p.h_seq.assign(static_cast<size_t>(p.tok_cap), 0);
    p.h_pos.assign(static_cast<size_t>(p.tok_cap), 0);
    p.h_off.assign(static_cast<size_t>(p.tok_cap), 0);
    p.h_tables.clear();
    for (int32_t s = 0; s < l->n_seqs; ++s) {
      p.h_off[s] = static_cast<int32_t>(p.h_tables.size());
      for (int32_t b = 0; b < l->seq_n_blocks[s]; ++b) {
        const int32_t blk = l->seq_blocks[s][b];
        if (blk < 0 || blk >= p.pool_blocks) return fail(EMBER_STATUS_INVALID_ARGUMENT, "sequence %d names KV block %d of %d", s, blk, p.pool_blocks);
        p.h_tables.push_back(blk);
      }
    }
    if (static_cast<int64_t>(p.h_tables.size()) > p.table_cap) return fail(EMBER_STATUS_INVALID_ARGUMENT, "KV block tables exceed the plan's capacity");
    for (int32_t t = 0; t < l->n_tokens; ++t) {
      const int32_t s = l->seq_of_token[t], pos = l->positions[t];
      if (s < 0 || s >= l->n_seqs || pos < 0 || pos / p.block_size >= l->seq_n_blocks[s])
        return fail(EMBER_STATUS_INVALID_ARGUMENT, "token %d (sequence %d, position %d) has no KV block", t, s, pos);
      p.h_seq[t] = s;
      p.h_pos[t] = pos;
    }
    if (p.h_tables.empty()) p.h_tables.push_back(0);
    // Blocking writes: the staging vectors are reused by the next execute.
    const std::pair<cl_mem, const std::vector<int32_t>*> ups[] = {
        {p.tok_seq, &p.h_seq}, {p.tok_pos, &p.h_pos}, {p.tbl_off, &p.h_off}, {p.tables, &p.h_tables}};
    for (const auto& [mem, v] : ups) {
      e = clEnqueueWriteBuffer(q.q, mem, CL_TRUE, 0, v->size() * 4, v->data(), 0, nullptr, nullptr);
      if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "uploading the KV layout: %s", cl_error_name(e));
    }
  }
  for (const Launch& l : p.launches) {
    if (l.global[0] == 0 || l.global[1] == 0) continue;
    for (size_t k = 0; k < l.args.size(); ++k) {
      const Arg& arg = l.args[k];
      cl_mem m = nullptr;
      switch (arg.kind) {
        case Arg::Node: m = p.bound[arg.i]; break;
        case Arg::TokSeq: m = p.tok_seq; break;
        case Arg::TokPos: m = p.tok_pos; break;
        case Arg::TblOff: m = p.tbl_off; break;
        case Arg::Tables: m = p.tables; break;
        case Arg::Scores: m = p.scores; break;
        case Arg::I32: e = clSetKernelArg(l.kernel, k, sizeof(cl_int), &arg.i); break;
        case Arg::F32: e = clSetKernelArg(l.kernel, k, sizeof(cl_float), &arg.f); break;
      }
      if (arg.kind != Arg::I32 && arg.kind != Arg::F32) e = clSetKernelArg(l.kernel, k, sizeof(cl_mem), &m);
      if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "clSetKernelArg(node %d, arg %zu): %s", l.node, k, cl_error_name(e));
    }
    e = clEnqueueNDRangeKernel(q.q, l.kernel, l.dims, nullptr, l.global, l.use_local ? l.local : nullptr, 0, nullptr, nullptr);
    if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "launching the kernel of node %d: %s", l.node, cl_error_name(e));
  }
  if (a.n_outputs != static_cast<int32_t>(p.outputs.size()))
    return fail(EMBER_STATUS_INVALID_ARGUMENT, "%d outputs bound, the plan has %zu", a.n_outputs, p.outputs.size());
  for (size_t o = 0; o < p.outputs.size(); ++o) {
    const int node = p.outputs[o];
    const ember_binding& b = a.outputs[o];
    const uint64_t bytes = p.node_bytes[node];
    if (!bytes) continue;
    if (b.host) {
      e = clEnqueueReadBuffer(q.q, p.bound[node], CL_FALSE, 0, bytes, b.host, 0, nullptr, nullptr);
    } else if (b.buffer) {
      auto* dst = reinterpret_cast<Buffer*>(b.buffer);
      if (b.offset > dst->bytes || bytes > dst->bytes - b.offset) return fail(EMBER_STATUS_INVALID_ARGUMENT, "output %zu is outside its buffer", o);
      e = clEnqueueCopyBuffer(q.q, p.bound[node], dst->mem, 0, b.offset, bytes, 0, nullptr, nullptr);
    } else {
      return fail(EMBER_STATUS_INVALID_ARGUMENT, "output %zu is not bound", o);
    }
    if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "reading output %zu: %s", o, cl_error_name(e));
  }
  return EMBER_STATUS_OK;
}

}  // namespace ember_opencl
