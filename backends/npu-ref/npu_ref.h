// npu-ref internals. The plugin is three parts, the way an NPU SDK is:
//   device.cpp    the device: its memory (an allocator over host memory), queues, events, and
//                 the ember_plugin_api table handed to ember
//   compiler.cpp  which nodes it runs (and why not), lowering a subgraph into its own IR, and
//                 the on-disk cache of compiled programs keyed by a hash of the subgraph
//   executor.cpp  runs a compiled program on device memory
// Only backend_plugin.h is included from ember: this folder is what a vendor copies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend_plugin.h"

namespace npu_ref {

// ---- device memory ----------------------------------------------------------------------------
// The "device" is host memory behind the plugin's own allocator, reachable by ember only through
// copies (host_visible = 0), as on a discrete accelerator.
struct DeviceBuffer {
  uint8_t* data = nullptr;
  uint64_t bytes = 0;
};

// Allocates from the device's capacity; nullptr when exhausted (last_error says so).
DeviceBuffer* device_alloc(uint64_t bytes);
void device_free(DeviceBuffer* b);

// Records a message for last_error() and returns `s`.
ember_status fail(ember_status s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
bool verbose();

// ---- the IR -----------------------------------------------------------------------------------
// A compiled program addresses one flat f32 memory (the plan's device buffer) by element
// offset: [weights | inputs | activations]. Every instruction is one fused-free f32 kernel.
enum class Opcode : uint32_t { MatMul = 1, Add = 2, Mul = 3, RmsNorm = 4, SiluMul = 5 };

struct Instr {
  Opcode op;
  uint32_t pad = 0;
  uint64_t dst = 0, a = 0, b = 0;  // element offsets into plan memory
  int64_t rows = 0, cols = 0;      // output [rows, cols]
  int64_t k = 0;                   // MatMul: inner dimension; Add/Mul: 1 when b is one row broadcast
  float eps = 0;                   // RmsNorm
  uint32_t pad2 = 0;
};

// Where a graph's constant, input or output sits in plan memory.
struct WeightSlot {
  int32_t node;        // the WEIGHT node whose bytes are uploaded (converted to f32) at compile
  uint32_t dtype;      // EMBER_DTYPE_F32 or _F16 as stored by ember
  uint64_t offset, count;
};
struct IoSlot {
  std::string name;    // INPUT: binding name; outputs: empty
  uint64_t offset, count;
};

struct Program {
  uint64_t hash = 0;           // of the subgraph it was compiled from
  uint64_t memory_elems = 0;   // f32 elements of plan memory
  std::vector<Instr> code;
  std::vector<WeightSlot> weights;
  std::vector<IoSlot> inputs, outputs;
};

// ---- compiler ---------------------------------------------------------------------------------
// Fills out[i] for every node (see ember_plugin_api::supports).
void judge(const ember_graph& g, ember_support* out);
// The subgraph's structural hash: ops, shapes, dtypes, edges, attributes, names — not weight bytes
// (a program binds weights by node at load, so it is valid for any weights of that shape).
uint64_t graph_hash(const ember_graph& g);
// Lowers a judged graph into a Program; fails with the reason on anything unsupported.
ember_status lower(const ember_graph& g, Program* out);
// The disk cache: the directory is $EMBER_NPU_REF_CACHE_DIR, else $XDG_CACHE_HOME/ember/npu-ref,
// else ~/.cache/ember/npu-ref; EMBER_NPU_REF_CACHE_DIR=off disables it. Loading checks the
// magic, version and hash, that every offset fits and that the weights match `g`; a bad file
// is a miss, never a crash.
bool cache_load(const ember_graph& g, uint64_t hash, Program* out);
void cache_store(const Program& p);

struct CacheStats {
  uint64_t hits, misses, stores;
};
CacheStats& cache_stats();

// ---- executor ---------------------------------------------------------------------------------
void run(const Program& p, float* memory);

}  // namespace npu_ref
