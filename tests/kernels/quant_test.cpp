// Scalar fp16/bf16 conversions, ggml block dequantisation, activation quantisation and dot
// products (kernels/cpu/fp16.h, kernels/cpu/quant/).
//
// Goldens in tests/data/quant/ come from scripts/golden/make_quant_goldens.py: dequantisation from
// the gguf PyPI package, q8_0 reference quantisation from gguf.quants.quantize, and llama.cpp's own
// CPU-backend activation quantisation and vec_dot (llama-cpp-python 0.3.36, x86 AVX2 build).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant/quant.h"
#include "support/test_support.h"

namespace ek = ember::kernels;

namespace {

// ---------------------------------------------------------------------------------------------
// Test-local references, written from the format descriptions rather than from the kernels.

// Value of an IEEE binary16 bit pattern, by the textbook formula (NaN: returns NaN).
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31) v = m ? std::nan("") : INFINITY;
  else if (e == 0) v = std::ldexp(static_cast<double>(m), -24);
  else v = std::ldexp(static_cast<double>(1024 + m), e - 25);
  return s ? -v : v;
}

double bf16_value(uint16_t b) {
  const int s = b >> 15, e = (b >> 7) & 255, m = b & 127;
  double v;
  if (e == 255) v = m ? std::nan("") : INFINITY;
  else if (e == 0) v = std::ldexp(static_cast<double>(m), -133);
  else v = std::ldexp(static_cast<double>(128 + m), e - 134);
  return s ? -v : v;
}

