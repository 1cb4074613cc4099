// Packing, balancing and packed-batch assembly (see packing.h), plus their bindings (group "packing").
#include "packing.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <string>

#include "array_args.h"
#include "parallel.h"
#include "registry.h"

namespace eigenfast::packing {
namespace {

void check_lengths(const int64_t* lengths, int64_t n, int64_t capacity) {
  for (int64_t i = 0; i < n; ++i) {
    if (lengths[i] < 1) {
      throw std::invalid_argument("lengths[" + std::to_string(i) + "] = " + std::to_string(lengths[i]) +
                                  " must be >= 1");
    }
    if (lengths[i] > capacity) {
      throw std::invalid_argument("lengths[" + std::to_string(i) + "] = " + std::to_string(lengths[i]) +
                                  " is longer than capacity " + std::to_string(capacity));
    }
  }
}

// Indices ordered by length, longest first, ties by index. Counting sort when capacity is small next to n.
std::vector<int64_t> longest_first(const int64_t* lengths, int64_t n, int64_t capacity) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  if (capacity > 4 * n + 1024) {
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
    return order;
  }
  std::vector<int64_t> start(static_cast<size_t>(capacity) + 2, 0);
  for (int64_t i = 0; i < n; ++i) ++start[static_cast<size_t>(capacity - lengths[i] + 1)];
  for (size_t r = 1; r < start.size(); ++r) start[r] += start[r - 1];
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(start[static_cast<size_t>(capacity - lengths[i])]++)] = i;
  return order;
}

// A bitset over [0, n) answering "smallest set index >= i" in O(log64 n): one summary bit per 64-bit word.
class NextSetBit {
 public:
  explicit NextSetBit(int64_t n) {
    int64_t bits = std::max<int64_t>(n, 1);
    do {
      int64_t words = (bits + 63) / 64;
      levels_.emplace_back(static_cast<size_t>(words), 0);
      bits = words;
    } while (bits > 1);
  }

  void set(int64_t i) {
    for (auto& level : levels_) {
      uint64_t& word = level[static_cast<size_t>(i >> 6)];
      bool had_bits = word != 0;
      word |= uint64_t{1} << (i & 63);
      if (had_bits) return;
      i >>= 6;
    }
  }

  void clear(int64_t i) {
    for (auto& level : levels_) {
      uint64_t& word = level[static_cast<size_t>(i >> 6)];
      word &= ~(uint64_t{1} << (i & 63));
      if (word != 0) return;
      i >>= 6;
    }
  }

  int64_t next(int64_t i) const {
    size_t level = 0;
    for (;; ++level) {
      if (level == levels_.size()) return -1;
      int64_t w = i >> 6;
      if (w >= static_cast<int64_t>(levels_[level].size())) return -1;
      uint64_t bits = levels_[level][static_cast<size_t>(w)] & (~uint64_t{0} << (i & 63));
      if (bits != 0) {
        i = (w << 6) + __builtin_ctzll(bits);
        break;
      }
      i = w + 1;
    }
    while (level > 0) {
      --level;
      i = (i << 6) + __builtin_ctzll(levels_[level][static_cast<size_t>(i)]);
    }
    return i;
  }

 private:
  std::vector<std::vector<uint64_t>> levels_;
};

// Best fit: a LIFO list of bins per residual capacity, and a bitset of the residuals that have bins.
std::vector<int64_t> best_fit(const int64_t* lengths, const std::vector<int64_t>& order, int64_t capacity,
                              int64_t* bin_of, int64_t* offset_in_bin) {
  std::vector<int64_t> head(static_cast<size_t>(capacity) + 1, -1);
  std::vector<int64_t> next_bin;
  std::vector<int64_t> residual;
  NextSetBit nonempty(capacity + 1);
  for (int64_t item : order) {
    int64_t len = lengths[item];
    int64_t room = nonempty.next(len);
    int64_t bin;
    if (room < 0) {
      bin = static_cast<int64_t>(residual.size());
      residual.push_back(capacity);
      next_bin.push_back(-1);
      room = capacity;
    } else {
      bin = head[static_cast<size_t>(room)];
      head[static_cast<size_t>(room)] = next_bin[static_cast<size_t>(bin)];
      if (head[static_cast<size_t>(room)] < 0) nonempty.clear(room);
    }
    bin_of[item] = bin;
    offset_in_bin[item] = capacity - room;
    int64_t left = room - len;
    residual[static_cast<size_t>(bin)] = left;
    if (left > 0) {
      next_bin[static_cast<size_t>(bin)] = head[static_cast<size_t>(left)];
      if (head[static_cast<size_t>(left)] < 0) nonempty.set(left);
      head[static_cast<size_t>(left)] = bin;
    }
  }
  std::vector<int64_t> sizes(residual.size());
  for (size_t b = 0; b < residual.size(); ++b) sizes[b] = capacity - residual[b];
  return sizes;
}

