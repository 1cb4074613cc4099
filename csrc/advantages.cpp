// Group advantages and dynamic filtering (see advantages.h), plus their bindings (group "advantages").
//
// Rollouts usually arrive with each group's samples next to each other, so contiguous groups (sorted ids, or
// any ids where no id starts two runs) take a fast path: each thread walks whole runs and keeps one group's
// rewards in cache for all passes. Other ids are mapped to dense group numbers first (an offset when their
// range is small, else a hash table).
#include "advantages.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "array_args.h"
#include "parallel.h"
#include "registry.h"

namespace eigenfast::advantages {
namespace {

constexpr int64_t kGrain = int64_t{1} << 16;

struct Stats {
  int64_t count = 0;
  double sum = 0.0, mean = 0.0, m2 = 0.0;
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  bool flat() const { return count < 2 || lo == hi; }
};

template <class R>
Stats run_stats(const R* r, int64_t begin, int64_t end) {
  Stats st;
  for (int64_t i = begin; i < end; ++i) {
    double v = r[i];
    st.sum += v;
    st.lo = std::min(st.lo, v);
    st.hi = std::max(st.hi, v);
  }
  st.count = end - begin;
  st.mean = st.count > 0 ? st.sum / static_cast<double>(st.count) : 0.0;
  for (int64_t i = begin; i < end; ++i) {
    double d = static_cast<double>(r[i]) - st.mean;
    st.m2 += d * d;
  }
  return st;
}

double std_of(const Stats& st, bool unbiased) {
  if (st.flat()) return 0.0;
  return std::sqrt(st.m2 / static_cast<double>(unbiased ? st.count - 1 : st.count));
}

struct Params {
  Mode mode;
  double eps;
  bool unbiased;
  double batch_std;
};

// The divisor of a group's centred rewards, computed once per group rather than once per reward.
double divisor_of(const Stats& st, const Params& p) {
  switch (p.mode) {
    case Mode::kGrpo:
      return std_of(st, p.unbiased) + p.eps;
    case Mode::kBatch:
      return p.batch_std + p.eps;
    case Mode::kDrGrpo:
    case Mode::kRloo:
      break;
  }
  return 1.0;
}

template <class R>
void write_advantage(const R* r, R* out, int64_t i, const Stats& st, const Params& p, double divisor) {
  if (st.flat()) {
    out[i] = R(0);
  } else if (p.mode == Mode::kRloo) {
    out[i] = static_cast<R>(r[i] - (st.sum - r[i]) / static_cast<double>(st.count - 1));
  } else {
    out[i] = static_cast<R>((r[i] - st.mean) / divisor);
  }
}

// One pass over the inputs: the first non-finite reward (thrown) and whether the ids never decrease.
template <class R, class G>
bool check_and_sorted(const R* r, const G* ids, int64_t n) {
  const int chunks = n < kGrain ? 1 : hardware_threads();
  std::vector<int64_t> first_bad(static_cast<size_t>(chunks), n);
  std::vector<char> sorted(static_cast<size_t>(chunks), 1);
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
      for (int64_t i = begin; i < end; ++i) {
        if (!std::isfinite(static_cast<double>(r[i]))) {
          first_bad[static_cast<size_t>(c)] = i;
          break;
        }
      }
      bool ok = true;
      for (int64_t i = std::max<int64_t>(begin, 1); i < end; ++i) ok &= ids[i - 1] <= ids[i];
      sorted[static_cast<size_t>(c)] = ok;
    }
  });
  int64_t bad = *std::min_element(first_bad.begin(), first_bad.end());
  if (bad < n) {
    throw std::invalid_argument("rewards[" + std::to_string(bad) + "] = " + std::to_string(static_cast<double>(r[bad])) +
                                " is not finite");
  }
  return std::all_of(sorted.begin(), sorted.end(), [](char s) { return s != 0; });
}

// Unsorted ids whose groups still sit in contiguous runs (e.g. hashed task ids, one block per task) can take
// the run path too: true when no id starts two runs.
template <class G>
bool runs_are_groups(const G* ids, int64_t n) {
  std::vector<G> starts;
  starts.reserve(static_cast<size_t>(n / 8 + 1));
  for (int64_t i = 0; i < n; ++i) {
    if (i == 0 || ids[i] != ids[i - 1]) starts.push_back(ids[i]);
    if (static_cast<int64_t>(starts.size()) * 2 > n) return false;  // mostly singletons: not worth it
  }
  std::sort(starts.begin(), starts.end());
  return std::adjacent_find(starts.begin(), starts.end()) == starts.end();
}

