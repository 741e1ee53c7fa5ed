// Row lookups, one item per output element: embedding (a table of any supported type,
// dequantised) and get_rows (f32).

__kernel void embedding(__global const uchar* table, __global const int* ids, __global float* y, int E,
                        int dtype) {
  const long i = get_global_id(0);
  const int r = i / E, e = i % E;
  const long row = ids[r];
  float v;
  if (dtype == 0) {
    v = ((__global const float*)table)[row * E + e];
  } else if (dtype == 1) {
    v = vload_half(row * E + e, (__global const half*)table);
  } else {
    const int bytes = dtype == 2 ? 18 : dtype == 3 ? 20 : 34;
    __global const uchar* blk = table + (row * (E / 32) + e / 32) * bytes;
    v = dtype == 2 ? q4_0_elem(blk, e % 32) : dtype == 3 ? q4_1_elem(blk, e % 32) : q8_0_elem(blk, e % 32);
  }
  y[i] = v;
}

__kernel void get_rows_f32(__global const float* x, __global const int* rows, __global float* y, int E) {
  const long i = get_global_id(0);
  y[i] = x[(long)rows[i / E] * E + i % E];
}
