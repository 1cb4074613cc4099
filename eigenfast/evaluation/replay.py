"""Gold replay: play each task's gold actions as an episode, then grade it as tau²-bench would.

The episode starts from the task's initial state (with its message history), runs every gold action through
`Environment.call_tool` with the action's requestor (so a gold call that fails is recorded as the error the
agent would have seen), and ends with the user's stop. It is scored on the task's `reward_basis` without
COMMUNICATE and NL_ASSERTION, which need agent text and a judge.

Negative controls modify the task's last state-changing gold call: `drop` leaves it out, `perturb` changes
one argument to another value that the tool still accepts but that leads to a different state. A task whose
scored components depend on that call (judged directly: the end DBs differ, an assertion flips, a required
action is no longer matched) must then score 0; the others must still score 1.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from msgspec import UNSET

from eigenfast.domains.environment import Environment
from eigenfast.domains.loader import Domain
from eigenfast.evaluation.components import (
    action_matches,
    requestor_of,
    run_env_assertions,
    trajectory_tool_calls,
)
from eigenfast.evaluation.metrics import is_success
from eigenfast.evaluation.reward import ALL_COMPONENTS, evaluate_episode
from eigenfast.records import Action, Message, Task, ToolCall

EXCLUDED = ("COMMUNICATE", "NL_ASSERTION")
SCORED = tuple(c for c in ALL_COMPONENTS if c not in EXCLUDED)
Control = Literal["drop", "perturb"]
MAX_PERTURB_TRIES = 5000


class ReplayRecord(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One task's gold-replay outcome (a line of `--out`)."""

    domain: str
    task_id: str
    reward: float
    ok: bool  # reward 1 for plain replay; the expected outcome for a negative control
    basis: list[str]
    components: dict[str, float] = {}
    control: str | None = None
    modified: dict[str, Any] | None = None  # the action that was dropped or perturbed
    affected: bool | None = None  # whether the scored components depend on that modification
    details: dict[str, Any] = {}


@dataclass
class Episode:
    messages: list[Message]
    env: Environment
    modified: dict[str, Any] | None = None


def _history(task: Task) -> list[Message]:
    state = task.initial_state
    if state in (None, UNSET) or state.message_history in (None, UNSET):
        return []
    return list(state.message_history)


def _actions(task: Task) -> list[Action]:
    criteria = task.evaluation_criteria
    if criteria in (None, UNSET) or criteria.actions in (None, UNSET):
        return []
    return list(criteria.actions)


def last_write_index(env: Environment, actions: list[Action]) -> int | None:
    """Index of the last gold action whose tool changes state (tau²'s `mutates_state`)."""
    for i in range(len(actions) - 1, -1, -1):
        if env.has_tool(actions[i].name) and env.mutates(actions[i].name):
            return i
    return None


def play(domain: Domain, task: Task, actions: list[Action] | None = None) -> Episode:
    """The gold episode: history, then each action as a tool call with its real result, then the user's stop."""
    env = domain.make_env(task)
    messages = _history(task)
    for i, action in enumerate(_actions(task) if actions is None else actions):
        role = "user" if requestor_of(action) == "user" else "assistant"
        call = ToolCall(id=f"gold_{i}", name=action.name, arguments=dict(action.arguments),
                        requestor=requestor_of(action))
        messages.append(Message(role=role, tool_calls=[call]))
        messages.append(env.call_tool(call))
    messages.append(Message(role="user", content="###STOP###"))
    return Episode(messages, env)


# ------------------------------------------------------------------------------------------ perturbation
def _leaves(value: Any, key: str, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, k, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, key, (*path, i))
    else:
        yield path, key, value


@dataclass
class _ValueIndex:
    """Where string values occur in a domain's DBs: by field name, and by record (a table entry)."""

    by_field: dict[str, list[str]]
    fields_of: dict[str, set[str]]
    records_of: dict[str, set[tuple[int, Any, Any]]]