// First fit: a max-segment-tree of residuals over bin slots. Unopened slots hold a full capacity, so the leftmost
// slot that fits is either an open bin or the next new one. First fit never leaves two bins at most half full,
// so 2 * total / capacity + 2 slots always suffice.
std::vector<int64_t> first_fit(const int64_t* lengths, const std::vector<int64_t>& order, int64_t capacity,
                               int64_t* bin_of, int64_t* offset_in_bin) {
  int64_t n = static_cast<int64_t>(order.size());
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += lengths[i];
  int64_t slots = std::max<int64_t>(1, std::min<int64_t>(n, 2 * (total / capacity) + 2));
  int64_t size = 1;
  while (size < slots) size <<= 1;
  std::vector<int32_t> tree(static_cast<size_t>(2 * size), static_cast<int32_t>(capacity));  // half the cache
  int64_t bins = 0;
  for (int64_t item : order) {
    int64_t len = lengths[item];
    int64_t node = 1;
    const int32_t need = static_cast<int32_t>(len);
    while (node < size) node = tree[static_cast<size_t>(2 * node)] >= need ? 2 * node : 2 * node + 1;
    int64_t bin = node - size;
    bin_of[item] = bin;
    offset_in_bin[item] = capacity - tree[static_cast<size_t>(node)];
    bins = std::max(bins, bin + 1);
    tree[static_cast<size_t>(node)] -= need;
    for (node >>= 1; node >= 1; node >>= 1) {  // stop where the max no longer changes
      const int32_t best = std::max(tree[static_cast<size_t>(2 * node)], tree[static_cast<size_t>(2 * node + 1)]);
      if (tree[static_cast<size_t>(node)] == best) break;
      tree[static_cast<size_t>(node)] = best;
    }
  }
  std::vector<int64_t> sizes(static_cast<size_t>(bins));
  for (int64_t b = 0; b < bins; ++b) sizes[static_cast<size_t>(b)] = capacity - tree[static_cast<size_t>(size + b)];
  return sizes;
}

}  // namespace

std::vector<int64_t> pack(const int64_t* lengths, int64_t n, int64_t capacity, Algorithm algorithm,
                          int64_t* bin_of, int64_t* offset_in_bin) {
  if (capacity < 1 || capacity > kMaxCapacity) {
    throw std::invalid_argument("capacity must be in [1, " + std::to_string(kMaxCapacity) + "], got " +
                                std::to_string(capacity));
  }
  check_lengths(lengths, n, capacity);
  std::vector<int64_t> order = longest_first(lengths, n, capacity);
  if (algorithm == Algorithm::kBestFitDecreasing) return best_fit(lengths, order, capacity, bin_of, offset_in_bin);
  return first_fit(lengths, order, capacity, bin_of, offset_in_bin);
}

namespace {

struct HeapEntry {
  int64_t spread;
  int64_t id;  // creation order: older states first among equal spreads
  int64_t slot;
};

struct LowerPriority {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    return a.spread != b.spread ? a.spread < b.spread : a.id > b.id;
  }
};

}  // namespace

