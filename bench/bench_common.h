// What the benchmark binaries of bench/ share: name formatting and the streaming-read probe
// (so every binary states its figures against the same measured bandwidth).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "bench/probes.h"

namespace ember::bench {

// printf into a std::string (benchmark names).
[[gnu::format(printf, 1, 2)]] inline std::string sfmt(const char* f, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

using ll = long long;

// Data a benchmark reads is "cold": each iteration takes the next of several copies spread over
// at least this many bytes, as when the working set is larger than the last-level cache.
inline constexpr size_t kColdBytes = size_t{128} << 20;

// xorshift64*: fast, fixed-seed fill for hundreds of MiB.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  float uniform() { return static_cast<float>(next() >> 40) / 16777216.0f * 2.0f - 1.0f; }
};

#if defined(__x86_64__)
inline constexpr size_t kProbeBytes = size_t{256} << 20;

// probe/read_bw/256MiB/t<threads>: a 256 MiB buffer summed by `threads` threads (256-bit loads).
inline void bm_probe_read(benchmark::State& st, int threads) {
  static std::vector<float> buf(kProbeBytes / sizeof(float), 1.0f);
  cpu::ThreadPool tp(threads);
  std::vector<float> sums(static_cast<size_t>(threads) * 16);
  for (auto _ : st) {
    tp.run([&](int ith, int nth) {
      int64_t b, e;
      const int64_t chunks = static_cast<int64_t>(buf.size() / 32);
      cpu::split_range(chunks, ith, nth, &b, &e);
      sums[static_cast<size_t>(ith) * 16] = probe_read_avx2(buf.data() + b * 32, static_cast<size_t>(e - b) * 32);
    });
    benchmark::DoNotOptimize(sums.data());
  }
  using C = benchmark::Counter;
  st.counters["bytes"] = C(static_cast<double>(kProbeBytes), C::kIsIterationInvariantRate, C::kIs1000);
}
#endif

}  // namespace ember::bench
