#include <algorithm>
#include <atomic>

#include "backends/cpu/ops/ops.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/gemm/gemm.h"
#include "kernels/cpu/gemm/gemm_f32.h"
#include "kernels/cpu/gemm/pack.h"
#include "kernels/cpu/quant/quant.h"
#include "kernels/cpu/quant/simd.h"

namespace ember::cpu {

// y[M,N] = x[M,K] · w[N,K]ᵀ. Phase 1 converts the activation rows once into the weight type's
// activation format (q8_0, q8_1, q8_K, f16, ...); phase 2 splits the weight rows across
// threads, so every weight byte is read once per step whatever M is. With a multi-row kernel
// for the type (kernels/cpu/gemm), each weight row (or pair of rows, in pair mode; at M = 1
// too) meets up to 4 activation rows per call, so its blocks are decoded once per 4 rows and
// two rows' chains run side by side; the results are bit-identical to the
// per-row dot products (same float operations per output), so M never changes a value -
// except where llama.cpp itself adds the rows of a batch in another order than single rows,
// and ember follows it (kernels/cpu/gemm/gemm.h): q4_K in complete groups of 4 from row 0,
// q6_K when M >= 8 (batch_rows).
//
// The same routine runs the merged and fused forms: matmul_cat's weight rows are the rows of
// up to three weights taken in turn where they lie (no concatenated copy), and matmul_add adds
// its addend to each output after its dot product, the same single float addition the
// unfused add would do (a + b == b + a exactly), so both are bit-identical to their unfused
// graphs. A q4_1 weight that prepare-weights stored as q4_1x2 (kernels/cpu/gemm/pack.h) is
// read pair by pair by the packed pair kernel, with the same arithmetic. Where the type's dot
// product in use is the block-sum order (q4_1 and q8_0 by default; not under
// EMBER_LLAMA_EXACT=1), weights whose row counts are multiples of 16 are stored as q4_1x16 /
// q8_0x16 instead and run by the x16 matmuls (gemm.h), 16 rows per register, bit-identical to
// the per-row dot at every M. The embedding reads a q8_0x16 table too (a tied output head).
namespace {

// Where the activation blocks' f32 scales start in the matmul scratch, after the rows.
size_t scales_offset(size_t act_bytes) { return (act_bytes + 63) & ~size_t{63}; }
// Where the x16 matmul's shared work counter lies: after the scales, on its own cache line.
size_t counter_offset(size_t act_bytes, int64_t M, int64_t bpr) {
  return (scales_offset(act_bytes) + 2 * static_cast<size_t>((M + 3) * bpr) * sizeof(float) + 63) & ~size_t{63};
}

// The f16 scale (and q8_1 sum) of activation blocks [first, last) of a row, widened to f32
// for the pair-mode and x16 kernels, block-major: block i of this row at ad[i * stride]. For
// q8_0 the second array holds, as int32, 128 * the block's value sum (GemmX16Args::asum).
void widen_scales(uint32_t act_type, const uint8_t* row, int64_t first, int64_t last, float* ad, float* as,
                  int64_t stride) {
  for (int64_t i = first; i < last; ++i) {
    if (act_type == kernels::kTypeQ8_1) {
      const auto* b = reinterpret_cast<const kernels::BlockQ8_1*>(row) + i;
      ad[i * stride] = kernels::fp16_to_f32(b->d);
      as[i * stride] = kernels::fp16_to_f32(b->s);
    } else {
      const auto& b = reinterpret_cast<const kernels::BlockQ8_0*>(row)[i];
      ad[i * stride] = kernels::fp16_to_f32(b.d);
      int32_t sum = 0;
      for (int j = 0; j < kernels::kQK; ++j) sum += b.qs[j];
      reinterpret_cast<int32_t*>(as)[i * stride] = 128 * sum;
    }
  }
}

// The packed layout of a type's x16 matmul.
WeightLayout x16_layout(DType t) {
  return t == DType::Q4_1 ? WeightLayout::Q4_1x16 : t == DType::Q8_0 ? WeightLayout::Q8_0x16 : WeightLayout::Plain;
}

// Whether the matmul widens the activation scales for its kernels (pair mode, x16).
bool widens_scales(uint32_t type) { return kernels::find_vec_dot_rows_pairs(type) || kernels::find_gemm_x16(type); }

}  // namespace

size_t matmul_scratch_bytes(const Node&, const TensorDesc& x, const TensorDesc& w) {
  const kernels::QuantTypeKernels* k = kernels::find_quant_kernels(static_cast<uint32_t>(w.dtype));
  if (!k || k->act_type == kernels::kTypeF32) return 0;
  const kernels::QuantTypeKernels* a = kernels::find_quant_kernels(k->act_type);
  size_t bytes = static_cast<size_t>(x.shape[0]) * kernels::quant_row_bytes(*a, x.shape[1]);
  if (widens_scales(static_cast<uint32_t>(w.dtype)))  // + f32 scales and sums, + the x16 work counter
    bytes = counter_offset(bytes, x.shape[0], x.shape[1] / a->block_elems) + 64;
  return bytes;
}

WeightLayout matmul_weight_layout(const OpGraph& g, const Node& n, int k) {
  int first = 0;  // the node's first weight input
  switch (n.op) {
    case OpKind::Embedding: {  // reads the x16 layout of a q8_0 table, so a tied head can have it
      const TensorDesc& t = g.nodes[n.inputs[0]].out;
      return k == 0 && t.dtype == DType::Q8_0 && t.rank == 2 && t.shape[0] % 16 == 0 &&
                     kernels::find_gemm_x16(kernels::kTypeQ8_0)
                 ? WeightLayout::Q8_0x16
                 : WeightLayout::Plain;
    }
    case OpKind::MatMul: case OpKind::MatMulAdd: if (k != 1) return WeightLayout::Plain; first = 1; break;
    case OpKind::MatMulCat: first = 1; break;
    case OpKind::NormMatMul: first = 2; break;
    default: return WeightLayout::Plain;
  }
  const int last = n.op == OpKind::MatMulCat || n.op == OpKind::NormMatMul ? static_cast<int>(n.inputs.size()) - 1 : first;
  if (k < first || k > last) return WeightLayout::Plain;
  const DType t = g.nodes[n.inputs[first]].out.dtype;
  bool x16 = kernels::find_gemm_x16(static_cast<uint32_t>(t)) != nullptr;
  for (int s = first; s <= last; ++s) {
    const TensorDesc& w = g.nodes[n.inputs[s]].out;
    if (w.dtype != t || w.rank != 2) return WeightLayout::Plain;
    x16 = x16 && w.shape[0] % 16 == 0;
  }
  if (x16) return x16_layout(t);
  if (t != DType::Q4_1) return WeightLayout::Plain;
  for (int s = first; s < last; ++s)
    if (g.nodes[n.inputs[s]].out.shape[0] % 2 != 0) return WeightLayout::Plain;
  return kernels::find_vec_dot_rows_packed_pairs(kernels::kTypeQ4_1) ? WeightLayout::Q4_1x2 : WeightLayout::Plain;
}

Support matmul_supports(const TensorDesc& w) {
  const kernels::QuantTypeKernels* k = kernels::find_quant_kernels(static_cast<uint32_t>(w.dtype));
  if (!k || !k->vec_dot) return {false, std::string("no CPU matmul for weight type ") + dtype_name(w.dtype)};
  if (w.shape[1] % k->block_elems != 0)
    return {false, "row length is not a multiple of the block size"};
  return {};
}

void matmul_run(const OpCtx& c, const MatMulArgs& m) {
  const TensorDesc& x = *c.in_desc[0];
  const TensorDesc& w = *m.w_desc[0];
  const int64_t M = x.shape[0], K = x.shape[1];
  int64_t first_row[kMaxMatMulWeights + 1] = {0};
  for (int s = 0; s < m.n_weights; ++s) first_row[s + 1] = first_row[s] + m.w_desc[s]->shape[0];
  const int64_t N = first_row[m.n_weights];
  const kernels::QuantTypeKernels* wk = kernels::find_quant_kernels(static_cast<uint32_t>(w.dtype));
  const float* xf = static_cast<const float*>(c.in[0]);

  const uint8_t* act = reinterpret_cast<const uint8_t*>(xf);
  size_t act_row = static_cast<size_t>(K) * sizeof(float);
  // Pair mode (two weight rows per kernel call) where the type has it, at every M: at decode
  // (M = 1) too, the two rows' independent chains keep more loads in flight.
  const kernels::VecDotRowsFn pairs = kernels::find_vec_dot_rows_pairs(static_cast<uint32_t>(w.dtype));
  bool packed = false;  // some weight in q4_1x2 (matmul_weight_layout): read by packed_pairs
  for (int s = 0; s < m.n_weights; ++s) packed = packed || m.w_layout[s] == WeightLayout::Q4_1x2;
  const kernels::VecDotRowsFn packed_pairs =
      packed ? kernels::find_vec_dot_rows_packed_pairs(static_cast<uint32_t>(w.dtype)) : nullptr;
  bool x16 = false;  // the weights in q4_1x16 / q8_0x16 (all of them: matmul_weight_layout)
  for (int s = 0; s < m.n_weights; ++s) x16 = x16 || (m.w_layout[s] != WeightLayout::Plain && m.w_layout[s] == x16_layout(w.dtype));
  const kernels::GemmX16Fn gemm_x16 = x16 ? kernels::find_gemm_x16(static_cast<uint32_t>(w.dtype)) : nullptr;
  const bool widen = widens_scales(static_cast<uint32_t>(w.dtype));
  float* ad = nullptr;
  float* as = nullptr;
  int64_t bpr = 0;
  if (wk->act_type != kernels::kTypeF32) {
    const kernels::QuantTypeKernels* ak = kernels::find_quant_kernels(wk->act_type);
    act_row = kernels::quant_row_bytes(*ak, K);
    // Blocks are quantised independently, so the work splits over (row, block) pairs: at
    // M = 1 (decode) every thread still gets a share.
    bpr = K / ak->block_elems;
    if (widen) {
      ad = reinterpret_cast<float*>(c.scratch + scales_offset(static_cast<size_t>(M) * act_row));
      as = ad + (M + 3) * bpr;
      // The 3 padding columns are read (and ignored) by kernels that load four rows at once.
      if (c.ith == 0) {
        for (int64_t i = 0; i < bpr; ++i)
          for (int64_t r = M; r < M + 3; ++r) ad[i * (M + 3) + r] = as[i * (M + 3) + r] = 0.0f;
        if (gemm_x16)  // no thread takes work before the barrier below
          *reinterpret_cast<int64_t*>(c.scratch + counter_offset(static_cast<size_t>(M) * act_row, M, bpr)) = 0;
      }
    }
    int64_t b, e;
    split_range(M * bpr, c.ith, c.nth, &b, &e);
    int64_t scaled_row = -1;
    float scale = 0;
    while (b < e) {
      const int64_t r = b / bpr, first = b % bpr, last = std::min<int64_t>(bpr, first + (e - b));
      const float* src = xf + r * K + first * ak->block_elems;
      const int64_t n = (last - first) * ak->block_elems;
      if (m.norm) {
        // norm_matmul: every thread normalises the blocks it converts (the row's scale is
        // recomputed by each thread that touches the row: K multiply-adds, no barrier).
        if (scaled_row != r) {
          scale = rms_scale(xf + r * K, K, m.eps);
          scaled_row = r;
        }
        float* tmp = reinterpret_cast<float*>(c.thread_scratch);
        const float* nw = m.norm + first * ak->block_elems;
        for (int64_t i = 0; i < n; ++i) {
          const float normed = src[i] * scale;
          tmp[i] = normed * nw[i];
        }
        src = tmp;
      }
      ak->quantize_act(src, c.scratch + r * act_row + first * ak->block_bytes, n);
      if (widen) widen_scales(wk->act_type, c.scratch + r * act_row, first, last, ad + r, as + r, M + 3);
      b += last - first;
    }
    c.pool->barrier();
    act = c.scratch;
  }

  const size_t w_row = dtype_row_bytes(w.dtype, K);
  auto segment = [&](int64_t n) {
    int s = 0;
    while (n >= first_row[s + 1]) ++s;
    return s;
  };
  // Row n where it lies: in a plain weight, or, in a q4_1x2 weight, the row pair that starts
  // at n (n - first row even) or its odd last row.
  auto row_ptr = [&](int64_t n) {
    const int s = segment(n);
    if (m.w_layout[s] == WeightLayout::Q4_1x2) return kernels::q4_1x2_pair(m.w[s], (n - first_row[s]) / 2, K);
    if (m.w_layout[s] == WeightLayout::Q4_1x16) return kernels::q4_1x16_group(m.w[s], (n - first_row[s]) / 16, K);
    if (m.w_layout[s] == WeightLayout::Q8_0x16) return kernels::q8_0x16_group(m.w[s], (n - first_row[s]) / 16, K);
    return static_cast<const uint8_t*>(m.w[s]) + (n - first_row[s]) * w_row;
  };
  float* y = static_cast<float*>(c.out);
  if (gemm_x16) {
    // Row groups are handed out in chunks from a shared counter rather than split evenly up
    // front: on a shared or virtual machine one thread often runs slower for a while, and the
    // others would wait for it at the next barrier. Which thread computes a group changes no bit.
    std::atomic_ref<int64_t> next(*reinterpret_cast<int64_t*>(c.scratch + counter_offset(static_cast<size_t>(M) * act_row, M, bpr)));
    const int64_t groups = N / 16;
    const int64_t chunk = std::max<int64_t>(1, groups / (16 * c.nth));
    kernels::GemmX16Args p;
    p.k = K;
    p.a = act;
    p.a_stride = act_row;
    p.rows = M;
    p.ad = ad;
    p.as = as;
    p.asum = reinterpret_cast<const int32_t*>(as);
    p.s_stride = M + 3;
    p.y_stride = N;
    for (;;) {
      const int64_t g0 = next.fetch_add(chunk, std::memory_order_relaxed);
      if (g0 >= groups) break;
      const int64_t n0 = 16 * g0, n1 = 16 * std::min(groups, g0 + chunk);
      for (int64_t n = n0; n < n1; n += 16 * p.groups) {  // one call per weight (matmul_cat)
        const int s = segment(n);
        p.w = row_ptr(n);
        p.groups = (std::min(n1, first_row[s + 1]) - n) / 16;
        p.y = y + n;
        gemm_x16(p);
      }
      if (m.addend) {  // epilogue, while the chunk's outputs are still in cache
        for (int64_t r = 0; r < M; ++r) {
          float* yr = y + r * N;
          const float* ar = m.addend_is_row ? m.addend : m.addend + r * N;
          for (int64_t n = n0; n < n1; ++n) yr[n] = yr[n] + ar[n];
        }
      }
    }
    return;
  }
  int64_t nb, ne;
  split_range(N, c.ith, c.nth, &nb, &ne);
  if (packed) {  // a thread's rows start on a pair (every weight but the last has even rows)
    nb -= nb % 2;
    if (ne < N) ne -= ne % 2;
  }
  // Blocks of weight rows stay in cache while every activation row passes over them.
  constexpr int64_t kRowBlock = 16;
  // Activation rows per kernel call: the AVX-512 q4_1 pair kernels take 8 in one pass (the
  // others loop groups of 4 inside, which changes nothing: rows are independent, and q4_K's
  // groups of 4 still start at multiples of 4).
  constexpr int64_t kActRows = 8;
  const kernels::VecDotRowsFn rows_dot = kernels::find_vec_dot_rows(static_cast<uint32_t>(w.dtype));
  // f32 weights: the f32 GEMM (kernels/cpu/gemm/gemm_f32.h, any M, bit-identical to the per-row
  // dot) takes the thread's whole range and blocks it itself.
  const kernels::GemmF32Fn gemm_f32 = w.dtype == DType::F32 ? kernels::find_gemm_f32() : nullptr;
  const int64_t row_block = gemm_f32 ? std::max<int64_t>(ne - nb, 1) : kRowBlock;
  kernels::VecDotFn dots[kMaxMatMulWeights];
  kernels::VecDot4Fn dots4[kMaxMatMulWeights];  // four rows at a time, where the dot product has that twin
  for (int s = 0; s < m.n_weights; ++s) {
    dots[s] = kernels::vec_dot_for_weight(static_cast<uint32_t>(w.dtype), m.w_desc[s]->shape[0]);
    dots4[s] = K % 8 == 0 ? kernels::vec_dot4_for(dots[s]) : nullptr;
  }
  for (int64_t n0 = nb; n0 < ne; n0 += row_block) {
    const int64_t n1 = n0 + row_block < ne ? n0 + row_block : ne;
    if (gemm_f32) {
      kernels::GemmF32Args p;
      p.k = K;
      p.w_stride = p.a_stride = K;
      p.a = xf;
      p.m = M;
      p.y_stride = N;
      for (int64_t n = n0; n < n1; n += p.n) {  // one call per weight (matmul_cat)
        int s = 0;
        while (n >= first_row[s + 1]) ++s;
        p.w = reinterpret_cast<const float*>(row_ptr(n));
        p.n = std::min(n1, first_row[s + 1]) - n;
        p.y = y + n;
        p.sgemm_order = m.w_desc[s]->shape[0] % 4 == 0;
        gemm_f32(p);
      }
    } else if (rows_dot) {
      kernels::DotRowsArgs p;
      p.n = K;
      p.a_stride = act_row;
      p.y_stride = N;
      p.s_stride = M + 3;
      p.batch_rows = M;
      for (int64_t m0 = 0; m0 < M; m0 += kActRows) {
        p.a = act + m0 * act_row;
        p.rows = M - m0 < kActRows ? M - m0 : kActRows;
        p.ad = ad ? ad + m0 : nullptr;
        p.as = as ? as + m0 : nullptr;
        for (int64_t n = n0; n < n1;) {
          p.w = row_ptr(n);
          p.y = y + m0 * N + n;
          const int s = segment(n);
          if (m.w_layout[s] == WeightLayout::Q4_1x2) {
            // A pair of the packed weight, or its odd last row (a plain row).
            if (n + 1 < first_row[s + 1]) {
              p.w1 = nullptr;
              packed_pairs(p);
              n += 2;
            } else {
              rows_dot(p);
              n += 1;
            }
            continue;
          }
          // Both rows of a pair must lie in the same weight (matmul_cat walks several).
          if (pairs && n + 1 < n1 && row_ptr(n + 1) == static_cast<const uint8_t*>(p.w) + w_row) {
            p.w1 = row_ptr(n + 1);
            pairs(p);
            n += 2;
          } else {
            p.w1 = nullptr;
            rows_dot(p);
            n += 1;
          }
        }
      }
    } else {
      // f16/bf16 (and f32) weights: the order depends on the weight's row count (simd.h). Four
      // rows of one weight at a time where the dot product has a four-row twin (n % 8 == 0).
      for (int64_t r = 0; r < M; ++r) {
        const uint8_t* a = act + r * act_row;
        float* yr = y + r * N;
        for (int64_t n = n0; n < n1;) {
          const int s = segment(n);
          if (dots4[s] && n + 4 <= std::min(n1, first_row[s + 1])) {
            const void* w4[4] = {row_ptr(n), row_ptr(n + 1), row_ptr(n + 2), row_ptr(n + 3)};
            dots4[s](K, w4, a, yr + n);
            n += 4;
            continue;
          }
          yr[n] = dots[s](K, row_ptr(n), a);
          ++n;
        }
      }
    }
    if (m.addend) {  // epilogue, while the block's outputs are still in cache
      for (int64_t r = 0; r < M; ++r) {
        float* yr = y + r * N;
        const float* ar = m.addend_is_row ? m.addend : m.addend + r * N;
        for (int64_t n = n0; n < n1; ++n) yr[n] = yr[n] + ar[n];
      }
    }
  }
}

size_t norm_matmul_thread_scratch_bytes(const TensorDesc& x) { return static_cast<size_t>(x.shape[1]) * sizeof(float); }

Support norm_matmul_supports(const TensorDesc& w) {
  Support s = matmul_supports(w);
  if (!s.ok) return s;
  const kernels::QuantTypeKernels* k = kernels::find_quant_kernels(static_cast<uint32_t>(w.dtype));
  if (k->act_type == kernels::kTypeF32)
    return {false, std::string("weight type ") + dtype_name(w.dtype) + " reads f32 activations: nothing to fuse the norm into"};
  return {};
}

void op_matmul(const OpCtx& c) {
  MatMulArgs m;
  m.w[0] = c.in[1];
  m.w_desc[0] = c.in_desc[1];
  m.w_layout[0] = c.in_layout[1];
  m.n_weights = 1;
  matmul_run(c, m);
}

}  // namespace ember::cpu
