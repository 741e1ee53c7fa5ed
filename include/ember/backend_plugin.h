/* ember backend plugin ABI — the one header a backend plugin includes.
 *
 * A plugin is a shared library exporting one C function, `ember_plugin_init` (see the end of
 * this file). ember dlopens it, calls it once, and from then on reaches the plugin only
 * through the table of function pointers it filled in (`ember_plugin_api`), always passing
 * back the plugin's own `ctx`. Nothing but plain C crosses this boundary: integers, floats,
 * plain structs, opaque handles and pointers to host memory. No C++ types, no exceptions,
 * no ownership of memory that the other side must free.
 *
 * What a plugin provides, in the order ember uses it:
 *   1. devices      how many, and each one's name, vendor, memory and the dtypes it computes
 *   2. buffers      device memory: allocate, free, (optionally) a host pointer
 *   3. queues       in-order queues of copies and executions; events mark points in them
 *   4. supports     for a subgraph, which nodes the device can run — and why not, per node
 *   5. compile      a subgraph of supported nodes -> an opaque plan (a GPU backend compiles
 *                   one kernel per node; a graph-compiling NPU lowers the whole subgraph)
 *   6. execute      enqueue a plan on a queue with its inputs, outputs and KV cache bound
 *   7. extras       anything else, found by name through get_proc_address
 *
 * The subgraph is ember's op graph in C form (`ember_graph`): nodes in topological order,
 * each with an op kind, an output tensor descriptor, the indices of its inputs and the
 * attributes its op reads. Values produced on another device arrive as `EMBER_OP_INPUT`
 * nodes, so every subgraph handed to a plugin is self-contained.
 *
 * Errors: every call that can fail returns `ember_status`; on failure ember calls
 * `last_error(ctx)` on the same thread, right away, for a human-readable message, which it
 * shows prefixed with the plugin's name. A plugin must never abort the process on bad input.
 *
 * Threads: ember calls a plugin from one thread at a time per queue; calls on different
 * queues may come from different threads. A plugin that cannot allow that serialises them.
 *
 * Versioning: `EMBER_PLUGIN_ABI_VERSION` changes whenever any struct or entry here changes
 * in a way that is not an append. ember refuses a plugin whose `abi_version` differs from its
 * own or whose `struct_size` is smaller than the table ember needs, and keeps running on the
 * other devices.
 */
#ifndef EMBER_BACKEND_PLUGIN_H_
#define EMBER_BACKEND_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMBER_PLUGIN_ABI_VERSION 1u

/* The symbol ember looks up in every plugin library. */
#define EMBER_PLUGIN_INIT_SYMBOL "ember_plugin_init"

#if defined(_WIN32)
#define EMBER_PLUGIN_EXPORT __declspec(dllexport)
#else
#define EMBER_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---- status codes ------------------------------------------------------------------------ */

typedef enum ember_status {
  EMBER_STATUS_OK = 0,
  EMBER_STATUS_INVALID_ARGUMENT = 1, /* a bad handle, index, size or binding */
  EMBER_STATUS_UNSUPPORTED = 2,      /* the device cannot do what was asked */
  EMBER_STATUS_OUT_OF_MEMORY = 3,    /* device or host memory exhausted */
  EMBER_STATUS_DEVICE_ERROR = 4,     /* the device or its driver failed */
  EMBER_STATUS_INTERNAL = 5          /* anything else */
} ember_status;

/* ---- element types ----------------------------------------------------------------------- */
/* The ids GGUF files store (ggml's type ids). Block formats are GGUF's: a row of n elements of
 * a quantised type is n / block_elems blocks of block_bytes each, stored back to back. */
