// GGUF's quantised blocks, read 32 elements (one "unit") at a time. Blocks of 32 elements are
// one unit; K-quant super-blocks of 256 are 8 units. Per type, with b the block and s the unit:
//   <t>_dot(b, s, x)  = Σ_l value(32s + l) · x[l], l = 0..31
//   <t>_elem(b, s, l) = value(32s + l)
// Layouts (bytes), as in kernels/cpu/quant/quant.h, ember's scalar reference:
//   Q4_0 (18) {half d; uchar qs[16]}                 x = d·(q - 8)
//   Q4_1 (20) {half d, m; uchar qs[16]}              x = d·q + m
//   Q5_0 (22) {half d; uchar qh[4]; uchar qs[16]}    x = d·(q - 16), bit 4 of element j: qh bit j
//   Q5_1 (24) {half d, m; uchar qh[4]; uchar qs[16]} x = d·q + m
//   Q8_0 (34) {half d; char qs[32]}                  x = d·q
//   Q4_K (144) {half d, dmin; uchar scales[12]; uchar qs[128]}: unit s has a 6-bit scale and min
//     (packed, see k_scale_min), its q in the low (s even) or high (s odd) nibbles of
//     qs[32·(s/2) ..]; x = d·sc·q - dmin·m
//   Q5_K (176) {half d, dmin; uchar scales[12]; uchar qh[32]; uchar qs[128]}: as Q4_K, bit 4 of
//     element l of unit s is qh[l] bit s
//   Q6_K (210) {uchar ql[128]; uchar qh[64]; char scales[16]; half d}: unit s = 4h + k
//     (h the 128-half, k 0..3): low 4 bits from ql[64h + 32(k&1) + l] (low nibble for k < 2),
//     high 2 bits (qh[32h + l] >> 2k) & 3; scale scales[8h + 2k + l/16]; x = d·sc·(q - 32)
// In the 32-element types element j < 16 is the low nibble of qs[j], element j + 16 the high.

inline uint u32_at(__global const uchar* p) {
  return (uint)p[0] | (uint)p[1] << 8 | (uint)p[2] << 16 | (uint)p[3] << 24;
}

inline float q4_0_dot(__global const uchar* b, int s, __global const float* x) {
  __global const uchar* qs = b + 2;
  float acc = 0;
  for (int j = 0; j < 16; ++j) acc += (float)((qs[j] & 15) - 8) * x[j] + (float)((qs[j] >> 4) - 8) * x[j + 16];
  return load_half_at(b) * acc;
}
inline float q4_0_elem(__global const uchar* b, int s, int j) {
  const uchar q = b[2 + (j & 15)];
  return load_half_at(b) * (float)((j < 16 ? (q & 15) : (q >> 4)) - 8);
}

inline float q4_1_dot(__global const uchar* b, int s, __global const float* x) {
  __global const uchar* qs = b + 4;
  float acc = 0, sx = 0;
  for (int j = 0; j < 16; ++j) {
    acc += (float)(qs[j] & 15) * x[j] + (float)(qs[j] >> 4) * x[j + 16];
    sx += x[j] + x[j + 16];
  }
  return load_half_at(b) * acc + load_half_at(b + 2) * sx;
}
inline float q4_1_elem(__global const uchar* b, int s, int j) {
  const uchar q = b[4 + (j & 15)];
  return load_half_at(b) * (float)(j < 16 ? (q & 15) : (q >> 4)) + load_half_at(b + 2);
}

inline int q5_at(__global const uchar* qs, uint qh, int j) {
  const int lo = j < 16 ? (qs[j & 15] & 15) : (qs[j & 15] >> 4);
  return lo | (int)((qh >> j) & 1u) << 4;
}
inline float q5_0_dot(__global const uchar* b, int s, __global const float* x) {
  const uint qh = u32_at(b + 2);
  __global const uchar* qs = b + 6;
  float acc = 0;
  for (int j = 0; j < 32; ++j) acc += (float)(q5_at(qs, qh, j) - 16) * x[j];
  return load_half_at(b) * acc;
}
inline float q5_0_elem(__global const uchar* b, int s, int j) {
  return load_half_at(b) * (float)(q5_at(b + 6, u32_at(b + 2), j) - 16);
}

inline float q5_1_dot(__global const uchar* b, int s, __global const float* x) {
  const uint qh = u32_at(b + 4);
  __global const uchar* qs = b + 8;
  float acc = 0, sx = 0;
  for (int j = 0; j < 32; ++j) {
    acc += (float)q5_at(qs, qh, j) * x[j];
    sx += x[j];
  }
  return load_half_at(b) * acc + load_half_at(b + 2) * sx;
}
inline float q5_1_elem(__global const uchar* b, int s, int j) {
  return load_half_at(b) * (float)q5_at(b + 8, u32_at(b + 4), j) + load_half_at(b + 2);
}

