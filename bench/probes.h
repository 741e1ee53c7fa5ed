// Machine probes for reading kernel benchmarks as fractions of the hardware: a streaming read
// (memory bandwidth) and a tight FMA loop (peak f32 arithmetic, 8- and 16-lane). x86-64 only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::bench {

// Sums n floats (n a multiple of 32) with 256-bit loads; the result only defeats elimination.
float probe_read_avx2(const float* p, size_t n);
// Runs `iters` rounds of kProbeFmaPerIter independent 8-lane FMAs; returns a value that depends
// on all of them.
inline constexpr int kProbeFmaPerIter = 12;
float probe_fma_avx2(int64_t iters, float seed);
// The same with 16-lane (zmm) FMAs (probes_avx512.cpp, AVX-512F).
float probe_fma_avx512(int64_t iters, float seed);

}  // namespace ember::bench
