// CPU implementations of the op vocabulary, one file per op. Each runs on every thread of
// the pool (ith of nth) over its share of the work; ops that need two phases call barrier().
// No op allocates: scratch memory comes from the plan.
#pragma once

#include <cmath>
#include <cstdint>

#include "backends/backend.h"
#include "backends/cpu/thread_pool.h"
#include "backends/op.h"

namespace ember::cpu {

inline constexpr int kMaxRopePairs = 256;
inline constexpr int kMaxOpInputs = 5;
inline constexpr int kMaxMatMulWeights = 3;

struct OpCtx {
  const Node* node;
  void* out;
  const void* in[kMaxOpInputs];
  const TensorDesc* in_desc[kMaxOpInputs];
  uint64_t in_stride[kMaxOpInputs];  // bytes from one row (outermost index) of each input to the
                                     // next: row_stride_bytes (backends/op.h); only the ops that
                                     // reads_row_stride names may see one that is not the row size
  WeightLayout in_layout[kMaxOpInputs];  // per input: a weight's layout (Plain for everything else)
  int ith, nth;
  ThreadPool* pool;
  uint8_t* scratch;            // shared by all threads (matmul activations)
  uint8_t* thread_scratch;     // this thread's own scratch
  const KvLayout* kv;
  const int32_t* positions;    // the "positions" input, for rope
};

// Scratch bytes an op needs: shared across threads and per thread.
size_t matmul_scratch_bytes(const Node& n, const TensorDesc& x, const TensorDesc& w);
size_t attention_thread_scratch_bytes(const TensorDesc& q, const TensorDesc& cache);
size_t attention_scratch_bytes(const TensorDesc& q, const TensorDesc& cache, int nth);
Support matmul_supports(const TensorDesc& w);
// The layout the matmul of node n (matmul, matmul_cat, matmul_add, norm_matmul) of g reads its
// weight input k in best: q4_1x2 (kernels/cpu/gemm/pack.h) for q4_1 weights where the chosen
// kernel has a packed pair mode and every weight of n but the last has an even row count (so
// pairs never straddle two weights, or two threads); Plain otherwise, and for other inputs.
WeightLayout matmul_weight_layout(const OpGraph& g, const Node& n, int k);

// The matmul routine shared by matmul, matmul_cat and matmul_add (matmul.cpp): x is in[0];
// the weights' rows are taken in turn as one [ΣN, K] matrix; an addend, when set, is added
// to every output (addend_is_row: one row [ΣN] for all M rows, else [M, ΣN]).
struct MatMulArgs {
  const void* w[kMaxMatMulWeights] = {};
  const TensorDesc* w_desc[kMaxMatMulWeights] = {};
  WeightLayout w_layout[kMaxMatMulWeights] = {};
  int n_weights = 0;
  const float* addend = nullptr;
  bool addend_is_row = false;
  const float* norm = nullptr;  // when set: x is replaced by rms_norm(x) * norm (eps below) as it
  float eps = 0;                // is converted; needs a quantised activation type and K floats
                                // of thread scratch
};
void matmul_run(const OpCtx& c, const MatMulArgs& m);

// 1 / sqrt(mean(x²) + eps) of one row: squares in f32 summed in double, as llama.cpp does.
// Shared by rms_norm, rms_norm_mul and norm_matmul so all three round alike.
inline float rms_scale(const float* x, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / n);
  return 1.0f / std::sqrt(mean + eps);
}
size_t norm_matmul_thread_scratch_bytes(const TensorDesc& x);

// Rotary position embedding, shared by rope, kv_write_rope and attention_rope so that all
// three compute the same floats. Pair i (0 <= i < n_rot/2) of a head turns by
// pos * freq_scale * base^(-2i/n_rot); the angle is built by repeated multiplication in f32,
// the way llama.cpp computes its cache, so both engines see the same angles.
inline float rope_theta_scale(const OpAttrs& a) {
  return std::pow(a.rope_base, -2.0f / static_cast<float>(a.rope_n_rot));
}
// cos and sin of every pair's angle at position pos (n_rot / 2 of each).
inline void rope_angles(const OpAttrs& a, float theta_scale, int32_t pos, float* cosv, float* sinv) {
  float theta = static_cast<float>(pos);
  for (int i = 0; i < a.rope_n_rot / 2; ++i) {
    const float th = a.rope_freq_scale * theta;
    cosv[i] = std::cos(th);
    sinv[i] = std::sin(th);
    theta *= theta_scale;
  }
}
// One head of D floats: x rotated into o (o != x). Normal layout pairs (2i, 2i+1); NeoX pairs
// (i, i + n_rot/2); dimensions past n_rot are copied.
inline void rope_head(const OpAttrs& a, const float* cosv, const float* sinv, const float* x, float* o, int64_t D) {
  const int n_rot = a.rope_n_rot;
  for (int i = 0; i < n_rot / 2; ++i) {
    const int64_t i0 = a.rope_mode == RopeMode::NeoX ? i : 2 * i;
    const int64_t i1 = a.rope_mode == RopeMode::NeoX ? i + n_rot / 2 : 2 * i + 1;
    const float x0 = x[i0], x1 = x[i1];
    // Fused as llama.cpp's build (-march=native) fuses them.
    o[i0] = std::fma(x0, cosv[i], -(x1 * sinv[i]));
    o[i1] = std::fma(x0, sinv[i], x1 * cosv[i]);
  }
  for (int64_t i = n_rot; i < D; ++i) o[i] = x[i];
}
// Row t of an input whose rows lie `stride` bytes apart.
inline const float* row_at(const void* base, uint64_t stride, int64_t t) {
  return reinterpret_cast<const float*>(static_cast<const uint8_t*>(base) + stride * static_cast<uint64_t>(t));
}
size_t kv_write_rope_thread_scratch_bytes(const TensorDesc& x);
Support norm_matmul_supports(const TensorDesc& w);

void op_embedding(const OpCtx& c);
void op_matmul(const OpCtx& c);
void op_add(const OpCtx& c);
void op_mul(const OpCtx& c);
void op_silu(const OpCtx& c);
void op_silu_mul(const OpCtx& c);
void op_rms_norm(const OpCtx& c);
void op_softmax(const OpCtx& c);
void op_rope(const OpCtx& c);
void op_kv_write(const OpCtx& c);
void op_attention(const OpCtx& c);
void op_get_rows(const OpCtx& c);
void op_permute(const OpCtx& c);
void op_copy(const OpCtx& c);
void op_matmul_cat(const OpCtx& c);
void op_matmul_add(const OpCtx& c);
void op_rms_norm_mul(const OpCtx& c);
void op_slice(const OpCtx& c);
void op_norm_matmul(const OpCtx& c);
void op_kv_write_rope(const OpCtx& c);
void op_attention_rope(const OpCtx& c);

}  // namespace ember::cpu
