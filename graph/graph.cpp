#include "graph/graph.h"

#include <cctype>
#include <sstream>

namespace ember::graph {

TensorDesc make_desc(DType dtype, std::initializer_list<int64_t> shape) {
  TensorDesc d;
  d.dtype = dtype;
  d.rank = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) d.shape[i++] = s;
  return d;
}

std::string desc_string(const TensorDesc& d) {
  std::string s = dtype_name(d.dtype);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  s += "[";
  for (int i = 0; i < d.rank; ++i) {
    if (i) s += ',';
    s += std::to_string(d.shape[i]);
  }
  return s + "]";
}

namespace {

bool same_shape(const TensorDesc& a, const TensorDesc& b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i)
    if (a.shape[i] != b.shape[i]) return false;
  return true;
}

}  // namespace

Expected<TensorDesc> infer(const OpGraph& g, const Node& n) {
  auto fail = [&](const std::string& why) -> Status {
    return Error("node %zu (%s%s%s): %s", g.nodes.size(), op_name(n.op), n.label.empty() ? "" : " ",
                 n.label.c_str(), why.c_str());
  };
  std::vector<const TensorDesc*> in;
  for (int i : n.inputs) {
    if (i < 0 || static_cast<size_t>(i) >= g.nodes.size())
      return fail(strfmt("input %d is not an earlier node", i));
    in.push_back(&g.nodes[i].out);
  }
  auto want_inputs = [&](size_t k) { return in.size() == k; };
  auto f32 = [&](const TensorDesc* d) { return d->dtype == DType::F32; };
  // The rope attributes and positions of rope and the ops that rotate while loading.
  auto check_rope = [&](const TensorDesc& x, const TensorDesc& pos) -> Status {
    if (pos.dtype != DType::I32 || pos.rank != 1 || pos.shape[0] != x.shape[0])
      return Error("positions must be i32[n] with n = %lld", static_cast<long long>(x.shape[0]));
    if (n.attrs.rope_n_rot <= 0 || n.attrs.rope_n_rot > x.shape[2] || n.attrs.rope_n_rot % 2)
      return Error("n_rot must be even and at most the head dimension");
    return Status::Ok();
  };
  switch (n.op) {
    case OpKind::Input:
    case OpKind::Weight:
    case OpKind::KvCache:
      if (!in.empty()) return fail("takes no inputs");
      if (n.out.rank < 1 || n.out.rank > 4) return fail("rank must be 1..4");
      for (int i = 0; i < n.out.rank; ++i)
        if (n.out.shape[i] <= 0) return fail("dimensions must be positive");
      if (n.op == OpKind::Weight && !n.weight) return fail("weight has no data");
      if (n.op == OpKind::Weight && n.attrs.layout == WeightLayout::Q4_1x2 &&
          (n.out.dtype != DType::Q4_1 || n.out.rank != 2))
        return fail("layout q4_1x2 is for 2-D q4_1 weights");
      if (n.op == OpKind::Weight && n.attrs.layout == WeightLayout::Q4_1x16 &&
          (n.out.dtype != DType::Q4_1 || n.out.rank != 2 || n.out.shape[0] % 16 != 0))
        return fail("layout q4_1x16 is for 2-D q4_1 weights whose row count is a multiple of 16");
      if (n.op == OpKind::Weight && n.attrs.layout == WeightLayout::Q8_0x16 &&
          (n.out.dtype != DType::Q8_0 || n.out.rank != 2 || n.out.shape[0] % 16 != 0))
        return fail("layout q8_0x16 is for 2-D q8_0 weights whose row count is a multiple of 16");
      if (n.op == OpKind::KvCache && n.out.dtype != DType::F16 &&
          !(n.out.dtype == DType::Q8_0 && n.out.rank == 4 && n.out.shape[3] % 32 == 0))
        return fail("a kv cache is f16, or q8_0 with a head dimension that is a multiple of 32");
      return n.out;
    case OpKind::Embedding: {
      if (!want_inputs(2)) return fail("needs (table, ids)");
      if (in[0]->rank != 2) return fail("table must be 2-D");
      if (in[1]->dtype != DType::I32 || in[1]->rank != 1) return fail("ids must be i32[n]");
      return make_desc(DType::F32, {in[1]->shape[0], in[0]->shape[1]});
    }
    case OpKind::MatMul: {
      if (!want_inputs(2)) return fail("needs (x, w)");
      if (!f32(in[0]) || in[0]->rank != 2) return fail("x must be f32[M,K], got " + desc_string(*in[0]));
      if (in[1]->rank != 2) return fail("w must be 2-D, got " + desc_string(*in[1]));
      if (in[0]->shape[1] != in[1]->shape[1])
        return fail("inner dimensions differ: " + desc_string(*in[0]) + " x " + desc_string(*in[1]));
      return make_desc(DType::F32, {in[0]->shape[0], in[1]->shape[0]});
    }
    case OpKind::MatMulCat: {
      if (in.size() < 3 || in.size() > 4) return fail("needs (x, w0, w1 [, w2])");
      if (!f32(in[0]) || in[0]->rank != 2) return fail("x must be f32[M,K], got " + desc_string(*in[0]));
      int64_t total = 0;
      for (size_t k = 1; k < in.size(); ++k) {
        if (in[k]->rank != 2 || in[k]->shape[1] != in[0]->shape[1])
          return fail("weight " + desc_string(*in[k]) + " does not fit x " + desc_string(*in[0]));
        if (in[k]->dtype != in[1]->dtype) return fail("weights must share one type");
        total += in[k]->shape[0];
      }
      return make_desc(DType::F32, {in[0]->shape[0], total});
    }
    case OpKind::NormMatMul: {
      if (in.size() < 3 || in.size() > 5) return fail("needs (x, norm, w0 [, w1 [, w2]])");
      if (!f32(in[0]) || in[0]->rank != 2) return fail("x must be f32[M,K], got " + desc_string(*in[0]));
      if (!f32(in[1]) || in[1]->rank != 1 || in[1]->shape[0] != in[0]->shape[1])
        return fail("norm " + desc_string(*in[1]) + " must be one row of x " + desc_string(*in[0]));
      if (!(n.attrs.eps > 0)) return fail("eps must be positive");
      int64_t total = 0;
      for (size_t k = 2; k < in.size(); ++k) {
        if (in[k]->rank != 2 || in[k]->shape[1] != in[0]->shape[1])
          return fail("weight " + desc_string(*in[k]) + " does not fit x " + desc_string(*in[0]));
        if (in[k]->dtype != in[2]->dtype) return fail("weights must share one type");
        total += in[k]->shape[0];
      }
      return make_desc(DType::F32, {in[0]->shape[0], total});
    }
    case OpKind::MatMulAdd: {
      if (!want_inputs(3)) return fail("needs (x, w, r)");
      if (!f32(in[0]) || in[0]->rank != 2) return fail("x must be f32[M,K], got " + desc_string(*in[0]));
      if (in[1]->rank != 2 || in[0]->shape[1] != in[1]->shape[1])
        return fail("inner dimensions differ: " + desc_string(*in[0]) + " x " + desc_string(*in[1]));
      TensorDesc y = make_desc(DType::F32, {in[0]->shape[0], in[1]->shape[0]});
      const bool row = in[2]->rank == 1 && in[2]->shape[0] == y.shape[1];
      if (!f32(in[2]) || (!same_shape(*in[2], y) && !row))
        return fail("addend " + desc_string(*in[2]) + " does not match " + desc_string(y));
      return y;
    }
    case OpKind::RmsNormMul: {
      if (!want_inputs(2) || !f32(in[0]) || !f32(in[1])) return fail("needs (x, w) in f32");
      if (in[1]->rank != 1 || in[1]->shape[0] != in[0]->dim(-1))
        return fail("w " + desc_string(*in[1]) + " must be one row of x " + desc_string(*in[0]));
      if (!(n.attrs.eps > 0)) return fail("eps must be positive");
      return *in[0];
    }
    case OpKind::Slice: {
      if (!want_inputs(1) || !f32(in[0]) || in[0]->rank != 2) return fail("needs one f32[M,N] input");
      if (n.out.rank != 2 || n.out.shape[0] != in[0]->shape[0] || n.out.shape[1] <= 0 || n.attrs.begin < 0 ||
          n.attrs.begin + n.out.shape[1] > in[0]->shape[1])
        return fail("columns [" + std::to_string(n.attrs.begin) + ", +" + std::to_string(n.out.dim(-1)) +
                    ") do not lie inside " + desc_string(*in[0]));
      return make_desc(DType::F32, {in[0]->shape[0], n.out.shape[1]});
    }
    case OpKind::SiluMul:
      if (in.size() == 1) {  // the merged gate/up output: both halves in one row
        if (!f32(in[0]) || in[0]->rank != 2 || in[0]->shape[1] % 2)
          return fail("a single input must be f32[M,2F], got " + desc_string(*in[0]));
        return make_desc(DType::F32, {in[0]->shape[0], in[0]->shape[1] / 2});
      }
      [[fallthrough]];
    case OpKind::Add:
    case OpKind::Mul: {
      if (!want_inputs(2)) return fail("needs two inputs");
      if (!f32(in[0]) || !f32(in[1])) return fail("inputs must be f32");
      bool broadcast = in[1]->rank == 1 && in[1]->shape[0] == in[0]->dim(-1) && n.op != OpKind::SiluMul;
      if (!same_shape(*in[0], *in[1]) && !broadcast)
        return fail("shapes " + desc_string(*in[0]) + " and " + desc_string(*in[1]) + " do not match");
      return *in[0];
    }
    case OpKind::RmsNorm:
    case OpKind::Silu:
    case OpKind::Softmax:
      if (!want_inputs(1) || !f32(in[0])) return fail("needs one f32 input");
      if (n.op == OpKind::RmsNorm && !(n.attrs.eps > 0)) return fail("eps must be positive");
      return *in[0];
    case OpKind::Rope: {
      if (!want_inputs(2)) return fail("needs (x, positions)");
      if (!f32(in[0]) || in[0]->rank != 3) return fail("x must be f32[n,H,D], got " + desc_string(*in[0]));
      if (Status s = check_rope(*in[0], *in[1]); !s.ok()) return fail(s.message());
      return *in[0];
    }
    case OpKind::KvWrite:
    case OpKind::KvWriteRope: {
      if (n.op == OpKind::KvWrite ? !want_inputs(2) : !want_inputs(3))
        return fail(n.op == OpKind::KvWrite ? "needs (x, cache)" : "needs (x, cache, positions)");
      const TensorDesc& c = *in[1];
      const OpKind cache_op = g.nodes[n.inputs[1]].op;
      if (cache_op != OpKind::KvCache && !writes_kv(cache_op)) return fail("second input must be a kv cache");
      if (!f32(in[0]) || in[0]->rank != 3 || in[0]->shape[1] != c.shape[2] || in[0]->shape[2] != c.shape[3])
        return fail("x " + desc_string(*in[0]) + " does not fit cache " + desc_string(c));
      if (n.op == OpKind::KvWriteRope)
        if (Status s = check_rope(*in[0], *in[2]); !s.ok()) return fail(s.message());
      return c;
    }
    case OpKind::Attention:
    case OpKind::AttentionRope: {
      if (n.op == OpKind::Attention ? !want_inputs(3) : !want_inputs(4))
        return fail(n.op == OpKind::Attention ? "needs (q, k cache, v cache)" : "needs (q, k cache, v cache, positions)");
      const TensorDesc &q = *in[0], &k = *in[1], &v = *in[2];
      if (!f32(in[0]) || q.rank != 3) return fail("q must be f32[n,H,D]");
      if (k.rank != 4 || !same_shape(k, v)) return fail("k and v caches must have the same 4-D shape");
      if (q.shape[2] != k.shape[3]) return fail("head dimensions of q and the cache differ");
      if (q.shape[1] % k.shape[2] != 0) return fail("query heads are not a multiple of kv heads");
      if (!(n.attrs.scale > 0)) return fail("scale must be positive");
      if (n.op == OpKind::AttentionRope)
        if (Status s = check_rope(q, *in[3]); !s.ok()) return fail(s.message());
      return make_desc(DType::F32, {q.shape[0], q.shape[1] * q.shape[2]});
    }
    case OpKind::GetRows: {
      if (!want_inputs(2) || !f32(in[0]) || in[0]->rank != 2) return fail("needs (x f32[n,E], rows)");
      if (in[1]->dtype != DType::I32 || in[1]->rank != 1) return fail("rows must be i32[m]");
      return make_desc(DType::F32, {in[1]->shape[0], in[0]->shape[1]});
    }
    case OpKind::Reshape:
      if (!want_inputs(1)) return fail("needs one input");
      if (n.out.numel() != in[0]->numel() || n.out.dtype != in[0]->dtype)
        return fail("cannot reshape " + desc_string(*in[0]) + " to " + desc_string(n.out));
      return n.out;
    case OpKind::Permute: {
      if (!want_inputs(1) || !f32(in[0])) return fail("needs one f32 input");
      TensorDesc d = *in[0];
      int seen = 0;
      for (int i = 0; i < d.rank; ++i) {
        int p = n.attrs.perm[i];
        if (p < 0 || p >= d.rank || (seen & (1 << p))) return fail("perm is not a permutation");
        seen |= 1 << p;
        d.shape[i] = in[0]->shape[p];
      }
      return d;
    }
    case OpKind::Copy: {
      if (!want_inputs(1)) return fail("needs one input");
      TensorDesc d = *in[0];
      d.dtype = n.out.dtype;
      if (d.dtype != DType::F32 && d.dtype != DType::F16) return fail("copy converts to f32 or f16 only");
      if (in[0]->dtype != DType::F32 && in[0]->dtype != DType::F16) return fail("copy reads f32 or f16 only");
      return d;
    }
    case OpKind::Transfer: {
      if (!want_inputs(1)) return fail("needs one input");
      if (is_external(g.nodes[n.inputs[0]].op)) return fail("weights, inputs and kv caches are not transferred");
      return *in[0];
    }
  }
  return fail("unknown op");
}