enum {
  EMBER_DTYPE_F32 = 0,
  EMBER_DTYPE_F16 = 1,  /* IEEE half */
  EMBER_DTYPE_Q4_0 = 2, /* 32 elements in 18 bytes */
  EMBER_DTYPE_Q4_1 = 3, /* 32 elements in 20 bytes */
  EMBER_DTYPE_Q5_0 = 6,
  EMBER_DTYPE_Q5_1 = 7,
  EMBER_DTYPE_Q8_0 = 8, /* 32 elements in 34 bytes */
  EMBER_DTYPE_Q4_K = 12,
  EMBER_DTYPE_Q5_K = 13,
  EMBER_DTYPE_Q6_K = 14,
  EMBER_DTYPE_I32 = 26,
  EMBER_DTYPE_BF16 = 30
};

/* ---- op kinds ---------------------------------------------------------------------------- */
/* Shapes are outermost first; the last dimension is contiguous. "f32[M,K]" below means an f32
 * tensor of rank 2. Unless said otherwise an op's output is f32. */
enum {
  EMBER_OP_INPUT = 0,      /* no inputs; bound at execute by `name` (host memory or a buffer) */
  EMBER_OP_WEIGHT = 1,     /* no inputs; a model constant at `weight` (host memory, see below) */
  EMBER_OP_KV_CACHE = 2,   /* no inputs; layer `layer`'s K (kv_which 0) or V (1) block pool,
                              [n_blocks, block_size, n_kv_head, head_dim] f16, bound at execute */
  EMBER_OP_EMBEDDING = 3,  /* (table [V,E] any dtype, ids i32[n]) -> f32[n,E] */
  EMBER_OP_MATMUL = 4,     /* (x f32[M,K], w [N,K] any dtype) -> f32[M,N], y = x · wᵀ */
  EMBER_OP_ADD = 5,        /* (a f32[...,N], b f32 same shape or [N] broadcast over rows) */
  EMBER_OP_MUL = 6,        /* likewise, elementwise product */
  EMBER_OP_RMS_NORM = 7,   /* (x f32[M,N]) -> x / sqrt(mean(x²) + eps), per row */
  EMBER_OP_ROPE = 8,       /* (x f32[n,H,D], positions i32[n]) -> x rotated (rope_* attrs) */
  EMBER_OP_KV_WRITE = 9,   /* (x f32[n,Hkv,D], cache) -> the cache with token t stored in the
                              slot the KV layout gives it; output aliases the cache */
  EMBER_OP_ATTENTION = 10, /* (q f32[n,H,D], k cache, v cache) -> f32[n,H*D]; causal over each
                              token's sequence through the KV layout's block tables; `scale` */
  EMBER_OP_SILU = 11,      /* x * sigmoid(x) */
  EMBER_OP_SILU_MUL = 12,  /* (g, u) -> silu(g) * u, same shapes */
  EMBER_OP_SOFTMAX = 13,   /* over the last dimension */
  EMBER_OP_GET_ROWS = 14,  /* (x f32[n,E], rows i32[m]) -> f32[m,E] */
  EMBER_OP_RESHAPE = 15,   /* same bytes, new shape (a view of its input) */
  EMBER_OP_PERMUTE = 16,   /* (x) -> x with axes reordered by `perm`, materialised contiguous */
  EMBER_OP_COPY = 17,      /* (x) -> a contiguous copy converted to the output dtype */
  EMBER_OP_COUNT = 18
};

/* Rope modes (`rope_mode`): pairs (2i, 2i+1) for NORMAL, pairs (i, i + n_rot/2) for NEOX. */
enum { EMBER_ROPE_NORMAL = 0, EMBER_ROPE_NEOX = 1 };

/* ---- the subgraph ------------------------------------------------------------------------ */

typedef struct ember_tensor_desc {
  uint32_t dtype;    /* EMBER_DTYPE_* */
  int32_t rank;      /* 0..4 */
  int64_t shape[4];  /* outermost first; shape[rank-1] is contiguous; unused entries are 0 */
} ember_tensor_desc;

#define EMBER_MAX_NODE_INPUTS 4

