// The op vocabulary shared by the graph compiler and every backend: tensor descriptors,
// op kinds and their attributes, and OpGraph, a topologically ordered list of nodes.
// The graph floor builds and rewrites OpGraphs; backends prepare and execute them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ember/core/dtype.h"

namespace ember {

struct TensorDesc {
  DType dtype = DType::F32;
  int rank = 0;
  std::array<int64_t, 4> shape{};  // outermost first; shape[rank-1] is contiguous

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  int64_t dim(int i) const { return shape[i < 0 ? rank + i : i]; }
  int64_t rows() const { return rank ? numel() / shape[rank - 1] : 1; }
  size_t bytes() const { return dtype_row_bytes(dtype, numel()); }
};

enum class OpKind : uint8_t {
  Input,      // step input bound at execution (attrs.name: "tokens" i32[n], "positions" i32[n], "out_rows" i32[m])
  Weight,     // model constant; `weight` points at its bytes in host memory (the mmap)
  KvCache,    // a layer's K or V block pool: [n_blocks, block_size, n_kv_head, head_dim]
  Embedding,  // (table [V,E], ids i32[n]) -> f32[n,E]
  MatMul,     // (x f32[M,K], w [N,K]) -> f32[M,N]   y = x · wᵀ
  Add,        // (a f32[...,N], b f32[...,N] or [N]) -> a + b (b broadcast over rows)
  Mul,        // likewise, elementwise product
  RmsNorm,    // (x f32[M,N]) -> x / sqrt(mean(x²) + eps)
  Rope,       // (x f32[n,H,D], positions i32[n]) -> rotated x (attrs.rope_*)
  KvWrite,    // (x f32[n,Hkv,D], cache) -> cache with x stored at each token's slot
  Attention,  // (q f32[n,H,D], k cache, v cache) -> f32[n,H*D], causal over each token's sequence
  Silu,       // x * sigmoid(x)
  SiluMul,    // (g, u) -> silu(g) * u; or (gu f32[M,2F]) -> f32[M,F]: silu(left half) * right half
  Softmax,    // over the last dimension
  GetRows,    // (x f32[n,E], rows i32[m]) -> f32[m,E]
  Reshape,    // same bytes, new shape (a view)
  Permute,    // (x) -> x with axes reordered by attrs.perm (materialised contiguous)
  Copy,       // (x) -> a contiguous copy, converted to out.dtype
  // Fused and merged ops, made by graph/passes/ (a backend runs them only where its
  // supports() says so; each computes exactly what its unfused form computes).
  MatMulCat,  // (x f32[M,K], w0 [N0,K], w1 [N1,K] [, w2 [N2,K]]) -> f32[M,N0+N1+N2]
              //   y = x · concat(w0,w1,w2)ᵀ over the weights where they lie (no copy)
  MatMulAdd,  // (x f32[M,K], w [N,K], r f32[M,N] or [N]) -> x · wᵀ + r (epilogue add)
  RmsNormMul, // (x f32[M,N], w f32[N]) -> rms_norm(x) * w
  NormMatMul, // (x f32[M,K], norm f32[K], w0 [N0,K] [, w1 [, w2]]) -> f32[M,ΣN]
              //   y = rms_norm_mul(x, norm) · concat(w)ᵀ, the norm applied while converting x
  Slice,      // (x f32[M,N]) -> columns [attrs.begin, attrs.begin + out.dim(-1)) as f32[M,len];
              //   a view of x where is_view says so (rows then lie N floats apart), a copy otherwise
  KvWriteRope,    // (x f32[n,Hkv,D], cache, positions i32[n]) -> cache with rope(x) stored at each
                  //   token's slot: rope then kv_write, the rotation done while storing (attrs.rope_*)
  AttentionRope,  // (q f32[n,H,D], k cache, v cache, positions i32[n]) -> attention(rope(q), k, v):
                  //   q rotated as it is loaded (attrs.rope_*, attrs.scale)
  // Made by the placement pass (graph/passes/place.cpp); never handed to a backend:
  Transfer,   // (x) -> x, moved from x's device to this node's device (OpGraph::placement)
};

const char* op_name(OpKind op);

enum class RopeMode : uint8_t { Normal = 0, NeoX = 1 };

// How a weight's bytes are arranged. Plain: as in the model file, row after row of the
// dtype's blocks. Every other layout is made once at load by the prepare-weights pass
// (graph/passes/prepare_weights.cpp) for the backend kernel that asked for it, and read only by
// the node that asked; the dtype, shape and size in bytes stay those of the plain weight.
enum class WeightLayout : uint8_t {
  Plain = 0,
  Q4_1x2 = 1,  // q4_1 rows in pairs, block by block (kernels/cpu/gemm/pack.h)
  Q4_1x16 = 2,  // q4_1 rows in groups of 16, block-interleaved for per-lane integer dots (same)
  Q8_0x16 = 3,  // q8_0 rows likewise (same)
};
const char* layout_name(WeightLayout l);

struct OpAttrs {
  std::string name;           // Input: binding name; Weight: tensor name
  float eps = 0;              // RmsNorm
  float scale = 0;            // Attention: scale applied to q·k
  int layer = -1;             // KvCache / KvWrite / Attention
  int kv_which = 0;           // KvCache: 0 = K, 1 = V
  int rope_n_rot = 0;         // Rope: dimensions rotated per head
  RopeMode rope_mode = RopeMode::Normal;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  std::array<int, 4> perm{0, 1, 2, 3};  // Permute
  int64_t begin = 0;          // Slice: first column
  WeightLayout layout = WeightLayout::Plain;  // Weight: how `weight` is arranged
};

// Whether op writes a layer's KV cache (kv_write or its fused form): an effect that outlives
// the step, so dead-node and common-subexpression elimination keep every one.
inline bool writes_kv(OpKind op) { return op == OpKind::KvWrite || op == OpKind::KvWriteRope; }

struct Node {
  OpKind op = OpKind::Input;
  TensorDesc out;
  std::vector<int> inputs;     // indices of earlier nodes
  OpAttrs attrs;
  const void* weight = nullptr;  // Weight: host bytes (not owned)
  std::string label;           // human-readable origin, e.g. "blk.3.attn_q"
};

// Where each node's result lives in one activation arena, decided by the memory-planning
// pass (graph/passes/plan_memory.cpp). Empty when the graph was not planned; a backend then
// gives every arena node its own block (the naive layout).
struct MemoryPlan {
  std::vector<int64_t> offset;  // per node: byte offset in the arena, or -1 (not in the arena)
  uint64_t arena_bytes = 0;     // the arena's size: the peak of simultaneously live blocks
  uint64_t naive_bytes = 0;     // the sum of all arena blocks, as if nothing were reused
  uint64_t alignment = 64;      // every offset and block size is a multiple of this
  bool empty() const { return offset.empty(); }
};

// Which device runs each node, decided by the placement pass (graph/passes/place.cpp). Empty
// when the graph was not placed: it all runs on the one backend it is given.
struct Placement {
  std::vector<std::string> devices;  // device names ("cpu", "opencl:0"); [0] is the fallback, the CPU
  std::vector<int> device;           // per node: index into devices; -1 for weights and inputs,
                                     //   which live in host memory and are read by every device
  bool empty() const { return device.empty(); }
};

// Nodes in topological order (every input index is smaller than the node's own).
struct OpGraph {
  std::vector<Node> nodes;
  std::vector<int> outputs;
  MemoryPlan memory;
  Placement placement;
};

// Whether node i's result is a view of another node's memory (no storage of its own): reshape
// (of its input), kv_write and kv_write_rope (of their cache), and a slice (of its input, at a
// byte offset) when it has one row or when every reader reads rows through a row stride
// (reads_row_stride). Sets *of and *byte_offset when it is. Backends and the memory planner
// share this rule.
bool is_view(const OpGraph& g, int i, int* of, uint64_t* byte_offset);

// Whether node `reader` can read its input `k` with rows (outermost index) lying any number of
// bytes apart, each row itself contiguous: the q/x input of rope, kv_write, attention and their
// fused forms; and a reshape that keeps the outermost dimension, is not a graph output and
// whose own readers all can. A backend that runs slice reads these inputs with row_stride_bytes.
bool reads_row_stride(const OpGraph& g, int reader, int k);

// Bytes from one row (outermost index) of node i's result to the next as it lies in memory:
// the row size, except for a multi-row slice that is a view (its input's row size) and a
// reshape of one.
uint64_t row_stride_bytes(const OpGraph& g, int i);

// Whether node i's result lives outside the activation arena: inputs, weights, kv caches.
inline bool is_external(OpKind op) {
  return op == OpKind::Input || op == OpKind::Weight || op == OpKind::KvCache;
}

}  // namespace ember
