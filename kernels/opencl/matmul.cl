// y[m, n] = Σ_k x[m, k] · w[n, k]. Activations stay f32 (the CPU backend rounds them to the
// weight's activation type, so results differ from it within the conformance bounds).
//
// Two shapes of the same product per weight type; which is faster depends on the device (a
// CPU runtime such as PoCL vectorises across work-items; a GPU wants the group reduction when
// M is small), so the tuner (backends/opencl/tuner.cpp) times them at first use:
//   matmul_<t>       one work-group of WG items per output element (n, m): each item sums a
//                    strided share of K (whole 32-element units for quantised types), then the
//                    group reduces in local memory
//   matmul_<t>_item  one work-item per output element, a serial loop over K (no local memory,
//                    no barriers); its work-group size is the tuner's
// Quantised rows are read 32 elements at a time through quant.cl's <t>_dot (UNITS 32-element
// units per block of BYTES bytes).

__kernel void matmul_f32(__global const float* x, __global const float* w, __global float* y, int K, int N) {
  __local float scratch[WG];
  const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);
  __global const float* xr = x + (long)m * K;
  __global const float* wr = w + (long)n * K;
  float s = 0;
  for (int k = lid; k < K; k += WG) s += xr[k] * wr[k];
  s = wg_sum(s, scratch);
  if (lid == 0) y[(long)m * N + n] = s;
}

__kernel void matmul_f16(__global const float* x, __global const half* w, __global float* y, int K, int N) {
  __local float scratch[WG];
  const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);
  __global const float* xr = x + (long)m * K;
  __global const half* wr = w + (long)n * K;
  float s = 0;
  for (int k = lid; k < K; k += WG) s += xr[k] * vload_half(k, wr);
  s = wg_sum(s, scratch);
  if (lid == 0) y[(long)m * N + n] = s;
}

__kernel void matmul_bf16(__global const float* x, __global const ushort* w, __global float* y, int K, int N) {
  __local float scratch[WG];
  const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);
  __global const float* xr = x + (long)m * K;
  __global const ushort* wr = w + (long)n * K;
  float s = 0;
  for (int k = lid; k < K; k += WG) s += xr[k] * bf16_at(wr, k);
  s = wg_sum(s, scratch);
  if (lid == 0) y[(long)m * N + n] = s;
}

#define EMBER_MATMUL_Q(NAME, BYTES, UNITS)                                                          \
  __kernel void matmul_##NAME(__global const float* x, __global const uchar* w, __global float* y,   \
                              int K, int N) {                                                        \
    __local float scratch[WG];                                                                       \
    const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);                      \
    const int nu = K / 32;                                                                           \
    __global const float* xr = x + (long)m * K;                                                      \
    __global const uchar* wr = w + (long)n * (nu / UNITS) * BYTES;                                   \
    float s = 0;                                                                                     \
    for (int u = lid; u < nu; u += WG) s += NAME##_dot(wr + (u / UNITS) * BYTES, u % UNITS, xr + u * 32); \
    s = wg_sum(s, scratch);                                                                          \
    if (lid == 0) y[(long)m * N + n] = s;                                                            \
  }

__kernel void matmul_f32_item(__global const float* x, __global const float* w, __global float* y, int K, int N) {
  const int n = get_global_id(0), m = get_global_id(1);
  if (n >= N) return;
  __global const float* xr = x + (long)m * K;
  __global const float* wr = w + (long)n * K;
  float s = 0;
  for (int k = 0; k < K; ++k) s += xr[k] * wr[k];
  y[(long)m * N + n] = s;
}

__kernel void matmul_f16_item(__global const float* x, __global const half* w, __global float* y, int K, int N) {
  const int n = get_global_id(0), m = get_global_id(1);
  if (n >= N) return;
  __global const float* xr = x + (long)m * K;
  __global const half* wr = w + (long)n * K;
  float s = 0;
  for (int k = 0; k < K; ++k) s += xr[k] * vload_half(k, wr);
  y[(long)m * N + n] = s;
}

__kernel void matmul_bf16_item(__global const float* x, __global const ushort* w, __global float* y, int K, int N) {
  const int n = get_global_id(0), m = get_global_id(1);
  if (n >= N) return;
  __global const float* xr = x + (long)m * K;
  __global const ushort* wr = w + (long)n * K;
  float s = 0;
  for (int k = 0; k < K; ++k) s += xr[k] * bf16_at(wr, k);
  y[(long)m * N + n] = s;
}

#define EMBER_MATMUL_Q_ITEM(NAME, BYTES, UNITS)                                                          \
  __kernel void matmul_##NAME##_item(__global const float* x, __global const uchar* w, __global float* y, \
                                     int K, int N) {                                                      \
    const int n = get_global_id(0), m = get_global_id(1);                                                \
    if (n >= N) return;                                                                                   \
    const int nb = K / (32 * UNITS);                                                                      \
    __global const float* xr = x + (long)m * K;                                                           \
    __global const uchar* wr = w + (long)n * nb * BYTES;                                                  \
    float s = 0;                                                                                          \
    for (int b = 0; b < nb; ++b)                                                                          \
      for (int u = 0; u < UNITS; ++u) s += NAME##_dot(wr + b * BYTES, u, xr + (b * UNITS + u) * 32);      \
    y[(long)m * N + n] = s;                                                                               \
  }

#define EMBER_MATMUL_Q_ALL(NAME, BYTES, UNITS) \
  EMBER_MATMUL_Q(NAME, BYTES, UNITS)           \
  EMBER_MATMUL_Q_ITEM(NAME, BYTES, UNITS)

EMBER_MATMUL_Q_ALL(q4_0, 18, 1)
EMBER_MATMUL_Q_ALL(q4_1, 20, 1)
EMBER_MATMUL_Q_ALL(q5_0, 22, 1)
EMBER_MATMUL_Q_ALL(q5_1, 24, 1)
EMBER_MATMUL_Q_ALL(q8_0, 34, 1)
EMBER_MATMUL_Q_ALL(q4_k, 144, 8)
EMBER_MATMUL_Q_ALL(q5_k, 176, 8)
EMBER_MATMUL_Q_ALL(q6_k, 210, 8)
