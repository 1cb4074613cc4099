"""numba/numpy twins of the `eigenfast._C` packing and advantages bindings: same names, same arguments, same
results (the same algorithms and tie-breaking), so callers swap one module for the other.

numba is optional: without it the sequential kernels run as plain Python over numpy arrays (correct, slow).
The loop kernels keep to the subset of Python that numba compiles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import numba

    HAVE_NUMBA = True
    _jit = numba.njit(cache=True, nogil=True)
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NUMBA = False

    def _jit(fn):
        return fn


IGNORE_INDEX = -100
MAX_CAPACITY = 1 << 24
_MODES = ("grpo", "drgrpo", "rloo", "batch")


# ------------------------------------------------------------------------------------------ argument checks
def _vector(a: Any, name: str, dtypes: tuple[type, ...], length: int | None = None) -> np.ndarray:
    """Mirror of csrc/array_args.h: the exact dtype, 1-D, C-contiguous, or a TypeError naming the argument."""
    if not isinstance(a, np.ndarray) or a.dtype.type not in dtypes:
        got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(f"{name} must have dtype {' or '.join(np.dtype(d).name for d in dtypes)}, got {got}")
    if a.ndim != 1 or not a.flags.c_contiguous:
        raise TypeError(f"{name} must be a 1-D C-contiguous array, got ndim={a.ndim}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name} must have length {length}, got {a.shape[0]}")
    return a


def _check_lengths(lengths: np.ndarray, capacity: int) -> None:
    bad = np.flatnonzero((lengths < 1) | (lengths > capacity))
    if bad.size:
        i = int(bad[0])
        if lengths[i] < 1:
            raise ValueError(f"lengths[{i}] = {lengths[i]} must be >= 1")
        raise ValueError(f"lengths[{i}] = {lengths[i]} is longer than capacity {capacity}")


# ------------------------------------------------------------------------------------------------- packing
@_jit
def _longest_first_counting(lengths, capacity):
    n = lengths.shape[0]
    start = np.zeros(capacity + 2, np.int64)
    for i in range(n):
        start[capacity - lengths[i] + 1] += 1
    for r in range(1, capacity + 2):
        start[r] += start[r - 1]
    order = np.empty(n, np.int64)
    for i in range(n):
        key = capacity - lengths[i]
        order[start[key]] = i
        start[key] += 1
    return order


def _longest_first(lengths: np.ndarray, capacity: int) -> np.ndarray:
    if capacity > 4 * lengths.shape[0] + 1024:
        return np.argsort(-lengths, kind="stable").astype(np.int64)
    return _longest_first_counting(lengths, capacity)


@_jit
def _mark(has, size, r, flag):
    i = size + r
    has[i] = flag
    i //= 2
    while i >= 1:
        has[i] = has[2 * i] or has[2 * i + 1]
        i //= 2


@_jit
def _first_at_least(has, size, x):
    """Smallest marked leaf >= x in a segment tree of flags, or -1."""
    if x >= size:
        return -1
    i = size + x
    if not has[i]:
        while i > 1:
            if i % 2 == 0 and has[i + 1]:
                i += 1
                break
            i //= 2
        if i == 1:
            return -1
    while i < size:
        i = 2 * i if has[2 * i] else 2 * i + 1
    return i - size


@_jit
def _best_fit(lengths, order, capacity, bin_of, offset_in_bin):
    n = order.shape[0]
    size = 1
    while size < capacity + 1:
        size *= 2
    has = np.zeros(2 * size, np.bool_)
    head = np.full(capacity + 1, -1, np.int64)
    next_bin = np.empty(max(n, 1), np.int64)
    residual = np.empty(max(n, 1), np.int64)
    bins = 0
    for idx in range(n):
        item = order[idx]
        length = lengths[item]
        room = _first_at_least(has, size, length)
        if room < 0:
            b = bins
            bins += 1
            room = capacity
        else:
            b = head[room]
            head[room] = next_bin[b]
            if head[room] < 0:
                _mark(has, size, room, False)
        bin_of[item] = b
        offset_in_bin[item] = capacity - room
        left = room - length
        residual[b] = left
        if left > 0:
            next_bin[b] = head[left]
            if head[left] < 0:
                _mark(has, size, left, True)
            head[left] = b
    return capacity - residual[:bins]


@_jit
def _first_fit(lengths, order, capacity, bin_of, offset_in_bin):
    n = order.shape[0]
    total = 0
    for i in range(n):
        total += lengths[i]
    slots = max(1, min(n, 2 * (total // capacity) + 2))
    size = 1
    while size < slots:
        size *= 2
    tree = np.full(2 * size, capacity, np.int64)
    bins = 0
    for idx in range(n):
        item = order[idx]
        length = lengths[item]
        node = 1
        while node < size:
            node = 2 * node if tree[2 * node] >= length else 2 * node + 1
        b = node - size
        bin_of[item] = b
        offset_in_bin[item] = capacity - tree[node]
        bins = max(bins, b + 1)
        tree[node] -= length
        node //= 2
        while node >= 1:
            best = max(tree[2 * node], tree[2 * node + 1])
            if tree[node] == best:
                break
            tree[node] = best
            node //= 2
    return capacity - tree[size : size + bins]


def packing_pack_sequences(lengths: np.ndarray, capacity: int, algorithm: str):
    """Twin of `_C.packing_pack_sequences`: (bin_of, offset_in_bin, bin_sizes)."""
    if algorithm not in ("ffd", "bfd"):
        raise ValueError(f"algorithm must be 'ffd' or 'bfd', got '{algorithm}'")
    lengths = _vector(lengths, "lengths", (np.int64,))
    if not 1 <= capacity <= MAX_CAPACITY:
        raise ValueError(f"capacity must be in [1, {MAX_CAPACITY}], got {capacity}")
    _check_lengths(lengths, capacity)
    order = _longest_first(lengths, capacity)
    bin_of = np.empty(lengths.shape[0], np.int64)
    offset = np.empty(lengths.shape[0], np.int64)
    kernel = _best_fit if algorithm == "bfd" else _first_fit
    sizes = kernel(lengths, order, capacity, bin_of, offset)
    return bin_of, offset, np.ascontiguousarray(sizes, dtype=np.int64)


# -------------------------------------------------------------------------------------------- balancing
@_jit
def _heap_first(a, b, spread, ident):
    return spread[a] > spread[b] or (spread[a] == spread[b] and ident[a] < ident[b])


@_jit
def _heap_push(heap, size, slot, spread, ident):
    i = size
    heap[i] = slot
    while i > 0:
        parent = (i - 1) // 2
        if not _heap_first(heap[i], heap[parent], spread, ident):
            break
        heap[i], heap[parent] = heap[parent], heap[i]
        i = parent
    return size + 1


@_jit
def _heap_pop(heap, size, spread, ident):
    top = heap[0]
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        best = i
        for child in (2 * i + 1, 2 * i + 2):
            if child < size and _heap_first(heap[child], heap[best], spread, ident):
                best = child
        if best == i:
            break
        heap[i], heap[best] = heap[best], heap[i]
        i = best
    return top, size


@_jit
def _karmarkar_karp(lengths, k, equal_count):
    n = lengths.shape[0]
    items = (n + k - 1) // k * k if equal_count else n
    states = items // k if equal_count else n
    padded = np.zeros(items, np.int64)
    padded[:n] = lengths
    sums = np.zeros(states * k, np.int64)
    head = np.full(states * k, -1, np.int64)
    tail = np.full(states * k, -1, np.int64)
    nxt = np.full(max(items, 1), -1, np.int64)
    if equal_count:
        order = np.argsort(-padded, kind="mergesort")
        for j in range(items):
            item = order[j]
            sums[j] = padded[item]
            head[j] = item
            tail[j] = item
    else:
        for i in range(n):
            sums[i * k] = lengths[i]
            head[i * k] = i
            tail[i * k] = i
    spread = np.empty(max(states, 1), np.int64)
    ident = np.empty(max(states, 1), np.int64)
    heap = np.empty(max(states, 1), np.int64)
    size = 0
    for s in range(states):
        spread[s] = sums[s * k] - sums[s * k + k - 1]
        ident[s] = s
        size = _heap_push(heap, size, s, spread, ident)
    next_id = states
    merged_sum = np.empty(k, np.int64)
    merged_head = np.empty(k, np.int64)
    merged_tail = np.empty(k, np.int64)
    while size > 1:
        sa, size = _heap_pop(heap, size, spread, ident)
        sb, size = _heap_pop(heap, size, spread, ident)
        a = sa * k
        b = sb * k
        for j in range(k):
            x = a + j
            y = b + k - 1 - j
            merged_sum[j] = sums[x] + sums[y]
            if head[x] < 0:
                merged_head[j] = head[y]
                merged_tail[j] = tail[y]
            else:
                merged_head[j] = head[x]
                merged_tail[j] = tail[x]
                if head[y] >= 0:
                    nxt[tail[x]] = head[y]
                    merged_tail[j] = tail[y]
        rank = np.argsort(-merged_sum, kind="mergesort")
        for j in range(k):
            sums[a + j] = merged_sum[rank[j]]
            head[a + j] = merged_head[rank[j]]
            tail[a + j] = merged_tail[rank[j]]
        spread[sa] = sums[a] - sums[a + k - 1]
        ident[sa] = next_id
        next_id += 1
        size = _heap_push(heap, size, sa, spread, ident)
    members = np.empty(n, np.int64)
    offsets = np.zeros(k + 1, np.int64)
    out_sums = np.zeros(k, np.int64)
    pos = 0
    for j in range(k):
        start = pos
        if size == 1:
            x = heap[0] * k + j
            out_sums[j] = sums[x]
            item = head[x]
            while item >= 0:
                if item < n:
                    members[pos] = item
                    pos += 1
                item = -1 if item == tail[x] else nxt[item]
            members[start:pos] = np.sort(members[start:pos])
        offsets[j + 1] = pos
    return members, offsets, out_sums


def packing_balance_partitions(lengths: np.ndarray, k: int, equal_count: bool):
    """Twin of `_C.packing_balance_partitions`: (members, offsets, sums)."""
    lengths = _vector(lengths, "lengths", (np.int64,))
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    bad = np.flatnonzero(lengths < 0)
    if bad.size:
        raise ValueError(f"lengths[{bad[0]}] = {lengths[bad[0]]} must be >= 0")
    return _karmarkar_karp(lengths, int(k), bool(equal_count))


# ------------------------------------------------------------------------------------------ packed batch
def packing_build_packed_batch(
    token_ids: np.ndarray,
    trainable: np.ndarray,
    old_logp: np.ndarray,
    advantages: np.ndarray,
    seq_offsets: np.ndarray,
    bin_of: np.ndarray,
    offset_in_bin: np.ndarray,
    num_bins: int,
    capacity: int,
    pad_id: int,
) -> dict[str, np.ndarray]:
    """Twin of `_C.packing_build_packed_batch`, vectorised with numpy scatters."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    if num_bins < 0:
        raise ValueError(f"num_bins must be >= 0, got {num_bins}")
    advantages = _vector(advantages, "advantages", (np.float32,))
    n = advantages.shape[0]
    seq_offsets = _vector(seq_offsets, "seq_offsets", (np.int64,), n + 1)
    if seq_offsets[0] != 0:
        raise ValueError("seq_offsets[0] must be 0")
    lengths = np.diff(seq_offsets)
    if (lengths < 0).any():
        raise ValueError(f"seq_offsets must be non-decreasing (at index {int(np.argmax(lengths < 0)) + 1})")
    tokens = int(seq_offsets[-1])
    token_ids = _vector(token_ids, "token_ids", (np.int64,), tokens)
    trainable = _vector(trainable, "trainable", (np.bool_,), tokens)
    old_logp = _vector(old_logp, "old_logp", (np.float32,), tokens)
    bin_of = _vector(bin_of, "bin_of", (np.int64,), n)
    offset_in_bin = _vector(offset_in_bin, "offset_in_bin", (np.int64,), n)
    _check_plan(lengths, bin_of, offset_in_bin, num_bins, capacity)

    order = np.lexsort((offset_in_bin, bin_of))
    counts = np.bincount(bin_of, minlength=num_bins)
    ends = offset_in_bin + lengths
    bin_sizes = np.zeros(num_bins, np.int64)
    np.maximum.at(bin_sizes, bin_of, ends)
    cu_offsets = np.zeros(num_bins + 1, np.int64)
    cu_offsets[1:] = np.cumsum(counts + 1)
    cu_seqlens = np.zeros(n + num_bins, np.int32)
    cu_seqlens[np.arange(n) + bin_of[order] + 1] = ends[order]

    shape = (num_bins, capacity)
    out = {
        "input_ids": np.full(shape, pad_id, np.int64),
        "position_ids": np.zeros(shape, np.int64),
        "labels": np.full(shape, IGNORE_INDEX, np.int64),
        "loss_mask": np.zeros(shape, np.bool_),
        "old_logp": np.zeros(shape, np.float32),
        "advantages": np.zeros(shape, np.float32),
        "seq_ids": np.full(shape, -1, np.int32),
    }
    seq_of_token = np.repeat(np.arange(n), lengths)
    position = np.arange(tokens) - seq_offsets[:-1][seq_of_token]
    dest = (bin_of * capacity + offset_in_bin)[seq_of_token] + position
    has_next = position < lengths[seq_of_token] - 1
    src_next = np.flatnonzero(has_next) + 1
    flat = {name: arr.reshape(-1) for name, arr in out.items()}
    flat["input_ids"][dest] = token_ids
    flat["position_ids"][dest] = position
    flat["seq_ids"][dest] = seq_of_token
    flat["advantages"][dest] = advantages[seq_of_token]
    target = dest[has_next]
    flat["labels"][target] = token_ids[src_next]
    flat["loss_mask"][target] = trainable[src_next]
    flat["old_logp"][target] = old_logp[src_next]
    out.update(cu_seqlens=cu_seqlens, cu_seqlens_offsets=cu_offsets, bin_sizes=bin_sizes)
    return out


