// The OpenCL plugin's device side and its ember_plugin_api table: every device of every
// platform becomes "opencl:<i>"; buffers are cl_mem, queues in-order command queues, events
// OpenCL markers. No platform (no ICD installed) is not an error: the plugin loads with zero
// devices and says why, which `ember devices` prints.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "opencl.h"

namespace ember_opencl {
namespace {

thread_local std::string g_last_error;
std::string g_no_devices;  // why device_count is 0
const uint32_t kDtypes[] = {EMBER_DTYPE_F32, EMBER_DTYPE_F16, EMBER_DTYPE_Q4_0, EMBER_DTYPE_Q4_1, EMBER_DTYPE_Q8_0};

std::string device_string(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  clGetDeviceInfo(d, what, n, s.data(), nullptr);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

void discover() {
  cl_uint np = 0;
  cl_int e = clGetPlatformIDs(0, nullptr, &np);
  if (e != CL_SUCCESS || np == 0) {
    g_no_devices = "no OpenCL platform found (no OpenCL driver / ICD is installed); ember runs on the CPU";
    return;
  }
  std::vector<cl_platform_id> ps(np);
  clGetPlatformIDs(np, ps.data(), nullptr);
  for (cl_platform_id p : ps) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
    std::vector<cl_device_id> ds(nd);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ds.data(), nullptr);
    for (cl_device_id id : ds) {
      Device d;
      d.platform = p;
      d.id = id;
      cl_int err = CL_SUCCESS;
      d.context = clCreateContext(nullptr, 1, &id, nullptr, nullptr, &err);
      if (err != CL_SUCCESS) continue;
      d.device_name = device_string(id, CL_DEVICE_NAME);
      d.vendor = device_string(id, CL_DEVICE_VENDOR) + " / " + d.device_name;
      d.driver = device_string(id, CL_DRIVER_VERSION);
      cl_ulong mem = 0;
      clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, nullptr);
      d.memory = mem;
      size_t max_wg = 1;
      clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, nullptr);
      d.wg = 1;
      while (d.wg * 2 <= max_wg && d.wg < 64) d.wg *= 2;
      d.name = "opencl:" + std::to_string(devices().size());
      devices().push_back(std::move(d));
    }
  }
  if (devices().empty()) g_no_devices = "OpenCL platforms were found but none has a usable device";
}

void api_shutdown(void*) {
  for (Device& d : devices()) {
    for (auto& [key, w] : d.weights) clReleaseMemObject(w.mem);
    if (d.program) clReleaseProgram(d.program);
    if (d.context) clReleaseContext(d.context);
  }
  devices().clear();
}
const char* api_last_error(void*) { return g_last_error.c_str(); }
int32_t api_device_count(void*) {
  if (devices().empty()) g_last_error = g_no_devices;
  return static_cast<int32_t>(devices().size());
}

bool valid_device(int32_t d) { return d >= 0 && static_cast<size_t>(d) < devices().size(); }

