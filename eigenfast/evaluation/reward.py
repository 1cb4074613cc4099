"""An episode's reward under tau²-bench's rules.

A run that did not end in a user or agent stop scores 0; a task without evaluation criteria scores 1;
otherwise the reward is the product of the components named in the task's `reward_basis` (optionally
narrowed by `components`). Components outside the basis are still computed as diagnostics when cheap
(ACTION, COMMUNICATE) or when they come with the DB replay (ENV_ASSERTION). NL_ASSERTION without a judge is
reported in `unjudged` and, when it gates the reward, the reward is 0: an unjudged run is never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from msgspec import UNSET

from eigenfast.domains.loader import Domain
from eigenfast.evaluation.components import (
    action_component,
    communicate_component,
    env_outcome,
    nl_assertion_component,
)
from eigenfast.evaluation.judge import Judge
from eigenfast.records import Message, RewardInfo, Task

STOPS = ("user_stop", "agent_stop")
ALL_COMPONENTS = ("DB", "ENV_ASSERTION", "ACTION", "COMMUNICATE", "NL_ASSERTION")


def evaluate_episode(domain: Domain, task: Task, messages: list[Message], termination: str | None, *,
                     judge: Judge | None = None, components: Iterable[str] | None = None) -> RewardInfo:
    """Score one episode. `messages` is the full trajectory, including the task's `message_history`.

    `components` restricts which basis components gate the reward (e.g. gold replay leaves out COMMUNICATE
    and NL_ASSERTION); by default the task's whole `reward_basis` does.
    """
    if termination not in STOPS:
        return RewardInfo(reward=0.0, details={"note": f"episode ended with {termination!r}, not a stop"})
    criteria = task.evaluation_criteria
    if criteria is None or criteria is UNSET:
        return RewardInfo(reward=1.0, details={"note": "task has no evaluation criteria"})
    basis = criteria.basis()
    unknown = set(components or ()) - set(ALL_COMPONENTS)
    if unknown:
        raise ValueError(f"unknown reward component(s) {sorted(unknown)}; expected some of {ALL_COMPONENTS}")
    scored = [c for c in basis if components is None or c in set(components)]
    try:
        return _evaluate(domain, task, messages, basis, scored, judge)
    except Exception as exc:
        # tau² grades an episode whose evaluation raises (e.g. a replay that diverges) as 0, and says why.
        return RewardInfo(reward=0.0, basis=scored, details={"error": f"{type(exc).__name__}: {exc}"})


def _evaluate(domain: Domain, task: Task, messages: list[Message], basis: list[str], scored: list[str],
              judge: Judge | None) -> RewardInfo:
    criteria = task.evaluation_criteria
    values: dict[str, float] = {}
    details: dict[str, Any] = {}
    unjudged: list[str] = []
    no_env_criteria = criteria.actions in (None, UNSET) and criteria.env_assertions in (None, UNSET)
    if no_env_criteria:
        values["DB"] = values["ENV_ASSERTION"] = 1.0
    else:
        outcome = env_outcome(domain, task, messages)
        details["env"] = outcome.details
        if outcome.db is not None:
            values["DB"] = outcome.db
        values["ENV_ASSERTION"] = outcome.env_assertion
    values["ACTION"], details["actions"] = action_component(task, messages)
    values["COMMUNICATE"], details["communicate"] = communicate_component(task, messages)
    if "NL_ASSERTION" in scored:
        nl, details["nl_assertions"] = nl_assertion_component(task, messages, judge)
        if nl is None:
            unjudged.append("NL_ASSERTION")
        else:
            values["NL_ASSERTION"] = nl
    reward = 1.0
    for name in scored:
        if name in unjudged:
            reward = 0.0
        elif name in values:
            reward *= values[name]
    return RewardInfo(reward=reward, components=values, basis=scored, unjudged=unjudged, details=details)


__all__ = ["ALL_COMPONENTS", "STOPS", "evaluate_episode"]