def _check_plan(lengths, bin_of, offset_in_bin, num_bins: int, capacity: int) -> None:
    """Same checks, same order of precedence per sequence, as packing::build in csrc/packing.cpp."""
    n = lengths.shape[0]
    bad = (lengths < 1) | (bin_of < 0) | (bin_of >= num_bins) | (offset_in_bin < 0)
    bad |= offset_in_bin + lengths > capacity
    if bad.any():
        s = int(np.argmax(bad))
        if lengths[s] < 1:
            raise ValueError(f"sequence {s} is empty")
        if not 0 <= bin_of[s] < num_bins:
            raise ValueError(f"plan.bin_of[{s}] = {bin_of[s]} is outside [0, {num_bins})")
        raise ValueError(
            f"sequence {s} (length {lengths[s]}) at plan.offset_in_bin {offset_in_bin[s]} "
            f"does not fit capacity {capacity}"
        )
    if n == 0:
        return
    order = np.lexsort((offset_in_bin, bin_of))
    b, off, ln = bin_of[order], offset_in_bin[order], lengths[order]
    first = np.ones(n, np.bool_)
    first[1:] = b[1:] != b[:-1]
    expected = np.zeros(n, np.int64)
    expected[1:] = np.where(first[1:], 0, off[:-1] + ln[:-1])
    wrong = np.flatnonzero(off != expected)
    if wrong.size:
        # The C++ walks bins in order and reports the first misplaced sequence of the first bad bin.
        j = int(wrong[0])
        raise ValueError(
            f"sequence {order[j]} sits at plan.offset_in_bin {off[j]} but bin {b[j]} is filled up to "
            f"{expected[j]} (sequences must lie back to back)"
        )


