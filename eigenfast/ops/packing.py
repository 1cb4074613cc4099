"""Packing variable-length episodes into fixed-capacity rows, balancing tokens across data-parallel ranks, and
laying a packed batch out as contiguous training buffers.

Each public function runs `eigenfast._C` when its "packing" group is built and the numba/numpy twin in
`_native_fallbacks` otherwise; both give identical results. The `*_reference` functions are the plain-Python
definitions that the tests and `bench/native.py` hold both paths to.

Conventions:
- lengths are token counts >= 1 (an empty sequence is a ValueError: it has no token to train on).
- Bins are filled back to back: a sequence's tokens occupy `[offset_in_bin, offset_in_bin + length)` of its row.
- Targets are shifted: at position t the model predicts token t+1 of the same sequence, so `labels[t]`,
  `loss_mask[t]` and `old_logp[t]` all describe token t+1 (`old_logp[t]` is the logprob with which token t+1
  was sampled). The last position of a sequence has no target: label -100, mask False, old_logp 0. The first
  token of a sequence is therefore never a target.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from eigenfast import _ext
from eigenfast.ops import _native_fallbacks

IGNORE_INDEX = _native_fallbacks.IGNORE_INDEX
ALGORITHMS = ("ffd", "bfd")


def _backend() -> ModuleType:
    return _ext.require_group("packing") or _native_fallbacks


def _int_vector(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


# ------------------------------------------------------------------------------------------------- packing
@dataclass(frozen=True)
class PackPlan:
    """Where each sequence goes: row `bin_of[i]`, starting at `offset_in_bin[i]`; `bin_sizes[b]` tokens used."""

    bin_of: np.ndarray  # int64 [num_seqs]
    offset_in_bin: np.ndarray  # int64 [num_seqs]
    bin_sizes: np.ndarray  # int64 [num_bins]
    capacity: int

    @property
    def num_bins(self) -> int:
        return int(self.bin_sizes.shape[0])

    @property
    def fill_rate(self) -> float:
        """tokens / (bins * capacity); 1.0 for an empty plan (nothing is wasted)."""
        if self.num_bins == 0:
            return 1.0
        return float(self.bin_sizes.sum()) / (self.num_bins * self.capacity)

    def bins(self) -> list[np.ndarray]:
        """Sequence indices of each bin, in row order."""
        if self.num_bins == 0:
            return []
        order = np.lexsort((self.offset_in_bin, self.bin_of))
        return np.split(order, np.cumsum(np.bincount(self.bin_of, minlength=self.num_bins))[:-1])


def pack_sequences(lengths: Any, capacity: int, *, algorithm: str = "bfd") -> PackPlan:
    """First-fit or best-fit decreasing into bins of `capacity` tokens.

    Longest first (ties: lower index first). `ffd` takes the lowest-numbered bin that fits; `bfd` the bin with
    the least room that fits (ties: the bin that reached that room most recently). O(n log capacity).
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be 'ffd' or 'bfd', got {algorithm!r}")
    arr = _int_vector(lengths, "lengths")
    bin_of, offset, sizes = _backend().packing_pack_sequences(arr, int(capacity), algorithm)
    return PackPlan(bin_of, offset, sizes, int(capacity))


def pack_sequences_reference(lengths: Sequence[int], capacity: int, *, algorithm: str = "bfd") -> PackPlan:
    """The definition, scanning every bin for every sequence: O(n * bins)."""
    lengths = [int(x) for x in lengths]
    for i, length in enumerate(lengths):
        if length < 1:
            raise ValueError(f"lengths[{i}] = {length} must be >= 1")
        if length > capacity:
            raise ValueError(f"lengths[{i}] = {length} is longer than capacity {capacity}")
    room: list[int] = []
    touched: list[int] = []  # step at which each bin's room last changed (BFD tie-break: most recent)
    bin_of = [0] * len(lengths)
    offset = [0] * len(lengths)
    for step, i in enumerate(sorted(range(len(lengths)), key=lambda j: (-lengths[j], j))):
        fits = [b for b in range(len(room)) if room[b] >= lengths[i]]
        if not fits:
            room.append(capacity)
            touched.append(step)
            fits = [len(room) - 1]
        b = fits[0] if algorithm == "ffd" else min(fits, key=lambda c: (room[c], -touched[c]))
        bin_of[i], offset[i] = b, capacity - room[b]
        room[b] -= lengths[i]
        touched[b] = step
    sizes = np.array([capacity - r for r in room], np.int64)
    return PackPlan(np.array(bin_of, np.int64), np.array(offset, np.int64), sizes, capacity)


# -------------------------------------------------------------------------------------------- balancing
class BalancedPartitions(NamedTuple):
    partitions: list[np.ndarray]  # k arrays of sequence indices (ascending), heaviest partition first
    imbalance: float  # max partition tokens / mean partition tokens; 1.0 when there are no tokens


def _imbalance(sums: np.ndarray) -> float:
    total = int(sums.sum())
    return float(sums.max()) * len(sums) / total if total > 0 else 1.0


