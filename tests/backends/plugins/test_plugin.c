/* Test plugins for the ABI tests, written in C from include/ember/backend_plugin.h alone (so
 * the header is proven to be C). One source, one flavour per build:
 *   (none)            "test-min": a device that runs f32 add and mul, nothing else
 *   TEST_BAD_ABI      fills the table with ABI version 999
 *   TEST_NO_ENTRY     exports no ember_plugin_init (a misspelt one)
 *   TEST_INIT_FAIL    ember_plugin_init refuses with a reason
 *   TEST_MISSING      leaves the required `compile` entry NULL
 *   TEST_EXEC_FAIL    "test-fault": like test-min, but execute fails with a device fault */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_plugin.h"

#if defined(TEST_EXEC_FAIL)
#define PLUGIN_NAME "test-fault"
#else
#define PLUGIN_NAME "test-min"
#endif

static char g_error[256];

static ember_status fail(ember_status s, const char* msg) {
  snprintf(g_error, sizeof g_error, "%s", msg);
  return s;
}

typedef struct buffer {
  unsigned char* data;
  uint64_t bytes;
} buffer;

/* A plan: per node its op, element count, inputs and place in one f32 scratch array. */
typedef struct plan {
  int32_t n;
  uint32_t* op;
  int64_t* count;
  int32_t (*in)[2];
  int64_t* at;
  const char** names; /* INPUT names (copied) */
  int32_t n_outputs;
  int32_t* outputs;
  float* mem;
} plan;

static int32_t g_queue_token;
static const uint32_t k_dtypes[] = {EMBER_DTYPE_F32};

static void p_shutdown(void* ctx) { (void)ctx; }
static const char* p_last_error(void* ctx) { return g_error; }
static int32_t p_device_count(void* ctx) { return 1; }

static ember_status p_device_props(void* ctx, int32_t d, ember_device_props* out) {
  if (d != 0) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no such device");
  out->name = PLUGIN_NAME ":0";
  out->vendor = "ember tests";
  out->memory_bytes = 1u << 20;
  out->host_visible = 1;
  out->n_dtypes = 1;
  out->dtypes = k_dtypes;
  return EMBER_STATUS_OK;
}

