// Row reductions: one work-group of WG items per row.

__kernel void rms_norm_f32(__global const float* x, __global float* y, int N, float eps) {
  __local float scratch[WG];
  const long r = get_group_id(0);
  const int lid = get_local_id(0);
  __global const float* xr = x + r * N;
  float s = 0;
  for (int i = lid; i < N; i += WG) s += xr[i] * xr[i];
  s = wg_sum(s, scratch);
  const float scale = 1.0f / sqrt(s / N + eps);
  for (int i = lid; i < N; i += WG) y[r * N + i] = xr[i] * scale;
}

__kernel void softmax_f32(__global const float* x, __global float* y, int N) {
  __local float scratch[WG];
  const long r = get_group_id(0);
  const int lid = get_local_id(0);
  __global const float* xr = x + r * N;
  float mx = -INFINITY;
  for (int i = lid; i < N; i += WG) mx = fmax(mx, xr[i]);
  // max-reduce through the same scratch
  scratch[lid] = mx;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  mx = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  float s = 0;
  for (int i = lid; i < N; i += WG) s += exp(xr[i] - mx);
  s = wg_sum(s, scratch);
  const float inv = 1.0f / s;
  for (int i = lid; i < N; i += WG) y[r * N + i] = exp(xr[i] - mx) * inv;
}
