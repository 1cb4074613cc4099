"""Packing, balancing and packed-batch assembly: the compiled core, its numba/numpy twin and the plain-Python
reference must give identical results; the public functions must work on either path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from native_checks import both_impls, native_module

from eigenfast import _ext
from eigenfast.ops import _native_fallbacks as twin
from eigenfast.ops.packing import (
    IGNORE_INDEX,
    PackPlan,
    TokenSequences,
    balance_partitions,
    balance_partitions_reference,
    build_packed_batch,
    build_packed_batch_reference,
    pack_sequences,
    pack_sequences_reference,
)
from eigenfast.records import Episode, TokenSegment

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def fallback_only(monkeypatch):
    """The public functions with EIGENFAST_DISABLE_EXT=1, as on a machine without the compiled core."""
    monkeypatch.setenv("EIGENFAST_DISABLE_EXT", "1")
    monkeypatch.delenv("EIGENFAST_REQUIRE_NATIVE", raising=False)
    _ext._reset_for_tests()
    yield
    _ext._reset_for_tests()


def _plan_tuple(plan: PackPlan):
    return plan.bin_of, plan.offset_in_bin, plan.bin_sizes


def _assert_valid_plan(lengths: np.ndarray, plan: PackPlan) -> None:
    assert (plan.bin_sizes <= plan.capacity).all()
    assert plan.bin_sizes.sum() == lengths.sum()
    for b, members in enumerate(plan.bins()):
        ends = np.cumsum(lengths[members])
        assert np.array_equal(plan.offset_in_bin[members], ends - lengths[members])  # back to back from 0
        assert (ends[-1] if len(ends) else 0) == plan.bin_sizes[b]


lengths_and_capacity = st.integers(1, 120).flatmap(
    lambda cap: st.tuples(st.lists(st.integers(1, cap), max_size=60), st.just(cap))
)


# ------------------------------------------------------------------------------------------------- packing
@pytest.mark.both_paths
@FAST
@given(lengths_and_capacity, st.sampled_from(["ffd", "bfd"]))
def test_pack_cpp_twin_and_reference_agree(case, algorithm):
    lengths, capacity = case
    arr = np.array(lengths, np.int64)
    reference = _plan_tuple(pack_sequences_reference(lengths, capacity, algorithm=algorithm))
    _assert_valid_plan(arr, PackPlan(*reference, capacity))
    for impl in both_impls("packing"):
        for a, b in zip(impl.packing_pack_sequences(arr, capacity, algorithm), reference, strict=True):
            assert a.dtype == np.int64 and np.array_equal(a, b)


@pytest.mark.parametrize("algorithm", ["ffd", "bfd"])
@pytest.mark.parametrize(
    "lengths, capacity, bins",
    [([], 8, 0), ([5], 8, 1), ([8, 8, 8], 8, 3), ([1] * 16, 8, 2), ([7, 1, 6, 2, 5, 3], 8, 3)],
)
def test_pack_edge_cases(lengths, capacity, bins, algorithm):
    plan = pack_sequences(lengths, capacity, algorithm=algorithm)
    assert plan.num_bins == bins
    assert plan.fill_rate == pytest.approx(sum(lengths) / (bins * capacity) if bins else 1.0)
    _assert_valid_plan(np.array(lengths, np.int64), plan)


def test_best_fit_picks_the_tightest_bin():
    # 6 and 5 open two bins (rooms 4 and 5); 4 fits both and must go to the one with room 4.
    plan = pack_sequences([6, 5, 4], 10, algorithm="bfd")
    assert plan.bin_of.tolist() == [0, 1, 0]
    # Equal rooms: best fit takes the bin that reached that room last, first fit the lowest-numbered one.
    assert pack_sequences([6, 6, 3], 10, algorithm="bfd").bin_of.tolist() == [0, 1, 1]
    assert pack_sequences([6, 6, 3], 10, algorithm="ffd").bin_of.tolist() == [0, 1, 0]
    plan = pack_sequences([6, 5, 5], 10, algorithm="bfd")  # rooms 4, 5: the second 5 goes to bin 1
    assert plan.bin_of.tolist() == [0, 1, 1] and plan.offset_in_bin.tolist() == [0, 0, 5]


@pytest.mark.both_paths
@pytest.mark.parametrize("algorithm", ["ffd", "bfd"])
def test_long_tailed_lengths_fill_at_least_98_percent(algorithm):
    rng = np.random.default_rng(0)
    lognormal = np.clip(rng.lognormal(np.log(1500), 1.0, 30_000), 1, 32768).astype(np.int64)
    uniform = rng.integers(1, 32769, 30_000)
    for lengths in (lognormal, uniform):
        plan = pack_sequences(lengths, 32768, algorithm=algorithm)
        assert plan.fill_rate >= 0.98
        fallback = twin.packing_pack_sequences(lengths, 32768, algorithm)
        assert all(np.array_equal(a, b) for a, b in zip(_plan_tuple(plan), fallback, strict=True))
        native = native_module("packing").packing_pack_sequences(lengths, 32768, algorithm)
        assert all(np.array_equal(a, b) for a, b in zip(native, fallback, strict=True))


@pytest.mark.both_paths
def test_pack_errors_name_the_argument_on_both_paths():
    for impl in both_impls("packing"):
        with pytest.raises(ValueError, match=r"lengths\[2\] = 9 is longer than capacity 8"):
            impl.packing_pack_sequences(np.array([3, 8, 9, 1], np.int64), 8, "bfd")
        with pytest.raises(ValueError, match=r"lengths\[1\] = 0 must be >= 1"):
            impl.packing_pack_sequences(np.array([3, 0], np.int64), 8, "ffd")
        with pytest.raises(ValueError, match="algorithm"):
            impl.packing_pack_sequences(np.array([3], np.int64), 8, "worst")
        with pytest.raises(ValueError, match="capacity"):
            impl.packing_pack_sequences(np.array([3], np.int64), 0, "bfd")
        with pytest.raises(TypeError, match="lengths must have dtype int64"):
            impl.packing_pack_sequences(np.array([3], np.int32), 8, "bfd")
        with pytest.raises(TypeError, match="lengths must be a 1-D C-contiguous"):
            impl.packing_pack_sequences(np.arange(1, 9, dtype=np.int64)[::2], 8, "bfd")
    with pytest.raises(TypeError, match="lengths must hold integers"):
        pack_sequences([1.5, 2.0], 8)


def test_public_functions_use_the_fallback_when_disabled(fallback_only):
    from eigenfast.ops import packing

    assert packing._backend() is twin
    plan = pack_sequences(np.array([4, 3, 3], np.int32), 6)
    assert plan.bin_of.tolist() == [0, 1, 1]
    parts, imbalance = balance_partitions([5, 4, 3, 3, 3], 2)
    assert sorted(np.concatenate(parts).tolist()) == [0, 1, 2, 3, 4] and imbalance == pytest.approx(10 / 9)


# -------------------------------------------------------------------------------------------- balancing
@pytest.mark.both_paths
@FAST
@given(st.lists(st.integers(0, 1000), max_size=50), st.integers(1, 7), st.booleans())
def test_balance_cpp_twin_and_reference_agree(lengths, k, equal_count):
    arr = np.array(lengths, np.int64)
    parts, imbalance = balance_partitions_reference(lengths, k, equal_count=equal_count)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(lengths)))
    sums = [int(arr[p].sum()) for p in parts]
    assert sums == sorted(sums, reverse=True)
    assert imbalance == (max(sums) * k / sum(sums) if sum(sums) else 1.0)
    if equal_count:
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= (0 if len(lengths) % k == 0 else 1)
    for impl in both_impls("packing"):
        members, offsets, got_sums = impl.packing_balance_partitions(arr, k, equal_count)
        assert [p.tolist() for p in parts] == [p.tolist() for p in np.split(members, offsets[1:-1])]
        assert got_sums.tolist() == sums


def test_balance_quality_and_equal_count():
    rng = np.random.default_rng(1)
    lengths = np.clip(rng.lognormal(np.log(1500), 1.0, 4096), 1, 32768).astype(np.int64)
    parts, imbalance = balance_partitions(lengths, 8)
    assert imbalance < 1.001
    parts, imbalance = balance_partitions(lengths, 8, equal_count=True)
    assert {len(p) for p in parts} == {512} and imbalance < 1.01
    # Largest differencing on a textbook case: {8, 7, 6, 5, 4} into 2 gives 16 / 14.
    parts, imbalance = balance_partitions([8, 7, 6, 5, 4], 2)
    assert [p.tolist() for p in parts] == [[1, 3, 4], [0, 2]] and imbalance == pytest.approx(16 / 15)
    assert balance_partitions([], 3).imbalance == 1.0
    with pytest.raises(ValueError, match="k must be >= 1"):
        balance_partitions([1, 2], 0)
    with pytest.raises(ValueError, match=r"lengths\[1\] = -2 must be >= 0"):
        balance_partitions([1, -2], 2)


# ------------------------------------------------------------------------------------------ packed batch
def _random_sequences(rng: np.random.Generator, lengths) -> TokenSequences:
    return TokenSequences.from_arrays(
        [rng.integers(0, 50_000, n) for n in lengths],
        [rng.random(n) < 0.6 for n in lengths],
        rng.standard_normal(len(lengths)),
        [-rng.random(n) for n in lengths],
    )


def _assert_batches_equal(a, b) -> None:
    for name in ("input_ids", "position_ids", "labels", "loss_mask", "old_logp", "advantages", "seq_ids"):
        x, y = getattr(a, name) if not isinstance(a, dict) else a[name], getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and x.flags.c_contiguous, name
        assert np.array_equal(x, y), name
    for name in ("cu_seqlens", "cu_seqlens_offsets", "bin_sizes"):
        x = a[name] if isinstance(a, dict) else getattr(a, name)
        assert x.dtype == getattr(b, name).dtype and np.array_equal(x, getattr(b, name)), name


@pytest.mark.both_paths
@FAST
@given(st.lists(st.integers(1, 24), max_size=30), st.integers(24, 64), st.integers(0, 2**32 - 1))
def test_build_cpp_twin_and_reference_agree(lengths, capacity, seed):
    seqs = _random_sequences(np.random.default_rng(seed), lengths)
    plan = pack_sequences(lengths, capacity)
    reference = build_packed_batch_reference(seqs, plan, pad_id=7)
    args = (seqs.token_ids, seqs.trainable, seqs.old_logp, seqs.advantages, seqs.seq_offsets, plan.bin_of,
            plan.offset_in_bin, plan.num_bins, capacity, 7)  # fmt: skip
    for impl in both_impls("packing"):
        _assert_batches_equal(impl.packing_build_packed_batch(*args), reference)


@pytest.mark.both_paths
def test_build_threads_over_many_bins_match_the_fallback():
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 300, 3000)
    seqs = _random_sequences(rng, lengths)
    plan = pack_sequences(lengths, 1024, algorithm="ffd")
    args = (seqs.token_ids, seqs.trainable, seqs.old_logp, seqs.advantages, seqs.seq_offsets, plan.bin_of,
            plan.offset_in_bin, plan.num_bins, 1024, 0)  # fmt: skip
    fallback = twin.packing_build_packed_batch(*args)
    assert fallback["bin_sizes"].tolist() == plan.bin_sizes.tolist()
    native = native_module("packing").packing_build_packed_batch(*args)
    for name, value in native.items():
        assert np.array_equal(value, fallback[name]), name


def test_labels_mask_and_old_logp_describe_the_next_token():
    episode = Episode(
        task_id="t",
        messages=[],
        segments=[
            TokenSegment(owner="system", token_ids=[10]),
            TokenSegment(owner="user", token_ids=[11]),
            TokenSegment(owner="agent", token_ids=[12, 13], logprobs=[-0.5, -0.25]),
            TokenSegment(owner="tool", token_ids=[14]),
            TokenSegment(owner="agent", token_ids=[15], logprobs=[-2.0]),
        ],
    )
    other = Episode(task_id="u", messages=[], segments=[TokenSegment(owner="agent", token_ids=[20, 21])])
    seqs = TokenSequences.from_episodes([episode, other], advantages=[1.5, -1.0])
    plan = pack_sequences(seqs.lengths, 10)
    assert plan.bin_of.tolist() == [0, 0] and plan.offset_in_bin.tolist() == [0, 6]
    batch = build_packed_batch(seqs, plan, pad_id=0)
    row = lambda name: getattr(batch, name)[0].tolist()  # noqa: E731
    assert row("input_ids") == [10, 11, 12, 13, 14, 15, 20, 21, 0, 0]
    assert row("position_ids") == [0, 1, 2, 3, 4, 5, 0, 1, 0, 0]
    assert row("labels") == [11, 12, 13, 14, 15, IGNORE_INDEX, 21, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
    # Position t predicts token t+1: a target counts when token t+1 is the agent's.
    assert row("loss_mask") == [False, True, True, False, True, False, True, False, False, False]
    assert row("old_logp") == [0.0, -0.5, -0.25, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert row("advantages") == [1.5] * 6 + [-1.0] * 2 + [0.0] * 2
    assert row("seq_ids") == [0] * 6 + [1] * 2 + [-1] * 2
    assert batch.cu_seqlens_of(0).tolist() == [0, 6, 8]
    assert batch.input_ids.shape == (1, 10) and batch.input_ids.flags.c_contiguous


@pytest.mark.both_paths
def test_build_rejects_bad_plans_and_buffers_on_both_paths():
    seqs = _random_sequences(np.random.default_rng(3), [3, 2])
    base = dict(token_ids=seqs.token_ids, trainable=seqs.trainable, old_logp=seqs.old_logp,
                advantages=seqs.advantages, seq_offsets=seqs.seq_offsets, bin_of=np.array([0, 0], np.int64),
                offset_in_bin=np.array([0, 3], np.int64), num_bins=1, capacity=5, pad_id=0)  # fmt: skip
    cases = [
        (dict(offset_in_bin=np.array([0, 2], np.int64)), ValueError, "back to back"),
        (dict(offset_in_bin=np.array([0, 4], np.int64)), ValueError, "sequence 1 .* does not fit capacity 5"),
        (dict(bin_of=np.array([0, 1], np.int64)), ValueError, r"plan.bin_of\[1\] = 1 is outside \[0, 1\)"),
        (dict(token_ids=seqs.token_ids.astype(np.int32)), TypeError, "token_ids must have dtype int64"),
        (dict(old_logp=seqs.old_logp[:-1].copy()), ValueError, "old_logp must have length 5"),
        (dict(trainable=seqs.trainable.astype(np.uint8)), TypeError, "trainable must have dtype bool"),
    ]
    for impl in both_impls("packing"):
        assert impl.packing_build_packed_batch(**base)["bin_sizes"].tolist() == [5]
        for change, error, message in cases:
            with pytest.raises(error, match=message):
                impl.packing_build_packed_batch(**{**base, **change})
    with pytest.raises(ValueError, match="plan places 1 sequences but segments holds 2"):
        build_packed_batch(seqs, pack_sequences([5], 5))
    with pytest.raises(ValueError, match="plan.bin_sizes do not match"):
        build_packed_batch(seqs, PackPlan(np.array([0, 1]), np.array([0, 0]), np.array([4, 2]), 5))


def test_token_sequences_reject_mismatched_episode_fields():
    bad = Episode(
        task_id="t", messages=[], segments=[TokenSegment(owner="agent", token_ids=[1, 2], logprobs=[0.0])]
    )
    with pytest.raises(ValueError, match=r"episodes\[0\].segments\[0\]: 1 logprobs for 2 token_ids"):
        TokenSequences.from_episodes([bad], [0.0])
    with pytest.raises(ValueError, match="advantages has 2 entries for 1 sequences"):
        TokenSequences.from_arrays([[1, 2]], [[True, False]], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"trainable\[0\] has shape \(1,\), token_ids\[0\] has 2 tokens"):
        TokenSequences.from_arrays([[1, 2]], [[True]], [0.0])