// Nearest binary16 value to x (ties to even), by scaling to the ulp of x's binade.
double nearest_half(double x) {
  if (std::isnan(x) || std::isinf(x)) return x;
  const double ax = std::fabs(x);
  if (ax == 0) return x;
  int e = static_cast<int>(std::floor(std::log2(ax)));
  if (std::ldexp(1.0, e) > ax) --e;  // guard log2 rounding
  if (std::ldexp(1.0, e + 1) <= ax) ++e;
  if (e < -14) e = -14;
  const double ulp = std::ldexp(1.0, e - 10);
  const double r = std::nearbyint(ax / ulp) * ulp;
  const double v = r > 65504.0 ? INFINITY : r;
  return x < 0 ? -v : v;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Reads nbits from a little-endian bit stream (bit 0 = LSB of byte 0).
unsigned bits(const uint8_t* p, int pos, int nbits) {
  unsigned v = 0;
  for (int k = 0; k < nbits; ++k) v |= ((p[(pos + k) / 8] >> ((pos + k) % 8)) & 1u) << k;
  return v;
}
double f16_at(const uint8_t* p, int byte) { return half_value(static_cast<uint16_t>(bits(p, 8 * byte, 16))); }
int i8_at(const uint8_t* p, int byte) { return static_cast<int8_t>(p[byte]); }

// Element e of one block as mul + add (value = mul + add), both exact in double.
struct Elem {
  double mul, add;
};

Elem ref_elem(uint32_t type, const uint8_t* b, int e) {
  switch (type) {
    case ek::kTypeQ4_0: {
      const int q = bits(b, 8 * (2 + e % 16) + 4 * (e / 16), 4);
      return {f16_at(b, 0) * (q - 8), 0};
    }
    case ek::kTypeQ4_1: {
      const int q = bits(b, 8 * (4 + e % 16) + 4 * (e / 16), 4);
      return {f16_at(b, 0) * q, f16_at(b, 2)};
    }
    case ek::kTypeQ5_0: {
      const int q = bits(b, 8 * (6 + e % 16) + 4 * (e / 16), 4) | bits(b, 16 + e, 1) << 4;
      return {f16_at(b, 0) * (q - 16), 0};
    }
    case ek::kTypeQ5_1: {
      const int q = bits(b, 8 * (8 + e % 16) + 4 * (e / 16), 4) | bits(b, 32 + e, 1) << 4;
      return {f16_at(b, 0) * q, f16_at(b, 2)};
    }
    case ek::kTypeQ8_0: return {f16_at(b, 0) * i8_at(b, 2 + e), 0};
    case ek::kTypeQ8_1: return {f16_at(b, 0) * i8_at(b, 4 + e), 0};
    case ek::kTypeQ4_K:
    case ek::kTypeQ5_K: {
      // scales at byte 4: bytes 0-3 low 6 bits = sc0-3, bytes 4-7 low 6 bits = m0-3,
      // bytes 8-11 = sc4-7 (low nibble) | m4-7 (high nibble), whose top 2 bits sit in the top
      // 2 bits of bytes 0-3 (sc) and 4-7 (m).
      const int sub = e / 32, l = e % 32;
      const int S = 8 * 4;
      unsigned sc, m;
      if (sub < 4) {
        sc = bits(b, S + 8 * sub, 6);
        m = bits(b, S + 8 * (sub + 4), 6);
      } else {
        sc = bits(b, S + 8 * (sub + 4), 4) | bits(b, S + 8 * (sub - 4) + 6, 2) << 4;
        m = bits(b, S + 8 * (sub + 4) + 4, 4) | bits(b, S + 8 * sub + 6, 2) << 4;
      }
      const bool k5 = type == ek::kTypeQ5_K;
      const int qs_byte = k5 ? 48 : 16;
      int q = bits(b, 8 * (qs_byte + 32 * (sub / 2) + l) + 4 * (sub % 2), 4);
      if (k5) q |= bits(b, 8 * (16 + l) + sub, 1) << 4;
      return {f16_at(b, 0) * sc * q, -f16_at(b, 2) * m};
    }
    case ek::kTypeQ6_K: {
      const int half = e / 128, r = e % 128, k = r / 32, l = r % 32;
      const int lo = bits(b, 8 * (64 * half + 32 * (k % 2) + l) + 4 * (k / 2), 4);
      const int hi = bits(b, 8 * (128 + 32 * half + l) + 2 * k, 2);
      const int sc = i8_at(b, 192 + 8 * half + 2 * k + l / 16);
      return {f16_at(b, 208) * sc * ((lo | hi << 4) - 32), 0};
    }
    case ek::kTypeQ8_K: {
      float d;
      std::memcpy(&d, b, 4);
      return {static_cast<double>(d) * i8_at(b, 4 + e), 0};
    }
    case ek::kTypeF16: return {half_value(static_cast<uint16_t>(b[0] | b[1] << 8)), 0};
    case ek::kTypeBF16: return {bf16_value(static_cast<uint16_t>(b[0] | b[1] << 8)), 0};
    case ek::kTypeF32: {
      float f;
      std::memcpy(&f, b, 4);
      return {f, 0};
    }
  }
  ADD_FAILURE() << "no reference for type " << type;
  return {0, 0};
}

std::vector<Elem> ref_row(uint32_t type, const uint8_t* src, int64_t n) {
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(type);
  std::vector<Elem> out;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t blk = i / k->block_elems;
    out.push_back(ref_elem(type, src + blk * k->block_bytes, static_cast<int>(i % k->block_elems)));
  }
  return out;
}

// Offsets of the f16 scale fields per type, and whether they must be positive.
struct ScaleField {
  int offset;
  bool positive;
};
std::vector<ScaleField> scale_fields(uint32_t type) {
  switch (type) {
    case ek::kTypeQ4_0: case ek::kTypeQ5_0: case ek::kTypeQ8_0: return {{0, false}};
    case ek::kTypeQ4_1: case ek::kTypeQ5_1: return {{0, true}, {2, false}};
    case ek::kTypeQ4_K: case ek::kTypeQ5_K: return {{0, true}, {2, true}};
    case ek::kTypeQ6_K: return {{208, false}};
    default: return {};
  }
}

// Random weight row: random bytes with sane f16 scales (or random finite normals for f32/16).
std::vector<uint8_t> random_weights(uint32_t type, int64_t n, std::mt19937& rng) {
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(type);
  std::vector<uint8_t> w(ek::quant_row_bytes(*k, n));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  if (k->block_elems == 1) {
    for (int64_t i = 0; i < n; ++i) {
      const float f = normal(rng);
      if (type == ek::kTypeF32) std::memcpy(&w[4 * i], &f, 4);
      const uint16_t h = type == ek::kTypeF16 ? ek::f32_to_fp16(f) : ek::f32_to_bf16(f);
      if (type != ek::kTypeF32) std::memcpy(&w[2 * i], &h, 2);
    }
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> expo(-10.0f, -2.0f);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  for (size_t blk = 0; blk < w.size() / k->block_bytes; ++blk) {
    for (const ScaleField& f : scale_fields(type)) {
      float v = std::exp2(expo(rng));
      if (!f.positive && (rng() & 1)) v = -v;
      const uint16_t h = ek::f32_to_fp16(v);
      std::memcpy(&w[blk * k->block_bytes + f.offset], &h, 2);
    }
  }
  return w;
}

std::vector<float> random_activations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> a(n);
  for (auto& x : a) x = normal(rng);
  for (int64_t i = 0; i < n; i += 61) a[i] *= 8.0f;  // outliers
  return a;
}

