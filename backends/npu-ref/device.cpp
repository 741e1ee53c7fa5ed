// npu-ref's device side and its ember_plugin_api table: one device whose memory is host memory
// behind this plugin's own allocator (capacity $EMBER_NPU_REF_MEMORY_MB, default 2048), reached
// by ember only through copies; in-order queues that run work synchronously (allowed by the
// ABI) and events that mark points in them.
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "npu_ref.h"

namespace npu_ref {
namespace {

thread_local std::string g_last_error;

constexpr uint64_t kAlign = 64;
const uint32_t kDtypes[] = {EMBER_DTYPE_F32, EMBER_DTYPE_F16};

// The allocator: capacity accounting over aligned host allocations. A real NPU's allocator
// would carve a fixed device heap; the bookkeeping (capacity, refusal when full) is the same.
struct Memory {
  std::mutex mu;
  uint64_t capacity = 0, used = 0;
} g_mem;

struct Queue {
  uint64_t submitted = 0;  // commands enqueued so far (all finished: execution is synchronous)
};
struct Event {
  uint64_t point = 0;
};
struct Plan {
  Program program;
  DeviceBuffer* memory = nullptr;  // weights (uploaded at compile) + inputs + activations
};

uint64_t capacity_from_env() {
  const char* e = std::getenv("EMBER_NPU_REF_MEMORY_MB");
  long mb = e ? std::atol(e) : 2048;
  if (mb <= 0) mb = 2048;
  return static_cast<uint64_t>(mb) << 20;
}

bool in_range(const DeviceBuffer* b, uint64_t offset, uint64_t bytes) {
  return b && offset <= b->bytes && bytes <= b->bytes - offset;
}

// ---- the table entries ------------------------------------------------------------------------

void api_shutdown(void*) {}
const char* api_last_error(void*) { return g_last_error.c_str(); }
int32_t api_device_count(void*) { return 1; }

ember_status api_device_props(void*, int32_t device, ember_device_props* out) {
  if (device != 0) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no device %d", device);
  out->name = "npu-ref:0";
  out->vendor = "ember reference NPU";
  out->memory_bytes = g_mem.capacity;
  out->host_visible = 0;
  out->n_dtypes = 2;
  out->dtypes = kDtypes;
  return EMBER_STATUS_OK;
}

ember_status api_buffer_alloc(void*, int32_t device, uint64_t bytes, ember_buffer* out) {
  if (device != 0) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no device %d", device);
  DeviceBuffer* b = device_alloc(bytes);
  if (!b) return EMBER_STATUS_OUT_OF_MEMORY;
  *out = reinterpret_cast<ember_buffer>(b);
  return EMBER_STATUS_OK;
}

void api_buffer_free(void*, ember_buffer b) { device_free(reinterpret_cast<DeviceBuffer*>(b)); }

ember_status api_queue_create(void*, int32_t device, ember_queue* out) {
  if (device != 0) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no device %d", device);
  *out = reinterpret_cast<ember_queue>(new Queue());
  return EMBER_STATUS_OK;
}
void api_queue_destroy(void*, ember_queue q) { delete reinterpret_cast<Queue*>(q); }

ember_status api_copy_to_device(void*, ember_queue q, ember_buffer dst, uint64_t offset, const void* src,
                                uint64_t bytes) {
  auto* b = reinterpret_cast<DeviceBuffer*>(dst);
  if (!q || !in_range(b, offset, bytes))
    return fail(EMBER_STATUS_INVALID_ARGUMENT, "copy_to_device of %llu bytes at %llu is outside the buffer",
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(offset));
  if (bytes) std::memcpy(b->data + offset, src, bytes);
  reinterpret_cast<Queue*>(q)->submitted++;
  return EMBER_STATUS_OK;
}

ember_status api_copy_to_host(void*, ember_queue q, ember_buffer src, uint64_t offset, void* dst, uint64_t bytes) {
  auto* b = reinterpret_cast<DeviceBuffer*>(src);
  if (!q || !in_range(b, offset, bytes))
    return fail(EMBER_STATUS_INVALID_ARGUMENT, "copy_to_host of %llu bytes at %llu is outside the buffer",
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(offset));
  if (bytes) std::memcpy(dst, b->data + offset, bytes);
  reinterpret_cast<Queue*>(q)->submitted++;
  return EMBER_STATUS_OK;
}

ember_status api_queue_synchronize(void*, ember_queue q) {
  if (!q) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no queue");
  return EMBER_STATUS_OK;  // everything already ran
}

ember_status api_event_record(void*, ember_queue q, ember_event* out) {
  if (!q) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no queue");
  auto* e = new Event();
  e->point = reinterpret_cast<Queue*>(q)->submitted;
  *out = reinterpret_cast<ember_event>(e);
  return EMBER_STATUS_OK;
}
ember_status api_event_wait(void*, ember_queue q, ember_event e) {
  return q && e ? EMBER_STATUS_OK : fail(EMBER_STATUS_INVALID_ARGUMENT, "no queue or event");
}
ember_status api_event_synchronize(void*, ember_event e) {
  return e ? EMBER_STATUS_OK : fail(EMBER_STATUS_INVALID_ARGUMENT, "no event");
}
void api_event_destroy(void*, ember_event e) { delete reinterpret_cast<Event*>(e); }

ember_status api_supports(void*, int32_t device, const ember_graph* g, ember_support* out) {
  if (device != 0 || !g || !out) return fail(EMBER_STATUS_INVALID_ARGUMENT, "bad device or graph");
  judge(*g, out);
  return EMBER_STATUS_OK;
}

// Compile = hash, look in the disk cache, lower on a miss (and store), then allocate the plan's
// device memory and upload its weights, converted to f32.
ember_status api_compile(void*, int32_t device, const ember_graph* g, ember_plan* out) {
  if (device != 0 || !g) return fail(EMBER_STATUS_INVALID_ARGUMENT, "bad device or graph");
  auto plan = new (std::nothrow) Plan();
  if (!plan) return fail(EMBER_STATUS_OUT_OF_MEMORY, "no host memory for a plan");
  const uint64_t h = graph_hash(*g);
  if (cache_load(*g, h, &plan->program)) {
    cache_stats().hits++;
    if (verbose()) std::fprintf(stderr, "npu-ref: plan cache hit %016llx\n", static_cast<unsigned long long>(h));
  } else {
    cache_stats().misses++;
    ember_status s = lower(*g, &plan->program);
    if (s != EMBER_STATUS_OK) {
      delete plan;
      return s;
    }
    plan->program.hash = h;
    cache_store(plan->program);
    if (verbose()) std::fprintf(stderr, "npu-ref: compiled %016llx (%zu instructions)\n",
                                static_cast<unsigned long long>(h), plan->program.code.size());
  }
  const Program& p = plan->program;
  plan->memory = device_alloc(p.memory_elems * sizeof(float));
  if (!plan->memory) {
    delete plan;
    return EMBER_STATUS_OUT_OF_MEMORY;
  }
  float* mem = reinterpret_cast<float*>(plan->memory->data);
  for (const WeightSlot& w : p.weights) {
    if (w.node < 0 || w.node >= g->n_nodes || !g->nodes[w.node].weight) {
      device_free(plan->memory);
      delete plan;
      return fail(EMBER_STATUS_INVALID_ARGUMENT, "weight node %d has no data", w.node);
    }
    const void* src = g->nodes[w.node].weight;
    if (w.dtype == EMBER_DTYPE_F32) {
      std::memcpy(mem + w.offset, src, w.count * sizeof(float));
    } else {
      const uint16_t* h16 = static_cast<const uint16_t*>(src);
      for (uint64_t i = 0; i < w.count; ++i) {
        // IEEE half -> float, by hand (no dependency on compiler half support).
        const uint32_t hv = h16[i], sign = (hv & 0x8000u) << 16, exp = (hv >> 10) & 0x1f, man = hv & 0x3ff;
        uint32_t bits;
        if (exp == 0x1f) {
          bits = sign | 0x7f800000u | (man << 13);
        } else if (exp != 0) {
          bits = sign | ((exp + 112) << 23) | (man << 13);
        } else if (man == 0) {
          bits = sign;
        } else {  // subnormal: normalise
          int e = -1;
          uint32_t m = man;
          do {
            m <<= 1;
            ++e;
          } while (!(m & 0x400));
          bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((m & 0x3ff) << 13);
        }
        std::memcpy(mem + w.offset + i, &bits, 4);
      }
    }
  }
  *out = reinterpret_cast<ember_plan>(plan);
  return EMBER_STATUS_OK;
}

void api_plan_destroy(void*, ember_plan p) {
  auto* plan = reinterpret_cast<Plan*>(p);
  if (!plan) return;
  device_free(plan->memory);
  delete plan;
}

// Reads a binding's bytes (host memory or a buffer of ours) into dst / writes src out to it.
ember_status bind_in(const ember_binding& b, void* dst, uint64_t bytes) {
  if (b.host) {
    std::memcpy(dst, b.host, bytes);
  } else {
    auto* buf = reinterpret_cast<DeviceBuffer*>(b.buffer);
    if (!in_range(buf, b.offset, bytes)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "input '%s' is outside its buffer", b.name ? b.name : "");
    std::memcpy(dst, buf->data + b.offset, bytes);
  }
  return EMBER_STATUS_OK;
}
ember_status bind_out(const ember_binding& b, const void* src, uint64_t bytes) {
  if (b.host) {
    std::memcpy(b.host, src, bytes);
  } else {
    auto* buf = reinterpret_cast<DeviceBuffer*>(b.buffer);
    if (!in_range(buf, b.offset, bytes)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "an output is outside its buffer");
    std::memcpy(buf->data + b.offset, src, bytes);
  }
  return EMBER_STATUS_OK;
}

ember_status api_execute(void*, ember_queue q, ember_plan p, const ember_exec_args* a) {
  auto* plan = reinterpret_cast<Plan*>(p);
  if (!q || !plan || !a) return fail(EMBER_STATUS_INVALID_ARGUMENT, "execute needs a queue, a plan and arguments");
  const Program& prog = plan->program;
  float* mem = reinterpret_cast<float*>(plan->memory->data);
  for (const IoSlot& in : prog.inputs) {
    const ember_binding* b = nullptr;
    for (int32_t i = 0; i < a->n_inputs; ++i)
      if (a->inputs[i].name && in.name == a->inputs[i].name) b = &a->inputs[i];
    if (!b || (!b->host && !b->buffer)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "input '%s' is not bound", in.name.c_str());
    ember_status s = bind_in(*b, mem + in.offset, in.count * sizeof(float));
    if (s != EMBER_STATUS_OK) return s;
  }
  if (a->n_outputs != static_cast<int32_t>(prog.outputs.size()))
    return fail(EMBER_STATUS_INVALID_ARGUMENT, "%d outputs bound, the plan has %zu", a->n_outputs, prog.outputs.size());
  run(prog, mem);
  for (size_t o = 0; o < prog.outputs.size(); ++o) {
    ember_status s = bind_out(a->outputs[o], mem + prog.outputs[o].offset, prog.outputs[o].count * sizeof(float));
    if (s != EMBER_STATUS_OK) return s;
  }
  reinterpret_cast<Queue*>(q)->submitted++;
  return EMBER_STATUS_OK;
}

// Extras, found by name through get_proc_address.
//   "npu_ref_cache_stats": void (*)(uint64_t* hits, uint64_t* misses, uint64_t* stores)
void extra_cache_stats(uint64_t* hits, uint64_t* misses, uint64_t* stores) {
  if (hits) *hits = cache_stats().hits;
  if (misses) *misses = cache_stats().misses;
  if (stores) *stores = cache_stats().stores;
}
void* api_get_proc_address(void*, const char* name) {
  if (name && std::strcmp(name, "npu_ref_cache_stats") == 0) return reinterpret_cast<void*>(&extra_cache_stats);
  return nullptr;
}

}  // namespace

ember_status fail(ember_status s, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  g_last_error = buf;
  return s;
}

bool verbose() {
  const char* v = std::getenv("EMBER_VERBOSE");
  return v && *v && std::strcmp(v, "0") != 0;
}

DeviceBuffer* device_alloc(uint64_t bytes) {
  const uint64_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  {
    std::lock_guard<std::mutex> lock(g_mem.mu);
    if (rounded > g_mem.capacity - g_mem.used) {
      fail(EMBER_STATUS_OUT_OF_MEMORY, "device memory exhausted: %llu bytes asked, %llu of %llu free",
           static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(g_mem.capacity - g_mem.used),
           static_cast<unsigned long long>(g_mem.capacity));
      return nullptr;
    }
    g_mem.used += rounded;
  }
  auto* b = new (std::nothrow) DeviceBuffer();
  void* d = rounded ? std::aligned_alloc(kAlign, rounded) : nullptr;
  if (!b || (rounded && !d)) {
    delete b;
    std::free(d);
    std::lock_guard<std::mutex> lock(g_mem.mu);
    g_mem.used -= rounded;
    fail(EMBER_STATUS_OUT_OF_MEMORY, "host memory behind the device is exhausted");
    return nullptr;
  }
  b->data = static_cast<uint8_t*>(d);
  b->bytes = bytes;
  return b;
}

void device_free(DeviceBuffer* b) {
  if (!b) return;
  const uint64_t rounded = (b->bytes + kAlign - 1) / kAlign * kAlign;
  std::free(b->data);
  delete b;
  std::lock_guard<std::mutex> lock(g_mem.mu);
  g_mem.used -= rounded;
}

}  // namespace npu_ref

