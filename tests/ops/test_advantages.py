"""Group advantages and dynamic filtering: compiled core, numpy twin and plain-Python reference agree within
1e-6 on ragged, unsorted groups; the public functions work on either path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from native_checks import both_impls, native_module

from eigenfast import _ext
from eigenfast.ops import _native_fallbacks as twin
from eigenfast.ops.advantages import (
    MODES,
    dynamic_filter,
    dynamic_filter_reference,
    group_advantages,
    group_advantages_reference,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = dict(rtol=1e-6, atol=1e-6)


# Discrete rewards make ties and all-equal groups common; ids mix small, negative and huge values (the C++
# offset path and its hash path), in any order.
rewards_st = st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]) | st.floats(-5, 5), max_size=60)
ids_pool = st.sampled_from([0, 1, 2, 3, -7, 2**40, -(2**50), 2**63 - 1, -(2**63)])


@st.composite
def batches(draw):
    rewards = draw(rewards_st)
    ids = draw(st.lists(ids_pool, min_size=len(rewards), max_size=len(rewards)))
    if draw(st.booleans()):
        ids = sorted(ids)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    id_dtype = np.int64 if any(abs(i) > 2**31 for i in ids) else draw(st.sampled_from([np.int32, np.int64]))
    return np.array(rewards, dtype), np.array(ids, id_dtype)


@pytest.mark.both_paths
@FAST
@given(batches(), st.sampled_from(MODES), st.booleans())
def test_advantages_cpp_twin_and_reference_agree(batch, mode, unbiased):
    rewards, ids = batch
    reference = group_advantages_reference(rewards.tolist(), ids.tolist(), mode=mode, unbiased_std=unbiased)
    for impl in both_impls("advantages"):
        got = impl.advantages_group_advantages(rewards, ids, mode, 1e-6, unbiased)
        assert got.dtype == rewards.dtype and got.shape == rewards.shape
        np.testing.assert_allclose(got, np.array(reference, rewards.dtype), **TOL)


@pytest.mark.both_paths
@FAST
@given(batches(), st.sampled_from([0.0, 0.1, 1.0]))
def test_filter_cpp_twin_and_reference_agree(batch, min_std):
    rewards, ids = batch
    reference = dynamic_filter_reference(rewards.tolist(), ids.tolist(), min_std=min_std)
    for impl in both_impls("advantages"):
        keep, *counts = impl.advantages_dynamic_filter(rewards, ids, min_std)
        assert np.array_equal(keep, reference.keep) and tuple(counts) == tuple(reference[1:])


@pytest.mark.both_paths
@pytest.mark.parametrize("layout", ["sorted", "blocks", "shuffled", "sparse"])
def test_large_batches_use_threads_and_match_the_fallback(layout):
    rng = np.random.default_rng(0)
    n = 300_000  # above the threading threshold
    ids = np.repeat(np.arange(n // 16), 16) if layout == "sorted" else rng.integers(0, n // 12, n)
    if layout == "blocks":  # contiguous groups under unsorted ids
        ids = np.repeat(rng.permutation(n // 16) * 7919 - 10**6, 16)
    if layout == "sparse":
        ids = ids * 1_000_003_001
    rewards = (rng.random(n) < 0.4).astype(np.float32)
    native = native_module("advantages")
    for mode in MODES:
        np.testing.assert_allclose(
            native.advantages_group_advantages(rewards, ids, mode, 1e-6, True),
            twin.advantages_group_advantages(rewards, ids, mode, 1e-6, True),
            **TOL,
        )
    a, b = (
        native.advantages_dynamic_filter(rewards, ids, 0.0),
        twin.advantages_dynamic_filter(rewards, ids, 0.0),
    )
    assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]


def test_known_values():
    rewards, ids = [1.0, 0.0, 0.0, 0.0, 0.5, 7.0], [3, 3, 3, 3, 9, 5]
    centred = np.array(
        [0.75, -0.25, -0.25, -0.25, 0, 0]
    )  # group 3 has mean .25; groups 9 and 5 are singletons
    np.testing.assert_allclose(group_advantages(rewards, ids), centred / (0.5 + 1e-6))  # unbiased std .5
    pop_std = np.sqrt(0.1875)
    np.testing.assert_allclose(group_advantages(rewards, ids, unbiased_std=False), centred / (pop_std + 1e-6))
    np.testing.assert_allclose(group_advantages(rewards, ids, mode="drgrpo"), centred)
    np.testing.assert_allclose(group_advantages(rewards, ids, mode="rloo"), [1, -1 / 3, -1 / 3, -1 / 3, 0, 0])
    batch_std = np.std(rewards, ddof=1)
    np.testing.assert_allclose(group_advantages(rewards, ids, mode="batch"), centred / (batch_std + 1e-6))
    assert group_advantages([1, 0], [0, 0]).dtype == np.float64
    assert group_advantages(np.array([1, 0], np.float32), [0, 0]).dtype == np.float32


@pytest.mark.parametrize("mode", MODES)
def test_singletons_and_all_equal_groups_get_exactly_zero(mode):
    rewards = [0.1, 0.1, 0.1, 0.3, 1.0, 0.0]  # 0.1 * 3 / 3 != 0.1 in floating point: must still be exactly 0
    adv = group_advantages(rewards, [4, 4, 4, 8, 2, 2], mode=mode)
    assert adv[:4].tolist() == [0.0, 0.0, 0.0, 0.0] and adv[4] > 0 > adv[5]
    assert group_advantages([], [], mode=mode).shape == (0,)


@pytest.mark.both_paths
def test_errors_name_the_argument_on_both_paths():
    ok_ids = np.zeros(3, np.int64)
    for impl in both_impls("advantages"):
        for bad in (np.nan, np.inf):
            with pytest.raises(ValueError, match=r"rewards\[1\] = -?(nan|inf) is not finite"):
                impl.advantages_group_advantages(np.array([0.0, bad, 1.0]), ok_ids, "grpo", 1e-6, True)
            with pytest.raises(ValueError, match=r"rewards\[1\]"):
                impl.advantages_dynamic_filter(np.array([0.0, bad, 1.0], np.float32), ok_ids, 0.0)
        with pytest.raises(ValueError, match="mode must be one of"):
            impl.advantages_group_advantages(np.zeros(3), ok_ids, "ppo", 1e-6, True)
        with pytest.raises(ValueError, match=r"group_ids must have the length of rewards \(3\), got 2"):
            impl.advantages_group_advantages(np.zeros(3), ok_ids[:2].copy(), "grpo", 1e-6, True)
        with pytest.raises(TypeError, match="rewards must have dtype float32 or float64"):
            impl.advantages_group_advantages(np.zeros(3, np.float16), ok_ids, "grpo", 1e-6, True)
        with pytest.raises(TypeError, match="group_ids must have dtype int32 or int64"):
            impl.advantages_dynamic_filter(np.zeros(3), ok_ids.astype(np.uint8), 0.0)
        with pytest.raises(ValueError, match="min_std must be >= 0"):
            impl.advantages_dynamic_filter(np.zeros(3), ok_ids, -1.0)
    with pytest.raises(ValueError, match=r"rewards\[0\] = nan is not finite"):
        group_advantages_reference([float("nan")], [0])
    with pytest.raises(TypeError, match="group_ids must hold integers"):
        group_advantages([1.0], [0.5])


def test_dynamic_filter_counts():
    rewards = [1, 1, 1, 0, 0, 0, 1, 0, 0.5, 0.5, 0.2, 0.3]
    ids = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4]
    result = dynamic_filter(rewards, ids)
    assert result.keep.tolist() == [False] * 6 + [True, True, False, False, True, True]
    assert (result.kept, result.all_correct, result.all_wrong, result.groups) == (2, 1, 1, 5)
    # Group 4 has population std 0.05: a threshold above it drops it.
    assert dynamic_filter(rewards, ids, min_std=0.1).kept == 1


def test_public_functions_use_the_fallback_when_disabled(monkeypatch):
    from eigenfast.ops import advantages

    monkeypatch.setenv("EIGENFAST_DISABLE_EXT", "1")
    monkeypatch.delenv("EIGENFAST_REQUIRE_NATIVE", raising=False)
    _ext._reset_for_tests()
    try:
        assert advantages._backend() is twin
        np.testing.assert_allclose(group_advantages([1.0, 0.0], [5, 5], mode="drgrpo"), [0.5, -0.5])
        assert dynamic_filter([1.0, 0.0, 1.0], [1, 1, 2]).kept == 1
    finally:
        monkeypatch.undo()
        _ext._reset_for_tests()