template <class R>
double batch_std(const R* r, int64_t n, bool unbiased) {
  if (n < 2) return 0.0;
  const int chunks = n < kGrain ? 1 : hardware_threads();
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
  auto reduce = [&](auto&& term) {
    std::fill(part.begin(), part.end(), 0.0);
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1, int) {
      for (int64_t c = c0; c < c1; ++c) {
        double acc = 0.0;
        for (int64_t i = n * c / chunks; i < n * (c + 1) / chunks; ++i) acc += term(static_cast<double>(r[i]));
        part[static_cast<size_t>(c)] = acc;
      }
    });
    double total = 0.0;
    for (double v : part) total += v;
    return total;
  };
  const double mean = reduce([](double v) { return v; }) / static_cast<double>(n);
  const double m2 = reduce([mean](double v) { return (v - mean) * (v - mean); });
  return std::sqrt(m2 / static_cast<double>(unbiased ? n - 1 : n));
}

int run_chunks(int64_t n) { return n < kGrain ? 1 : hardware_threads(); }

// Contiguous groups: calls fn(stats, begin, end, chunk) for every run of equal ids; chunk < run_chunks(n) says which
// thread-private slot the run may write to.
template <class R, class G, class Fn>
void for_each_run(const R* r, const G* ids, int64_t n, Fn&& fn) {
  const int chunks = run_chunks(n);
  std::vector<int64_t> cut(static_cast<size_t>(chunks) + 1, n);
  cut[0] = 0;
  for (int c = 1; c < chunks; ++c) {
    int64_t p = std::max(cut[static_cast<size_t>(c) - 1], n * c / chunks);
    while (p > 0 && p < n && ids[p] == ids[p - 1]) ++p;
    cut[static_cast<size_t>(c)] = p;
  }
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1, int) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t i = cut[static_cast<size_t>(c)];
      const int64_t end = cut[static_cast<size_t>(c) + 1];
      while (i < end) {
        int64_t j = i + 1;
        while (j < end && ids[j] == ids[i]) ++j;
        fn(run_stats(r, i, j), i, j, c);
        i = j;
      }
    }
  });
}

// The common case in one pass over the inputs: ids sorted and rewards finite, checked while walking the runs
// (a non-finite reward makes its run's sum non-finite). Returns false, with `out` partly written, if the
// check fails; the caller then takes the general path, which reports the bad reward or groups any ids.
template <class R, class G, class Fn>
bool sorted_runs(const R* r, const G* ids, int64_t n, Fn&& fn) {
  std::vector<char> ok(static_cast<size_t>(run_chunks(n)), 1);
  for_each_run(r, ids, n, [&](const Stats& st, int64_t begin, int64_t end, int64_t c) {
    char& good = ok[static_cast<size_t>(c)];
    good &= std::isfinite(st.sum) && (begin == 0 || ids[begin - 1] < ids[begin]);
    if (good) fn(st, begin, end, c);
  });
  return std::all_of(ok.begin(), ok.end(), [](char g) { return g != 0; });
}

