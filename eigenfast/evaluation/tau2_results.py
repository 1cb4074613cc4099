"""Write episodes as a tau²-bench `Results` JSON file, so tau²-bench's own tools (view, metrics) can read them.

The layout follows tau²'s `Results` / `SimulationRun` models (data_model/simulation.py): run `info`, the
`tasks`, and one simulation per episode with its messages in tau²'s message schema (a tool result's call id is
`id`; tool calls carry `requestor`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from eigenfast.records import Episode, Message, Task, task_to_builtins


def _message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.role == "tool":
        out.update(id=m.tool_call_id, requestor=m.requestor if isinstance(m.requestor, str) else "assistant",
                   error=m.error)
    elif m.role in ("assistant", "user"):
        out["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments, "requestor": c.requestor}
                             for c in m.tool_calls] if m.tool_calls else None
    if isinstance(m.turn_idx, int):
        out["turn_idx"] = m.turn_idx
    if isinstance(m.timestamp, str):
        out["timestamp"] = m.timestamp
    return out


def _reward(ep: Episode) -> dict[str, Any] | None:
    r = ep.reward_info
    if r is None:
        return None
    return {"reward": r.reward, "reward_basis": r.basis or None, "reward_breakdown": r.components or None,
            "info": {**r.details, "unjudged": r.unjudged} if r.unjudged else (r.details or None)}


def simulation_run(ep: Episode, *, end: dt.datetime | None = None) -> dict[str, Any]:
    end = end or dt.datetime.now()
    duration = float(ep.timings.get("total_s", 0.0))
    start = end - dt.timedelta(seconds=duration)
    return {"id": ep.id, "task_id": ep.task_id, "timestamp": end.isoformat(), "start_time": start.isoformat(),
            "end_time": end.isoformat(), "duration": duration, "termination_reason": ep.termination,
            "agent_cost": None, "user_cost": None, "reward_info": _reward(ep),
            "messages": [_message(m) for m in ep.messages], "trial": ep.sample_idx, "seed": ep.seed,
            "mode": "half_duplex", "info": {k: v for k, v in ep.info.items() if k != "format_errors"} or None}


def write_results(path: str | Path, *, domain: str, policy: str, tools: list[dict[str, Any]],
                  tasks: Sequence[Task], episodes: Sequence[Episode], agent: str, user: str, trials: int,
                  max_steps: int, max_errors: int, seed: int | None) -> Path:
    """Write (atomically) one tau²-style results file for a domain's episodes."""
    used = {e.task_id for e in episodes}
    results = {
        "timestamp": dt.datetime.now().isoformat(),
        "info": {
            "git_commit": "", "num_trials": trials, "max_steps": max_steps, "max_errors": max_errors, "seed": seed,
            "user_info": {"implementation": "eigenfast", "llm": user, "llm_args": {}},
            "agent_info": {"implementation": "eigenfast", "llm": agent, "llm_args": {}},
            "environment_info": {"domain_name": domain, "policy": policy, "tool_defs": tools},
        },
        "tasks": [task_to_builtins(t) for t in tasks if t.id in used],
        "simulations": [simulation_run(e) for e in episodes],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(msgspec.to_builtins(results), indent=1))
    tmp.replace(path)
    return path