Partitioning balance(const int64_t* lengths, int64_t n, int64_t k, bool equal_count) {
  if (k < 1) throw std::invalid_argument("k must be >= 1, got " + std::to_string(k));
  for (int64_t i = 0; i < n; ++i) {
    if (lengths[i] < 0) {
      throw std::invalid_argument("lengths[" + std::to_string(i) + "] = " + std::to_string(lengths[i]) +
                                  " must be >= 0");
    }
  }
  // With equal_count, dummy items of length 0 (index >= n) round the count up to a multiple of k.
  int64_t items = equal_count ? (n + k - 1) / k * k : n;
  auto length_of = [&](int64_t i) { return i < n ? lengths[i] : int64_t{0}; };
  int64_t states = equal_count ? items / k : n;
  // Each state is k subsets, heaviest first: their sums and item lists (linked through `next`).
  std::vector<int64_t> sums(static_cast<size_t>(states * k), 0);
  std::vector<int64_t> head(static_cast<size_t>(states * k), -1), tail(static_cast<size_t>(states * k), -1);
  std::vector<int64_t> next(static_cast<size_t>(items), -1);
  if (equal_count) {
    std::vector<int64_t> order(static_cast<size_t>(items));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return length_of(a) > length_of(b); });
    for (int64_t j = 0; j < items; ++j) {
      int64_t item = order[static_cast<size_t>(j)];
      sums[static_cast<size_t>(j)] = length_of(item);
      head[static_cast<size_t>(j)] = tail[static_cast<size_t>(j)] = item;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      sums[static_cast<size_t>(i * k)] = lengths[i];
      head[static_cast<size_t>(i * k)] = tail[static_cast<size_t>(i * k)] = i;
    }
  }
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, LowerPriority> heap;
  for (int64_t s = 0; s < states; ++s) {
    heap.push({sums[static_cast<size_t>(s * k)] - sums[static_cast<size_t>(s * k + k - 1)], s, s});
  }
  int64_t next_id = states;
  std::vector<int64_t> merged_sum(static_cast<size_t>(k)), merged_head(static_cast<size_t>(k)),
      merged_tail(static_cast<size_t>(k)), rank(static_cast<size_t>(k));
  while (heap.size() > 1) {
    int64_t a = heap.top().slot * k;
    heap.pop();
    int64_t b = heap.top().slot * k;
    heap.pop();
    // Pair the heaviest subset of one with the lightest of the other: the differences cancel.
    for (int64_t j = 0; j < k; ++j) {
      size_t x = static_cast<size_t>(a + j), y = static_cast<size_t>(b + k - 1 - j), J = static_cast<size_t>(j);
      merged_sum[J] = sums[x] + sums[y];
      if (head[x] < 0) {
        merged_head[J] = head[y];
        merged_tail[J] = tail[y];
      } else {
        merged_head[J] = head[x];
        merged_tail[J] = tail[x];
        if (head[y] >= 0) {
          next[static_cast<size_t>(tail[x])] = head[y];
          merged_tail[J] = tail[y];
        }
      }
    }
    std::iota(rank.begin(), rank.end(), int64_t{0});
    std::stable_sort(rank.begin(), rank.end(), [&](int64_t x, int64_t y) {
      return merged_sum[static_cast<size_t>(x)] > merged_sum[static_cast<size_t>(y)];
    });
    for (int64_t j = 0; j < k; ++j) {
      size_t from = static_cast<size_t>(rank[static_cast<size_t>(j)]), to = static_cast<size_t>(a + j);
      sums[to] = merged_sum[from];
      head[to] = merged_head[from];
      tail[to] = merged_tail[from];
    }
    heap.push({sums[static_cast<size_t>(a)] - sums[static_cast<size_t>(a + k - 1)], next_id++, a / k});
  }
  Partitioning result;
  result.offsets.push_back(0);
  for (int64_t j = 0; j < k; ++j) {
    size_t begin = result.members.size();
    int64_t sum = 0;
    if (!heap.empty()) {
      size_t x = static_cast<size_t>(heap.top().slot * k + j);
      sum = sums[x];
      for (int64_t item = head[x]; item >= 0; item = item == tail[x] ? -1 : next[static_cast<size_t>(item)]) {
        if (item < n) result.members.push_back(item);
      }
    }
    std::sort(result.members.begin() + static_cast<std::ptrdiff_t>(begin), result.members.end());
    result.offsets.push_back(static_cast<int64_t>(result.members.size()));
    result.sums.push_back(sum);
  }
  return result;
}

