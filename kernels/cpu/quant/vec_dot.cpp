// Scalar dot products of one weight row against one activation row, paired as llama.cpp's CPU
// backend pairs them (q4_0/q5_0/q8_0 with q8_0, q4_1/q5_1 with q8_1, K-quants with q8_K).
// Exact integer sums inside a block, one float scaling per block, f32 accumulation.
#include <cassert>
#include <cmath>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"

namespace ember::kernels {

namespace {

inline uint32_t load_u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// Sum over a 32-block of (nibble/5-bit value [+ offset]) * a; weights given as 16 packed bytes.
inline int dot_nibbles(const uint8_t* qs, const int8_t* a, int offset) {
  int s = 0;
  for (int j = 0; j < 16; ++j) {
    s += ((qs[j] & 0x0f) + offset) * a[j];
    s += ((qs[j] >> 4) + offset) * a[j + 16];
  }
  return s;
}

inline int dot_5bit(const uint8_t* qs, uint32_t qh, const int8_t* a, int offset) {
  int s = 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0x0f) | static_cast<int>((qh >> j) & 1u) << 4;
    const int hi = (qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    s += (lo + offset) * a[j];
    s += (hi + offset) * a[j + 16];
  }
  return s;
}

}  // namespace

float vec_dot_f32_f32(int64_t n, const void* w, const void* a) {
  assert(n >= 0);
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += x[i] * y[i];
  return acc;
}

float vec_dot_f32_f32_lanes(int64_t n, const void* w, const void* a) {
  assert(n >= 0);
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  if (n % 8 == 0) {
    float l[8] = {};
    for (int64_t i = 0; i < n; i += 8)
      for (int j = 0; j < 8; ++j) l[j] = std::fma(x[i + j], y[i + j], l[j]);
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
  }
  return vec_dot_f32_f32_x4_lanes(n, w, a);
}

float vec_dot_f32_f32_x4_lanes(int64_t n, const void* w, const void* a) {
  assert(n >= 0);
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  const int64_t np = n & ~int64_t{31};
  float s[4][8] = {};
  for (int64_t i = 0; i < np; i += 32)
    for (int v = 0; v < 4; ++v)
      for (int j = 0; j < 8; ++j) s[v][j] = std::fma(x[i + 8 * v + j], y[i + 8 * v + j], s[v][j]);
  float h[4];
  for (int j = 0; j < 4; ++j) {
    const float lo = (s[0][j] + s[2][j]) + (s[1][j] + s[3][j]);
    const float hi = (s[0][j + 4] + s[2][j + 4]) + (s[1][j + 4] + s[3][j + 4]);
    h[j] = lo + hi;
  }
  float sum = (h[0] + h[1]) + (h[2] + h[3]);
  for (int64_t i = np; i < n; ++i) sum = std::fma(x[i], y[i], sum);
  return sum;
}

float vec_dot_f16_f16(int64_t n, const void* w, const void* a) {
  assert(n >= 0);
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += fp16_to_f32(x[i]) * fp16_to_f32(y[i]);
  return acc;
}

float vec_dot_bf16_bf16(int64_t n, const void* w, const void* a) {
  assert(n >= 0);
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += bf16_to_f32(x[i]) * bf16_to_f32(y[i]);
  return acc;
}

float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* a) {
  assert(n % kQK == 0);
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int s = dot_nibbles(x[i].qs, y[i].qs, -8);
    acc += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * static_cast<float>(s);
  }
  return acc;
}

float vec_dot_q4_1_q8_1(int64_t n, const void* w, const void* a) {
  assert(n % kQK == 0);
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int s = dot_nibbles(x[i].qs, y[i].qs, 0);
    acc += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * static_cast<float>(s) +
           fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return acc;
}

float vec_dot_q4_1_q8_1_bs(int64_t n, const void* w, const void* a) {
  assert(n % kQK == 0);
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int s = dot_nibbles(x[i].qs, y[i].qs, 0);
    const float d = fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d);
    acc = std::fma(d, static_cast<float>(s), acc);
    acc = std::fma(fp16_to_f32(x[i].m), fp16_to_f32(y[i].s), acc);
  }
  return acc;
}

float vec_dot_q8_0_q8_0_bs(int64_t n, const void* w, const void* a) {
  assert(n % kQK == 0);
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int s = 0;
    for (int j = 0; j < kQK; ++j) s += x[i].qs[j] * y[i].qs[j];
    acc = std::fma(fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d), static_cast<float>(s), acc);
  }
  return acc;
}

float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* a) {
  assert(n % kQK == 0);
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int s = dot_5bit(x[i].qs, load_u32le(x[i].qh), y[i].qs, -16);
    acc += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * static_cast<float>(s);
  }
  return acc;
}

float vec_dot_q5_1_q8_1(int64_t n, const void* w, const void* a) {
  assert(n % kQK == 0);
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const int s = dot_5bit(x[i].qs, load_u32le(x[i].qh), y[i].qs, 0);
    acc += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * static_cast<float>(s) +
           fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return acc;
}

float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* a) {
  assert(n % kQK == 0);
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int s = 0;
    for (int j = 0; j < kQK; ++j) s += x[i].qs[j] * y[i].qs[j];
    acc += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * static_cast<float>(s);
  }
  return acc;
}

