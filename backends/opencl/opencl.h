// Internals of the OpenCL plugin: devices found on every platform, the program of embedded
// kernels (built per device at first compile, build log shown on failure), device memory and
// queues, and plans (one kernel launch per node). Includes nothing of ember's but the plugin
// header.
#pragma once

#include <CL/cl.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend_plugin.h"

namespace ember_opencl {

extern const char kProgramSource[];

ember_status fail(ember_status s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
const char* cl_error_name(cl_int e);
bool verbose();

struct SharedWeight {
  cl_mem mem = nullptr;
  uint64_t bytes = 0;
  int refs = 0;
};

// How a matmul of one weight type runs on a device (chosen by the tuner).
struct MatmulChoice {
  bool item = false;   // one output per work-item (else one work-group per output)
  size_t local = 0;    // per-item: work-group size, 0 = the driver's choice
};

struct Device {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  cl_context context = nullptr;
  cl_program program = nullptr;  // built at first compile
  std::string name, vendor, device_name, driver;
  uint64_t memory = 0;
  size_t wg = 64;                // work-group size of the reduction kernels (a power of two)
  std::map<const void*, SharedWeight> weights;  // weight bytes uploaded once, shared by plans
  std::map<std::string, MatmulChoice> matmul_choice;  // per weight type and shape, from the tuner
};

std::vector<Device>& devices();

struct Buffer {
  cl_mem mem = nullptr;
  uint64_t bytes = 0;
  int device = 0;
};
struct Queue {
  cl_command_queue q = nullptr;
  int device = 0;
};

// Builds (once) the device's program; the error carries the build log.
ember_status ensure_program(Device& d);

// The tuned matmul variant for `dtype` on `d` (tuning on first use; see tuner.cpp).
MatmulChoice tuned_matmul(Device& d, uint32_t dtype, int K, int N);
// The "opencl_retune" extra: void (*)(int32_t force). force != 0: re-time every shape met
// from now on, ignoring cached choices; 0: use the cache again.
void set_retune(int32_t force);
// Global/local sizes of a matmul launch; *local_ptr is NULL when the driver chooses.
void matmul_launch_size(const Device& d, const MatmulChoice& c, int64_t N, int64_t M, size_t global[2],
                        size_t local[2], const size_t** local_ptr);

ember_status judge(const Device& d, const ember_graph& g, ember_support* out);
ember_status compile(int device, const ember_graph& g, ember_plan* out);
void destroy_plan(ember_plan p);
ember_status execute(Queue& q, ember_plan p, const ember_exec_args& a);

}  // namespace ember_opencl