Status verify(const OpGraph& g) {
  OpGraph prefix;
  prefix.nodes.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    for (int in : n.inputs)
      if (in < 0 || static_cast<size_t>(in) >= i)
        return Error("node %zu (%s): input %d is not an earlier node", i, op_name(n.op), in);
    EMBER_ASSIGN_OR_RETURN(TensorDesc d, infer(prefix, n));
    if (!same_shape(d, n.out) || d.dtype != n.out.dtype)
      return Error("node %zu (%s %s): stored type %s differs from inferred %s", i, op_name(n.op),
                   n.label.c_str(), desc_string(n.out).c_str(), desc_string(d).c_str());
    prefix.nodes.push_back(n);
  }
  for (int o : g.outputs)
    if (o < 0 || static_cast<size_t>(o) >= g.nodes.size()) return Error("output %d is not a node", o);
  return Status::Ok();
}

std::string print(const OpGraph& g) {
  std::ostringstream os;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    os << "%" << i << " = " << op_name(n.op);
    for (size_t k = 0; k < n.inputs.size(); ++k) os << (k ? ", %" : " %") << n.inputs[k];
    const OpAttrs& a = n.attrs;
    switch (n.op) {
      case OpKind::Input: os << " \"" << a.name << "\""; break;
      case OpKind::Weight:
        os << " \"" << a.name << "\"";
        if (a.layout != WeightLayout::Plain) os << " layout=" << layout_name(a.layout);
        break;
      case OpKind::KvCache: os << " layer=" << a.layer << (a.kv_which ? " v" : " k"); break;
      case OpKind::RmsNorm:
      case OpKind::RmsNormMul:
      case OpKind::NormMatMul: os << " eps=" << a.eps; break;
      case OpKind::Slice: os << " begin=" << a.begin; break;
      case OpKind::Rope:
      case OpKind::KvWriteRope:
      case OpKind::AttentionRope:
        // rope's own "scale" is its frequency scale; attention_rope's is the q·k scale.
        if (n.op == OpKind::AttentionRope) os << " scale=" << a.scale;
        os << " n_rot=" << a.rope_n_rot << (a.rope_mode == RopeMode::NeoX ? " neox" : " normal")
           << " base=" << a.rope_base << (n.op == OpKind::AttentionRope ? " freq_scale=" : " scale=")
           << a.rope_freq_scale;
        break;
      case OpKind::Attention: os << " scale=" << a.scale; break;
      case OpKind::Permute:
        os << " perm=" << a.perm[0] << a.perm[1] << a.perm[2] << a.perm[3];
        break;
      default: break;
    }
    os << " : " << desc_string(n.out);
    if (!g.placement.empty() && i < g.placement.device.size() && g.placement.device[i] >= 0 &&
        static_cast<size_t>(g.placement.device[i]) < g.placement.devices.size())
      os << (n.op == OpKind::Transfer ? " to " : " on ") << g.placement.devices[g.placement.device[i]];
    if (!g.memory.empty() && g.memory.offset[i] >= 0) os << " @" << g.memory.offset[i];
    if (!n.label.empty()) os << "  # " << n.label;
    os << "\n";
  }
  os << "outputs:";
  for (int o : g.outputs) os << " %" << o;
  os << "\n";
  if (!g.memory.empty())
    os << "arena: " << g.memory.arena_bytes << " bytes planned, " << g.memory.naive_bytes << " naive\n";
  return os.str();
}