typedef struct ember_node {
  uint32_t op;                 /* EMBER_OP_* */
  ember_tensor_desc out;       /* the node's output */
  int32_t n_inputs;
  int32_t inputs[EMBER_MAX_NODE_INPUTS]; /* indices of earlier nodes of the same graph */
  /* attributes; each op reads only its own */
  const char* name;            /* INPUT: binding name; WEIGHT: tensor name ("" otherwise) */
  const void* weight;          /* WEIGHT: the tensor's bytes in host memory, valid for the
                                  lifetime of any plan compiled from this graph */
  float eps;                   /* RMS_NORM */
  float scale;                 /* ATTENTION: applied to q·k */
  int32_t layer;               /* KV_CACHE, KV_WRITE, ATTENTION */
  int32_t kv_which;            /* KV_CACHE: 0 = K, 1 = V */
  int32_t rope_n_rot;          /* ROPE: dimensions rotated per head */
  int32_t rope_mode;           /* ROPE: EMBER_ROPE_* */
  float rope_base;             /* ROPE: theta base (10000) */
  float rope_freq_scale;       /* ROPE: position scale (1) */
  int32_t perm[4];             /* PERMUTE */
  const char* label;           /* where the node came from, "blk.3.attn_q" (for messages) */
} ember_node;

/* A subgraph: nodes in topological order (every input index is smaller than the node's own).
 * The struct and everything it points to are valid only during the call it is passed to,
 * except `weight` bytes (see ember_node). A plugin copies what it keeps. */
typedef struct ember_graph {
  int32_t n_nodes;
  const ember_node* nodes;
  int32_t n_outputs;
  const int32_t* outputs;      /* node indices whose values leave the subgraph, in order */
} ember_graph;

/* ---- devices ----------------------------------------------------------------------------- */

typedef struct ember_device_props {
  const char* name;            /* "npu-ref:0"; static storage owned by the plugin */
  const char* vendor;          /* "ember reference" */
  uint64_t memory_bytes;       /* device memory ember may plan with */
  int32_t host_visible;        /* 1 when buffer_host_ptr gives usable host pointers */
  int32_t n_dtypes;
  const uint32_t* dtypes;      /* the weight dtypes the device computes with (EMBER_DTYPE_*);
                                  static storage owned by the plugin */
} ember_device_props;

/* Per-node answer of `supports`. */
#define EMBER_REASON_MAX 160
typedef struct ember_support {
  int32_t ok;                      /* 1: the device runs this node; 0: it declines */
  char reason[EMBER_REASON_MAX];   /* when ok == 0: why, NUL-terminated ("rope is not
                                      implemented", "dtype Q4_K not supported for matmul") */
} ember_support;

/* ---- opaque handles ---------------------------------------------------------------------- */
/* Each is whatever the plugin wants it to be; ember only stores and passes it back. */
typedef struct ember_buffer_s* ember_buffer;  /* device memory */
typedef struct ember_queue_s* ember_queue;    /* an in-order queue on one device */
typedef struct ember_event_s* ember_event;    /* a point in a queue */
typedef struct ember_plan_s* ember_plan;      /* a compiled subgraph for one device */

/* ---- execution arguments ----------------------------------------------------------------- */

/* Where a value lives: host memory (`host` set, `buffer` NULL) or a device buffer of this
 * plugin at a byte offset (`buffer` set, `host` NULL). */
typedef struct ember_binding {
  const char* name;            /* INPUT bindings: the INPUT node's name; unused for outputs */
  void* host;
  ember_buffer buffer;
  uint64_t offset;
} ember_binding;

/* How the tokens of this step map onto KV blocks (paged attention). Token t belongs to
 * sequence seq_of_token[t] at position positions[t]; sequence s keeps its K/V in the blocks
 * seq_blocks[s][0 .. seq_n_blocks[s]) (block i holds positions [i*block_size,
 * (i+1)*block_size)). token_style[t] says how the token would be summed by llama.cpp's CPU
 * attention (1: as part of a prompt, 0: as a single decoded token); a device that does not
 * reproduce the CPU's summation order bit for bit may ignore it. */