def _value_index(domain: Domain) -> _ValueIndex:
    cached = getattr(domain, "_value_index", None)
    if cached is not None:
        return cached
    by_field: dict[str, set[str]] = {}
    records_of: dict[str, set[tuple[int, Any, Any]]] = {}
    for side, base in enumerate((domain.agent_base, domain.user_base)):
        if base is None or not isinstance(base.data, dict):
            continue
        for table, rows in base.data.items():
            entries = rows.items() if isinstance(rows, dict) else enumerate(rows) if isinstance(rows, list) else ()
            for row_key, row in entries:
                record = (side, table, row_key)
                if isinstance(row_key, str):  # tables keyed by id: the key is a value of the id field
                    records_of.setdefault(row_key, set()).add(record)
                    if isinstance(row, dict):
                        for field in ("id", *[f for f in row if f.endswith("_id")]):
                            if row.get(field) == row_key:
                                by_field.setdefault(field, set()).add(row_key)
                for _, key, value in _leaves(row, table):
                    if isinstance(value, str):
                        by_field.setdefault(key, set()).add(value)
                        records_of.setdefault(value, set()).add(record)
    fields_of: dict[str, set[str]] = {}
    for field, values in by_field.items():
        for value in values:
            fields_of.setdefault(value, set()).add(field)
    index = _ValueIndex({f: sorted(v) for f, v in by_field.items()}, fields_of, records_of)
    domain._value_index = index  # type: ignore[attr-defined]
    return index


def _literals(hint: Any) -> list[Any]:
    if typing.get_origin(hint) is Literal:
        return list(typing.get_args(hint))
    return [v for arg in typing.get_args(hint) for v in _literals(arg)]


