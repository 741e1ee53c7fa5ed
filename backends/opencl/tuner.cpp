// The matmul tuner, per device, driver, weight type and shape (K, N). Candidates: the
// group-reduction kernel (one work-group of WG items per output) and the per-item kernel (one
// output per work-item) with work-group sizes 32, 64 or the driver's choice. At the first
// matmul of a type and shape on a device the candidates run on it with M = 1 (the decode
// case), 1 warm-up + 3 timed runs each, with a progress line on stderr; the fastest is kept in
// memory and in a file keyed by device, driver, type and shape: $EMBER_OPENCL_TUNE_CACHE, else
// $XDG_CACHE_HOME/ember/opencl-tune.txt, else ~/.cache/ember/opencl-tune.txt ("off" disables
// the file). A candidate that fails to run is skipped; if all fail the group kernel is used.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "opencl.h"

namespace ember_opencl {
namespace {

const char* type_name(uint32_t t) {
  return t == EMBER_DTYPE_F32 ? "F32" : t == EMBER_DTYPE_F16 ? "F16" : t == EMBER_DTYPE_Q4_0 ? "Q4_0"
       : t == EMBER_DTYPE_Q4_1 ? "Q4_1" : "Q8_0";
}

bool g_force = false;  // set by the "opencl_retune" extra: ignore cached choices

const MatmulChoice kCandidates[] = {{false, 0}, {true, 0}, {true, 32}, {true, 64}};

std::string tune_file() {
  if (const char* f = std::getenv("EMBER_OPENCL_TUNE_CACHE")) return std::strcmp(f, "off") == 0 ? "" : f;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ember/opencl-tune.txt";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ember/opencl-tune.txt";
  return "";
}

std::string key_of(const Device& d, uint32_t dtype, int K, int N) {
  std::string k = d.device_name + "|" + d.driver + "|" + std::to_string(dtype) + "|" + std::to_string(K) + "x" +
                  std::to_string(N);
  for (char& c : k)
    if (c == '\t' || c == '\n') c = ' ';
  return k;
}

bool load(const std::string& key, MatmulChoice* out) {
  const std::string f = tune_file();
  if (f.empty()) return false;
  std::ifstream in(f);
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {  // the last line for a key wins
    const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos || line.substr(0, t1) != key) continue;
    const std::string variant = line.substr(t1 + 1, t2 - t1 - 1);
    const long local = std::atol(line.c_str() + t2 + 1);
    if ((variant != "group" && variant != "item") || local < 0 || local > 1024) continue;
    *out = {variant == "item", static_cast<size_t>(local)};
    found = true;
  }
  return found;
}

void store(const std::string& key, const MatmulChoice& c) {
  const std::string f = tune_file();
  if (f.empty()) return;
  for (size_t i = 1; i < f.size(); ++i)
    if (f[i] == '/') ::mkdir(f.substr(0, i).c_str(), 0755);
  std::ofstream out(f, std::ios::app);
  out << key << '\t' << (c.item ? "item" : "group") << '\t' << c.local << '\n';
}

// Seconds for one run of candidate c on [1,K] x [N,K]ᵀ, or a negative value when it fails.
double time_candidate(Device& d, cl_command_queue q, const MatmulChoice& c, uint32_t dtype, cl_mem x, cl_mem w,
                      cl_mem y, int K, int N) {
  const char* base = dtype == EMBER_DTYPE_F32 ? "matmul_f32" : dtype == EMBER_DTYPE_F16 ? "matmul_f16"
                   : dtype == EMBER_DTYPE_Q4_0 ? "matmul_q4_0" : dtype == EMBER_DTYPE_Q4_1 ? "matmul_q4_1" : "matmul_q8_0";
  const std::string name = std::string(base) + (c.item ? "_item" : "");
  cl_int e = CL_SUCCESS;
  cl_kernel k = clCreateKernel(d.program, name.c_str(), &e);
  if (e != CL_SUCCESS) return -1;
  clSetKernelArg(k, 0, sizeof(cl_mem), &x);
  clSetKernelArg(k, 1, sizeof(cl_mem), &w);
  clSetKernelArg(k, 2, sizeof(cl_mem), &y);
  clSetKernelArg(k, 3, sizeof(cl_int), &K);
  clSetKernelArg(k, 4, sizeof(cl_int), &N);
  size_t global[2], local[2] = {1, 1};
  const size_t* lp = nullptr;
  matmul_launch_size(d, c, N, 1, global, local, &lp);
  double best = -1;
  for (int r = 0; r < 4 && e == CL_SUCCESS; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    e = clEnqueueNDRangeKernel(q, k, 2, nullptr, global, lp, 0, nullptr, nullptr);
    if (e == CL_SUCCESS) e = clFinish(q);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (e == CL_SUCCESS && r > 0 && (best < 0 || s < best)) best = s;
  }
  clReleaseKernel(k);
  return e == CL_SUCCESS ? best : -1;
}

}  // namespace