inline float q8_0_dot(__global const uchar* b, int s, __global const float* x) {
  __global const char* qs = (__global const char*)(b + 2);
  float acc = 0;
  for (int j = 0; j < 32; ++j) acc += (float)qs[j] * x[j];
  return load_half_at(b) * acc;
}
inline float q8_0_elem(__global const uchar* b, int s, int j) {
  return load_half_at(b) * (float)((__global const char*)b)[2 + j];
}

// The 6-bit scale and min of unit s of a Q4_K / Q5_K block (`sc` = the 12 packed bytes).
inline void k_scale_min(__global const uchar* sc, int s, float* scale, float* min) {
  if (s < 4) {
    *scale = (float)(sc[s] & 63);
    *min = (float)(sc[s + 4] & 63);
  } else {
    *scale = (float)((sc[s + 4] & 15) | (sc[s - 4] >> 6) << 4);
    *min = (float)((sc[s + 4] >> 4) | (sc[s] >> 6) << 4);
  }
}

inline float q4_k_dot(__global const uchar* b, int s, __global const float* x) {
  float sc, mn;
  k_scale_min(b + 4, s, &sc, &mn);
  __global const uchar* q = b + 16 + 32 * (s >> 1);
  const int shift = (s & 1) * 4;
  float acc = 0, sx = 0;
  for (int l = 0; l < 32; ++l) {
    acc += (float)((q[l] >> shift) & 15) * x[l];
    sx += x[l];
  }
  return load_half_at(b) * sc * acc - load_half_at(b + 2) * mn * sx;
}
inline float q4_k_elem(__global const uchar* b, int s, int l) {
  float sc, mn;
  k_scale_min(b + 4, s, &sc, &mn);
  const int q = (b[16 + 32 * (s >> 1) + l] >> ((s & 1) * 4)) & 15;
  return load_half_at(b) * sc * (float)q - load_half_at(b + 2) * mn;
}

inline float q5_k_dot(__global const uchar* b, int s, __global const float* x) {
  float sc, mn;
  k_scale_min(b + 4, s, &sc, &mn);
  __global const uchar* qh = b + 16;
  __global const uchar* q = b + 48 + 32 * (s >> 1);
  const int shift = (s & 1) * 4;
  float acc = 0, sx = 0;
  for (int l = 0; l < 32; ++l) {
    acc += (float)(((q[l] >> shift) & 15) | ((qh[l] >> s) & 1) << 4) * x[l];
    sx += x[l];
  }
  return load_half_at(b) * sc * acc - load_half_at(b + 2) * mn * sx;
}
inline float q5_k_elem(__global const uchar* b, int s, int l) {
  float sc, mn;
  k_scale_min(b + 4, s, &sc, &mn);
  const int q = ((b[48 + 32 * (s >> 1) + l] >> ((s & 1) * 4)) & 15) | ((b[16 + l] >> s) & 1) << 4;
  return load_half_at(b) * sc * (float)q - load_half_at(b + 2) * mn;
}

inline int q6_k_at(__global const uchar* b, int s, int l) {
  const int h = s >> 2, k = s & 3;
  const int lo = (b[64 * h + 32 * (k & 1) + l] >> ((k >> 1) * 4)) & 15;
  const int hi = (b[128 + 32 * h + l] >> (2 * k)) & 3;
  return (lo | hi << 4) - 32;
}
inline float q6_k_dot(__global const uchar* b, int s, __global const float* x) {
  __global const char* sc = (__global const char*)(b + 192) + 8 * (s >> 2) + 2 * (s & 3);
  float a0 = 0, a1 = 0;
  for (int l = 0; l < 16; ++l) {
    a0 += (float)q6_k_at(b, s, l) * x[l];
    a1 += (float)q6_k_at(b, s, l + 16) * x[l + 16];
  }
  return load_half_at(b + 208) * ((float)sc[0] * a0 + (float)sc[1] * a1);
}
inline float q6_k_elem(__global const uchar* b, int s, int l) {
  const char sc = ((__global const char*)(b + 192))[8 * (s >> 2) + 2 * (s & 3) + l / 16];
  return load_half_at(b + 208) * (float)sc * (float)q6_k_at(b, s, l);
}

// Element e of a row of `dtype` (an EMBER_DTYPE_* id) starting at `row`.
inline float row_elem(__global const uchar* row, long e, int dtype) {
  switch (dtype) {
    case 0: return ((__global const float*)row)[e];
    case 1: return vload_half(e, (__global const half*)row);
    case 30: return bf16_at((__global const ushort*)row, e);
  }
  const long u = e / 32;
  const int l = e % 32;
  switch (dtype) {
    case 2: return q4_0_elem(row + u * 18, 0, l);
    case 3: return q4_1_elem(row + u * 20, 0, l);
    case 6: return q5_0_elem(row + u * 22, 0, l);
    case 7: return q5_1_elem(row + u * 24, 0, l);
    case 8: return q8_0_elem(row + u * 34, 0, l);
    case 12: return q4_k_elem(row + u / 8 * 144, u % 8, l);
    case 13: return q5_k_elem(row + u / 8 * 176, u % 8, l);
    case 14: return q6_k_elem(row + u / 8 * 210, u % 8, l);
  }
  return NAN;
}
