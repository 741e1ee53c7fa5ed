#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <cstdio>
#include <cstdlib>
#include <cstring>
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace ember::kernels {

namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // cpuid leaf 1 (ecx) and leaf 7 (ebx, ecx), gated on the OS saving the vector state.
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  unsigned xcr0 = 0;
  if (osxsave) {
    unsigned hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(hi) : "c"(0));
  }
  const bool ymm = osxsave && (xcr0 & 0x6) == 0x6;
  const bool zmm = ymm && (xcr0 & 0xe0) == 0xe0;
  f.fma = ymm && ((c >> 12) & 1);
  f.f16c = ymm && ((c >> 29) & 1);
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  if (__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) {
    f.avx2 = ymm && ((b7 >> 5) & 1);
    f.avx512f = zmm && ((b7 >> 16) & 1);
    f.avx512bw = zmm && ((b7 >> 30) & 1);
    f.avx512vl = zmm && ((b7 >> 31) & 1);
    f.avx512vnni = zmm && ((c7 >> 11) & 1);
  }
#elif defined(__aarch64__)
  f.neon = true;
#if defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP);
#ifdef HWCAP_ASIMDDP
  f.dotprod = (hw & HWCAP_ASIMDDP) != 0;
#endif
#ifdef HWCAP_FPHP
  f.fp16 = (hw & HWCAP_FPHP) != 0 && (hw & HWCAP_ASIMDHP) != 0;
#endif
#endif
#endif
  return f;
}

// EMBER_MAX_CPU_ISA caps what dispatch may use (as oneDNN's ONEDNN_MAX_CPU_ISA): "avx2" hides
// AVX-512, "scalar" every SIMD extension; so one binary on one machine can run, test and
// benchmark each kernel family side by side. Unset or "all": what the CPU has.
CpuFeatures capped(CpuFeatures f) {
  const char* cap = std::getenv("EMBER_MAX_CPU_ISA");
  if (!cap || !*cap || std::strcmp(cap, "all") == 0) return f;
  const bool scalar = std::strcmp(cap, "scalar") == 0;
  if (!scalar && std::strcmp(cap, "avx2") != 0) {
    std::fprintf(stderr, "ember: EMBER_MAX_CPU_ISA='%s' is not one of all, avx2, scalar; ignored\n", cap);
    return f;
  }
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512vnni = false;
  if (scalar) f = CpuFeatures{};
  return f;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = capped(detect());
  return f;
}

}  // namespace ember::kernels