const TensorDesc& Value::desc() const { return b_->g_.nodes[id_].out; }

bool Builder::usable(std::initializer_list<Value> vs) {
  if (!error_.ok()) return false;
  for (const Value& v : vs)
    if (!v.valid()) {
      error_ = Error("node %zu (%s): an input is invalid", g_.nodes.size(), label_.c_str());
      return false;
    }
  return true;
}

Value Builder::add_node(Node n) {
  if (!error_.ok()) return Value();
  n.label = label_;
  Expected<TensorDesc> d = infer(g_, n);
  if (!d.ok()) {
    error_ = d.status();
    return Value();
  }
  n.out = *d;
  g_.nodes.push_back(std::move(n));
  return Value(this, static_cast<int>(g_.nodes.size() - 1));
}

namespace {
Node node_of(OpKind op, std::initializer_list<Value> ins) {
  Node n;
  n.op = op;
  for (const Value& v : ins) n.inputs.push_back(v.id());
  return n;
}
}  // namespace

Value Builder::input(const std::string& name, DType dtype, std::initializer_list<int64_t> shape) {
  Node n = node_of(OpKind::Input, {});
  n.attrs.name = name;
  n.out = make_desc(dtype, shape);
  return add_node(std::move(n));
}

Value Builder::weight(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                      const void* data) {
  Node n = node_of(OpKind::Weight, {});
  n.attrs.name = name;
  n.weight = data;
  n.out.dtype = dtype;
  n.out.rank = static_cast<int>(shape.size());
  if (shape.size() > 4) {
    error_ = Error("weight '%s' has %zu dimensions", name.c_str(), shape.size());
    return Value();
  }
  for (size_t i = 0; i < shape.size(); ++i) n.out.shape[i] = shape[i];
  return add_node(std::move(n));
}

