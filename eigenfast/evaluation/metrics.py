"""pass^k as tau²-bench reports it: the chance that k independent trials of a task all succeed."""

from __future__ import annotations

from math import comb

SUCCESS_TOLERANCE = 1e-6


def is_success(reward: float | None) -> bool:
    return reward is not None and abs(reward - 1.0) <= SUCCESS_TOLERANCE


def pass_hat_k(successes: dict[str, list[bool]]) -> dict[int, float]:
    """{k: mean over tasks of C(c, k) / C(n, k)} for k = 1 .. the fewest trials any task has."""
    if not successes:
        return {}
    counts = [(len(trials), sum(bool(t) for t in trials)) for trials in successes.values()]
    max_k = min(n for n, _ in counts)
    return {k: sum(comb(c, k) / comb(n, k) for n, c in counts) / len(counts) for k in range(1, max_k + 1)}


__all__ = ["SUCCESS_TOLERANCE", "is_success", "pass_hat_k"]