// ---------------------------------------------------------------------------------------------
// Golden files (format in scripts/golden/make_quant_goldens.py).
struct Golden {
  uint32_t kind = 0, type = 0, n_elems = 0, n_bytes = 0;
  std::vector<uint8_t> blocks;
  std::vector<float> floats;
  uint32_t act_type = 0;
  std::vector<uint8_t> act_blocks;
  float dot = 0;
};

Golden load_golden(const std::string& rel) {
  const std::string path = ember::test::data_path("quant/" + rel);
  std::vector<uint8_t> raw = ember::test::read_file(path);
  Golden g;
  if (raw.size() < 20 || std::memcmp(raw.data(), "EMQG", 4) != 0) {
    ADD_FAILURE() << "missing or malformed golden " << path
                  << " (regenerate with scripts/golden/make_quant_goldens.py)";
    return g;
  }
  size_t off = 4;
  auto u32 = [&] {
    uint32_t v;
    std::memcpy(&v, &raw[off], 4);
    off += 4;
    return v;
  };
  auto take_bytes = [&](size_t n) {
    std::vector<uint8_t> v(raw.begin() + off, raw.begin() + off + n);
    off += n;
    return v;
  };
  auto take_floats = [&](size_t n) {
    std::vector<float> v(n);
    std::memcpy(v.data(), &raw[off], 4 * n);
    off += 4 * n;
    return v;
  };
  g.kind = u32();
  g.type = u32();
  g.n_elems = u32();
  g.n_bytes = u32();
  if (g.kind == 0) {
    g.blocks = take_bytes(g.n_bytes);
    g.floats = take_floats(g.n_elems);
  } else if (g.kind == 1) {
    g.floats = take_floats(g.n_elems);
    g.blocks = take_bytes(g.n_bytes);
  } else {
    g.blocks = take_bytes(g.n_bytes);
    g.floats = take_floats(g.n_elems);
    g.act_type = u32();
    g.act_blocks = take_bytes(u32());
    g.dot = take_floats(1)[0];
  }
  EXPECT_EQ(off, raw.size()) << path;
  return g;
}

const char* const kWeightNames[] = {"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1",
                                    "q8_0", "q4_K", "q5_K", "q6_K"};

// ---------------------------------------------------------------------------------------------
// fp16 / bf16

TEST(Fp16, WidenAllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = ek::fp16_to_f32(static_cast<uint16_t>(h));
    const double want = half_value(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_EQ(bits_of(f), ((h & 0x8000u) << 16) | 0x7f800000u | ((h & 0x3ffu) << 13)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), want) << h;
      ASSERT_EQ(std::signbit(f), (h & 0x8000u) != 0) << h;
    }
  }
}

TEST(Fp16, RoundTripAllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = ek::f32_to_fp16(ek::fp16_to_f32(static_cast<uint16_t>(h)));
    const bool nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
    ASSERT_EQ(back, nan ? (h | 0x200u) : h) << h;  // NaN comes back quiet
  }
}

TEST(Fp16, NarrowTiesAndNeighbours) {
  // Midpoint between each pair of adjacent finite halves (exact in f32): ties go to the even
  // pattern; one f32 ulp either side goes to the nearer one. Covers subnormals and the top.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const float lo = ek::fp16_to_f32(static_cast<uint16_t>(h | sign));
      const float hi = ek::fp16_to_f32(static_cast<uint16_t>((h + 1) | sign));
      const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
      ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(lo) + hi) / 2);
      const uint32_t even = (h & 1) ? h + 1 : h;
      ASSERT_EQ(ek::f32_to_fp16(mid), even | sign) << h;
      ASSERT_EQ(ek::f32_to_fp16(std::nextafter(mid, lo)), h | sign) << h;
      ASSERT_EQ(ek::f32_to_fp16(std::nextafter(mid, hi)), (h + 1) | sign) << h;
    }
  }
}