// The one exported symbol.
extern "C" EMBER_PLUGIN_EXPORT ember_status ember_plugin_init(uint32_t host_abi_version, ember_plugin_api* api,
                                                              char* error, size_t error_size) {
  using namespace npu_ref;
  if (host_abi_version != EMBER_PLUGIN_ABI_VERSION) {
    std::snprintf(error, error_size, "npu-ref speaks plugin ABI %u, the host %u", EMBER_PLUGIN_ABI_VERSION,
                  host_abi_version);
    return EMBER_STATUS_UNSUPPORTED;
  }
  g_mem.capacity = capacity_from_env();
  api->abi_version = EMBER_PLUGIN_ABI_VERSION;
  api->struct_size = sizeof(ember_plugin_api);
  api->plugin_name = "npu-ref";
  api->ctx = nullptr;  // one device, all state is in this library
  api->shutdown = api_shutdown;
  api->last_error = api_last_error;
  api->device_count = api_device_count;
  api->device_props = api_device_props;
  api->buffer_alloc = api_buffer_alloc;
  api->buffer_free = api_buffer_free;
  api->buffer_host_ptr = nullptr;  // device memory is not host-visible
  api->queue_create = api_queue_create;
  api->queue_destroy = api_queue_destroy;
  api->copy_to_device = api_copy_to_device;
  api->copy_to_host = api_copy_to_host;
  api->queue_synchronize = api_queue_synchronize;
  api->event_record = api_event_record;
  api->event_wait = api_event_wait;
  api->event_synchronize = api_event_synchronize;
  api->event_destroy = api_event_destroy;
  api->supports = api_supports;
  api->compile = api_compile;
  api->plan_destroy = api_plan_destroy;
  api->execute = api_execute;
  api->get_proc_address = api_get_proc_address;
  return EMBER_STATUS_OK;
}
