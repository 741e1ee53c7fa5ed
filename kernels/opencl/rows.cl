// Row lookups, one item per output element: embedding (a table of any supported type,
// dequantised through quant.cl's row_elem) and get_rows (f32).

__kernel void embedding(__global const uchar* table, __global const int* ids, __global float* y, int E,
                        int row_bytes, int dtype) {
  const long i = get_global_id(0);
  const int r = i / E, e = i % E;
  y[i] = row_elem(table + (long)ids[r] * row_bytes, e, dtype);
}

__kernel void get_rows_f32(__global const float* x, __global const int* rows, __global float* y, int E) {
  const long i = get_global_id(0);
  y[i] = x[(long)rows[i / E] * E + i % E];
}
