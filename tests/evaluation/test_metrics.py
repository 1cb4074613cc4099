"""pass^k against a brute-force count over all k-subsets of trials."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from eigenfast.evaluation import is_success, pass_hat_k


def brute_force(successes: dict[str, list[bool]], k: int) -> float:
    per_task = []
    for trials in successes.values():
        subsets = list(combinations(trials, k))
        per_task.append(sum(all(s) for s in subsets) / len(subsets))
    return sum(per_task) / len(per_task)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.lists(st.booleans(), min_size=1, max_size=6),
                       min_size=1, max_size=5))
def test_pass_hat_k_matches_brute_force(successes):
    got = pass_hat_k(successes)
    assert sorted(got) == list(range(1, min(len(v) for v in successes.values()) + 1))
    for k, value in got.items():
        assert abs(value - brute_force(successes, k)) < 1e-12
    mean = sum(sum(v) / len(v) for v in successes.values()) / len(successes)
    assert abs(got[1] - mean) < 1e-12  # pass^1 is the mean success rate


def test_pass_hat_k_examples_and_success_tolerance():
    assert pass_hat_k({"a": [True, True, False, True], "b": [False] * 4}) == {1: 0.375, 2: 0.25, 3: 0.125, 4: 0.0}
    assert pass_hat_k({}) == {}
    assert is_success(1.0) and is_success(1 - 1e-7) and not is_success(0.999) and not is_success(None)