Value Builder::kv_cache(int layer, int which, int64_t n_blocks, int64_t block_size, int64_t n_kv_head,
                        int64_t head_dim, DType dtype) {
  Node n = node_of(OpKind::KvCache, {});
  n.attrs.layer = layer;
  n.attrs.kv_which = which;
  n.out = make_desc(dtype, {n_blocks, block_size, n_kv_head, head_dim});
  return add_node(std::move(n));
}

#define EMBER_BINARY_OP(fn, kind)                  \
  Value Builder::fn(Value a, Value b) {            \
    if (!usable({a, b})) return Value();           \
    return add_node(node_of(OpKind::kind, {a, b})); \
  }
EMBER_BINARY_OP(embedding, Embedding)
EMBER_BINARY_OP(matmul, MatMul)
EMBER_BINARY_OP(add, Add)
EMBER_BINARY_OP(mul, Mul)
EMBER_BINARY_OP(silu_mul, SiluMul)
EMBER_BINARY_OP(get_rows, GetRows)
#undef EMBER_BINARY_OP

Value Builder::matmul_cat(Value x, std::initializer_list<Value> ws) {
  if (!usable({x}) || !usable(ws)) return Value();
  Node n = node_of(OpKind::MatMulCat, {x});
  for (const Value& w : ws) n.inputs.push_back(w.id());
  return add_node(std::move(n));
}