typedef struct ember_kv_layout {
  int32_t block_size;
  int32_t n_tokens;
  const int32_t* seq_of_token;         /* [n_tokens] */
  const int32_t* positions;            /* [n_tokens] */
  int32_t n_seqs;
  const int32_t* const* seq_blocks;    /* [n_seqs] block tables */
  const int32_t* seq_n_blocks;         /* [n_seqs] */
  const uint8_t* token_style;          /* [n_tokens], may be NULL (all prompt-style) */
} ember_kv_layout;

/* Everything one execution binds. The struct and the arrays it points to are valid only during
 * `execute`; host memory named by `inputs[i].host` and `outputs[i].host` stays valid (and
 * untouched by ember) until the queue has been synchronised, so copies may be asynchronous. */
typedef struct ember_exec_args {
  int32_t n_inputs;
  const ember_binding* inputs;         /* one per distinct INPUT name the plan uses */
  int32_t n_outputs;
  const ember_binding* outputs;        /* one per graph output, in order */
  int32_t n_kv;
  const ember_buffer* kv;              /* [2*layer + which]: layer's K (0) or V (1) pool; may
                                          hold NULL for layers the plan does not touch */
  const ember_kv_layout* kv_layout;    /* NULL when the plan has no KV_WRITE / ATTENTION */
} ember_exec_args;

/* ---- the function table ------------------------------------------------------------------ */
/* Entries marked (optional) may be NULL; ember uses the fallback named. Every other entry is
 * required: a table with a required entry NULL is refused at load, naming the entry. */
