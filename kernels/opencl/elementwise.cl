// Elementwise ops, one item per output element. `bcast` != 0: b is one row of N broadcast
// over a's rows.

inline float silu(float v) { return v / (1.0f + exp(-v)); }

__kernel void add_f32(__global const float* a, __global const float* b, __global float* y, int N, int bcast) {
  const long i = get_global_id(0);
  y[i] = a[i] + b[bcast ? i % N : i];
}
__kernel void mul_f32(__global const float* a, __global const float* b, __global float* y, int N, int bcast) {
  const long i = get_global_id(0);
  y[i] = a[i] * b[bcast ? i % N : i];
}
__kernel void silu_mul_f32(__global const float* g, __global const float* u, __global float* y, int N, int bcast) {
  const long i = get_global_id(0);
  y[i] = silu(g[i]) * u[bcast ? i % N : i];
}
__kernel void silu_f32(__global const float* x, __global float* y) {
  const long i = get_global_id(0);
  y[i] = silu(x[i]);
}
