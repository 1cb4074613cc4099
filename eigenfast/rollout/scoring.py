"""Scoring finished episodes: tau²'s evaluator, or a synthesised task's checker run in the sandbox.

The sandbox is imported only when a task carries a checker, and started once per scorer.
"""

from __future__ import annotations

from typing import Any

import msgspec

from eigenfast.records import UNSET, Episode, RewardInfo, Task

_FINISHED = ("user_stop", "agent_stop")


class Scorer:
    def __init__(self, domain: Any, *, judge: Any = None, sandbox_options: dict[str, Any] | None = None):
        self.domain, self.judge = domain, judge
        self._sandbox_options = sandbox_options or {}
        self._sandbox: Any = None

    def score(self, task: Task, episode: Episode, env: Any) -> RewardInfo:
        if task.checker not in (None, UNSET):
            return self._check(task, episode, env)
        from eigenfast.evaluation import evaluate_episode

        return evaluate_episode(self.domain, task, episode.messages, episode.termination, judge=self.judge)

    def _check(self, task: Task, episode: Episode, env: Any) -> RewardInfo:
        if episode.termination not in _FINISHED:
            return RewardInfo(reward=0.0, details={"checker": "not run: episode ended by " + str(episode.termination)})
        if self._sandbox is None:
            from eigenfast.sandbox import Sandbox

            self._sandbox = Sandbox(**self._sandbox_options).__enter__()
        payload = {
            "task_id": task.id,
            "termination": episode.termination,
            "messages": msgspec.to_builtins(episode.messages),
            "agent_db": env.agent_db.to_builtins() if getattr(env, "agent_db", None) is not None else None,
            "user_db": env.user_db.to_builtins() if getattr(env, "user_db", None) is not None else None,
        }
        result = self._sandbox.run(task.checker.source, payload, entry=task.checker.entry)
        details = {"checker_status": result.status}
        if result.status != "ok":
            details["checker_error"] = f"{result.error_type or ''}: {result.message or ''}".strip(": ")
            return RewardInfo(reward=0.0, details=details)
        return RewardInfo(reward=checker_reward(result.value), details=details)

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.__exit__(None, None, None)
            self._sandbox = None


def checker_reward(value: Any) -> float:
    """A checker may return a bool, a number in [0, 1], or a dict with `reward` (or `passed`)."""
    if isinstance(value, dict):
        value = value.get("reward", value.get("passed", 0.0))
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return min(max(float(value), 0.0), 1.0)
    return 0.0