void build(const Sequences& seqs, const Plan& plan, int64_t pad_id, const PackedBuffers& out) {
  const int64_t n = seqs.num_seqs, bins = plan.num_bins, cap = plan.capacity;
  // Sequences of each bin, by offset (CSR over bins).
  std::vector<int64_t> bin_start(static_cast<size_t>(bins) + 1, 0);
  for (int64_t s = 0; s < n; ++s) {
    int64_t len = seqs.seq_offsets[s + 1] - seqs.seq_offsets[s];
    int64_t b = plan.bin_of[s], off = plan.offset_in_bin[s];
    if (len < 1) throw std::invalid_argument("sequence " + std::to_string(s) + " is empty");
    if (b < 0 || b >= bins) {
      throw std::invalid_argument("plan.bin_of[" + std::to_string(s) + "] = " + std::to_string(b) +
                                  " is outside [0, " + std::to_string(bins) + ")");
    }
    if (off < 0 || off + len > cap) {
      throw std::invalid_argument("sequence " + std::to_string(s) + " (length " + std::to_string(len) +
                                  ") at plan.offset_in_bin " + std::to_string(off) + " does not fit capacity " +
                                  std::to_string(cap));
    }
    ++bin_start[static_cast<size_t>(b) + 1];
  }
  for (int64_t b = 0; b < bins; ++b) bin_start[static_cast<size_t>(b) + 1] += bin_start[static_cast<size_t>(b)];
  std::vector<int64_t> members(static_cast<size_t>(n));
  {
    std::vector<int64_t> fill(bin_start.begin(), bin_start.end() - 1);
    for (int64_t s = 0; s < n; ++s) members[static_cast<size_t>(fill[static_cast<size_t>(plan.bin_of[s])]++)] = s;
  }
  for (int64_t b = 0; b < bins; ++b) {
    auto first = members.begin() + bin_start[static_cast<size_t>(b)];
    auto last = members.begin() + bin_start[static_cast<size_t>(b) + 1];
    std::sort(first, last, [&](int64_t x, int64_t y) { return plan.offset_in_bin[x] < plan.offset_in_bin[y]; });
    int64_t expected = 0;
    for (auto it = first; it != last; ++it) {
      if (plan.offset_in_bin[*it] != expected) {
        throw std::invalid_argument("sequence " + std::to_string(*it) + " sits at plan.offset_in_bin " +
                                    std::to_string(plan.offset_in_bin[*it]) + " but bin " + std::to_string(b) +
                                    " is filled up to " + std::to_string(expected) +
                                    " (sequences must lie back to back)");
      }
      expected += seqs.seq_offsets[*it + 1] - seqs.seq_offsets[*it];
    }
    out.bin_sizes[b] = expected;
    out.cu_seqlens_offsets[b] = bin_start[static_cast<size_t>(b)] + b;
  }
  out.cu_seqlens_offsets[bins] = n + bins;

  parallel_for(bins, 16, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t row = b * cap;
      int32_t* cu = out.cu_seqlens + out.cu_seqlens_offsets[b];
      cu[0] = 0;
      int64_t pos = 0;
      for (int64_t j = bin_start[static_cast<size_t>(b)]; j < bin_start[static_cast<size_t>(b) + 1]; ++j) {
        const int64_t s = members[static_cast<size_t>(j)];
        const int64_t start = seqs.seq_offsets[s], len = seqs.seq_offsets[s + 1] - start;
        const int64_t* tok = seqs.token_ids + start;
        const int64_t o = row + pos;
        std::copy(tok, tok + len, out.input_ids + o);
        std::copy(tok + 1, tok + len, out.labels + o);
        std::copy(seqs.trainable + start + 1, seqs.trainable + start + len, out.loss_mask + o);
        std::copy(seqs.old_logp + start + 1, seqs.old_logp + start + len, out.old_logp + o);
        out.labels[o + len - 1] = kIgnoreIndex;
        out.loss_mask[o + len - 1] = false;
        out.old_logp[o + len - 1] = 0.0f;
        std::iota(out.position_ids + o, out.position_ids + o + len, int64_t{0});
        std::fill(out.advantages + o, out.advantages + o + len, seqs.advantages[s]);
        std::fill(out.seq_ids + o, out.seq_ids + o + len, static_cast<int32_t>(s));
        pos += len;
        cu[j - bin_start[static_cast<size_t>(b)] + 1] = static_cast<int32_t>(pos);
      }
      const int64_t o = row + pos, pad = cap - pos;
      std::fill(out.input_ids + o, out.input_ids + o + pad, pad_id);
      std::fill(out.position_ids + o, out.position_ids + o + pad, int64_t{0});
      std::fill(out.labels + o, out.labels + o + pad, kIgnoreIndex);
      std::fill(out.loss_mask + o, out.loss_mask + o + pad, false);
      std::fill(out.old_logp + o, out.old_logp + o + pad, 0.0f);
      std::fill(out.advantages + o, out.advantages + o + pad, 0.0f);
      std::fill(out.seq_ids + o, out.seq_ids + o + pad, int32_t{-1});
    }
  });
}

}  // namespace eigenfast::packing

