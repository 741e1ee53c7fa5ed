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

struct OpCtx {
  const Node* node;
  void* out;
  const void* in[3];
  const TensorDesc* in_desc[3];
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

}  // namespace ember::cpu