// Unsorted ids: dense group numbers in [0, groups), and the stats of each.
template <class R, class G>
std::vector<Stats> dense_groups(const R* r, const G* ids, int64_t n, std::vector<int64_t>& gid) {
  gid.resize(static_cast<size_t>(n));
  int64_t groups = 0;
  const G lo = *std::min_element(ids, ids + n), hi = *std::max_element(ids, ids + n);
  // Unsigned arithmetic: hi - lo can exceed INT64_MAX, and wraps to the exact span as a uint64.
  const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(hi)) - static_cast<uint64_t>(static_cast<int64_t>(lo));
  if (span < static_cast<uint64_t>(2 * n + 1024)) {
    groups = static_cast<int64_t>(span) + 1;
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) {
        gid[static_cast<size_t>(i)] = static_cast<int64_t>(static_cast<uint64_t>(static_cast<int64_t>(ids[i])) -
                                                            static_cast<uint64_t>(static_cast<int64_t>(lo)));
      }
    });
  } else {
    size_t slots = 1;
    while (slots < static_cast<size_t>(2 * n)) slots <<= 1;
    std::vector<int64_t> keys(slots), values(slots, -1);
    for (int64_t i = 0; i < n; ++i) {
      uint64_t h = static_cast<uint64_t>(static_cast<int64_t>(ids[i])) * 0x9E3779B97F4A7C15ull;
      size_t s = static_cast<size_t>(h ^ (h >> 29)) & (slots - 1);
      while (values[s] >= 0 && keys[s] != static_cast<int64_t>(ids[i])) s = (s + 1) & (slots - 1);
      if (values[s] < 0) {
        keys[s] = static_cast<int64_t>(ids[i]);
        values[s] = groups++;
      }
      gid[static_cast<size_t>(i)] = values[s];
    }
  }
  // One pass (Welford's update for m2), since every visit of a group's stats is likely a cache miss. Threads
  // take contiguous index ranges into private tables, merged in range order (Chan et al.'s pairwise update).
  const int threads = run_chunks(n);
  const bool split = threads > 1 && static_cast<double>(groups) * threads * sizeof(Stats) < 512.0 * (1 << 20);
  std::vector<std::vector<Stats>> tables(static_cast<size_t>(split ? threads : 1));
  parallel_for(static_cast<int64_t>(tables.size()), 1, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      std::vector<Stats>& table = tables[static_cast<size_t>(t)];
      table.resize(static_cast<size_t>(groups));
      const int64_t parts = static_cast<int64_t>(tables.size());
      for (int64_t i = n * t / parts; i < n * (t + 1) / parts; ++i) {
        Stats& st = table[static_cast<size_t>(gid[static_cast<size_t>(i)])];
        const double v = r[i];
        ++st.count;
        st.sum += v;
        const double delta = v - st.mean;
        st.mean += delta / static_cast<double>(st.count);
        st.m2 += delta * (v - st.mean);
        st.lo = std::min(st.lo, v);
        st.hi = std::max(st.hi, v);
      }
    }
  });
  std::vector<Stats> stats = std::move(tables[0]);
  parallel_for(groups, kGrain, [&](int64_t g0, int64_t g1, int) {
    for (int64_t g = g0; g < g1; ++g) {
      Stats& a = stats[static_cast<size_t>(g)];
      for (size_t t = 1; t < tables.size(); ++t) {
        const Stats& b = tables[t][static_cast<size_t>(g)];
        if (b.count == 0) continue;
        const int64_t count = a.count + b.count;
        const double delta = b.mean - a.mean;
        a.m2 += b.m2 + delta * delta * static_cast<double>(a.count) * static_cast<double>(b.count) /
                           static_cast<double>(count);
        a.mean += delta * static_cast<double>(b.count) / static_cast<double>(count);
        a.count = count;
        a.sum += b.sum;
        a.lo = std::min(a.lo, b.lo);
        a.hi = std::max(a.hi, b.hi);
      }
      a.mean = a.count > 0 ? a.sum / static_cast<double>(a.count) : 0.0;
    }
  });
  return stats;
}

}  // namespace

template <class R, class G>
void group_advantages(const R* rewards, const G* group_ids, int64_t n, Mode mode, double eps, bool unbiased_std,
                      R* out) {
  if (n == 0) return;
  const Params p{mode, eps, unbiased_std, mode == Mode::kBatch ? batch_std(rewards, n, unbiased_std) : 0.0};
  auto write_run = [&](const Stats& st, int64_t begin, int64_t end, int64_t) {
    const double divisor = divisor_of(st, p);
    for (int64_t i = begin; i < end; ++i) write_advantage(rewards, out, i, st, p, divisor);
  };
  if (sorted_runs(rewards, group_ids, n, write_run)) return;
  check_and_sorted(rewards, group_ids, n);  // throws on a non-finite reward
  if (runs_are_groups(group_ids, n)) {
    for_each_run(rewards, group_ids, n, write_run);
    return;
  }
  std::vector<int64_t> gid;
  const std::vector<Stats> stats = dense_groups(rewards, group_ids, n, gid);
  std::vector<double> divisor(stats.size());
  for (size_t g = 0; g < stats.size(); ++g) divisor[g] = divisor_of(stats[g], p);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const size_t g = static_cast<size_t>(gid[static_cast<size_t>(i)]);
      write_advantage(rewards, out, i, stats[g], p, divisor[g]);
    }
  });
}

template <class R, class G>
FilterCounts dynamic_filter(const R* rewards, const G* group_ids, int64_t n, double min_std, bool* keep) {
  FilterCounts counts;
  if (n == 0) return counts;
  auto tally = [min_std](const Stats& st, FilterCounts& c) {
    ++c.groups;
    bool kept = std_of(st, false) > min_std;
    c.kept += kept;
    c.all_correct += st.lo >= 1.0;
    c.all_wrong += st.hi <= 0.0;
    return kept;
  };
  std::vector<FilterCounts> part(static_cast<size_t>(run_chunks(n)));
  auto tally_run = [&](const Stats& st, int64_t begin, int64_t end, int64_t c) {
    bool kept = tally(st, part[static_cast<size_t>(c)]);
    std::fill(keep + begin, keep + end, kept);
  };
  bool contiguous = sorted_runs(rewards, group_ids, n, tally_run);
  if (!contiguous) {
    check_and_sorted(rewards, group_ids, n);  // throws on a non-finite reward
    contiguous = runs_are_groups(group_ids, n);
    if (contiguous) {
      std::fill(part.begin(), part.end(), FilterCounts{});
      for_each_run(rewards, group_ids, n, tally_run);
    }
  }
  if (contiguous) {
    for (const FilterCounts& c : part) {
      counts.groups += c.groups;
      counts.kept += c.kept;
      counts.all_correct += c.all_correct;
      counts.all_wrong += c.all_wrong;
    }
    return counts;
  }
  std::vector<int64_t> gid;
  const std::vector<Stats> stats = dense_groups(rewards, group_ids, n, gid);
  std::vector<char> kept(stats.size(), 0);
  for (size_t g = 0; g < stats.size(); ++g) {
    if (stats[g].count > 0) kept[g] = tally(stats[g], counts);
  }
  for (int64_t i = 0; i < n; ++i) keep[i] = kept[static_cast<size_t>(gid[static_cast<size_t>(i)])] != 0;
  return counts;
}

}  // namespace eigenfast::advantages