namespace {

namespace py = pybind11;
using namespace eigenfast;
using namespace eigenfast::packing;

py::tuple pack_binding(const py::array& lengths, int64_t capacity, const std::string& algorithm) {
  Algorithm algo;
  if (algorithm == "bfd") {
    algo = Algorithm::kBestFitDecreasing;
  } else if (algorithm == "ffd") {
    algo = Algorithm::kFirstFitDecreasing;
  } else {
    throw py::value_error("algorithm must be 'ffd' or 'bfd', got '" + algorithm + "'");
  }
  const int64_t* len = vector_data<int64_t>(lengths, "lengths", "int64");
  const int64_t n = lengths.shape(0);
  py::array_t<int64_t> bin_of(n), offset(n);
  int64_t* bin_ptr = bin_of.mutable_data();
  int64_t* off_ptr = offset.mutable_data();
  std::vector<int64_t> sizes;
  {
    py::gil_scoped_release release;
    sizes = pack(len, n, capacity, algo, bin_ptr, off_ptr);
  }
  return py::make_tuple(bin_of, offset, vector_to_numpy(sizes));
}

py::tuple balance_binding(const py::array& lengths, int64_t k, bool equal_count) {
  const int64_t* len = vector_data<int64_t>(lengths, "lengths", "int64");
  const int64_t n = lengths.shape(0);
  Partitioning parts;
  {
    py::gil_scoped_release release;
    parts = balance(len, n, k, equal_count);
  }
  return py::make_tuple(vector_to_numpy(parts.members), vector_to_numpy(parts.offsets), vector_to_numpy(parts.sums));
}

// Carves typed, 64-byte aligned fields out of one numpy byte buffer; the field arrays keep it alive.
class BufferArena {
 public:
  template <class T>
  struct Field {
    size_t offset;
    py::ssize_t count;
  };

  template <class T>
  Field<T> add(py::ssize_t count) {
    size_t offset = (size_ + 63) / 64 * 64;
    size_ = offset + static_cast<size_t>(count) * sizeof(T);
    return {offset, count};
  }

  void allocate() { buffer_ = py::array_t<uint8_t>(static_cast<py::ssize_t>(std::max<size_t>(size_, 1) + 64)); }

  template <class T>
  T* data(const Field<T>& f) {
    return reinterpret_cast<T*>(base() + f.offset);
  }

  template <class T>
  py::array_t<T> view(const Field<T>& f, const std::vector<py::ssize_t>& shape) {
    return py::array_t<T>(shape, data(f), buffer_);
  }

 private:
  uint8_t* base() {  // numpy aligns to 16 bytes; round up to 64 within the spare bytes
    auto addr = reinterpret_cast<uintptr_t>(buffer_.mutable_data());
    return reinterpret_cast<uint8_t*>((addr + 63) / 64 * 64);
  }