void set_retune(int32_t force) {
  g_force = force != 0;
  if (g_force)
    for (Device& d : devices()) d.matmul_choice.clear();
}

void matmul_launch_size(const Device& d, const MatmulChoice& c, int64_t N, int64_t M, size_t global[2],
                        size_t local[2], const size_t** local_ptr) {
  global[1] = static_cast<size_t>(M);
  local[1] = 1;
  if (!c.item) {
    global[0] = static_cast<size_t>(N) * d.wg;
    local[0] = d.wg;
    *local_ptr = local;
  } else if (c.local) {
    global[0] = (static_cast<size_t>(N) + c.local - 1) / c.local * c.local;
    local[0] = c.local;
    *local_ptr = local;
  } else {
    global[0] = static_cast<size_t>(N);
    *local_ptr = nullptr;
  }
}

MatmulChoice tuned_matmul(Device& d, uint32_t dtype, int K, int N) {
  const std::string key = key_of(d, dtype, K, N);
  auto it = d.matmul_choice.find(key);
  if (it != d.matmul_choice.end()) return it->second;
  MatmulChoice best{false, 0};
  if (!g_force && load(key, &best)) {
    d.matmul_choice[key] = best;
    return best;
  }
  const uint64_t wbytes = dtype == EMBER_DTYPE_F32 ? 4ull * N * K : dtype == EMBER_DTYPE_F16 ? 2ull * N * K
                        : static_cast<uint64_t>(N) * (K / 32) * (dtype == EMBER_DTYPE_Q4_0 ? 18 : dtype == EMBER_DTYPE_Q4_1 ? 20 : 34);
  cl_int e = CL_SUCCESS;
  cl_command_queue q = clCreateCommandQueue(d.context, d.id, 0, &e);
  cl_mem x = clCreateBuffer(d.context, CL_MEM_READ_WRITE, 4ull * K, nullptr, &e);
  cl_mem w = clCreateBuffer(d.context, CL_MEM_READ_WRITE, wbytes, nullptr, &e);
  cl_mem y = clCreateBuffer(d.context, CL_MEM_READ_WRITE, 4ull * N, nullptr, &e);
  double best_s = -1;
  if (q && x && w && y) {
    // Zeroed operands: the timing does not depend on the values, and zeros are valid blocks.
    std::vector<uint8_t> zeros(std::max<uint64_t>(wbytes, 4ull * K), 0);
    clEnqueueWriteBuffer(q, x, CL_TRUE, 0, 4ull * K, zeros.data(), 0, nullptr, nullptr);
    clEnqueueWriteBuffer(q, w, CL_TRUE, 0, wbytes, zeros.data(), 0, nullptr, nullptr);
    const size_t n = sizeof kCandidates / sizeof kCandidates[0];
    for (size_t i = 0; i < n; ++i) {
      const MatmulChoice& c = kCandidates[i];
      std::fprintf(stderr, "\ropencl: tuning matmul %s K=%d N=%d on %s: candidate %zu/%zu", type_name(dtype), K, N,
                   d.name.c_str(), i + 1, n);
      std::fflush(stderr);
      const double s = time_candidate(d, q, c, dtype, x, w, y, K, N);
      if (s > 0 && (best_s < 0 || s < best_s)) {
        best_s = s;
        best = c;
      }
    }
    std::fprintf(stderr, "\ropencl: tuned matmul %s K=%d N=%d on %s: %s kernel, work-group %s, %.3f ms\n",
                 type_name(dtype), K, N, d.name.c_str(), best.item ? "per-item" : "group-reduction",
                 best.item ? (best.local ? std::to_string(best.local).c_str() : "driver's choice")
                           : std::to_string(d.wg).c_str(),
                 best_s * 1e3);
  }
  for (cl_mem m : {x, w, y})
    if (m) clReleaseMemObject(m);
  if (q) clReleaseCommandQueue(q);
  d.matmul_choice[key] = best;
  if (best_s > 0) store(key, best);
  return best;
}

}  // namespace ember_opencl