TEST(Fp16, NarrowEdgeCases) {
  EXPECT_EQ(ek::f32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(ek::f32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(ek::f32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(ek::f32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(ek::f32_to_fp16(65519.996f), 0x7bff);
  EXPECT_EQ(ek::f32_to_fp16(65520.0f), 0x7c00);  // tie with 65536 rounds to even -> inf
  EXPECT_EQ(ek::f32_to_fp16(-1e30f), 0xfc00);
  EXPECT_EQ(ek::f32_to_fp16(INFINITY), 0x7c00);
  EXPECT_EQ(ek::f32_to_fp16(-INFINITY), 0xfc00);
  EXPECT_EQ(ek::f32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(ek::f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie with 0 -> even (0)
  EXPECT_EQ(ek::f32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(ek::f32_to_fp16(-std::ldexp(1.5f, -24)), 0x8002);  // tie 1|2 -> 2
  EXPECT_EQ(ek::f32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(ek::f32_to_fp16(std::nextafter(std::ldexp(1.0f, -14), 0.0f)), 0x0400);
  EXPECT_EQ(ek::f32_to_fp16(FLT_TRUE_MIN), 0x0000);
  EXPECT_EQ(ek::f32_to_fp16(-FLT_TRUE_MIN), 0x8000);
  EXPECT_EQ(ek::f32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(ek::f32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  const uint16_t qnan = ek::f32_to_fp16(std::nanf(""));
  EXPECT_EQ(qnan & 0x7e00, 0x7e00);
  // Signalling NaN whose payload lives only in the low bits still becomes a NaN.
  const uint16_t snan = ek::f32_to_fp16(ek::f32_from_bits(0xff800001u));
  EXPECT_EQ(snan, 0xfe00);
}

TEST(Fp16, NarrowRandomAgainstDoubleReference) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> u;
  for (int i = 0; i < 300000; ++i) {
    // Exponents spread over the whole f16 range and beyond.
    const uint32_t b = (u(rng) & 0x807fffffu) | ((96u + u(rng) % 48u) << 23);
    const float f = ek::f32_from_bits(b);
    const double want = nearest_half(f);
    const float got = ek::fp16_to_f32(ek::f32_to_fp16(f));
    ASSERT_EQ(static_cast<double>(got), want) << std::hexfloat << f;
  }
}

TEST(Bf16, WidenAndRoundTripAllPatterns) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = ek::bf16_to_f32(static_cast<uint16_t>(b));
    const double want = bf16_value(static_cast<uint16_t>(b));
    const bool nan = std::isnan(want);
    if (!nan) {
      ASSERT_EQ(static_cast<double>(f), want) << b;
    }
    ASSERT_EQ(bits_of(f), b << 16) << b;
    ASSERT_EQ(ek::f32_to_bf16(f), nan ? (b | 0x40u) : b) << b;
  }
}

TEST(Bf16, NarrowTiesAndNeighbours) {
  for (uint32_t b = 0; b < 0x7f7f; ++b) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const float lo = ek::bf16_to_f32(static_cast<uint16_t>(b | sign));
      const float hi = ek::bf16_to_f32(static_cast<uint16_t>((b + 1) | sign));
      const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
      ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(lo) + hi) / 2);
      const uint32_t even = (b & 1) ? b + 1 : b;
      ASSERT_EQ(ek::f32_to_bf16(mid), even | sign) << b;
      ASSERT_EQ(ek::f32_to_bf16(std::nextafter(mid, lo)), b | sign) << b;
      ASSERT_EQ(ek::f32_to_bf16(std::nextafter(mid, hi)), (b + 1) | sign) << b;
    }
  }
  EXPECT_EQ(ek::f32_to_bf16(FLT_MAX), 0x7f80);  // rounds up to inf
  EXPECT_EQ(ek::f32_to_bf16(-INFINITY), 0xff80);
  EXPECT_EQ(ek::f32_to_bf16(ek::f32_from_bits(0x7f800001u)) & 0x7fc0, 0x7fc0);
}

TEST(Fp16, RowHelpers) {
  const float in[5] = {1.0f, -2.5f, 65504.0f, 1e-7f, 0.0f};
  uint16_t h[5], b[5];
  float back[5];
  ek::f32_to_fp16_row(in, h, 5);
  ek::f32_to_bf16_row(in, b, 5);
  ek::fp16_to_f32_row(h, back, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(back[i], ek::fp16_to_f32(ek::f32_to_fp16(in[i])));
  ek::bf16_to_f32_row(b, back, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(back[i], ek::bf16_to_f32(ek::f32_to_bf16(in[i])));
}

// ---------------------------------------------------------------------------------------------
// Dequantisation

TEST(Dequantize, TableCoversTypes) {
  for (uint32_t t : {0u, 1u, 2u, 3u, 6u, 7u, 8u, 9u, 12u, 13u, 14u, 15u, 30u}) {
    const ek::QuantTypeKernels* k = ek::find_quant_kernels(t);
    ASSERT_NE(k, nullptr) << t;
    EXPECT_EQ(k->type, t);
    EXPECT_NE(k->dequantize, nullptr);
    EXPECT_NE(k->quantize_act, nullptr);
    const ek::QuantTypeKernels* act = ek::find_quant_kernels(k->act_type);
    ASSERT_NE(act, nullptr);
    EXPECT_EQ(k->quantize_act, act->quantize_act) << t;
    EXPECT_EQ(k->vec_dot == nullptr, t == ek::kTypeQ8_1 || t == ek::kTypeQ8_K) << t;
  }
  EXPECT_EQ(ek::find_quant_kernels(4), nullptr);  // removed Q4_2
  EXPECT_EQ(ek::find_quant_kernels(10), nullptr);  // Q2_K: not implemented here
  EXPECT_EQ(ek::quant_row_bytes(*ek::find_quant_kernels(ek::kTypeQ4_1), 576), 18u * 20u);
  EXPECT_EQ(ek::quant_row_bytes(*ek::find_quant_kernels(ek::kTypeQ6_K), 512), 420u);
  EXPECT_EQ(ek::find_quant_kernels(ek::kTypeQ4_1)->act_type, ek::kTypeQ8_1);
  EXPECT_EQ(ek::find_quant_kernels(ek::kTypeQ5_0)->act_type, ek::kTypeQ8_0);
  EXPECT_EQ(ek::find_quant_kernels(ek::kTypeQ6_K)->act_type, ek::kTypeQ8_K);
}

class DequantGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(DequantGolden, MatchesGgufPyExactly) {
  const Golden g = load_golden(std::string("dequant_") + GetParam() + ".bin");
  ASSERT_EQ(g.kind, 0u);
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(g.type);
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(ek::quant_row_bytes(*k, g.n_elems), g.n_bytes);
  std::vector<float> out(g.n_elems, -12345.0f);
  k->dequantize(g.blocks.data(), out.data(), g.n_elems);
  int bad = 0;
  for (uint32_t i = 0; i < g.n_elems; ++i) {
    if (bits_of(out[i]) != bits_of(g.floats[i]) && ++bad <= 5)
      ADD_FAILURE() << GetParam() << " element " << i << ": got " << out[i] << " want "
                    << g.floats[i];
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(DequantGolden, MatchesBitLevelReference) {
  // The golden's blocks plus fresh random ones, decoded element by element from the format.
  const Golden g = load_golden(std::string("dequant_") + GetParam() + ".bin");
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(g.type);
  ASSERT_NE(k, nullptr);
  std::mt19937 rng(g.type);
  const std::vector<uint8_t> fresh = random_weights(g.type, 4 * k->block_elems * 8, rng);
  for (const std::vector<uint8_t>* src : {&g.blocks, &fresh}) {
    const int64_t n = static_cast<int64_t>(src->size() / k->block_bytes) * k->block_elems;
    std::vector<float> out(n);
    k->dequantize(src->data(), out.data(), n);
    const std::vector<Elem> ref = ref_row(g.type, src->data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double want = ref[i].mul + ref[i].add;
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(out[i])) << i;
      } else {
        ASSERT_EQ(out[i], static_cast<float>(want)) << GetParam() << " element " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantGolden, ::testing::ValuesIn(kWeightNames));

TEST(Dequantize, Q8_1AndQ8_KAgainstBitLevelReference) {
  std::mt19937 rng(11);
  for (uint32_t t : {ek::kTypeQ8_1, ek::kTypeQ8_K}) {
    const ek::QuantTypeKernels* k = ek::find_quant_kernels(t);
    const int64_t n = 3 * k->block_elems;
    std::vector<float> x = random_activations(n, rng), out(n);
    std::vector<uint8_t> q(ek::quant_row_bytes(*k, n));
    k->quantize_act(x.data(), q.data(), n);
    k->dequantize(q.data(), out.data(), n);
    const std::vector<Elem> ref = ref_row(t, q.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], static_cast<float>(ref[i].mul)) << t << " " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Activation quantisation

TEST(Quantize, Q8RoundTripBounds) {
  std::mt19937 rng(3);
  struct Case {
    ek::QuantizeRowFn fn;
    uint32_t type;
    const char* name;
  };
  const Case cases[] = {{ek::quantize_row_q8_0, ek::kTypeQ8_0, "q8_0"},
                        {ek::quantize_row_q8_0_ref, ek::kTypeQ8_0, "q8_0_ref"},
                        {ek::quantize_row_q8_1, ek::kTypeQ8_1, "q8_1"},
                        {ek::quantize_row_q8_1_ref, ek::kTypeQ8_1, "q8_1_ref"},
                        {ek::quantize_row_q8_K, ek::kTypeQ8_K, "q8_K"}};
  for (const Case& c : cases) {
    const ek::QuantTypeKernels* k = ek::find_quant_kernels(c.type);
    const int64_t be = k->block_elems, n = 5 * be;
    std::vector<float> x = random_activations(n, rng), back(n);
    std::fill(x.begin() + be, x.begin() + 2 * be, 0.0f);  // an all-zero block
    std::vector<uint8_t> q(ek::quant_row_bytes(*k, n), 0xAB);
    c.fn(x.data(), q.data(), n);
    k->dequantize(q.data(), back.data(), n);
    for (int64_t blk = 0; blk < n / be; ++blk) {
      float amax = 0;
      for (int64_t i = blk * be; i < (blk + 1) * be; ++i) amax = std::max(amax, std::fabs(x[i]));
      // Rounding to the grid costs d/2; a q8_0/q8_1 f16 scale adds up to 127 * d * 2^-11.
      const double tol = amax / 127.0 * (c.type == ek::kTypeQ8_K ? 0.5001 : 0.5 + 127.0 / 2048);
      const uint8_t* b = q.data() + blk * k->block_bytes;
      int sum = 0;
      for (int64_t i = blk * be; i < (blk + 1) * be; ++i) {
        ASSERT_LE(std::fabs(back[i] - x[i]), tol) << c.name << " element " << i;
        sum += static_cast<int8_t>(b[(c.type == ek::kTypeQ8_K ? 4 : c.type == ek::kTypeQ8_1 ? 4 : 2) +
                                     (i - blk * be)]);
      }
      if (amax == 0) {
        for (int64_t i = blk * be; i < (blk + 1) * be; ++i) ASSERT_EQ(back[i], 0.0f);
      }
      if (c.type == ek::kTypeQ8_1) {
        const auto* blk1 = reinterpret_cast<const ek::BlockQ8_1*>(b);
        EXPECT_EQ(blk1->s, ek::f32_to_fp16(amax / 127.0f * static_cast<float>(sum))) << c.name;
      }
      if (c.type == ek::kTypeQ8_K) {
        const auto* bk = reinterpret_cast<const ek::BlockQ8_K*>(b);
        for (int g = 0; g < 16; ++g) {
          int s = 0;
          for (int l = 0; l < 16; ++l) s += bk->qs[16 * g + l];
          EXPECT_EQ(bk->bsums[g], s) << g;
        }
        // The element of largest magnitude maps to exactly -127 or 127... of the opposite sign
        // convention: d = -max/127, so q(max) = -127.
        if (amax > 0) {
          int64_t arg = blk * be;
          for (int64_t i = blk * be; i < (blk + 1) * be; ++i)
            if (std::fabs(x[i]) > std::fabs(x[arg])) arg = i;
          EXPECT_EQ(bk->qs[arg - blk * be], -127);
        }
      }
    }
  }
}

TEST(Quantize, Q8_0RefMatchesGgufPy) {
  const Golden g = load_golden("quant_q8_0_ref.bin");
  ASSERT_EQ(g.kind, 1u);
  std::vector<uint8_t> q(g.n_bytes);
  ek::quantize_row_q8_0_ref(g.floats.data(), q.data(), g.n_elems);
  EXPECT_EQ(q, g.blocks);
}

TEST(Quantize, FastAndRefVariantsAgreeUpToOneStep) {
  std::mt19937 rng(5);
  const int64_t n = 32 * 64;
  std::vector<float> x = random_activations(n, rng);
  std::vector<ek::BlockQ8_0> a(n / 32), b(n / 32);
  ek::quantize_row_q8_0(x.data(), a.data(), n);
  ek::quantize_row_q8_0_ref(x.data(), b.data(), n);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].d, b[i].d);
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::abs(a[i].qs[j] - b[i].qs[j]), 1);
  }
  // Exact halves: the x86 path rounds ties to even, the reference away from zero.
  float half[32];
  for (int j = 0; j < 32; ++j) half[j] = 0.0f;
  half[0] = 127.0f;
  half[1] = 2.5f;
  half[2] = -0.5f;
  ek::quantize_row_q8_0(half, a.data(), 32);
  ek::quantize_row_q8_0_ref(half, b.data(), 32);
  EXPECT_EQ(a[0].qs[1], 2);
  EXPECT_EQ(b[0].qs[1], 3);
  EXPECT_EQ(a[0].qs[2], 0);
  EXPECT_EQ(b[0].qs[2], -1);
}

class QuantLlama : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantLlama, MatchesLlamaCppCpuBackendExactly) {
  const Golden g = load_golden(std::string("quant_") + GetParam() + "_llama.bin");
  ASSERT_EQ(g.kind, 1u);
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(g.type);
  ASSERT_NE(k, nullptr);
  std::vector<uint8_t> q(g.n_bytes);
  k->quantize_act(g.floats.data(), q.data(), g.n_elems);
  int bad = 0;
  for (size_t i = 0; i < q.size(); ++i)
    if (q[i] != g.blocks[i] && ++bad <= 5) ADD_FAILURE() << GetParam() << " byte " << i;
  EXPECT_EQ(bad, 0);
}

INSTANTIATE_TEST_SUITE_P(Acts, QuantLlama, ::testing::Values("q8_0", "q8_1", "q8_K"));

// ---------------------------------------------------------------------------------------------
// Dot products

struct DotCheck {
  double got, want, tol;
};

// vec_dot(w, quantize(a)) against dequantize(w) . dequantize(quantize(a)) in double. Tolerance:
// per block a few f32 roundings of terms bounded by mag = sum |parts of w_i| * |a_i| (+ |m*s|),
// plus f32 accumulation across blocks; for q4_1/q5_1 the f16 rounding of s = d*sum(q) is a known
// deviation from the exact dequantised product and is added to the reference explicitly.
DotCheck check_dot(uint32_t type, int64_t n, std::mt19937& rng) {
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(type);
  const ek::QuantTypeKernels* ak = ek::find_quant_kernels(k->act_type);
  std::vector<uint8_t> w = random_weights(type, n, rng);
  std::vector<float> a = random_activations(n, rng), adq(n);
  std::vector<uint8_t> qa(ek::quant_row_bytes(*ak, n));
  k->quantize_act(a.data(), qa.data(), n);
  ak->dequantize(qa.data(), adq.data(), n);
  const std::vector<Elem> wr = ref_row(type, w.data(), n);
  double want = 0, mag = 0;
  for (int64_t i = 0; i < n; ++i) {
    want += (wr[i].mul + wr[i].add) * adq[i];
    mag += (std::fabs(wr[i].mul) + std::fabs(wr[i].add)) * std::fabs(adq[i]);
  }
  if (k->act_type == ek::kTypeQ8_1) {
    for (int64_t b = 0; b < n / 32; ++b) {
      const auto* ab = reinterpret_cast<const ek::BlockQ8_1*>(qa.data()) + b;
      double exact = 0;
      for (int j = 0; j < 32; ++j) exact += adq[32 * b + j];
      const double m = wr[32 * b].add, s = ek::fp16_to_f32(ab->s);
      want += m * (s - exact);
      mag += std::fabs(m * s);
    }
  }
  const double steps = k->block_elems == 1 ? static_cast<double>(n) : static_cast<double>(n / k->block_elems);
  const double tol = 4.0 * (steps + 2.0) * FLT_EPSILON * mag + 1e-30;
  return {k->vec_dot(n, w.data(), qa.data()), want, tol};
}

class VecDot : public ::testing::TestWithParam<const char*> {};

uint32_t type_of(const std::string& name) {
  for (uint32_t t : {0u, 1u, 2u, 3u, 6u, 7u, 8u, 12u, 13u, 14u, 30u})
    if (name == ek::find_quant_kernels(t)->name) return t;
  ADD_FAILURE() << "unknown type " << name;
  return 0;
}

TEST_P(VecDot, AgainstDequantisedDoubleReference) {
  const uint32_t type = type_of(GetParam());
  const int64_t be = ek::find_quant_kernels(type)->block_elems;
  std::mt19937 rng(type * 101 + 1);
  std::vector<int64_t> lengths;
  if (be == 1) lengths = {1, 2, 3, 31, 32, 33, 576, 1536};
  else lengths = {be, 2 * be, 3 * be, 9 * be, be == 32 ? 1536 : 2304};
  for (int64_t n : lengths) {
    for (int rep = 0; rep < 4; ++rep) {
      const DotCheck c = check_dot(type, n, rng);
      ASSERT_NEAR(c.got, c.want, c.tol) << GetParam() << " n=" << n << " rep " << rep;
    }
  }
}

TEST_P(VecDot, ZeroActivationGivesZero) {
  const uint32_t type = type_of(GetParam());
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(type);
  const ek::QuantTypeKernels* ak = ek::find_quant_kernels(k->act_type);
  const int64_t n = 2 * (k->block_elems == 1 ? 32 : k->block_elems);
  std::mt19937 rng(1);
  std::vector<uint8_t> w = random_weights(type, n, rng);
  std::vector<float> a(n, 0.0f);
  std::vector<uint8_t> qa(ek::quant_row_bytes(*ak, n));
  k->quantize_act(a.data(), qa.data(), n);
  EXPECT_EQ(k->vec_dot(n, w.data(), qa.data()), 0.0f);
}

TEST_P(VecDot, AgainstLlamaCpp) {
  // llama.cpp's SIMD dot sums in a different order, so equality is to a tolerance; the quantised
  // activation must match byte for byte.
  const Golden g = load_golden(std::string("vec_dot_") + GetParam() + "_llama.bin");
  ASSERT_EQ(g.kind, 2u);
  const ek::QuantTypeKernels* k = ek::find_quant_kernels(g.type);
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(k->act_type, g.act_type);
  std::vector<uint8_t> qa(g.act_blocks.size());
  k->quantize_act(g.floats.data(), qa.data(), g.n_elems);
  EXPECT_EQ(qa, g.act_blocks);
  const float got = k->vec_dot(g.n_elems, g.blocks.data(), g.act_blocks.data());
  const std::vector<Elem> wr = ref_row(g.type, g.blocks.data(), g.n_elems);
  double mag = 0;
  for (uint32_t i = 0; i < g.n_elems; ++i)
    mag += (std::fabs(wr[i].mul) + std::fabs(wr[i].add)) * std::fabs(g.floats[i]) * 1.1;
  EXPECT_NEAR(got, g.dot, 1e-6 * mag) << GetParam() << " (mag " << mag << ")";
  if (std::getenv("EMBER_TEST_VERBOSE"))
    std::printf("%-5s ours %.9g llama %.9g rel-to-mag %.3g\n", GetParam(), got, g.dot,
                std::fabs(got - g.dot) / mag);
}

INSTANTIATE_TEST_SUITE_P(AllPairs, VecDot,
                         ::testing::Values("f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1",
                                           "q8_0", "q4_K", "q5_K", "q6_K"));

}  // namespace
