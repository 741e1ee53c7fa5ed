// Matmul variants that need a device extension, built as a second program only when the device
// reports the extension (backends/opencl/device.cpp passes -DEMBER_SUBGROUPS / -DEMBER_FP16);
// the tuner offers them as extra candidates. A device whose compiler rejects them keeps the
// core kernels (matmul.cl) and shows this program's build log.
//   matmul_<t>_sg   the group kernel with the work-group reduction done by subgroup reductions
//                   (cl_khr_subgroups or cl_intel_subgroups): no local-memory tree, one
//                   barrier
//   matmul_f16_h    f16 weights times activations rounded to f16, products in f16 (8 at a
//                   time), summed in f32 (cl_khr_fp16); error ≤ 2^-10 of Σ|x·w|

#ifdef EMBER_SUBGROUPS
#if defined(EMBER_INTEL_SUBGROUPS)
#pragma OPENCL EXTENSION cl_intel_subgroups : enable
#else
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif

// Sum of v over the work-group, valid in item 0. `scratch` holds one float per subgroup.
inline float sg_group_sum(float v, __local float* scratch) {
  v = sub_group_reduce_add(v);
  if (get_sub_group_local_id() == 0) scratch[get_sub_group_id()] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  float r = 0;
  if (get_local_id(0) == 0)
    for (uint i = 0; i < get_num_sub_groups(); ++i) r += scratch[i];
  return r;
}

__kernel void matmul_f32_sg(__global const float* x, __global const float* w, __global float* y, int K, int N) {
  __local float scratch[WG];
  const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);
  __global const float* xr = x + (long)m * K;
  __global const float* wr = w + (long)n * K;
  float s = 0;
  for (int k = lid; k < K; k += WG) s += xr[k] * wr[k];
  s = sg_group_sum(s, scratch);
  if (lid == 0) y[(long)m * N + n] = s;
}

__kernel void matmul_f16_sg(__global const float* x, __global const half* w, __global float* y, int K, int N) {
  __local float scratch[WG];
  const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);
  __global const float* xr = x + (long)m * K;
  __global const half* wr = w + (long)n * K;
  float s = 0;
  for (int k = lid; k < K; k += WG) s += xr[k] * vload_half(k, wr);
  s = sg_group_sum(s, scratch);
  if (lid == 0) y[(long)m * N + n] = s;
}

__kernel void matmul_bf16_sg(__global const float* x, __global const ushort* w, __global float* y, int K, int N) {
  __local float scratch[WG];
  const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);
  __global const float* xr = x + (long)m * K;
  __global const ushort* wr = w + (long)n * K;
  float s = 0;
  for (int k = lid; k < K; k += WG) s += xr[k] * bf16_at(wr, k);
  s = sg_group_sum(s, scratch);
  if (lid == 0) y[(long)m * N + n] = s;
}

#define EMBER_MATMUL_Q_SG(NAME, BYTES, UNITS)                                                         \
  __kernel void matmul_##NAME##_sg(__global const float* x, __global const uchar* w, __global float* y, \
                                   int K, int N) {                                                     \
    __local float scratch[WG];                                                                         \
    const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);                        \
    const int nu = K / 32;                                                                             \
    __global const float* xr = x + (long)m * K;                                                        \
    __global const uchar* wr = w + (long)n * (nu / UNITS) * BYTES;                                     \
    float s = 0;                                                                                       \
    for (int u = lid; u < nu; u += WG) s += NAME##_dot(wr + (u / UNITS) * BYTES, u % UNITS, xr + u * 32); \
    s = sg_group_sum(s, scratch);                                                                      \
    if (lid == 0) y[(long)m * N + n] = s;                                                              \
  }

EMBER_MATMUL_Q_SG(q4_0, 18, 1)
EMBER_MATMUL_Q_SG(q4_1, 20, 1)
EMBER_MATMUL_Q_SG(q5_0, 22, 1)
EMBER_MATMUL_Q_SG(q5_1, 24, 1)
EMBER_MATMUL_Q_SG(q8_0, 34, 1)
EMBER_MATMUL_Q_SG(q4_k, 144, 8)
EMBER_MATMUL_Q_SG(q5_k, 176, 8)
EMBER_MATMUL_Q_SG(q6_k, 210, 8)
#endif  // EMBER_SUBGROUPS

#ifdef EMBER_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable

// One work-group of WG items per output, as matmul_f16; each item takes 8 elements at a time
// (K a multiple of 8, checked by the host), the tail below 8·WG granularity included.
__kernel void matmul_f16_h(__global const float* x, __global const half* w, __global float* y, int K, int N) {
  __local float scratch[WG];
  const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);
  __global const float* xr = x + (long)m * K;
  __global const half* wr = w + (long)n * K;
  float s = 0;
  for (int k8 = lid; k8 < K / 8; k8 += WG) {
    const half8 p = vload8(k8, wr) * convert_half8(vload8(k8, xr));
    const float8 f = convert_float8(p);
    s += ((f.s0 + f.s1) + (f.s2 + f.s3)) + ((f.s4 + f.s5) + (f.s6 + f.s7));
  }
  s = wg_sum(s, scratch);
  if (lid == 0) y[(long)m * N + n] = s;
}
#endif  // EMBER_FP16