def _candidates(domain: Domain, env: Environment, action: Action, path: tuple[Any, ...], key: str,
                value: Any) -> list[Any]:
    """Other values of the same kind: enum alternatives, then DB values of the same field, those found in
    the same records as the call's other arguments first (the user's other payment method, another item of
    the same order)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, (int, float)):
        return [value + 1, value * 2 if value else value + 2]
    if not isinstance(value, str):
        return []
    out: list[Any] = []
    kit = env.toolkit(requestor_of(action))
    spec = kit.specs().get(action.name) if kit is not None else None
    if spec is not None and len(path) == 1:
        out.extend(v for v in _literals(spec.hints.get(path[0])) if v != value)
    index = _value_index(domain)
    context: set[tuple[int, Any, Any]] = set()
    for other_path, _, other in _leaves(action.arguments, ""):
        if other_path != path and isinstance(other, str):
            context |= index.records_of.get(other, set())
    names = [key, key[:-1] if key.endswith("s") else key, *sorted(index.fields_of.get(value, ()))]
    pool: list[str] = []
    seen = {value, *out}
    for name in names:
        for candidate in index.by_field.get(name, ()):
            if candidate not in seen:
                seen.add(candidate)
                pool.append(candidate)
    pool.sort(key=lambda c: not (index.records_of.get(c, set()) & context))  # stable: nearby values first
    return out + pool


def _with_leaf(arguments: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    copy = msgspec.json.decode(msgspec.json.encode(arguments))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copy


def perturb_action(domain: Domain, env: Environment, action: Action) -> tuple[Action, dict[str, Any]] | None:
    """The action with one argument changed so that the call still succeeds on `env` but ends in another state."""
    reference = env.fork()
    reference.call(action.name, dict(action.arguments), requestor_of(action))
    target = reference.state_hash()
    tries = 0
    for path, key, value in _leaves(action.arguments, ""):
        for candidate in _candidates(domain, env, action, path, key, value):
            tries += 1
            if tries > MAX_PERTURB_TRIES:
                return None
            arguments = _with_leaf(action.arguments, path, candidate)
            trial = env.fork()
            if trial.call(action.name, arguments, requestor_of(action)).error or trial.state_hash() == target:
                continue
            changed = msgspec.structs.replace(action, arguments=arguments)
            return changed, {"path": list(path), "from": value, "to": candidate}
    return None


# ------------------------------------------------------------------------------------------ controls
def modified_actions(domain: Domain, task: Task, control: Control) -> tuple[list[Action], dict[str, Any] | None]:
    """The gold actions with the control applied, and what was changed (None: nothing to change)."""
    actions = _actions(task)
    probe = domain.make_env(task)
    index = last_write_index(probe, actions)
    if index is None:
        return actions, None
    action = actions[index]
    info: dict[str, Any] = {"index": index, "action_id": action.action_id, "name": action.name}
    if control == "drop":
        return actions[:index] + actions[index + 1:], {**info, "change": "dropped"}
    for earlier in actions[:index]:  # the state the call meets in the episode
        probe.call(earlier.name, dict(earlier.arguments), requestor_of(earlier))
    found = perturb_action(domain, probe, action)
    if found is None:
        return actions, {**info, "change": "no valid perturbation found"}
    changed, how = found
    return [*actions[:index], changed, *actions[index + 1:]], {**info, "change": "perturbed", **how}


def depends(task: Task, scored: list[str], gold: Episode, changed: Episode) -> bool:
    """Whether the scored components see the change, judged directly on the two end states."""
    if "DB" in scored:  # plain deep equality (fast where subtrees are shared), independent of the hash
        if gold.env.agent_db.data != changed.env.agent_db.data:
            return True
        if gold.env.user_db is not None and gold.env.user_db.data != changed.env.user_db.data:
            return True
    criteria = task.evaluation_criteria
    if "ENV_ASSERTION" in scored and criteria.env_assertions not in (None, UNSET):
        before = run_env_assertions(gold.env.fork(), list(criteria.env_assertions))[1]
        after = run_env_assertions(changed.env.fork(), list(criteria.env_assertions))[1]
        if [c["met"] for c in before] != [c["met"] for c in after]:
            return True
    if "ACTION" in scored:
        calls = trajectory_tool_calls(changed.messages)
        if not all(any(action_matches(a, c) for c in calls) for a in _actions(task)):
            return True
    return False


def replay_task(domain: Domain, task: Task, control: Control | None = None) -> ReplayRecord:
    """Replay and grade one task; a task that cannot even be set up is a failure, not a crash."""
    try:
        return _replay_task(domain, task, control)
    except Exception as exc:
        return ReplayRecord(domain=domain.name, task_id=task.id, reward=0.0, ok=False, basis=[], control=control,
                            details={"error": f"{type(exc).__name__}: {exc}"})


def _replay_task(domain: Domain, task: Task, control: Control | None) -> ReplayRecord:
    criteria = task.evaluation_criteria
    basis = criteria.basis() if criteria not in (None, UNSET) else []
    scored = [c for c in basis if c in SCORED]
    gold = play(domain, task)
    if control is None:
        info = evaluate_episode(domain, task, gold.messages, "user_stop", components=SCORED)
        return ReplayRecord(domain=domain.name, task_id=task.id, reward=info.reward, ok=is_success(info.reward),
                            basis=info.basis, components=info.components, details=info.details)
    actions, modified = modified_actions(domain, task, control)
    changed = play(domain, task, actions) if modified and modified["change"] != "no valid perturbation found" else gold
    info = evaluate_episode(domain, task, changed.messages, "user_stop", components=SCORED)
    affected = changed is not gold and depends(task, scored, gold, changed)
    ok = (info.reward == 0.0) if affected else is_success(info.reward)
    return ReplayRecord(domain=domain.name, task_id=task.id, reward=info.reward, ok=ok, basis=info.basis,
                        components=info.components, control=control, modified=modified, affected=affected,
                        details=info.details)


__all__ = ["EXCLUDED", "SCORED", "Control", "Episode", "ReplayRecord", "depends", "last_write_index",
           "modified_actions", "perturb_action", "play", "replay_task"]
