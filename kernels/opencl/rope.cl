// Rotary embedding, one item per (token, head). Pair i turns by pos·freq_scale·base^(-2i/n_rot),
// the angle built by repeated multiplication as the CPU backend (and llama.cpp) build it.
// mode 0 pairs (2i, 2i+1); mode 1 (NeoX) pairs (i, i + n_rot/2). Dimensions past n_rot copy.
__kernel void rope_f32(__global const float* x, __global const int* pos, __global float* y, int H, int D,
                       int n_rot, int mode, float theta_scale, float freq_scale) {
  const int t = get_global_id(0) / H, h = get_global_id(0) % H;
  __global const float* xr = x + ((long)t * H + h) * D;
  __global float* yr = y + ((long)t * H + h) * D;
  float theta = (float)pos[t];
  for (int i = 0; i < n_rot / 2; ++i) {
    const float th = freq_scale * theta;
    const float c = cos(th), s = sin(th);
    const int i0 = mode ? i : 2 * i, i1 = mode ? i + n_rot / 2 : 2 * i + 1;
    const float x0 = xr[i0], x1 = xr[i1];
    yr[i0] = fma(x0, c, -(x1 * s));
    yr[i1] = fma(x0, s, x1 * c);
    theta *= theta_scale;
  }
  for (int i = n_rot; i < D; ++i) yr[i] = xr[i];
}
