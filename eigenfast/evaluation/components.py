"""tau²'s reward components, each a function of the task, the trajectory and (for DB) fresh environments.

- DB: replay the trajectory's state-changing calls on a fresh environment and compare both DB hashes with
  those reached by the gold actions.
- ENV_ASSERTION: the task's assertion functions, run on that replayed environment.
- ACTION: every gold action matched by some tool call (name, and the arguments on `compare_args`).
- COMMUNICATE: every `communicate_info` string appears in some assistant text.
- NL_ASSERTION: an LLM judge's verdicts (see `judge.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msgspec import UNSET

from eigenfast.domains.environment import Environment
from eigenfast.domains.loader import Domain
from eigenfast.evaluation.judge import Judge, transcript
from eigenfast.records import Action, EnvAssertion, Message, Task, ToolCall


def _items(value: Any) -> list[Any]:
    return [] if value is None or value is UNSET else list(value)


def requestor_of(action: Action) -> str:
    """Who makes a gold call: tau² defaults to the agent ("assistant")."""
    return action.requestor if action.requestor is not UNSET else "assistant"


@dataclass
class EnvOutcome:
    """DB and ENV_ASSERTION together, as tau² computes them from the same replayed environment."""

    db: float | None  # None: not evaluable (a state-changing gold action failed, yet the hashes matched)
    env_assertion: float
    predicted: Environment
    details: dict[str, Any] = field(default_factory=dict)


def replay_gold_actions(env: Environment, actions: list[Action]) -> list[dict[str, Any]]:
    """Run the gold actions as tau² does (no sync, exceptions ignored); returns the failed state-changing ones."""
    failed = []
    for action in actions:
        try:
            env.call_raw(action.name, dict(action.arguments), requestor_of(action))
        except Exception as exc:
            if env.has_tool(action.name) and not env.mutates(action.name):
                continue
            failed.append({"action_id": action.action_id, "name": action.name, "error": f"{type(exc).__name__}: {exc}"})
    return failed


def predicted_env(domain: Domain, task: Task, trajectory: list[Message]) -> Environment:
    """Initial state without history, then every state-changing call of the full trajectory replayed."""
    env = domain.make_env(task, with_history=False)
    env.replay(trajectory)
    env.sync()
    return env


def env_outcome(domain: Domain, task: Task, trajectory: list[Message]) -> EnvOutcome:
    criteria = task.evaluation_criteria
    predicted = predicted_env(domain, task, trajectory)
    gold = domain.make_env(task)
    failed = replay_gold_actions(gold, _items(criteria.actions))
    agent_match = gold.agent_db.hash() == predicted.agent_db.hash()
    user_match = (gold.user_db.hash() if gold.user_db else None) == (predicted.user_db.hash() if predicted.user_db else None)
    match = agent_match and user_match
    details: dict[str, Any] = {"db_match": match, "agent_db_match": agent_match, "user_db_match": user_match}
    db: float | None = 1.0 if match else 0.0
    if failed:
        details["failed_gold_actions"] = failed
        if match:  # an incomplete gold state cannot certify a match (tau²: "not evaluated")
            db = None
    assertion_score, checks = run_env_assertions(predicted, _items(criteria.env_assertions))
    details["env_assertions"] = checks
    return EnvOutcome(db, assertion_score, predicted, details)


def run_env_assertions(env: Environment, assertions: list[EnvAssertion]) -> tuple[float, list[dict[str, Any]]]:
    score, checks = 1.0, []
    for assertion in assertions:
        value = env.run_function(assertion.env_type, assertion.func_name, dict(assertion.arguments))
        if not isinstance(value, bool):
            raise ValueError(f"assertion {assertion.func_name} returned {type(value).__name__}, not bool")
        expected = assertion.assert_value if assertion.assert_value is not UNSET else True
        met = value == expected
        checks.append({"func_name": assertion.func_name, "arguments": assertion.arguments, "met": met})
        score *= 1.0 if met else 0.0
    return score, checks


def trajectory_tool_calls(messages: list[Message]) -> list[ToolCall]:
    return [call for m in messages if m.role in ("assistant", "user") for call in m.tool_calls or ()]


def action_matches(action: Action, call: ToolCall) -> bool:
    """tau²'s rule: same name; arguments equal on `compare_args` (None: the call's own keys; []: name only)."""
    if action.name != call.name:
        return False
    arguments = call.arguments if isinstance(call.arguments, dict) else {}
    keys = action.compare_args if action.compare_args not in (None, UNSET) else list(arguments)
    if not keys:
        return True
    return ({k: v for k, v in arguments.items() if k in keys}
            == {k: v for k, v in action.arguments.items() if k in keys})


def action_component(task: Task, messages: list[Message]) -> tuple[float, list[dict[str, Any]]]:
    calls = trajectory_tool_calls(messages)
    checks = [{"action_id": a.action_id, "name": a.name, "met": any(action_matches(a, c) for c in calls)}
              for a in _items(task.evaluation_criteria.actions)]
    return (1.0 if all(c["met"] for c in checks) else 0.0), checks


def communicate_component(task: Task, messages: list[Message]) -> tuple[float, list[dict[str, Any]]]:
    said = [m.content.lower().replace(",", "") for m in messages if m.role == "assistant" and m.content]
    checks = [{"info": info, "met": any(info.lower() in text for text in said)}
              for info in _items(task.evaluation_criteria.communicate_info)]
    return (1.0 if all(c["met"] for c in checks) else 0.0), checks


def nl_assertion_component(task: Task, messages: list[Message],
                           judge: Judge | None) -> tuple[float | None, list[dict[str, Any]]]:
    """(score, verdicts); score None when assertions exist but no judge is configured."""
    assertions = _items(task.evaluation_criteria.nl_assertions)
    if not assertions:
        return 1.0, []
    if judge is None:
        return None, []
    verdicts = judge.judge(transcript(messages), assertions)
    if len(verdicts) != len(assertions):
        raise ValueError(f"judge returned {len(verdicts)} verdicts for {len(assertions)} assertions")
    checks = [{"assertion": v.assertion, "met": v.met, "reasoning": v.reasoning} for v in verdicts]
    return (1.0 if all(v.met for v in verdicts) else 0.0), checks


__all__ = [
    "EnvOutcome",
    "action_component",
    "action_matches",
    "communicate_component",
    "env_outcome",
    "nl_assertion_component",
    "predicted_env",
    "replay_gold_actions",
    "requestor_of",
    "run_env_assertions",
    "trajectory_tool_calls",
]
