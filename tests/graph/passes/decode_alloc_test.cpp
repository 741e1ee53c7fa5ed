// No heap allocation during a decode step: this binary replaces the global operator new
// with one that counts while counting is switched on. After warm-up (the decode plan is
// prepared, staging vectors have grown), one Session::step of one token — graph compiled by
// the full pipeline, activations in the planned arena — must allocate nothing, on a tiny
// model and on the default model.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "runtime/session.h"
#include "support/test_support.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_alloc(std::size_t n, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n);
  return p;
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_alloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counted_alloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace ember::runtime {
namespace {

// Allocations made by one decode step of `model` after a prompt and `warm` decode steps.
long allocations_in_one_decode_step(const std::string& path, int warm) {
  auto model = Model::load(path);
  EXPECT_TRUE(model.ok()) << model.message();
  if (!model.ok()) return -1;
  SessionOptions so;
  so.threads = 2;
  so.n_ctx = 64;
  auto session = Session::create(**model, so);
  EXPECT_TRUE(session.ok()) << session.message();
  if (!session.ok()) return -1;
  const int32_t seq = (*session)->new_sequence();
  std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
  std::vector<float> logits;
  EXPECT_TRUE((*session)->eval(seq, prompt, false, &logits).ok());
  std::vector<BatchToken> batch = {{7, seq, true}};
  for (int i = 0; i < warm; ++i) EXPECT_TRUE((*session)->step(batch, &logits).ok());

  // Sanity: the hook sees allocations at all.
  g_allocations = 0;
  g_counting = true;
  auto* probe = new std::vector<int>(3);
  g_counting = false;
  delete probe;
  EXPECT_GE(g_allocations.load(), 1) << "the counting operator new is not in effect";

  g_allocations = 0;
  g_counting = true;
  Status s = (*session)->step(batch, &logits);
  g_counting = false;
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(logits.empty());
  return g_allocations.load();
}

TEST(DecodeAlloc, TinyModelDecodeStepAllocatesNothing) {
  EXPECT_EQ(allocations_in_one_decode_step(test::data_path("models/tiny-llama-q8_0-gqa2.gguf"), 2), 0);
}

TEST(DecodeAlloc, DefaultModelDecodeStepAllocatesNothing) {
  const std::string path = test::default_model_path();
  ASSERT_FALSE(path.empty()) << "the default model is missing: run scripts/fetch-model.sh";
  EXPECT_EQ(allocations_in_one_decode_step(path, 2), 0);
}

}  // namespace
}  // namespace ember::runtime
