// Group-relative advantages and reward-spread filtering over raw buffers (no Python), for the bindings in
// advantages.cpp. Twins: eigenfast/ops/_native_fallbacks.py (numpy) and eigenfast/ops/advantages.py (reference).
//
// Per group: mean = sum / count (summed in index order), m2 = sum of (r - mean)^2 (two passes over a contiguous
// group, Welford's update otherwise), std = sqrt(m2 / (count - 1)) (or / count when not unbiased). A group whose
// rewards are all equal, or that has one member, gets exactly 0.
#pragma once

#include <cstdint>

namespace eigenfast::advantages {

enum class Mode {
  kGrpo,    // (r - mean) / (std + eps)
  kDrGrpo,  // r - mean
  kRloo,    // r - mean of the other members
  kBatch,   // (r - group mean) / (std of every reward in the batch + eps)
};

// R is float or double, G is int32_t or int64_t. Throws std::invalid_argument naming a non-finite reward.
template <class R, class G>
void group_advantages(const R* rewards, const G* group_ids, int64_t n, Mode mode, double eps, bool unbiased_std,
                      R* out);

struct FilterCounts {
  int64_t groups = 0;
  int64_t kept = 0;         // population std > min_std
  int64_t all_correct = 0;  // every reward >= 1
  int64_t all_wrong = 0;    // every reward <= 0
};

// keep[i] is true when the group of reward i is kept.
template <class R, class G>
FilterCounts dynamic_filter(const R* rewards, const G* group_ids, int64_t n, double min_std, bool* keep);

}  // namespace eigenfast::advantages
