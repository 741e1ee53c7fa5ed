// Shared by every ember OpenCL kernel. Built with -DWG=<work-group size for reductions>.
// f16 values are read and written with vload_half/vstore_half (core OpenCL: no cl_khr_fp16
// needed). Quantised blocks are GGUF's: Q4_0 {half d; uchar qs[16]}, Q4_1 {half d, m;
// uchar qs[16]}, Q8_0 {half d; char qs[32]}; element j < 16 of a Q4 block is the low
// nibble of qs[j], element j + 16 the high nibble.

#ifndef WG
#define WG 64
#endif

inline float load_half_at(__global const uchar* p) { return vload_half(0, (__global const half*)p); }

// Element j (0..31) of a block, for the quantised types.
inline float q4_0_elem(__global const uchar* b, int j) {
  const float d = load_half_at(b);
  const uchar q = b[2 + (j & 15)];
  return d * (float)((j < 16 ? (q & 15) : (q >> 4)) - 8);
}
inline float q4_1_elem(__global const uchar* b, int j) {
  const float d = load_half_at(b), m = load_half_at(b + 2);
  const uchar q = b[4 + (j & 15)];
  return d * (float)(j < 16 ? (q & 15) : (q >> 4)) + m;
}
inline float q8_0_elem(__global const uchar* b, int j) {
  return load_half_at(b) * (float)((__global const char*)b)[2 + j];
}

// Work-group sum of v (every item gets the result). `scratch` holds WG floats.
inline float wg_sum(float v, __local float* scratch) {
  const int lid = get_local_id(0);
  scratch[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] += scratch[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float r = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}
