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

extern const char kProgramSource[];  // kernels/opencl/*.cl but matmul_ext.cl, always built
extern const char kExtSource[];      // common.cl, quant.cl, matmul_ext.cl: only with extensions

// A weight type the plugin computes with: its GGUF block (block_elems elements in block_bytes
// bytes; 1 and the element size for float types) and its kernels' infix ("q4_k" ->
// matmul_q4_k, matmul_q4_k_item, matmul_q4_k_sg).
struct WeightType {
  uint32_t dtype;
  const char* name;
  int block_elems, block_bytes;
  const char* kernel;
};
// The table, in the order of device_props' dtypes; nullptr for a type without kernels.
const WeightType* weight_type(uint32_t dtype);
const std::vector<uint32_t>& weight_dtypes();

ember_status fail(ember_status s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
const char* cl_error_name(cl_int e);
bool verbose();

struct SharedWeight {
  cl_mem mem = nullptr;
  uint64_t bytes = 0;
  int refs = 0;
};

// How a matmul of one weight type runs on a device (chosen by the tuner). The kinds beyond
// Item exist only where the device reports the extension they need and their program built.
enum class MatmulKind : uint8_t {
  Group,     // matmul_<t>: one work-group of WG items per output, local-memory reduction
  Item,      // matmul_<t>_item: one output per work-item
  Subgroup,  // matmul_<t>_sg: as Group, reduced with subgroup reductions (cl_khr/intel_subgroups)
  Half,      // matmul_f16_h: f16 weights, f16 products (cl_khr_fp16)
};
struct MatmulChoice {
  MatmulKind kind = MatmulKind::Group;
  size_t local = 0;    // Item: work-group size, 0 = the driver's choice
};
const char* matmul_kind_name(MatmulKind k);  // "group", "item", "sg", "f16h" (the tuning file's words)

struct Device {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  cl_context context = nullptr;
  cl_program program = nullptr;  // built at first compile
  cl_program ext_program = nullptr;  // the extension kernels; null when none or it failed
  std::string name, vendor, device_name, driver;
  std::string c_version;         // CL_DEVICE_OPENCL_C_VERSION, "OpenCL C 1.2 ..."
  // Extensions the device reports (or $EMBER_OPENCL_ASSUME_EXT claims, for tests) that the
  // extension kernels use; cleared when that program fails to build.
  bool subgroups = false, intel_subgroups = false, fp16 = false;
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

// Builds (once) the device's programs; the error carries the build log. The extension program
// failing is not an error: its log goes to stderr and the core kernels are used.
ember_status ensure_program(Device& d);
// Builds `source` for device d with `options`; on failure *log holds the build log.
cl_program build_program(Device& d, const char* source, const std::string& options, cl_int* err, std::string* log);
// The kernel of a matmul choice for a weight type (null with *err set when it does not exist).
cl_kernel matmul_kernel(const Device& d, const WeightType& t, const MatmulChoice& c, cl_int* err);

// The tuned matmul variant for `dtype` on `d` (tuning on first use; see tuner.cpp), or the
// one $EMBER_OPENCL_MATMUL forces ("group", "item", "item:32", "sg", "f16h"; an error when the
// device cannot run it).
ember_status tuned_matmul(Device& d, uint32_t dtype, int K, int N, MatmulChoice* out);
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
