// y[m, n] = Σ_k x[m, k] · w[n, k]. One work-group of WG items per output element (n, m):
// each item sums a strided share of K (whole blocks for quantised types), then the group
// reduces. Activations stay f32 (the CPU backend rounds them to the weight's activation type,
// so results differ from it within the conformance bounds).

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

#define EMBER_MATMUL_Q(NAME, BYTES, ELEM)                                                        \
  __kernel void matmul_##NAME(__global const float* x, __global const uchar* w, __global float* y, \
                              int K, int N) {                                                      \
    __local float scratch[WG];                                                                     \
    const int n = get_group_id(0), m = get_global_id(1), lid = get_local_id(0);                    \
    const int nb = K / 32;                                                                         \
    __global const float* xr = x + (long)m * K;                                                    \
    __global const uchar* wr = w + (long)n * nb * BYTES;                                           \
    float s = 0;                                                                                   \
    for (int b = lid; b < nb; b += WG) {                                                           \
      __global const uchar* blk = wr + b * BYTES;                                                  \
      for (int j = 0; j < 32; ++j) s += xr[b * 32 + j] * ELEM(blk, j);                             \
    }                                                                                              \
    s = wg_sum(s, scratch);                                                                        \
    if (lid == 0) y[(long)m * N + n] = s;                                                          \
  }

EMBER_MATMUL_Q(q4_0, 18, q4_0_elem)
EMBER_MATMUL_Q(q4_1, 20, q4_1_elem)
EMBER_MATMUL_Q(q8_0, 34, q8_0_elem)

// The other shape of the same product: one work-item per output element, a serial loop over K
// (no local memory, no barriers). Which of the two is faster depends on the device (a CPU
// runtime such as PoCL vectorises across work-items; a GPU wants the group reduction when M is
// small); the tuner (backends/opencl/tuner.cpp) times both at first use and keeps the winner.
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

#define EMBER_MATMUL_Q_ITEM(NAME, BYTES, ELEM)                                                        \
  __kernel void matmul_##NAME##_item(__global const float* x, __global const uchar* w, __global float* y, \
                                     int K, int N) {                                                      \
    const int n = get_global_id(0), m = get_global_id(1);                                                \
    if (n >= N) return;                                                                                   \
    const int nb = K / 32;                                                                                \
    __global const float* xr = x + (long)m * K;                                                           \
    __global const uchar* wr = w + (long)n * nb * BYTES;                                                  \
    float s = 0;                                                                                          \
    for (int b = 0; b < nb; ++b) {                                                                        \
      __global const uchar* blk = wr + b * BYTES;                                                         \
      for (int j = 0; j < 32; ++j) s += xr[b * 32 + j] * ELEM(blk, j);                                    \
    }                                                                                                     \
    y[(long)m * N + n] = s;                                                                               \
  }

EMBER_MATMUL_Q_ITEM(q4_0, 18, q4_0_elem)
EMBER_MATMUL_Q_ITEM(q4_1, 20, q4_1_elem)
EMBER_MATMUL_Q_ITEM(q8_0, 34, q8_0_elem)