# --------------------------------------------------------------------------------------------- advantages
def _check_rewards(rewards: Any, group_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    rewards = _vector(rewards, "rewards", (np.float32, np.float64))
    group_ids = _vector(group_ids, "group_ids", (np.int32, np.int64))
    if group_ids.shape[0] != rewards.shape[0]:
        raise ValueError(
            f"group_ids must have the length of rewards ({rewards.shape[0]}), got {group_ids.shape[0]}"
        )
    bad = np.flatnonzero(~np.isfinite(rewards))
    if bad.size:
        raise ValueError(f"rewards[{bad[0]}] = {float(rewards[bad[0]]):f} is not finite")
    return rewards, group_ids


class _GroupStats:
    """Per-group count, sum, mean, m2, min and max, summed in index order like the C++."""

    def __init__(self, rewards: np.ndarray, group_ids: np.ndarray):
        if group_ids.shape[0] > 1 and bool((group_ids[1:] >= group_ids[:-1]).all()):
            change = np.empty(group_ids.shape[0], np.int64)
            change[0] = 0
            np.not_equal(group_ids[1:], group_ids[:-1], out=change[1:])
            self.gid = np.cumsum(change)
        else:
            _, self.gid = np.unique(group_ids, return_inverse=True)
        self.gid = self.gid.reshape(-1)
        groups = int(self.gid.max()) + 1 if self.gid.size else 0
        r = rewards.astype(np.float64)
        self.r = r
        self.count = np.bincount(self.gid, minlength=groups)
        self.sum = np.bincount(self.gid, weights=r, minlength=groups)
        self.mean = self.sum / np.maximum(self.count, 1)
        self.m2 = np.bincount(self.gid, weights=(r - self.mean[self.gid]) ** 2, minlength=groups)
        self.lo = np.full(groups, np.inf)
        self.hi = np.full(groups, -np.inf)
        np.minimum.at(self.lo, self.gid, r)
        np.maximum.at(self.hi, self.gid, r)
        self.flat = (self.count < 2) | (self.lo == self.hi)

    def std(self, unbiased: bool) -> np.ndarray:
        dof = np.maximum(self.count - (1 if unbiased else 0), 1)
        return np.where(self.flat, 0.0, np.sqrt(self.m2 / dof))


def advantages_group_advantages(
    rewards: np.ndarray, group_ids: np.ndarray, mode: str, eps: float, unbiased_std: bool
) -> np.ndarray:
    """Twin of `_C.advantages_group_advantages`."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of 'grpo', 'drgrpo', 'rloo', 'batch', got '{mode}'")
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps:f}")
    rewards, group_ids = _check_rewards(rewards, group_ids)
    if rewards.shape[0] == 0:
        return np.empty(0, rewards.dtype)
    st = _GroupStats(rewards, group_ids)
    r, g = st.r, st.gid
    if mode == "rloo":
        count = st.count[g]
        adv = r - (st.sum[g] - r) / np.maximum(count - 1, 1)
    else:
        adv = r - st.mean[g]
        if mode == "grpo":
            adv = adv / (st.std(unbiased_std)[g] + eps)
        elif mode == "batch":
            n = r.shape[0]
            batch_std = (
                float(np.sqrt(((r - r.mean()) ** 2).sum() / (n - 1 if unbiased_std else n))) if n > 1 else 0.0
            )
            adv = adv / (batch_std + eps)
    adv[st.flat[g]] = 0.0
    return adv.astype(rewards.dtype)


def advantages_dynamic_filter(rewards: np.ndarray, group_ids: np.ndarray, min_std: float):
    """Twin of `_C.advantages_dynamic_filter`: (keep, kept, all_correct, all_wrong, groups)."""
    if not min_std >= 0.0:
        raise ValueError(f"min_std must be >= 0, got {min_std:f}")
    rewards, group_ids = _check_rewards(rewards, group_ids)
    if rewards.shape[0] == 0:
        return np.zeros(0, np.bool_), 0, 0, 0, 0
    st = _GroupStats(rewards, group_ids)
    kept = st.std(unbiased=False) > min_std
    return (
        kept[st.gid],
        int(kept.sum()),
        int((st.lo >= 1.0).sum()),
        int((st.hi <= 0.0).sum()),
        int(st.count.shape[0]),
    )