static ember_status p_buffer_alloc(void* ctx, int32_t d, uint64_t bytes, ember_buffer* out) {
  buffer* b = (buffer*)calloc(1, sizeof *b);
  if (!b) return fail(EMBER_STATUS_OUT_OF_MEMORY, "out of memory");
  b->data = (unsigned char*)calloc(1, (size_t)bytes);
  b->bytes = bytes;
  if (!b->data) {
    free(b);
    return fail(EMBER_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  *out = (ember_buffer)b;
  return EMBER_STATUS_OK;
}
static void p_buffer_free(void* ctx, ember_buffer h) {
  buffer* b = (buffer*)h;
  if (b) free(b->data);
  free(b);
}
static void* p_buffer_host_ptr(void* ctx, ember_buffer h) { return ((buffer*)h)->data; }

static ember_status p_queue_create(void* ctx, int32_t d, ember_queue* out) {
  *out = (ember_queue)&g_queue_token;
  return EMBER_STATUS_OK;
}
static void p_queue_destroy(void* ctx, ember_queue q) {}

static ember_status p_copy_to_device(void* ctx, ember_queue q, ember_buffer dst, uint64_t off, const void* src,
                                     uint64_t bytes) {
  buffer* b = (buffer*)dst;
  if (off > b->bytes || bytes > b->bytes - off) return fail(EMBER_STATUS_INVALID_ARGUMENT, "copy out of range");
  memcpy(b->data + off, src, (size_t)bytes);
  return EMBER_STATUS_OK;
}
static ember_status p_copy_to_host(void* ctx, ember_queue q, ember_buffer src, uint64_t off, void* dst,
                                   uint64_t bytes) {
  buffer* b = (buffer*)src;
  if (off > b->bytes || bytes > b->bytes - off) return fail(EMBER_STATUS_INVALID_ARGUMENT, "copy out of range");
  memcpy(dst, b->data + off, (size_t)bytes);
  return EMBER_STATUS_OK;
}
static ember_status p_queue_synchronize(void* ctx, ember_queue q) { return EMBER_STATUS_OK; }

static int64_t numel(const ember_tensor_desc* d) {
  int64_t n = 1;
  for (int i = 0; i < d->rank; ++i) n *= d->shape[i];
  return n;
}

static ember_status p_supports(void* ctx, int32_t d, const ember_graph* g, ember_support* out) {
  for (int32_t i = 0; i < g->n_nodes; ++i) {
    const ember_node* n = &g->nodes[i];
    out[i].ok = 0;
    out[i].reason[0] = 0;
    if (n->out.dtype != EMBER_DTYPE_F32) {
      snprintf(out[i].reason, EMBER_REASON_MAX, "test plugins compute f32 only");
    } else if (n->op == EMBER_OP_INPUT) {
      out[i].ok = 1;
    } else if (n->op == EMBER_OP_ADD || n->op == EMBER_OP_MUL) {
      if (numel(&g->nodes[n->inputs[0]].out) == numel(&g->nodes[n->inputs[1]].out))
        out[i].ok = 1;
      else
        snprintf(out[i].reason, EMBER_REASON_MAX, "no broadcasting");
    } else {
      snprintf(out[i].reason, EMBER_REASON_MAX, "op %u is not implemented by the test plugin", n->op);
    }
  }
  return EMBER_STATUS_OK;
}

static void plan_free(plan* p) {
  if (!p) return;
  for (int32_t i = 0; p->names && i < p->n; ++i) free((void*)p->names[i]);
  free(p->op);
  free(p->count);
  free(p->in);
  free(p->at);
  free(p->names);
  free(p->outputs);
  free(p->mem);
  free(p);
}

static ember_status p_compile(void* ctx, int32_t d, const ember_graph* g, ember_plan* out) {
  plan* p = (plan*)calloc(1, sizeof *p);
  int64_t total = 0;
  if (!p) return fail(EMBER_STATUS_OUT_OF_MEMORY, "out of memory");
  p->n = g->n_nodes;
  p->op = (uint32_t*)calloc((size_t)p->n, sizeof *p->op);
  p->count = (int64_t*)calloc((size_t)p->n, sizeof *p->count);
  p->in = (int32_t(*)[2])calloc((size_t)p->n, sizeof *p->in);
  p->at = (int64_t*)calloc((size_t)p->n, sizeof *p->at);
  p->names = (const char**)calloc((size_t)p->n, sizeof *p->names);
  p->n_outputs = g->n_outputs;
  p->outputs = (int32_t*)calloc((size_t)g->n_outputs + 1, sizeof *p->outputs);
  if (!p->op || !p->count || !p->in || !p->at || !p->names || !p->outputs) {
    plan_free(p);
    return fail(EMBER_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  for (int32_t i = 0; i < p->n; ++i) {
    const ember_node* n = &g->nodes[i];
    p->op[i] = n->op;
    p->count[i] = numel(&n->out);
    p->in[i][0] = n->n_inputs > 0 ? n->inputs[0] : -1;
    p->in[i][1] = n->n_inputs > 1 ? n->inputs[1] : -1;
    p->at[i] = total;
    total += p->count[i];
    if (n->op == EMBER_OP_INPUT) {
      size_t len = strlen(n->name) + 1;
      char* s = (char*)malloc(len);
      if (s) memcpy(s, n->name, len);
      p->names[i] = s;
    }
  }
  for (int32_t o = 0; o < g->n_outputs; ++o) p->outputs[o] = g->outputs[o];
  p->mem = (float*)calloc((size_t)total + 1, sizeof(float));
  if (!p->mem) {
    plan_free(p);
    return fail(EMBER_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  *out = (ember_plan)p;
  return EMBER_STATUS_OK;
}

static void p_plan_destroy(void* ctx, ember_plan h) { plan_free((plan*)h); }

static ember_status p_execute(void* ctx, ember_queue q, ember_plan h, const ember_exec_args* a) {
  plan* p = (plan*)h;
#if defined(TEST_EXEC_FAIL)
  (void)p;
  (void)a;
  return fail(EMBER_STATUS_DEVICE_ERROR, "simulated device fault while running node 2");
#else
  if (a->n_outputs != p->n_outputs) return fail(EMBER_STATUS_INVALID_ARGUMENT, "wrong number of outputs");
  for (int32_t i = 0; i < p->n; ++i) {
    float* y = p->mem + p->at[i];
    if (p->op[i] == EMBER_OP_INPUT) {
      const ember_binding* b = NULL;
      for (int32_t k = 0; k < a->n_inputs; ++k)
        if (a->inputs[k].name && p->names[i] && strcmp(a->inputs[k].name, p->names[i]) == 0) b = &a->inputs[k];
      if (!b) return fail(EMBER_STATUS_INVALID_ARGUMENT, "an input is not bound");
      if (b->host)
        memcpy(y, b->host, (size_t)p->count[i] * sizeof(float));
      else
        memcpy(y, ((buffer*)b->buffer)->data + b->offset, (size_t)p->count[i] * sizeof(float));
    } else {
      const float* x0 = p->mem + p->at[p->in[i][0]];
      const float* x1 = p->mem + p->at[p->in[i][1]];
      for (int64_t e = 0; e < p->count[i]; ++e) y[e] = p->op[i] == EMBER_OP_ADD ? x0[e] + x1[e] : x0[e] * x1[e];
    }
  }
  for (int32_t o = 0; o < p->n_outputs; ++o) {
    const int32_t node = p->outputs[o];
    if (!a->outputs[o].host) return fail(EMBER_STATUS_UNSUPPORTED, "outputs to host memory only");
    memcpy(a->outputs[o].host, p->mem + p->at[node], (size_t)p->count[node] * sizeof(float));
  }
  return EMBER_STATUS_OK;
#endif
}

/* TEST_NO_ENTRY exports the entry under a misspelt name, as a broken build might. */
#if defined(TEST_NO_ENTRY)
#define ENTRY_NAME ember_plugin_initialise
#else
#define ENTRY_NAME ember_plugin_init
#endif

EMBER_PLUGIN_EXPORT ember_status ENTRY_NAME(uint32_t host_abi_version, ember_plugin_api* api, char* error,
                                                   size_t error_size) {
#if defined(TEST_INIT_FAIL)
  snprintf(error, error_size, "simulated: no device driver is installed");
  return EMBER_STATUS_DEVICE_ERROR;
#endif
  api->abi_version = EMBER_PLUGIN_ABI_VERSION;
#if defined(TEST_BAD_ABI)
  api->abi_version = 999;
#endif
  api->struct_size = sizeof *api;
  api->plugin_name = PLUGIN_NAME;
  api->ctx = NULL;
  api->shutdown = p_shutdown;
  api->last_error = p_last_error;
  api->device_count = p_device_count;
  api->device_props = p_device_props;
  api->buffer_alloc = p_buffer_alloc;
  api->buffer_free = p_buffer_free;
  api->buffer_host_ptr = p_buffer_host_ptr;
  api->queue_create = p_queue_create;
  api->queue_destroy = p_queue_destroy;
  api->copy_to_device = p_copy_to_device;
  api->copy_to_host = p_copy_to_host;
  api->queue_synchronize = p_queue_synchronize;
  api->supports = p_supports;
  api->compile = p_compile;
#if defined(TEST_MISSING)
  api->compile = NULL;
#endif
  api->plan_destroy = p_plan_destroy;
  api->execute = p_execute;
  (void)host_abi_version;
  (void)error;
  (void)error_size;
  return EMBER_STATUS_OK;
}