ember_status api_device_props(void*, int32_t device, ember_device_props* out) {
  if (!valid_device(device)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no OpenCL device %d", device);
  const Device& d = devices()[device];
  out->name = d.name.c_str();
  out->vendor = d.vendor.c_str();
  out->memory_bytes = d.memory;
  out->host_visible = 0;
  out->n_dtypes = sizeof kDtypes / sizeof kDtypes[0];
  out->dtypes = kDtypes;
  return EMBER_STATUS_OK;
}

ember_status api_buffer_alloc(void*, int32_t device, uint64_t bytes, ember_buffer* out) {
  if (!valid_device(device)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no OpenCL device %d", device);
  cl_int e = CL_SUCCESS;
  cl_mem m = clCreateBuffer(devices()[device].context, CL_MEM_READ_WRITE, bytes, nullptr, &e);
  if (e != CL_SUCCESS)
    return fail(e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES ? EMBER_STATUS_OUT_OF_MEMORY
                                                                                   : EMBER_STATUS_DEVICE_ERROR,
                "clCreateBuffer(%llu bytes): %s", static_cast<unsigned long long>(bytes), cl_error_name(e));
  *out = reinterpret_cast<ember_buffer>(new Buffer{m, bytes, device});
  return EMBER_STATUS_OK;
}
void api_buffer_free(void*, ember_buffer h) {
  auto* b = reinterpret_cast<Buffer*>(h);
  if (!b) return;
  clReleaseMemObject(b->mem);
  delete b;
}

ember_status api_queue_create(void*, int32_t device, ember_queue* out) {
  if (!valid_device(device)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no OpenCL device %d", device);
  cl_int e = CL_SUCCESS;
  const Device& d = devices()[device];
  cl_command_queue q = clCreateCommandQueue(d.context, d.id, 0, &e);
  if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "clCreateCommandQueue: %s", cl_error_name(e));
  *out = reinterpret_cast<ember_queue>(new Queue{q, device});
  return EMBER_STATUS_OK;
}
void api_queue_destroy(void*, ember_queue h) {
  auto* q = reinterpret_cast<Queue*>(h);
  if (!q) return;
  clFinish(q->q);
  clReleaseCommandQueue(q->q);
  delete q;
}

bool in_range(const Buffer* b, uint64_t off, uint64_t bytes) { return b && off <= b->bytes && bytes <= b->bytes - off; }

ember_status api_copy_to_device(void*, ember_queue h, ember_buffer dst, uint64_t off, const void* src, uint64_t bytes) {
  auto* q = reinterpret_cast<Queue*>(h);
  auto* b = reinterpret_cast<Buffer*>(dst);
  if (!q || !in_range(b, off, bytes)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "copy_to_device outside the buffer");
  if (!bytes) return EMBER_STATUS_OK;
  cl_int e = clEnqueueWriteBuffer(q->q, b->mem, CL_FALSE, off, bytes, src, 0, nullptr, nullptr);
  return e == CL_SUCCESS ? EMBER_STATUS_OK : fail(EMBER_STATUS_DEVICE_ERROR, "clEnqueueWriteBuffer: %s", cl_error_name(e));
}
ember_status api_copy_to_host(void*, ember_queue h, ember_buffer src, uint64_t off, void* dst, uint64_t bytes) {
  auto* q = reinterpret_cast<Queue*>(h);
  auto* b = reinterpret_cast<Buffer*>(src);
  if (!q || !in_range(b, off, bytes)) return fail(EMBER_STATUS_INVALID_ARGUMENT, "copy_to_host outside the buffer");
  if (!bytes) return EMBER_STATUS_OK;
  cl_int e = clEnqueueReadBuffer(q->q, b->mem, CL_FALSE, off, bytes, dst, 0, nullptr, nullptr);
  return e == CL_SUCCESS ? EMBER_STATUS_OK : fail(EMBER_STATUS_DEVICE_ERROR, "clEnqueueReadBuffer: %s", cl_error_name(e));
}
ember_status api_queue_synchronize(void*, ember_queue h) {
  auto* q = reinterpret_cast<Queue*>(h);
  if (!q) return fail(EMBER_STATUS_INVALID_ARGUMENT, "no queue");
  cl_int e = clFinish(q->q);
  return e == CL_SUCCESS ? EMBER_STATUS_OK : fail(EMBER_STATUS_DEVICE_ERROR, "clFinish: %s", cl_error_name(e));
}

ember_status api_event_record(void*, ember_queue h, ember_event* out) {
  auto* q = reinterpret_cast<Queue*>(h);
  cl_event ev = nullptr;
  cl_int e = q ? clEnqueueMarkerWithWaitList(q->q, 0, nullptr, &ev) : CL_INVALID_COMMAND_QUEUE;
  if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "clEnqueueMarkerWithWaitList: %s", cl_error_name(e));
  *out = reinterpret_cast<ember_event>(ev);
  return EMBER_STATUS_OK;
}
ember_status api_event_wait(void*, ember_queue h, ember_event ev) {
  auto* q = reinterpret_cast<Queue*>(h);
  cl_event e0 = reinterpret_cast<cl_event>(ev);
  cl_int e = q && e0 ? clEnqueueBarrierWithWaitList(q->q, 1, &e0, nullptr) : CL_INVALID_VALUE;
  return e == CL_SUCCESS ? EMBER_STATUS_OK : fail(EMBER_STATUS_DEVICE_ERROR, "clEnqueueBarrierWithWaitList: %s", cl_error_name(e));
}
ember_status api_event_synchronize(void*, ember_event ev) {
  cl_event e0 = reinterpret_cast<cl_event>(ev);
  cl_int e = e0 ? clWaitForEvents(1, &e0) : CL_INVALID_EVENT;
  return e == CL_SUCCESS ? EMBER_STATUS_OK : fail(EMBER_STATUS_DEVICE_ERROR, "clWaitForEvents: %s", cl_error_name(e));
}
void api_event_destroy(void*, ember_event ev) {
  if (ev) clReleaseEvent(reinterpret_cast<cl_event>(ev));
}

ember_status api_supports(void*, int32_t device, const ember_graph* g, ember_support* out) {
  if (!valid_device(device) || !g || !out) return fail(EMBER_STATUS_INVALID_ARGUMENT, "bad device or graph");
  return judge(devices()[device], *g, out);
}
ember_status api_compile(void*, int32_t device, const ember_graph* g, ember_plan* out) {
  if (!valid_device(device) || !g || !out) return fail(EMBER_STATUS_INVALID_ARGUMENT, "bad device or graph");
  return compile(device, *g, out);
}
void api_plan_destroy(void*, ember_plan p) { destroy_plan(p); }

// Extras by name. "opencl_retune": void (*)(int32_t force), see set_retune.
void* api_get_proc_address(void*, const char* name) {
  if (name && std::strcmp(name, "opencl_retune") == 0) return reinterpret_cast<void*>(&set_retune);
  return nullptr;
}
ember_status api_execute(void*, ember_queue h, ember_plan p, const ember_exec_args* a) {
  auto* q = reinterpret_cast<Queue*>(h);
  if (!q || !p || !a) return fail(EMBER_STATUS_INVALID_ARGUMENT, "execute needs a queue, a plan and arguments");
  return execute(*q, p, *a);
}

}  // namespace