namespace {

namespace py = pybind11;
using namespace eigenfast;
using namespace eigenfast::advantages;

Mode parse_mode(const std::string& mode) {
  if (mode == "grpo") return Mode::kGrpo;
  if (mode == "drgrpo") return Mode::kDrGrpo;
  if (mode == "rloo") return Mode::kRloo;
  if (mode == "batch") return Mode::kBatch;
  throw py::value_error("mode must be one of 'grpo', 'drgrpo', 'rloo', 'batch', got '" + mode + "'");
}

// Calls fn(rewards_ptr, ids_ptr) with the concrete element types, after checking both arrays.
template <class Fn>
auto with_typed(const py::array& rewards, const py::array& group_ids, Fn&& fn) {
  check_vector(rewards, "rewards");
  check_vector(group_ids, "group_ids");
  if (group_ids.shape(0) != rewards.shape(0)) {
    throw py::value_error("group_ids must have the length of rewards (" + std::to_string(rewards.shape(0)) +
                          "), got " + std::to_string(group_ids.shape(0)));
  }
  auto with_ids = [&](auto* r) {
    if (has_dtype<int64_t>(group_ids)) return fn(r, static_cast<const int64_t*>(group_ids.data()));
    if (has_dtype<int32_t>(group_ids)) return fn(r, static_cast<const int32_t*>(group_ids.data()));
    throw py::type_error("group_ids must have dtype int32 or int64, got " + std::string(py::str(group_ids.dtype())));
  };
  if (has_dtype<float>(rewards)) return with_ids(static_cast<const float*>(rewards.data()));
  if (has_dtype<double>(rewards)) return with_ids(static_cast<const double*>(rewards.data()));
  throw py::type_error("rewards must have dtype float32 or float64, got " + std::string(py::str(rewards.dtype())));
}

py::array group_advantages_binding(const py::array& rewards, const py::array& group_ids, const std::string& mode,
                                   double eps, bool unbiased_std) {
  const Mode m = parse_mode(mode);
  if (!(eps >= 0.0)) throw py::value_error("eps must be >= 0, got " + std::to_string(eps));
  const int64_t n = rewards.shape(0);
  return with_typed(rewards, group_ids, [&](auto* r, auto* ids) -> py::array {
    using R = std::remove_const_t<std::remove_pointer_t<decltype(r)>>;
    py::array_t<R> out(n);
    R* o = out.mutable_data();
    {
      py::gil_scoped_release release;
      group_advantages(r, ids, n, m, eps, unbiased_std, o);
    }
    return out;
  });
}

py::tuple dynamic_filter_binding(const py::array& rewards, const py::array& group_ids, double min_std) {
  if (!(min_std >= 0.0)) throw py::value_error("min_std must be >= 0, got " + std::to_string(min_std));
  const int64_t n = rewards.shape(0);
  return with_typed(rewards, group_ids, [&](auto* r, auto* ids) -> py::tuple {
    py::array_t<bool> keep(n);
    bool* k = keep.mutable_data();
    FilterCounts c;
    {
      py::gil_scoped_release release;
      c = dynamic_filter(r, ids, n, min_std, k);
    }
    return py::make_tuple(keep, c.kept, c.all_correct, c.all_wrong, c.groups);
  });
}

void bind_advantages(py::module_& m) {
  m.def("advantages_group_advantages", &group_advantages_binding, py::arg("rewards"), py::arg("group_ids"),
        py::arg("mode"), py::arg("eps"), py::arg("unbiased_std"),
        "Per-reward advantages (dtype of rewards); see eigenfast.ops.advantages.group_advantages.");
  m.def("advantages_dynamic_filter", &dynamic_filter_binding, py::arg("rewards"), py::arg("group_ids"),
        py::arg("min_std"), "Returns (keep, kept, all_correct, all_wrong, groups); see eigenfast.ops.advantages.");
}

}  // namespace

EIGENFAST_REGISTER_BINDINGS(advantages, bind_advantages);
