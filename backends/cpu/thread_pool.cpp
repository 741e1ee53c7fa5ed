#include "backends/cpu/thread_pool.h"

#include <sched.h>

namespace ember::cpu {
namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_impl(void* obj, Trampoline call) {
  if (n_threads_ == 1) {
    call(obj, 0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_obj_ = obj;
    job_call_ = call;
    active_.store(n_threads_ - 1, std::memory_order_relaxed);
    ++generation_;
  }
  cv_.notify_all();
  call(obj, 0, n_threads_);
  int spins = 0;
  while (active_.load(std::memory_order_acquire) != 0) {
    if (++spins < 4096) cpu_relax();
    else sched_yield();
  }
}

void ThreadPool::worker(int ith) {
  uint64_t seen = 0;
  for (;;) {
    void* obj;
    Trampoline call;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      obj = job_obj_;
      call = job_call_;
    }
    call(obj, ith, n_threads_);
    active_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::barrier() {
  if (n_threads_ == 1) return;
  uint32_t phase = barrier_phase_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_threads_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_phase_.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  int spins = 0;
  while (barrier_phase_.load(std::memory_order_acquire) == phase) {
    if (++spins < 4096) cpu_relax();
    else sched_yield();
  }
}

}  // namespace ember::cpu
