// What the CPU we run on can do, detected once (cpuid via the compiler's builtins on x86,
// getauxval on aarch64). Kernel dispatch asks this, never the compile flags.
#pragma once

namespace ember::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool neon = false;
  bool dotprod = false;
  bool fp16 = false;

  bool x86_avx2_fma_f16c() const { return avx2 && fma && f16c; }
  // What the avx512*.cpp kernel files are compiled for: AVX-512 F/BW/VL/VNNI plus the above.
  bool x86_avx512_vnni() const { return x86_avx2_fma_f16c() && avx512f && avx512bw && avx512vl && avx512vnni; }
};

const CpuFeatures& cpu_features();

}  // namespace ember::kernels
