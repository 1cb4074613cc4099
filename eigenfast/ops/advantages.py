"""Group-relative advantages and reward-spread filtering for GRPO-style training.

Each public function runs `eigenfast._C` when its "advantages" group is built and the numpy twin in
`_native_fallbacks` otherwise (the two agree within 1e-6). The `*_reference` functions are the plain-Python
definitions that the tests and `bench/native.py` hold both paths to.

Per group g (rewards that share a group id; ids are any ints, in any order, groups of any size):
  mean_g = sum / count;  std_g = sqrt(sum (r - mean_g)^2 / (count - 1))  (or / count with unbiased_std=False)
  grpo:   (r - mean_g) / (std_g + eps)
  drgrpo: r - mean_g                                  (Dr.GRPO: no std normalisation)
  rloo:   r - mean of the *other* members of the group
  batch:  (r - mean_g) / (std over all rewards of the batch + eps)
A group of one, or whose rewards are all equal, gets exactly 0. Sums run in float64; the result has the dtype
of `rewards` (float32 or float64; integer rewards are taken as float64).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from eigenfast import _ext
from eigenfast.ops import _native_fallbacks

MODES = ("grpo", "drgrpo", "rloo", "batch")


def _backend() -> ModuleType:
    return _ext.require_group("advantages") or _native_fallbacks


def _inputs(rewards: Any, group_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rewards)
    if r.dtype.kind in "biu" or (r.size == 0 and r.dtype.kind != "f"):
        r = r.astype(np.float64)
    elif r.dtype not in (np.float32, np.float64):
        r = r.astype(np.float32 if r.dtype.kind == "f" and r.dtype.itemsize < 4 else np.float64)
    g = np.asarray(group_ids)
    if g.size and g.dtype.kind not in "iu":
        raise TypeError(f"group_ids must hold integers, got dtype {g.dtype}")
    if g.dtype not in (np.int32, np.int64):
        g = g.astype(np.int64)
    for name, a in (("rewards", r), ("group_ids", g)):
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return np.ascontiguousarray(r), np.ascontiguousarray(g)


def group_advantages(
    rewards: Any, group_ids: Any, *, mode: str = "grpo", eps: float = 1e-6, unbiased_std: bool = True
) -> np.ndarray:
    """One advantage per reward, normalised within its group (see the module docstring for each mode)."""
    r, g = _inputs(rewards, group_ids)
    return _backend().advantages_group_advantages(r, g, mode, float(eps), bool(unbiased_std))


class FilterResult(NamedTuple):
    keep: np.ndarray  # bool per reward: its group has reward spread and stays in the batch
    kept: int  # groups kept
    all_correct: int  # groups whose every reward is >= 1
    all_wrong: int  # groups whose every reward is <= 0
    groups: int  # groups seen


def dynamic_filter(rewards: Any, group_ids: Any, *, min_std: float = 0.0) -> FilterResult:
    """Keep the groups whose reward std (population, ddof=0) exceeds `min_std`: all-equal groups teach nothing.

    A group of one has std 0 and always goes.
    """
    r, g = _inputs(rewards, group_ids)
    keep, kept, correct, wrong, groups = _backend().advantages_dynamic_filter(r, g, float(min_std))
    return FilterResult(keep, int(kept), int(correct), int(wrong), int(groups))


def _members(rewards: Sequence[float], group_ids: Sequence[int]) -> dict[int, list[int]]:
    if len(rewards) != len(group_ids):
        raise ValueError(f"group_ids must have the length of rewards ({len(rewards)}), got {len(group_ids)}")
    for i, v in enumerate(rewards):
        if not math.isfinite(v):
            raise ValueError(f"rewards[{i}] = {float(v):f} is not finite")
    members: dict[int, list[int]] = defaultdict(list)
    for i, gid in enumerate(group_ids):
        members[int(gid)].append(i)
    return members


def _std(values: list[float], unbiased: bool) -> float:
    if len(values) < 2 or min(values) == max(values):
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - (1 if unbiased else 0)))


def group_advantages_reference(
    rewards: Sequence[float],
    group_ids: Sequence[int],
    *,
    mode: str = "grpo",
    eps: float = 1e-6,
    unbiased_std: bool = True,
) -> list[float]:
    """The formulas, group by group, in plain Python floats."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of 'grpo', 'drgrpo', 'rloo', 'batch', got '{mode}'")
    rewards = [float(v) for v in rewards]
    members = _members(rewards, group_ids)
    batch_std = _std(rewards, unbiased_std) if len(rewards) > 1 else 0.0
    out = [0.0] * len(rewards)
    for idx in members.values():
        values = [rewards[i] for i in idx]
        if len(values) < 2 or min(values) == max(values):
            continue
        total = sum(values)
        mean = total / len(values)
        for i in idx:
            if mode == "rloo":
                out[i] = rewards[i] - (total - rewards[i]) / (len(values) - 1)
            elif mode == "drgrpo":
                out[i] = rewards[i] - mean
            elif mode == "grpo":
                out[i] = (rewards[i] - mean) / (_std(values, unbiased_std) + eps)
            else:
                out[i] = (rewards[i] - mean) / (batch_std + eps)
    return out


def dynamic_filter_reference(
    rewards: Sequence[float], group_ids: Sequence[int], *, min_std: float = 0.0
) -> FilterResult:
    rewards = [float(v) for v in rewards]
    members = _members(rewards, group_ids)
    keep = np.zeros(len(rewards), np.bool_)
    kept = correct = wrong = 0
    for idx in members.values():
        values = [rewards[i] for i in idx]
        if _std(values, unbiased=False) > min_std:
            keep[idx] = True
            kept += 1
        correct += min(values) >= 1.0
        wrong += max(values) <= 0.0
    return FilterResult(keep, kept, correct, wrong, len(members))