float vec_dot_q4_K_q8_K(int64_t n, const void* w, const void* a) {
  assert(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int isum = 0, msum = 0;
    const uint8_t* q = x[i].qs;
    const int8_t* q8 = y[i].qs;
    for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
      uint8_t sc0, m0, sc1, m1;
      unpack_k_scale_min(x[i].scales, 2 * c, &sc0, &m0);
      unpack_k_scale_min(x[i].scales, 2 * c + 1, &sc1, &m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += (q[l] & 0x0f) * q8[l];
        s1 += (q[l] >> 4) * q8[l + 32];
      }
      isum += sc0 * s0 + sc1 * s1;
      msum += m0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) +
              m1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
    }
    const float d = fp16_to_f32(x[i].d) * y[i].d;
    const float dmin = fp16_to_f32(x[i].dmin) * y[i].d;
    acc += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return acc;
}

namespace {

// Per pair of sub-blocks c (64 elements) of a q4_K super-block: sums[c] = sc[2c] * (q . q8 of
// sub-block 2c) + sc[2c+1] * (same for 2c+1), mins[c] = the same with the mins and the q8 sums.
void q4_K_pair_sums(const BlockQ4_K& x, const BlockQ8_K& y, int sums[4], int mins[4]) {
  const uint8_t* q = x.qs;
  const int8_t* q8 = y.qs;
  for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
    uint8_t sc0, m0, sc1, m1;
    unpack_k_scale_min(x.scales, 2 * c, &sc0, &m0);
    unpack_k_scale_min(x.scales, 2 * c + 1, &sc1, &m1);
    int s0 = 0, s1 = 0;
    for (int l = 0; l < 32; ++l) {
      s0 += (q[l] & 0x0f) * q8[l];
      s1 += (q[l] >> 4) * q8[l + 32];
    }
    sums[c] = sc0 * s0 + sc1 * s1;
    mins[c] = m0 * (y.bsums[4 * c] + y.bsums[4 * c + 1]) + m1 * (y.bsums[4 * c + 2] + y.bsums[4 * c + 3]);
  }
}

}  // namespace

float vec_dot_q4_K_q8_K_x8(int64_t n, const void* w, const void* a) {
  assert(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f, acc_m = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int sums[4], mins[4];
    q4_K_pair_sums(x[i], y[i], sums, mins);
    const int isum = sums[0] + sums[1] + sums[2] + sums[3];
    const int msum = mins[0] + mins[1] + mins[2] + mins[3];
    acc = std::fma(static_cast<float>(isum), fp16_to_f32(x[i].d) * y[i].d, acc);
    acc_m = std::fma(static_cast<float>(msum), fp16_to_f32(x[i].dmin) * y[i].d, acc_m);
  }
  return acc - acc_m;
}

float vec_dot_q4_K_q8_K_x8_gemm(int64_t n, const void* w, const void* a) {
  assert(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f, acc_m = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int sums[4], mins[4];
    q4_K_pair_sums(x[i], y[i], sums, mins);
    const float d = fp16_to_f32(x[i].d) * y[i].d, dmin = fp16_to_f32(x[i].dmin) * y[i].d;
    for (int c = 0; c < 4; ++c) {
      acc = std::fma(static_cast<float>(sums[c]), d, acc);
      acc_m = std::fma(static_cast<float>(mins[c]), dmin, acc_m);
    }
  }
  return acc - acc_m;
}

float vec_dot_q5_K_q8_K(int64_t n, const void* w, const void* a) {
  assert(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int isum = 0, msum = 0;
    const uint8_t* q = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const int8_t* q8 = y[i].qs;
    for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
      uint8_t sc0, m0, sc1, m1;
      unpack_k_scale_min(x[i].scales, 2 * c, &sc0, &m0);
      unpack_k_scale_min(x[i].scales, 2 * c + 1, &sc1, &m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += ((q[l] & 0x0f) | ((qh[l] >> (2 * c)) & 1) << 4) * q8[l];
        s1 += ((q[l] >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4) * q8[l + 32];
      }
      isum += sc0 * s0 + sc1 * s1;
      msum += m0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) +
              m1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
    }
    const float d = fp16_to_f32(x[i].d) * y[i].d;
    const float dmin = fp16_to_f32(x[i].dmin) * y[i].d;
    acc += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return acc;
}

namespace {

// The exact integer sum of a q6_K super-block against a q8_K one: sum over groups of
// scale * sum((q - 32) * q8).
int q6_K_block_sum(const BlockQ6_K& x, const BlockQ8_K& y) {
  int isum = 0;
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = x.ql + 64 * h;
    const uint8_t* qh = x.qh + 32 * h;
    const int8_t* sc = x.scales + 8 * h;
    const int8_t* q8 = y.qs + 128 * h;
    for (int g = 0; g < 2; ++g) {  // 16-element halves of each 32-run
      int s[4] = {0, 0, 0, 0};
      for (int l = 16 * g; l < 16 * g + 16; ++l) {
        s[0] += (((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32) * q8[l];
        s[1] += (((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32) * q8[l + 32];
        s[2] += (((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32) * q8[l + 64];
        s[3] += (((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32) * q8[l + 96];
      }
      for (int k = 0; k < 4; ++k) isum += sc[g + 2 * k] * s[k];
    }
  }
  return isum;
}

}  // namespace

float vec_dot_q6_K_q8_K(int64_t n, const void* w, const void* a) {
  assert(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i)
    acc += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(q6_K_block_sum(x[i], y[i]));
  return acc;
}

float vec_dot_q6_K_q8_K_tiled(int64_t n, const void* w, const void* a) {
  assert(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float t = fp16_to_f32(x[i].d) * static_cast<float>(q6_K_block_sum(x[i], y[i]));
    acc = std::fma(t, y[i].d, acc);
  }
  return acc;
}

}  // namespace ember::kernels
