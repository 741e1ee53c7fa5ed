// CPU implementations of the op vocabulary, one file per op. Each runs on every thread of
// the pool (ith of nth) over its share of the work; ops that need two phases call barrier().
// No op allocates: scratch memory comes from the plan.
#pragma once

#include <cstdint>

#include "backends/backend.h"
#include "backends/cpu/thread_pool.h"
#include "backends/op.h"

namespace ember::cpu {

inline constexpr int kMaxRopePairs = 256;
inline constexpr int kMaxOpInputs = 4;
inline constexpr int kMaxMatMulWeights = 3;

struct OpCtx {
  const Node* node;
  void* out;
  const void* in[kMaxOpInputs];
  const TensorDesc* in_desc[kMaxOpInputs];
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
Support matmul_supports(const TensorDesc& w);

// The matmul routine shared by matmul, matmul_cat and matmul_add (matmul.cpp): x is in[0];
// the weights' rows are taken in turn as one [ΣN, K] matrix; an addend, when set, is added
// to every output (addend_is_row: one row [ΣN] for all M rows, else [M, ΣN]).
struct MatMulArgs {
  const void* w[kMaxMatMulWeights] = {};
  const TensorDesc* w_desc[kMaxMatMulWeights] = {};
  int n_weights = 0;
  const float* addend = nullptr;
  bool addend_is_row = false;
};
void matmul_run(const OpCtx& c, const MatMulArgs& m);

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

}  // namespace ember::cpu
