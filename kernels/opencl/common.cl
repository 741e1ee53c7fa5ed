// Shared by every ember OpenCL kernel. Built with -DWG=<work-group size for reductions>.
// f16 values are read and written with vload_half/vstore_half (core OpenCL: no cl_khr_fp16
// needed); bf16 is the top half of an f32.

#ifndef WG
#define WG 64
#endif

inline float load_half_at(__global const uchar* p) { return vload_half(0, (__global const half*)p); }
inline float bf16_at(__global const ushort* p, long i) { return as_float((uint)p[i] << 16); }

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
