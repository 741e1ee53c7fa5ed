// The matmul tuner, per device, driver, weight type and shape (K, N). Candidates: the
// group-reduction kernel (one work-group of WG items per output), the per-item kernel (one
// output per work-item) with work-group sizes 32, 64 or the driver's choice, and where the
// device reports the extension and the extension program built, the subgroup-reduction kernel
// (cl_khr_subgroups / cl_intel_subgroups) and, for f16 weights, the f16-product kernel
// (cl_khr_fp16). At the first
// matmul of a type and shape on a device the candidates run on it with M = 1 (the decode
// case), 1 warm-up + 3 timed runs each, with a progress line on stderr; the fastest is kept in
// memory and in a file keyed by device, driver, type and shape: $EMBER_OPENCL_TUNE_CACHE, else
// $XDG_CACHE_HOME/ember/opencl-tune.txt, else ~/.cache/ember/opencl-tune.txt ("off" disables
// the file). A candidate that fails to run is skipped; if all fail the group kernel is used.
// $EMBER_OPENCL_MATMUL=<kind>[:<work-group>] (group, item, sg, f16h) bypasses the tuner and
// its file: every matmul uses that kernel, or fails to compile if the device has none (tests
// run every kernel this way).
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

bool g_force = false;  // set by the "opencl_retune" extra: ignore cached choices

// The candidates for a type and shape on d.
std::vector<MatmulChoice> candidates(const Device& d, uint32_t dtype, int K) {
  std::vector<MatmulChoice> c = {{MatmulKind::Group, 0}, {MatmulKind::Item, 0}, {MatmulKind::Item, 32},
                                 {MatmulKind::Item, 64}};
  if (d.ext_program && d.subgroups) c.push_back({MatmulKind::Subgroup, 0});
  if (d.ext_program && d.fp16 && dtype == EMBER_DTYPE_F16 && K % 8 == 0) c.push_back({MatmulKind::Half, 0});
  return c;
}

// Whether a choice (from the file) can run on d for this type and shape.
bool available(const Device& d, uint32_t dtype, int K, const MatmulChoice& c) {
  for (const MatmulChoice& x : candidates(d, dtype, K))
    if (x.kind == c.kind && (x.kind != MatmulKind::Item || x.local == c.local)) return true;
  return false;
}

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
    if (local < 0 || local > 1024) continue;
    for (MatmulKind k : {MatmulKind::Group, MatmulKind::Item, MatmulKind::Subgroup, MatmulKind::Half})
      if (variant == matmul_kind_name(k)) {
        *out = {k, static_cast<size_t>(local)};
        found = true;
      }
  }
  return found;
}

void store(const std::string& key, const MatmulChoice& c) {
  const std::string f = tune_file();
  if (f.empty()) return;
  for (size_t i = 1; i < f.size(); ++i)
    if (f[i] == '/') ::mkdir(f.substr(0, i).c_str(), 0755);
  std::ofstream out(f, std::ios::app);
  out << key << '\t' << matmul_kind_name(c.kind) << '\t' << c.local << '\n';
}

// Seconds for one run of candidate c on [1,K] x [N,K]ᵀ, or a negative value when it fails.
double time_candidate(Device& d, cl_command_queue q, const MatmulChoice& c, const WeightType& t, cl_mem x, cl_mem w,
                      cl_mem y, int K, int N) {
  cl_int e = CL_SUCCESS;
  cl_kernel k = matmul_kernel(d, t, c, &e);
  if (!k || e != CL_SUCCESS) return -1;
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
  if (c.kind != MatmulKind::Item) {
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

ember_status tuned_matmul(Device& d, uint32_t dtype, int K, int N, MatmulChoice* out) {
  const WeightType* t = weight_type(dtype);
  if (!t) return fail(EMBER_STATUS_UNSUPPORTED, "no matmul kernels for dtype %u", dtype);
  if (const char* f = std::getenv("EMBER_OPENCL_MATMUL"); f && *f) {
    const std::string v(f);
    const size_t colon = v.find(':');
    const std::string kind = v.substr(0, colon);
    MatmulChoice c;
    bool known = false;
    for (MatmulKind k : {MatmulKind::Group, MatmulKind::Item, MatmulKind::Subgroup, MatmulKind::Half})
      if (kind == matmul_kind_name(k)) {
        c.kind = k;
        known = true;
      }
    if (colon != std::string::npos) c.local = static_cast<size_t>(std::atol(v.c_str() + colon + 1));
    if (!known || !available(d, dtype, K, c))
      return fail(EMBER_STATUS_UNSUPPORTED, "EMBER_OPENCL_MATMUL=%s: %s has no such matmul kernel for %s K=%d", f,
                  d.name.c_str(), t->name, K);
    *out = c;
    return EMBER_STATUS_OK;
  }
  const std::string key = key_of(d, dtype, K, N);
  auto it = d.matmul_choice.find(key);
  if (it != d.matmul_choice.end()) {
    *out = it->second;
    return EMBER_STATUS_OK;
  }
  MatmulChoice best{MatmulKind::Group, 0};
  // A cached choice this device cannot run now (its extension program did not build) is retuned.
  if (!g_force && load(key, &best) && available(d, dtype, K, best)) {
    d.matmul_choice[key] = best;
    *out = best;
    return EMBER_STATUS_OK;
  }
  best = {MatmulKind::Group, 0};
  const uint64_t wbytes = static_cast<uint64_t>(N) * (K / t->block_elems) * t->block_bytes;
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
    const std::vector<MatmulChoice> cands = candidates(d, dtype, K);
    const size_t n = cands.size();
    for (size_t i = 0; i < n; ++i) {
      const MatmulChoice& c = cands[i];
      std::fprintf(stderr, "\ropencl: tuning matmul %s K=%d N=%d on %s: candidate %zu/%zu", t->name, K, N,
                   d.name.c_str(), i + 1, n);
      std::fflush(stderr);
      const double s = time_candidate(d, q, c, *t, x, w, y, K, N);
      if (s > 0 && (best_s < 0 || s < best_s)) {
        best_s = s;
        best = c;
      }
    }
    static const char* const kind[] = {"group-reduction", "per-item", "subgroup-reduction", "f16-product"};
    const std::string wg = best.kind != MatmulKind::Item ? std::to_string(d.wg)
                         : best.local ? std::to_string(best.local) : "driver's choice";
    std::fprintf(stderr, "\ropencl: tuned matmul %s K=%d N=%d on %s: %s kernel, work-group %s, %.3f ms\n", t->name, K,
                 N, d.name.c_str(), kind[static_cast<int>(best.kind)], wg.c_str(), best_s * 1e3);
  }
  for (cl_mem m : {x, w, y})
    if (m) clReleaseMemObject(m);
  if (q) clReleaseCommandQueue(q);
  d.matmul_choice[key] = best;
  if (best_s > 0) store(key, best);
  *out = best;
  return EMBER_STATUS_OK;
}

}  // namespace ember_opencl
