// The OpenCL plugin's device side and its ember_plugin_api table: every device of every
// platform becomes "opencl:<i>"; buffers are cl_mem, queues in-order command queues, events
// OpenCL markers (flushed, so another queue may wait on them). No platform (no ICD installed)
// is not an error: the plugin loads with zero devices and says why, which `ember devices`
// prints. Programs: the core kernels always; the extension kernels (matmul_ext.cl) only where
// the device reports cl_khr_subgroups / cl_intel_subgroups / cl_khr_fp16.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "opencl.h"

namespace ember_opencl {
namespace {

thread_local std::string g_last_error;
std::string g_no_devices;  // why device_count is 0

const WeightType kWeightTypes[] = {
    {EMBER_DTYPE_F32, "F32", 1, 4, "f32"},        {EMBER_DTYPE_F16, "F16", 1, 2, "f16"},
    {EMBER_DTYPE_BF16, "BF16", 1, 2, "bf16"},     {EMBER_DTYPE_Q4_0, "Q4_0", 32, 18, "q4_0"},
    {EMBER_DTYPE_Q4_1, "Q4_1", 32, 20, "q4_1"},   {EMBER_DTYPE_Q5_0, "Q5_0", 32, 22, "q5_0"},
    {EMBER_DTYPE_Q5_1, "Q5_1", 32, 24, "q5_1"},   {EMBER_DTYPE_Q8_0, "Q8_0", 32, 34, "q8_0"},
    {EMBER_DTYPE_Q4_K, "Q4_K", 256, 144, "q4_k"}, {EMBER_DTYPE_Q5_K, "Q5_K", 256, 176, "q5_k"},
    {EMBER_DTYPE_Q6_K, "Q6_K", 256, 210, "q6_k"},
};

bool has_word(const std::string& list, const char* word) {
  const size_t n = std::strlen(word);
  for (size_t p = list.find(word); p != std::string::npos; p = list.find(word, p + 1)) {
    const bool start = p == 0 || list[p - 1] == ' ' || list[p - 1] == ',';
    const bool end = p + n == list.size() || list[p + n] == ' ' || list[p + n] == ',';
    if (start && end) return true;
  }
  return false;
}

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
      d.c_version = device_string(id, CL_DEVICE_OPENCL_C_VERSION);
      // $EMBER_OPENCL_ASSUME_EXT (tests): extensions to act as if reported, to exercise the
      // extension program's build (and its fallback where the compiler rejects it).
      const char* assume = std::getenv("EMBER_OPENCL_ASSUME_EXT");
      const std::string ext = device_string(id, CL_DEVICE_EXTENSIONS) + " " + (assume ? assume : "");
      d.intel_subgroups = has_word(ext, "cl_intel_subgroups");
      d.subgroups = d.intel_subgroups || has_word(ext, "cl_khr_subgroups");
      d.fp16 = has_word(ext, "cl_khr_fp16");
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
    if (d.ext_program) clReleaseProgram(d.ext_program);
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
  out->n_dtypes = static_cast<int32_t>(weight_dtypes().size());
  out->dtypes = weight_dtypes().data();
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
  // Another queue may wait for this event: OpenCL requires the queue holding it to be flushed
  // first, or that wait may never end.
  e = clFlush(q->q);
  if (e != CL_SUCCESS) {
    clReleaseEvent(ev);
    return fail(EMBER_STATUS_DEVICE_ERROR, "clFlush: %s", cl_error_name(e));
  }
  *out = reinterpret_cast<ember_event>(ev);
  return EMBER_STATUS_OK;
}
ember_status api_event_wait(void*, ember_queue h, ember_event ev) {
  auto* q = reinterpret_cast<Queue*>(h);
  cl_event e0 = reinterpret_cast<cl_event>(ev);
  if (!q || !e0) return fail(EMBER_STATUS_INVALID_ARGUMENT, "event_wait needs a queue and an event");
  // An event of another device's context cannot be in this queue's wait list: the host waits.
  cl_context ctx = nullptr;
  cl_int e = clGetEventInfo(e0, CL_EVENT_CONTEXT, sizeof ctx, &ctx, nullptr);
  if (e == CL_SUCCESS && ctx != devices()[q->device].context) {
    e = clWaitForEvents(1, &e0);
    return e == CL_SUCCESS ? EMBER_STATUS_OK : fail(EMBER_STATUS_DEVICE_ERROR, "clWaitForEvents: %s", cl_error_name(e));
  }
  e = clEnqueueBarrierWithWaitList(q->q, 1, &e0, nullptr);
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

// The "opencl_build" extra: builds `source` (OpenCL C, on its own) for `device` with the
// options the plugin's kernels get, and releases it. Returns OK or the build's status with
// the build log in last_error and, when log_size > 0, in log. For checking kernels by hand and
// for the test that a failing build shows its log.
ember_status extra_build(int32_t device, const char* source, char* log, size_t log_size) {
  if (!valid_device(device) || !source) return fail(EMBER_STATUS_INVALID_ARGUMENT, "opencl_build: bad device or no source");
  Device& d = devices()[device];
  cl_int e = CL_SUCCESS;
  std::string text;
  cl_program p = build_program(d, source, "-cl-std=CL1.2 -DWG=" + std::to_string(d.wg), &e, &text);
  if (log_size) std::snprintf(log, log_size, "%s", text.c_str());
  if (p) {
    clReleaseProgram(p);
    return EMBER_STATUS_OK;
  }
  return fail(EMBER_STATUS_DEVICE_ERROR, "building the program for %s failed: %s; build log:\n%s", d.name.c_str(),
              cl_error_name(e), text.c_str());
}

// The "opencl_features" extra: which programs are built on `device` (after its first compile):
// bit 0 the core kernels, bit 1 the subgroup kernels, bit 2 the fp16 kernels.
uint32_t extra_features(int32_t device) {
  if (!valid_device(device)) return 0;
  const Device& d = devices()[device];
  return (d.program ? 1u : 0u) | (d.ext_program && d.subgroups ? 2u : 0u) | (d.ext_program && d.fp16 ? 4u : 0u);
}

// Extras by name. "opencl_retune": void (*)(int32_t force), see set_retune.
// "opencl_build": ember_status (*)(int32_t device, const char* source, char* log, size_t
// log_size), see extra_build. "opencl_features": uint32_t (*)(int32_t device), see
// extra_features.
void* api_get_proc_address(void*, const char* name) {
  if (name && std::strcmp(name, "opencl_retune") == 0) return reinterpret_cast<void*>(&set_retune);
  if (name && std::strcmp(name, "opencl_build") == 0) return reinterpret_cast<void*>(&extra_build);
  if (name && std::strcmp(name, "opencl_features") == 0) return reinterpret_cast<void*>(&extra_features);
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

const WeightType* weight_type(uint32_t dtype) {
  for (const WeightType& t : kWeightTypes)
    if (t.dtype == dtype) return &t;
  return nullptr;
}
const std::vector<uint32_t>& weight_dtypes() {
  static const std::vector<uint32_t> v = [] {
    std::vector<uint32_t> r;
    for (const WeightType& t : kWeightTypes) r.push_back(t.dtype);
    return r;
  }();
  return v;
}

const char* matmul_kind_name(MatmulKind k) {
  switch (k) {
    case MatmulKind::Group: return "group";
    case MatmulKind::Item: return "item";
    case MatmulKind::Subgroup: return "sg";
    case MatmulKind::Half: return "f16h";
  }
  return "?";
}

cl_kernel matmul_kernel(const Device& d, const WeightType& t, const MatmulChoice& c, cl_int* err) {
  static const char* const suffix[] = {"", "_item", "_sg", "_h"};
  const bool ext = c.kind == MatmulKind::Subgroup || c.kind == MatmulKind::Half;
  cl_program p = ext ? d.ext_program : d.program;
  if (!p || (c.kind == MatmulKind::Half && t.dtype != EMBER_DTYPE_F16)) {
    *err = CL_INVALID_KERNEL_NAME;
    return nullptr;
  }
  const std::string name = std::string("matmul_") + t.kernel + suffix[static_cast<int>(c.kind)];
  return clCreateKernel(p, name.c_str(), err);
}

cl_program build_program(Device& d, const char* source, const std::string& options, cl_int* err, std::string* log) {
  cl_program p = clCreateProgramWithSource(d.context, 1, &source, nullptr, err);
  if (*err != CL_SUCCESS) {
    *log = std::string("clCreateProgramWithSource: ") + cl_error_name(*err);
    return nullptr;
  }
  *err = clBuildProgram(p, 1, &d.id, options.c_str(), nullptr, nullptr);
  if (*err == CL_SUCCESS) return p;
  size_t n = 0;
  clGetProgramBuildInfo(p, d.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
  log->assign(n, '\0');
  if (n) clGetProgramBuildInfo(p, d.id, CL_PROGRAM_BUILD_LOG, n, log->data(), nullptr);
  while (!log->empty() && log->back() == '\0') log->pop_back();
  clReleaseProgram(p);
  return nullptr;
}

namespace {

// The extension program: OpenCL C 2.0 or 3.0 where the device has it (clang-based compilers
// declare the subgroup built-ins only from 2.0), with -DEMBER_SUBGROUPS / -DEMBER_FP16 for what
// the device reports. Its failure is logged and costs only the extra tuner candidates.
void build_ext_program(Device& d) {
  if (!d.subgroups && !d.fp16) return;
  const char* v = std::strstr(d.c_version.c_str(), "OpenCL C ");
  const int major = v ? std::atoi(v + 9) : 1;
  const std::string base = std::string(major >= 3 ? "-cl-std=CL3.0" : major == 2 ? "-cl-std=CL2.0" : "-cl-std=CL1.2") +
                           " -DWG=" + std::to_string(d.wg);
  // Both extensions' kernels, else each alone: one rejected kind does not cost the other.
  const std::pair<bool, bool> tries[] = {{d.subgroups, d.fp16}, {d.subgroups, false}, {false, d.fp16}};
  for (size_t i = 0; i < 3; ++i) {
    const auto [sg, fp16] = tries[i];
    if ((!sg && !fp16) || (i > 0 && !(d.subgroups && d.fp16))) continue;
    std::string opts = base;
    if (sg) opts += d.intel_subgroups ? " -DEMBER_SUBGROUPS -DEMBER_INTEL_SUBGROUPS" : " -DEMBER_SUBGROUPS";
    if (fp16) opts += " -DEMBER_FP16";
    cl_int e = CL_SUCCESS;
    std::string log;
    d.ext_program = build_program(d, kExtSource, opts, &e, &log);
    if (d.ext_program) {
      d.subgroups = sg;
      d.intel_subgroups = d.intel_subgroups && sg;
      d.fp16 = fp16;
      if (verbose()) std::fprintf(stderr, "opencl: built the extension kernels for %s (%s)\n", d.name.c_str(), opts.c_str());
      return;
    }
    std::fprintf(stderr,
                 "opencl: the extension kernels (%s%s) did not build for %s (%s): %s. Build options: %s; build log:\n%s\n",
                 sg ? "subgroups " : "", fp16 ? "fp16" : "", d.name.c_str(), d.device_name.c_str(), cl_error_name(e),
                 opts.c_str(), log.c_str());
  }
  std::fprintf(stderr, "opencl: %s runs the core kernels only\n", d.name.c_str());
  d.subgroups = d.intel_subgroups = d.fp16 = false;
}

}  // namespace

ember_status ensure_program(Device& d) {
  if (d.program) return EMBER_STATUS_OK;
  const std::string opts = "-cl-std=CL1.2 -DWG=" + std::to_string(d.wg);
  cl_int e = CL_SUCCESS;
  std::string log;
  cl_program p = build_program(d, kProgramSource, opts, &e, &log);
  if (!p) {
    std::fprintf(stderr, "opencl: building the kernels for %s failed (%s); build log:\n%s\n", d.name.c_str(),
                 cl_error_name(e), log.c_str());
    return fail(EMBER_STATUS_DEVICE_ERROR, "building the OpenCL kernels for %s (%s) failed: %s; build log: %.3000s",
                d.name.c_str(), d.device_name.c_str(), cl_error_name(e), log.c_str());
  }
  if (verbose()) std::fprintf(stderr, "opencl: built kernels for %s (%s, driver %s, WG=%zu)\n", d.name.c_str(),
                              d.device_name.c_str(), d.driver.c_str(), d.wg);
  d.program = p;
  build_ext_program(d);
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
