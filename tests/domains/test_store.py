"""Store: copy-on-write isolation and a state hash that changes exactly when the state does."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigenfast.domains.store import Base


def reference_hash(data) -> str:
    """tau²'s definition: sha256 of the sorted-keys JSON."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def make_base():
    return Base({
        "users": {f"u{i}": {"name": f"n{i}", "tags": [i, "x"], "balance": float(i)} for i in range(4)},
        "orders": [{"id": j, "status": "pending", "items": [j, j + 1]} for j in range(3)],
        "flags": {"a": True, "b": None},
    })


leaf = st.one_of(st.integers(-3, 3), st.floats(-2, 2, allow_nan=False), st.booleans(), st.none(),
                 st.sampled_from(["pending", "done", "x", "1"]))
op = st.one_of(
    st.tuples(st.just("set_user"), st.integers(0, 3), st.sampled_from(["name", "balance", "new"]), leaf),
    st.tuples(st.just("append_tag"), st.integers(0, 3), leaf),
    st.tuples(st.just("pop_tag"), st.integers(0, 3)),
    st.tuples(st.just("order_status"), st.integers(0, 2), leaf),
    st.tuples(st.just("add_user"), st.sampled_from(["u8", "u9"]), leaf),
    st.tuples(st.just("del_user"), st.integers(0, 3)),
    st.tuples(st.just("flag"), st.sampled_from(["a", "b", "c"]), leaf),
)


def apply(store, o) -> None:
    kind = o[0]
    if kind in ("set_user", "append_tag", "pop_tag") and f"u{o[1]}" not in store.data["users"]:
        return
    if kind == "set_user":
        store.edit("users", f"u{o[1]}")[o[2]] = o[3]
    elif kind == "append_tag":
        store.edit("users", f"u{o[1]}", "tags").append(o[2])
    elif kind == "pop_tag":
        tags = store.edit("users", f"u{o[1]}", "tags")
        if tags:
            tags.pop()
    elif kind == "order_status":
        store.edit("orders", o[1])["status"] = o[2]
    elif kind == "add_user":
        store.edit("users")[o[1]] = {"name": o[2], "tags": []}
    elif kind == "del_user":
        store.edit("users").pop(f"u{o[1]}", None)
    elif kind == "flag":
        store.edit("flags")[o[1]] = o[2]


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=12))
def test_hash_changes_exactly_when_state_changes(ops):
    base = make_base()
    store = base.store()
    pristine = json.dumps(base.data, sort_keys=True)
    seen: dict[str, str] = {reference_hash(store.data): store.hash()}
    for o in ops:
        before_ref, before = reference_hash(store.data), store.hash()
        apply(store, o)
        after_ref, after = reference_hash(store.data), store.hash()
        assert (after_ref == before_ref) == (after == before), o
        # Equal states, however reached, hash equally; different states differ.
        if after_ref in seen:
            assert seen[after_ref] == after
        else:
            assert after not in seen.values()
            seen[after_ref] = after
    assert json.dumps(base.data, sort_keys=True) == pristine  # the shared base was never written


@settings(max_examples=60, deadline=None)
@given(st.lists(op, max_size=8), st.lists(op, max_size=8))
def test_forks_are_independent_and_equal_states_hash_equal(first, second):
    base = make_base()
    a = base.store()
    for o in first:
        apply(a, o)
    b = a.fork()
    assert b.hash() == a.hash() and b.to_builtins() == a.to_builtins()
    snapshot = a.to_builtins()
    for o in second:
        apply(b, o)
    assert a.to_builtins() == snapshot  # writes to the fork never leak back
    forked = b.to_builtins()
    for o in first:
        apply(a, o)
    assert b.to_builtins() == forked  # nor writes to the source into the fork
    assert Base(a.to_builtins()).store().hash() == a.hash()
    # The same state rebuilt from scratch (a fresh Base of the same values) hashes the same.
    assert Base(b.to_builtins()).store().hash() == b.hash()


@pytest.mark.parametrize("depth", [0, 1, 2, 4])
def test_type_tags_distinguish_lookalike_values(depth):
    def nest(v):
        for _ in range(depth):
            v = {"k": v}
        return {"v": v}

    hashes = {Base(nest(v)).store().hash() for v in (1, 1.0, True, "1", None, [1], {"1": 1}, [], {})}
    assert len(hashes) == 9
    assert Base(nest({"a": 1, "b": 2})).store().hash() == Base(nest({"b": 2, "a": 1})).store().hash()


def test_edit_refuses_non_containers_with_a_clear_error():
    store = make_base().store()
    try:
        store.edit("users", "u0", "name")
    except TypeError as exc:
        assert "u0" in str(exc) and "str" in str(exc)
    else:
        raise AssertionError("edit on a string leaf should raise")


def test_swapping_a_key_for_another_of_equal_size_changes_the_hash():
    base = make_base()
    store = base.store()
    users = store.edit("users")
    users["u9"] = users.pop("u0")  # same size, same values, one key renamed
    assert store.hash() != base.store().hash()
    assert store.hash() == Base(store.to_builtins()).store().hash()
    users["u0"] = users.pop("u9")
    assert store.hash() == base.store().hash()


@pytest.mark.parametrize("name", ["retail", "airline"])
def test_hash_tracks_real_tool_writes(tau2_dir, name):
    """Through a real domain's tools: the incremental hash moves exactly when the DB does, and equals the hash
    of the same state built from scratch."""
    from eigenfast.domains import load_tau2

    domain = load_tau2(name, tau2_dir)
    env = domain.make_env()
    calls = [a for t in domain.tasks for a in (t.evaluation_criteria.actions or []) if domain.spec.agent_tools.mutates(a.name)]
    assert len(calls) >= 10
    previous_ref, previous = reference_hash(env.agent_db.data), env.state_hash()
    moved = 0
    for action in calls[:25]:
        env.call(action.name, dict(action.arguments))
        ref, now = reference_hash(env.agent_db.data), env.state_hash()
        assert (ref == previous_ref) == (now == previous), action.name
        moved += now != previous
        previous_ref, previous = ref, now
    assert moved >= 5
    assert Base(env.agent_db.to_builtins()).store().hash() == env.agent_db.hash()