std::vector<Device>& devices() {
  static std::vector<Device> d;
  return d;
}

ember_status fail(ember_status s, const char* fmt, ...) {
  char buf[4096];
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

const char* cl_error_name(cl_int e) {
  switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_EVENT: return "CL_INVALID_EVENT";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
  }
  static thread_local char buf[32];
  std::snprintf(buf, sizeof buf, "OpenCL error %d", static_cast<int>(e));
  return buf;
}

ember_status ensure_program(Device& d) {
  if (d.program) return EMBER_STATUS_OK;
  const char* src = kProgramSource;
  cl_int e = CL_SUCCESS;
  cl_program p = clCreateProgramWithSource(d.context, 1, &src, nullptr, &e);
  if (e != CL_SUCCESS) return fail(EMBER_STATUS_DEVICE_ERROR, "clCreateProgramWithSource: %s", cl_error_name(e));
  const std::string opts = "-cl-std=CL1.2 -DWG=" + std::to_string(d.wg);
  e = clBuildProgram(p, 1, &d.id, opts.c_str(), nullptr, nullptr);
  if (e != CL_SUCCESS) {
    size_t n = 0;
    clGetProgramBuildInfo(p, d.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
    std::string log(n, '\0');
    if (n) clGetProgramBuildInfo(p, d.id, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
    clReleaseProgram(p);
    std::fprintf(stderr, "opencl: building the kernels for %s failed (%s); build log:\n%s\n", d.name.c_str(),
                 cl_error_name(e), log.c_str());
    return fail(EMBER_STATUS_DEVICE_ERROR, "building the OpenCL kernels for %s (%s) failed: %s; build log: %.3000s",
                d.name.c_str(), d.device_name.c_str(), cl_error_name(e), log.c_str());
  }
  if (verbose()) std::fprintf(stderr, "opencl: built kernels for %s (%s, driver %s, WG=%zu)\n", d.name.c_str(),
                              d.device_name.c_str(), d.driver.c_str(), d.wg);
  d.program = p;
  return EMBER_STATUS_OK;
}

}  // namespace ember_opencl

extern "C" EMBER_PLUGIN_EXPORT ember_status ember_plugin_init(uint32_t host_abi_version, ember_plugin_api* api,
                                                              char* error, size_t error_size) {
  using namespace ember_opencl;
  if (host_abi_version != EMBER_PLUGIN_ABI_VERSION) {
    std::snprintf(error, error_size, "the OpenCL plugin speaks plugin ABI %u, the host %u", EMBER_PLUGIN_ABI_VERSION,
                  host_abi_version);
    return EMBER_STATUS_UNSUPPORTED;
  }
  discover();
  api->abi_version = EMBER_PLUGIN_ABI_VERSION;
  api->struct_size = sizeof(ember_plugin_api);
  api->plugin_name = "opencl";
  api->ctx = nullptr;
  api->shutdown = api_shutdown;
  api->last_error = api_last_error;
  api->device_count = api_device_count;
  api->device_props = api_device_props;
  api->buffer_alloc = api_buffer_alloc;
  api->buffer_free = api_buffer_free;
  api->buffer_host_ptr = nullptr;
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