def balance_partitions(lengths: Any, k: int, *, equal_count: bool = False) -> BalancedPartitions:
    """Split sequences into k partitions of near-equal token sums (k-way Karmarkar-Karp).

    With `equal_count`, sequences are dealt k at a time, longest first, so every partition gets the same number
    of sequences (differing by at most one when k does not divide their number). Lengths may be 0 here.
    Ties go to the older state, so the C++ and the twin split identically.
    """
    arr = _int_vector(lengths, "lengths")
    members, offsets, sums = _backend().packing_balance_partitions(arr, int(k), bool(equal_count))
    return BalancedPartitions(np.split(members, offsets[1:-1]), _imbalance(sums))


def balance_partitions_reference(
    lengths: Sequence[int], k: int, *, equal_count: bool = False
) -> BalancedPartitions:
    """Karmarkar-Karp with heapq and Python lists: merge the two states of largest spread until one is left."""
    lengths = [int(x) for x in lengths]
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = len(lengths)
    padded = lengths + [0] * ((-n) % k if equal_count else 0)
    if equal_count:
        order = sorted(range(len(padded)), key=lambda i: -padded[i])
        states = [[(padded[i], [i]) for i in order[s : s + k]] for s in range(0, len(order), k)]
    else:
        states = [[(length, [i])] + [(0, [])] * (k - 1) for i, length in enumerate(lengths)]
    heap = [(-(st[0][0] - st[-1][0]), ident, st) for ident, st in enumerate(states)]
    heapq.heapify(heap)
    next_id = len(states)
    while len(heap) > 1:
        _, _, a = heapq.heappop(heap)
        _, _, b = heapq.heappop(heap)
        merged = [(a[j][0] + b[k - 1 - j][0], a[j][1] + b[k - 1 - j][1]) for j in range(k)]
        merged.sort(key=lambda part: -part[0])
        heapq.heappush(heap, (-(merged[0][0] - merged[-1][0]), next_id, merged))
        next_id += 1
    final = heap[0][2] if heap else [(0, [])] * k
    parts = [np.array(sorted(i for i in items if i < n), np.int64) for _, items in final]
    return BalancedPartitions(parts, _imbalance(np.array([s for s, _ in final], np.int64)))


# ------------------------------------------------------------------------------------------ packed batch
@dataclass(frozen=True)
class TokenSequences:
    """Episodes to pack, ragged and flat: sequence i is `token_ids[seq_offsets[i]:seq_offsets[i+1]]`.

    `trainable` marks agent-owned tokens, `old_logp` the logprob each token was sampled with (0 where the
    rollout kept none), `advantages` one value per sequence. Build one with `from_episodes` or `from_arrays`.
    """

    token_ids: np.ndarray  # int64 [tokens]
    trainable: np.ndarray  # bool [tokens]
    old_logp: np.ndarray  # float32 [tokens]
    advantages: np.ndarray  # float32 [num_seqs]
    seq_offsets: np.ndarray  # int64 [num_seqs + 1]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.seq_offsets)

    @classmethod
    def from_arrays(
        cls,
        token_ids: Sequence[Any],
        trainable: Sequence[Any],
        advantages: Sequence[float],
        old_logp: Sequence[Any] | None = None,
    ) -> TokenSequences:
        """One array per sequence for ids, trainable flags and (optionally) old logprobs."""
        n = len(token_ids)
        for name, values in (("trainable", trainable), ("advantages", advantages), ("old_logp", old_logp)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries for {n} sequences")
        ids = [np.asarray(t, np.int64).reshape(-1) for t in token_ids]
        lengths = np.array([len(t) for t in ids], np.int64)
        for field, values in (("trainable", trainable), ("old_logp", old_logp)):
            for i, v in enumerate(values or ()):
                if np.shape(v) != (lengths[i],):
                    raise ValueError(
                        f"{field}[{i}] has shape {np.shape(v)}, token_ids[{i}] has {lengths[i]} tokens"
                    )
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])

        def flat(parts: Sequence[Any], dtype: Any) -> np.ndarray:
            return np.concatenate([np.asarray(p, dtype) for p in parts]) if n else np.zeros(0, dtype)

        logp = flat(old_logp, np.float32) if old_logp is not None else np.zeros(int(offsets[-1]), np.float32)
        return cls(
            flat(ids, np.int64), flat(trainable, np.bool_), logp, np.asarray(advantages, np.float32), offsets
        )

    @classmethod
    def from_episodes(cls, episodes: Sequence[Any], advantages: Sequence[float]) -> TokenSequences:
        """From `eigenfast.records.Episode`s: agent segments are trainable; segments without logprobs get 0."""
        ids, trainable, logp = [], [], []
        for e, episode in enumerate(episodes):
            seg_ids, seg_train, seg_logp = [], [], []
            for s, seg in enumerate(episode.segments):
                count = len(seg.token_ids)
                if seg.logprobs is not None and len(seg.logprobs) != count:
                    raise ValueError(
                        f"episodes[{e}].segments[{s}]: {len(seg.logprobs)} logprobs for {count} token_ids"
                    )
                seg_ids.append(np.asarray(seg.token_ids, np.int64))
                seg_train.append(np.full(count, seg.owner == "agent", np.bool_))
                seg_logp.append(
                    np.asarray(seg.logprobs if seg.logprobs is not None else np.zeros(count), np.float32)
                )
            ids.append(np.concatenate(seg_ids) if seg_ids else np.zeros(0, np.int64))
            trainable.append(np.concatenate(seg_train) if seg_train else np.zeros(0, np.bool_))
            logp.append(np.concatenate(seg_logp) if seg_logp else np.zeros(0, np.float32))
        return cls.from_arrays(ids, trainable, advantages, logp)


