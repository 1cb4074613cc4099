// Sequence packing, rank balancing and packed-batch assembly: plain C++ over raw buffers (no Python), so the
// bindings in packing.cpp can run all of it with the GIL released. Every function has a numba/numpy twin in
// eigenfast/ops/_native_fallbacks.py that must give identical results, so tie-breaking is part of the contract.
#pragma once

#include <cstdint>
#include <vector>

namespace eigenfast::packing {

enum class Algorithm { kFirstFitDecreasing, kBestFitDecreasing };

// Largest capacity accepted: best-fit keeps one list head per residual capacity (O(capacity) memory).
constexpr int64_t kMaxCapacity = int64_t{1} << 24;
constexpr int64_t kIgnoreIndex = -100;

// Items are taken longest first (ties: lower index first). FFD puts each into the lowest-numbered bin it fits;
// BFD into the bin with the least room left that still fits (ties: the bin that reached that room most recently).
// Throws std::invalid_argument naming the first length outside [1, capacity]. Returns the bin sizes.
std::vector<int64_t> pack(const int64_t* lengths, int64_t n, int64_t capacity, Algorithm algorithm,
                          int64_t* bin_of, int64_t* offset_in_bin);

struct Partitioning {
  std::vector<int64_t> members;  // item indices, partition by partition, ascending within each
  std::vector<int64_t> offsets;  // k + 1 offsets into members
  std::vector<int64_t> sums;     // token sum per partition
};

// k-way Karmarkar-Karp (largest differencing). With equal_count, items are dealt k at a time (longest first), so
// partition sizes differ by at most one (exactly equal when k divides n). Partitions come out heaviest first.
Partitioning balance(const int64_t* lengths, int64_t n, int64_t k, bool equal_count);

struct Sequences {
  const int64_t* token_ids;    // [num_tokens], all sequences back to back
  const bool* trainable;       // [num_tokens], true where the agent produced the token
  const float* old_logp;       // [num_tokens], sampled logprob of each token (0 where none)
  const float* advantages;     // [num_seqs]
  const int64_t* seq_offsets;  // [num_seqs + 1]
  int64_t num_seqs;
};

struct Plan {
  const int64_t* bin_of;
  const int64_t* offset_in_bin;
  int64_t num_bins;
  int64_t capacity;
};

struct PackedBuffers {  // rows of `capacity` tokens, one per bin, except the cu_seqlens pair
  int64_t* input_ids;
  int64_t* position_ids;
  int64_t* labels;
  bool* loss_mask;
  float* old_logp;
  float* advantages;
  int32_t* seq_ids;
  int32_t* cu_seqlens;          // [num_seqs + num_bins]: bin b's entries start at cu_seqlens_offsets[b]
  int64_t* cu_seqlens_offsets;  // [num_bins + 1]
  int64_t* bin_sizes;           // [num_bins]
};

// Checks the plan against the sequences (in range, back to back from offset 0 in every bin), then fills every
// bin, bins spread over threads. Throws std::invalid_argument naming the offending sequence.
void build(const Sequences& seqs, const Plan& plan, int64_t pad_id, const PackedBuffers& out);

}  // namespace eigenfast::packing