Value Builder::norm_matmul(Value x, Value norm, std::initializer_list<Value> ws, float eps) {
  if (!usable({x, norm}) || !usable(ws)) return Value();
  Node n = node_of(OpKind::NormMatMul, {x, norm});
  for (const Value& w : ws) n.inputs.push_back(w.id());
  n.attrs.eps = eps;
  return add_node(std::move(n));
}

Value Builder::silu_mul_halves(Value gu) {
  if (!usable({gu})) return Value();
  return add_node(node_of(OpKind::SiluMul, {gu}));
}

Value Builder::matmul_add(Value x, Value w, Value r) {
  if (!usable({x, w, r})) return Value();
  return add_node(node_of(OpKind::MatMulAdd, {x, w, r}));
}

Value Builder::rms_norm_mul(Value x, Value w, float eps) {
  if (!usable({x, w})) return Value();
  Node n = node_of(OpKind::RmsNormMul, {x, w});
  n.attrs.eps = eps;
  return add_node(std::move(n));
}

Value Builder::slice(Value x, int64_t begin, int64_t len) {
  if (!usable({x})) return Value();
  Node n = node_of(OpKind::Slice, {x});
  n.attrs.begin = begin;
  n.out = make_desc(DType::F32, {x.desc().rank ? x.desc().shape[0] : 0, len});
  return add_node(std::move(n));
}

