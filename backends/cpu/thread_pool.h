// A persistent pool of worker threads for the CPU backend.
//
// run(fn) calls fn(ith, nth) once on each of the nth threads (the caller is thread 0) and
// returns when all have finished. Inside fn, barrier() synchronises all nth threads; it spins
// briefly, then yields, so a step of many small ops costs no syscalls on an idle machine
// and does not starve an oversubscribed one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ember::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  template <typename F>
  void run(F&& fn) {
    run_impl(&fn, [](void* obj, int ith, int nth) { (*static_cast<F*>(obj))(ith, nth); });
  }

  // Waits until every thread of the current run() has reached the barrier.
  void barrier();

 private:
  using Trampoline = void (*)(void*, int, int);
  void run_impl(void* obj, Trampoline call);
  void worker(int ith);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;  // guarded by mu_; bumped per run()
  bool stop_ = false;
  void* job_obj_ = nullptr;
  Trampoline job_call_ = nullptr;
  std::atomic<int> active_{0};

  alignas(64) std::atomic<int> barrier_count_{0};
  alignas(64) std::atomic<uint32_t> barrier_phase_{0};
};

// [begin, end) of n items for thread ith of nth, in contiguous even chunks.
inline void split_range(int64_t n, int ith, int nth, int64_t* begin, int64_t* end) {
  *begin = n * ith / nth;
  *end = n * (ith + 1) / nth;
}

}  // namespace ember::cpu
