// Scalar IEEE half (binary16) and bfloat16 <-> binary32 conversions.
//
// Widening is exact. Narrowing rounds to nearest, ties to even, keeps subnormals (no flush to
// zero), overflows to infinity and turns NaN into a quiet NaN that keeps the sign and the top
// payload bits — the same results as x86 F16C (vcvtps2ph, imm 0) and as ggml's bf16 conversion.
#pragma once

#include <cassert>
#include <cstdint>
#include <cstring>

namespace ember::kernels {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return f32_from_bits(sign);
  // Subnormal half: normalise into a binary32 normal.
  uint32_t e = 113;  // biased f32 exponent of 2^-14
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return f32_from_bits(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

inline uint16_t f32_to_fp16(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u)  // NaN: quiet, keep top payload bits
    return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (a >= 0x38800000u) {  // normal half range (>= 2^-14)
    const uint32_t r = a + 0x0fffu + ((a >> 13) & 1u);  // round to nearest even at bit 13
    return static_cast<uint16_t>(sign | ((r - (112u << 23)) >> 13));
  }
  if (a <= 0x33000000u) return sign;  // <= 2^-25: rounds to (signed) zero
  // Subnormal half: value in units of 2^-24 is mant >> shift, rounded to nearest even.
  const uint32_t e = a >> 23;
  const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

inline float bf16_to_f32(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline void fp16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  assert(n >= 0);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(src[i]);
}

inline void f32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) {
  assert(n >= 0);
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_fp16(src[i]);
}

inline void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  assert(n >= 0);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

inline void f32_to_bf16_row(const float* src, uint16_t* dst, int64_t n) {
  assert(n >= 0);
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace ember::kernels
