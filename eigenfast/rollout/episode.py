"""One episode under tau²'s half-duplex rules.

The agent opens with a fixed greeting (unless the task carries a message history); every message is one step
(agent->user, user->agent, agent->env, env->agent, user->env, env->user); the episode ends on a user stop
marker, an agent `###STOP###`, the step limit, the error limit (tool results that are errors, format errors
included) or the time limit. Limits are checked only when no tool result is pending: tool calls run at once,
inside the turn that made them. Backend failures end the episode as `infrastructure_error`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eigenfast.records import Episode, Message, Task, Termination, ToolCall
from eigenfast.rollout.agent import LLMAgent
from eigenfast.rollout.user import UserSimulator, is_user_stop

AGENT_GREETING = "Hi! How can I help you today?"
AGENT_STOP = "###STOP###"


@dataclass(frozen=True)
class Limits:
    max_steps: int = 200
    max_errors: int = 10
    timeout_s: float | None = None


DEFAULT_LIMITS = Limits()


def episode_id(task_id: str, sample_idx: int) -> str:
    return f"{task_id}#{sample_idx}"


def turn_seed(seed: int | None, turn: int, salt: int) -> int | None:
    """A distinct, reproducible seed per backend call of an episode."""
    return None if seed is None else (seed * 1_000_003 + turn * 7919 + salt) % 2**63


@dataclass
class _Run:
    messages: list[Message]
    steps: int = 0
    errors: int = 0
    turns: int = 0
    gen_s: float = 0.0
    env_s: float = 0.0


def _execute(env: Any, calls: list[ToolCall], bad: dict[str, str], run: _Run, requestor: str) -> None:
    """Run a turn's tool calls in order; malformed ones get their format error as the observation."""
    t0 = time.perf_counter()
    for call in calls:
        if call.id in bad:
            result = Message(role="tool", content=f"Error: {bad[call.id]}", tool_call_id=call.id, error=True,
                             requestor=requestor)
        else:
            result = env.call_tool(call)
        run.messages.append(result)
        run.errors += int(result.error)
    run.steps += 1  # env -> requestor
    run.env_s += time.perf_counter() - t0


async def run_episode(domain: Any, task: Task, agent: LLMAgent, user: UserSimulator, *, limits: Limits = DEFAULT_LIMITS,
                      seed: int | None = None, sample_idx: int = 0) -> tuple[Episode, Any]:
    """Play one episode; returns it unscored, with the environment in its final state (for scoring)."""
    start = time.perf_counter()
    env = domain.make_env(task)
    history = list(task.initial_state.message_history or []) if task.initial_state else []
    run = _Run(messages=history or [Message(role="assistant", content=AGENT_GREETING, turn_idx=0)])
    state = agent.new_state()
    format_errors: list[dict[str, Any]] = []
    next_role = _next_role(run.messages)
    termination: Termination | None = None
    detail = ""
    while termination is None:
        if run.steps >= limits.max_steps:
            termination = "max_steps"
            break
        if run.errors >= limits.max_errors:
            termination = "too_many_errors"
            break
        if limits.timeout_s is not None and time.perf_counter() - start > limits.timeout_s:
            termination = "timeout"
            break
        run.turns += 1
        t0 = time.perf_counter()
        try:
            if next_role == "agent":
                turn = await agent.act(state, run.messages, seed=turn_seed(seed, run.turns, 1), turn=run.turns)
                msg, errs = turn.message, turn.errors
            else:
                msg, errs = await user.respond(run.messages, seed=turn_seed(seed, run.turns, 2))
        except Exception as exc:  # backend down, bad credentials, template drift: not the policy's fault
            termination, detail = "infrastructure_error", f"{type(exc).__name__}: {exc}"
            break
        finally:
            run.gen_s += time.perf_counter() - t0
        run.messages.append(msg)
        run.steps += 1
        for cid, text in errs:
            format_errors.append({"turn": run.turns, "role": msg.role, "call_id": cid, "error": text})
        if msg.tool_calls:
            _execute(env, msg.tool_calls, dict(errs), run, "user" if msg.role == "user" else "assistant")
            continue  # the same party acts again on its tool results
        if msg.role == "assistant":
            if msg.content and AGENT_STOP in msg.content:
                termination = "agent_stop"
            next_role = "user"
        else:
            if is_user_stop(msg):
                termination = "user_stop"
            next_role = "agent"
    assert termination is not None
    info: dict[str, Any] = {"steps": run.steps, "errors": run.errors, "format_errors": format_errors}
    if detail:
        info["error"] = detail
    if state.drift:
        info["token_drift"] = True
    ep = Episode(task_id=task.id, messages=run.messages, id=episode_id(task.id, sample_idx), sample_idx=sample_idx,
                 seed=seed, segments=list(state.segments()), termination=termination, info=info,
                 timings={"total_s": time.perf_counter() - start, "generate_s": run.gen_s, "env_s": run.env_s})
    return ep, env


def _next_role(messages: list[Message]) -> str:
    """Who speaks after a (possibly task-supplied) history."""
    last = messages[-1]
    if last.role == "assistant":
        return "user"
    if last.role == "user":
        return "agent"
    return "user" if last.requestor == "user" else "agent"