typedef struct ember_plugin_api {
  /* Filled by the plugin with EMBER_PLUGIN_ABI_VERSION and sizeof(ember_plugin_api) as it was
   * compiled; ember refuses a mismatch. */
  uint32_t abi_version;
  uint32_t struct_size;
  const char* plugin_name;   /* "npu-ref": short, no spaces; static storage */
  void* ctx;                 /* the plugin's state; passed back as the first argument */

  /* Releases everything; called once, after every buffer, queue, event and plan was freed.
   * No other entry is called afterwards. */
  void (*shutdown)(void* ctx);

  /* The message for the most recent failing call made on this thread (never NULL; ""
   * when none). Valid until the next call into the plugin. */
  const char* (*last_error)(void* ctx);

  /* ---- devices ---- */
  /* How many devices the plugin offers (0 is valid: "no hardware found"; the plugin should
   * then explain why through last_error, which ember shows in `ember devices`). */
  int32_t (*device_count)(void* ctx);
  /* Fills *out for device `device` (0 <= device < device_count). */
  ember_status (*device_props)(void* ctx, int32_t device, ember_device_props* out);

  /* ---- buffers ---- */
  /* Allocates `bytes` (> 0) of device memory, aligned to at least 64 bytes. */
  ember_status (*buffer_alloc)(void* ctx, int32_t device, uint64_t bytes, ember_buffer* out);
  /* Frees a buffer; NULL is a no-op. ember never frees a buffer work on a queue still uses. */
  void (*buffer_free)(void* ctx, ember_buffer buffer);
  /* (optional) A host pointer to the buffer's bytes, or NULL when the device memory is not
   * host-visible. Fallback: ember reaches the buffer only through copies. */
  void* (*buffer_host_ptr)(void* ctx, ember_buffer buffer);

  /* ---- queues and events ---- */
  /* Creates an in-order queue on `device`: copies and executions enqueued on it run in the
   * order enqueued. A plugin may run them synchronously, inside the enqueueing call. */
  ember_status (*queue_create)(void* ctx, int32_t device, ember_queue* out);
  void (*queue_destroy)(void* ctx, ember_queue queue);
  /* Enqueues a copy of `bytes` from host memory `src` into `dst` at `offset`. `src` stays
   * valid until the queue is synchronised. Out-of-range copies fail with INVALID_ARGUMENT. */
  ember_status (*copy_to_device)(void* ctx, ember_queue queue, ember_buffer dst, uint64_t offset,
                                 const void* src, uint64_t bytes);
  /* Enqueues a copy from `src` at `offset` into host memory `dst`. */
  ember_status (*copy_to_host)(void* ctx, ember_queue queue, ember_buffer src, uint64_t offset,
                               void* dst, uint64_t bytes);
  /* Blocks until everything enqueued on `queue` has finished. An asynchronous failure of
   * earlier work (a fault during execution) is reported here. */
  ember_status (*queue_synchronize)(void* ctx, ember_queue queue);
  /* (optional, all three or none) Events. record: a new event marking everything enqueued on
   * `queue` so far. wait: makes `queue` wait for `event` (possibly of another queue of the same
   * plugin) before later work. synchronize: blocks the host until the event is reached.
   * Fallback: ember synchronises whole queues instead. */
  ember_status (*event_record)(void* ctx, ember_queue queue, ember_event* out);
  ember_status (*event_wait)(void* ctx, ember_queue queue, ember_event event);
  ember_status (*event_synchronize)(void* ctx, ember_event event);
  /* (optional; required when event_record is set) Frees an event; NULL is a no-op. */
  void (*event_destroy)(void* ctx, ember_event event);

  /* ---- graphs ---- */
  /* For every node of `graph`, whether `device` can run it: fills out[0 .. graph->n_nodes).
   * Judge each node on its own op, dtypes, shapes and attributes (a node may depend on inputs
   * the device does not compute; ember moves those values over). INPUT, WEIGHT and RESHAPE
   * nodes should normally be accepted. Returns a failure only when it cannot answer at all. */
  ember_status (*supports)(void* ctx, int32_t device, const ember_graph* graph, ember_support* out);
  /* Compiles `graph`, every node of which `supports` accepted, into a plan for `device`:
   * check shapes, plan memory, choose kernels, upload weights — everything but the work.
   * One graph of one node is a valid (per-op) plan. */
  ember_status (*compile)(void* ctx, int32_t device, const ember_graph* graph, ember_plan* out);
  /* Frees a plan; NULL is a no-op. */
  void (*plan_destroy)(void* ctx, ember_plan plan);
  /* Enqueues one execution of `plan` on `queue` (a queue of the plan's device): reads the
   * bound inputs (and KV pools), writes the outputs. Must not allocate device memory that can
   * run out; a plan owns its scratch. Errors found now are returned; errors found while the
   * work runs are returned by queue_synchronize. */
  ember_status (*execute)(void* ctx, ember_queue queue, ember_plan plan, const ember_exec_args* args);

  /* ---- extras ---- */
  /* (optional) The address of a plugin-specific extra by name, or NULL when the plugin has
   * none of that name. Each extra documents its own signature. Fallback: no extras. */
  void* (*get_proc_address)(void* ctx, const char* name);
} ember_plugin_api;

/* The entry point every plugin exports:
 *
 *   EMBER_PLUGIN_EXPORT ember_status ember_plugin_init(uint32_t host_abi_version,
 *                                                      ember_plugin_api* api,
 *                                                      char* error, size_t error_size);
 *
 * ember calls it once after dlopen with its own EMBER_PLUGIN_ABI_VERSION and a zeroed table.
 * The plugin fills `api` (abi_version, struct_size, plugin_name, ctx, entries) and returns
 * EMBER_STATUS_OK; or it writes a NUL-terminated reason of at most error_size bytes into
 * `error` and returns a failure ("no driver found", "host ABI 2 is newer than this plugin"),
 * in which case ember unloads it and shows the reason. It must not call back into ember. */
typedef ember_status (*ember_plugin_init_fn)(uint32_t host_abi_version, ember_plugin_api* api, char* error,
                                             size_t error_size);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* EMBER_BACKEND_PLUGIN_H_ */
