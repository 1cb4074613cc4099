// A tiny fork-join helper shared by the native ops: split [0, n) into contiguous chunks, one std::thread each.
// Small inputs stay on the calling thread, since starting a thread costs more than the work it would do.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace eigenfast {

inline int hardware_threads() {
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 64u));
}

// Calls fn(begin, end, chunk_index) on up to `hardware_threads()` chunks of at least `grain` items each.
// The first exception thrown by any chunk is rethrown on the calling thread.
template <class Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>(hardware_threads(), std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
  if (chunks <= 1) {
    fn(int64_t{0}, n, 0);
    return;
  }
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(chunks));
  threads.reserve(static_cast<size_t>(chunks - 1));
  auto run = [&](int64_t c) {
    try {
      fn(n * c / chunks, n * (c + 1) / chunks, static_cast<int>(c));
    } catch (...) {
      errors[static_cast<size_t>(c)] = std::current_exception();
    }
  };
  for (int64_t c = 1; c < chunks; ++c) threads.emplace_back(run, c);
  run(0);
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace eigenfast