@dataclass(frozen=True)
class PackedBatch:
    """One row of `capacity` tokens per bin; every [num_bins, capacity] field is one contiguous buffer.

    Padding after `bin_sizes[b]`: input_ids = pad_id, position_ids 0, labels -100, loss_mask False, old_logp
    and advantages 0, seq_ids -1. `cu_seqlens` holds, per bin, 0 followed by the end of each sequence (int32,
    as flash-attention's varlen kernels take it); bin b's slice is `cu_seqlens_of(b)`.
    From the C++ path all fields are views of one allocation (64-byte aligned), freed when the last goes;
    `torch.from_numpy` takes each without a copy.
    """

    input_ids: np.ndarray  # int64 [num_bins, capacity]
    position_ids: np.ndarray  # int64, restarting at 0 per sequence
    labels: np.ndarray  # int64: token t+1 of the same sequence, -100 at sequence ends
    loss_mask: np.ndarray  # bool: the target (token t+1) is agent-owned
    old_logp: np.ndarray  # float32: sampled logprob of the target token t+1
    advantages: np.ndarray  # float32: the sequence's advantage on each of its tokens
    seq_ids: np.ndarray  # int32: index of the sequence each token belongs to
    cu_seqlens: np.ndarray  # int32 [num_seqs + num_bins]
    cu_seqlens_offsets: np.ndarray  # int64 [num_bins + 1]
    bin_sizes: np.ndarray  # int64 [num_bins]

    def cu_seqlens_of(self, b: int) -> np.ndarray:
        return self.cu_seqlens[self.cu_seqlens_offsets[b] : self.cu_seqlens_offsets[b + 1]]


def build_packed_batch(segments: TokenSequences, plan: PackPlan, *, pad_id: int = 0) -> PackedBatch:
    """Lay `segments` out as `plan` says, filling every training buffer in one pass (threads over bins)."""
    if not isinstance(segments, TokenSequences):
        raise TypeError(f"segments must be a TokenSequences, got {type(segments).__name__}")
    n = segments.advantages.shape[0]
    if plan.bin_of.shape[0] != n:
        raise ValueError(f"plan places {plan.bin_of.shape[0]} sequences but segments holds {n}")
    out = _backend().packing_build_packed_batch(
        segments.token_ids,
        segments.trainable,
        segments.old_logp,
        segments.advantages,
        segments.seq_offsets,
        plan.bin_of,
        plan.offset_in_bin,
        plan.num_bins,
        plan.capacity,
        int(pad_id),
    )
    if not np.array_equal(out["bin_sizes"], plan.bin_sizes):
        raise ValueError(
            "plan.bin_sizes do not match the sequence lengths: the plan was made for other lengths"
        )
    return PackedBatch(**out)


def build_packed_batch_reference(segments: TokenSequences, plan: PackPlan, *, pad_id: int = 0) -> PackedBatch:
    """Token by token, straight from the definitions in the module docstring."""
    cap, bins = plan.capacity, plan.num_bins
    ids = np.full((bins, cap), pad_id, np.int64)
    pos = np.zeros((bins, cap), np.int64)
    labels = np.full((bins, cap), IGNORE_INDEX, np.int64)
    mask = np.zeros((bins, cap), np.bool_)
    logp = np.zeros((bins, cap), np.float32)
    adv = np.zeros((bins, cap), np.float32)
    seq_ids = np.full((bins, cap), -1, np.int32)
    cu: list[int] = []
    cu_offsets = [0]
    off = segments.seq_offsets
    for b, members in enumerate(plan.bins()):
        cu.append(0)
        for s in members:
            start, length, o = int(off[s]), int(off[s + 1] - off[s]), int(plan.offset_in_bin[s])
            for t in range(length):
                ids[b, o + t] = segments.token_ids[start + t]
                pos[b, o + t] = t
                adv[b, o + t] = segments.advantages[s]
                seq_ids[b, o + t] = s
                if t + 1 < length:
                    labels[b, o + t] = segments.token_ids[start + t + 1]
                    mask[b, o + t] = segments.trainable[start + t + 1]
                    logp[b, o + t] = segments.old_logp[start + t + 1]
            cu.append(o + length)
        cu_offsets.append(len(cu))
    return PackedBatch(
        ids,
        pos,
        labels,
        mask,
        logp,
        adv,
        seq_ids,
        np.array(cu, np.int32),
        np.array(cu_offsets, np.int64),
        plan.bin_sizes.copy(),
    )