// The written cache keeps its pool's identity (layer, K or V), so later readers such as
// attention, and backends that place pools per layer, see which pool it is.
Value Builder::kv_write(Value x, Value cache) {
  if (!usable({x, cache})) return Value();
  Node n = node_of(OpKind::KvWrite, {x, cache});
  n.attrs.layer = g_.nodes[cache.id()].attrs.layer;
  n.attrs.kv_which = g_.nodes[cache.id()].attrs.kv_which;
  return add_node(std::move(n));
}

Value Builder::rms_norm(Value x, float eps) {
  if (!usable({x})) return Value();
  Node n = node_of(OpKind::RmsNorm, {x});
  n.attrs.eps = eps;
  return add_node(std::move(n));
}

Value Builder::rope(Value x, Value positions, int n_rot, RopeMode mode, float base, float freq_scale) {
  if (!usable({x, positions})) return Value();
  Node n = node_of(OpKind::Rope, {x, positions});
  n.attrs.rope_n_rot = n_rot;
  n.attrs.rope_mode = mode;
  n.attrs.rope_base = base;
  n.attrs.rope_freq_scale = freq_scale;
  return add_node(std::move(n));
}

Value Builder::attention(Value q, Value k_cache, Value v_cache, float scale) {
  if (!usable({q, k_cache, v_cache})) return Value();
  Node n = node_of(OpKind::Attention, {q, k_cache, v_cache});
  n.attrs.scale = scale;
  n.attrs.layer = k_cache.valid() ? g_.nodes[k_cache.id()].attrs.layer : -1;
  return add_node(std::move(n));
}

Value Builder::silu(Value x) {
  if (!usable({x})) return Value();
  return add_node(node_of(OpKind::Silu, {x}));
}

Value Builder::softmax(Value x) {
  if (!usable({x})) return Value();
  return add_node(node_of(OpKind::Softmax, {x}));
}

Value Builder::reshape(Value x, std::initializer_list<int64_t> shape) {
  if (!usable({x})) return Value();
  Node n = node_of(OpKind::Reshape, {x});
  n.out = make_desc(x.desc().dtype, shape);
  return add_node(std::move(n));
}

Value Builder::permute(Value x, std::array<int, 4> perm) {
  if (!usable({x})) return Value();
  Node n = node_of(OpKind::Permute, {x});
  n.attrs.perm = perm;
  return add_node(std::move(n));
}

Value Builder::copy(Value x, DType dtype) {
  if (!usable({x})) return Value();
  Node n = node_of(OpKind::Copy, {x});
  n.out.dtype = dtype;
  return add_node(std::move(n));
}

void Builder::output(Value v) {
  if (!usable({v})) return;
  g_.outputs.push_back(v.id());
}

Expected<OpGraph> Builder::finish() {
  if (!error_.ok()) return error_;
  return std::move(g_);
}

}  // namespace ember::graph