  size_t size_ = 0;
  py::array_t<uint8_t> buffer_;
};

py::dict build_binding(const py::array& token_ids, const py::array& trainable, const py::array& old_logp,
                       const py::array& advantages, const py::array& seq_offsets, const py::array& bin_of,
                       const py::array& offset_in_bin, int64_t num_bins, int64_t capacity, int64_t pad_id) {
  if (capacity < 1) throw py::value_error("capacity must be >= 1, got " + std::to_string(capacity));
  if (num_bins < 0) throw py::value_error("num_bins must be >= 0, got " + std::to_string(num_bins));
  Sequences seqs;
  seqs.advantages = vector_data<float>(advantages, "advantages", "float32");
  seqs.num_seqs = advantages.shape(0);
  seqs.seq_offsets = vector_data<int64_t>(seq_offsets, "seq_offsets", "int64", seqs.num_seqs + 1);
  const int64_t tokens = seqs.seq_offsets[seqs.num_seqs];
  if (seqs.seq_offsets[0] != 0) throw py::value_error("seq_offsets[0] must be 0");
  for (int64_t s = 0; s < seqs.num_seqs; ++s) {
    if (seqs.seq_offsets[s + 1] < seqs.seq_offsets[s]) {
      throw py::value_error("seq_offsets must be non-decreasing (at index " + std::to_string(s + 1) + ")");
    }
  }
  seqs.token_ids = vector_data<int64_t>(token_ids, "token_ids", "int64", tokens);
  seqs.trainable = vector_data<bool>(trainable, "trainable", "bool", tokens);
  seqs.old_logp = vector_data<float>(old_logp, "old_logp", "float32", tokens);
  Plan plan{vector_data<int64_t>(bin_of, "bin_of", "int64", seqs.num_seqs),
            vector_data<int64_t>(offset_in_bin, "offset_in_bin", "int64", seqs.num_seqs), num_bins, capacity};

  // All fields are views of one allocation: a single large block is far cheaper to fault in than ten
  // (transparent huge pages), and each field is still one contiguous buffer.
  const py::ssize_t tokens_out = static_cast<py::ssize_t>(num_bins) * static_cast<py::ssize_t>(capacity);
  BufferArena arena;
  auto input_ids = arena.add<int64_t>(tokens_out), position_ids = arena.add<int64_t>(tokens_out),
       labels = arena.add<int64_t>(tokens_out), cu_offsets = arena.add<int64_t>(num_bins + 1),
       bin_sizes = arena.add<int64_t>(num_bins);
  auto logp = arena.add<float>(tokens_out), adv = arena.add<float>(tokens_out);
  auto seq_ids = arena.add<int32_t>(tokens_out), cu_seqlens = arena.add<int32_t>(seqs.num_seqs + num_bins);
  auto loss_mask = arena.add<bool>(tokens_out);
  arena.allocate();
  PackedBuffers out{arena.data(input_ids),  arena.data(position_ids), arena.data(labels),
                    arena.data(loss_mask),  arena.data(logp),         arena.data(adv),
                    arena.data(seq_ids),    arena.data(cu_seqlens),   arena.data(cu_offsets),
                    arena.data(bin_sizes)};
  {
    py::gil_scoped_release release;
    build(seqs, plan, pad_id, out);
  }
  const std::vector<py::ssize_t> rows{static_cast<py::ssize_t>(num_bins), static_cast<py::ssize_t>(capacity)};
  py::dict result;
  result["input_ids"] = arena.view(input_ids, rows);
  result["position_ids"] = arena.view(position_ids, rows);
  result["labels"] = arena.view(labels, rows);
  result["loss_mask"] = arena.view(loss_mask, rows);
  result["old_logp"] = arena.view(logp, rows);
  result["advantages"] = arena.view(adv, rows);
  result["seq_ids"] = arena.view(seq_ids, rows);
  result["cu_seqlens"] = arena.view(cu_seqlens, {cu_seqlens.count});
  result["cu_seqlens_offsets"] = arena.view(cu_offsets, {cu_offsets.count});
  result["bin_sizes"] = arena.view(bin_sizes, {bin_sizes.count});
  return result;
}

void bind_packing(py::module_& m) {
  m.def("packing_pack_sequences", &pack_binding, py::arg("lengths"), py::arg("capacity"), py::arg("algorithm"),
        "Returns (bin_of, offset_in_bin, bin_sizes) for int64 lengths; see eigenfast.ops.packing.");
  m.def("packing_balance_partitions", &balance_binding, py::arg("lengths"), py::arg("k"), py::arg("equal_count"),
        "Returns (members, offsets, sums) of a k-way Karmarkar-Karp split of int64 lengths.");
  m.def("packing_build_packed_batch", &build_binding, py::arg("token_ids"), py::arg("trainable"),
        py::arg("old_logp"), py::arg("advantages"), py::arg("seq_offsets"), py::arg("bin_of"),
        py::arg("offset_in_bin"), py::arg("num_bins"), py::arg("capacity"), py::arg("pad_id"),
        "Fills one [num_bins, capacity] buffer per field; see eigenfast.ops.packing.build_packed_batch.");
}

}  // namespace

EIGENFAST_REGISTER_BINDINGS(packing, bind_packing);
