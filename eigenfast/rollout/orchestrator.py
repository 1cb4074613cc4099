"""Many episodes at once: N tasks x G samples as asyncio tasks under a concurrency limit.

Finished episodes are scored and appended to the output dataset (`eigenfast.io`) as they finish, so a killed
run loses at most the episodes in flight; a restart skips every episode id already in the file (no
duplicates). Episodes that end in `infrastructure_error` are reported but not written, so the next run retries
them. Each episode's seed derives from the run seed, the task id and the sample index, so reruns are
reproducible.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eigenfast.io import DatasetWriter, done_ids
from eigenfast.records import Episode, Task
from eigenfast.rollout.agent import LLMAgent
from eigenfast.rollout.episode import DEFAULT_LIMITS, Limits, episode_id, run_episode
from eigenfast.rollout.scoring import Scorer
from eigenfast.rollout.user import UserFactory


def episode_seed(run_seed: int, task_id: str, sample_idx: int) -> int:
    return zlib.crc32(f"{run_seed}:{task_id}:{sample_idx}".encode())


@dataclass
class RolloutSummary:
    written: int = 0
    skipped: int = 0  # already in the output file
    failed: int = 0  # infrastructure errors, not written
    steps: int = 0
    agent_tokens: int = 0
    wall_s: float = 0.0
    terminations: dict[str, int] = field(default_factory=dict)
    rewards: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def rollout(domain: Any, tasks: Sequence[Task], agent: LLMAgent, user_factory: UserFactory, *,
                  out: str | Path | None, samples: int = 1, limits: Limits = DEFAULT_LIMITS, seed: int = 0,
                  concurrency: int = 64, scorer: Scorer | None = None, progress: bool = True,
                  on_episode: Callable[[Episode], None] | None = None) -> RolloutSummary:
    """Run every (task, sample) pair not yet in `out`; `scorer=None` writes unscored episodes."""
    summary = RolloutSummary()
    done = done_ids(out) if out is not None else set()
    jobs = [(t, k) for t in tasks for k in range(samples) if episode_id(t.id, k) not in done]
    summary.skipped = len(tasks) * samples - len(jobs)
    writer = DatasetWriter(out) if out is not None else None
    limit = asyncio.Semaphore(concurrency)
    bar = _progress(len(jobs), progress)
    start = time.perf_counter()

    async def one(task: Task, k: int) -> None:
        async with limit:
            ep, env = await run_episode(domain, task, agent, user_factory(task), limits=limits,
                                        seed=episode_seed(seed, task.id, k), sample_idx=k)
        summary.steps += ep.info.get("steps", 0)
        summary.agent_tokens += sum(len(s.token_ids) for s in ep.segments if s.owner == "agent")
        summary.terminations[ep.termination or "?"] = summary.terminations.get(ep.termination or "?", 0) + 1
        if ep.termination == "infrastructure_error":
            summary.failed += 1
            summary.errors.append(f"{ep.id}: {ep.info.get('error', '')}")
        else:
            if scorer is not None:
                ep.reward_info = scorer.score(task, ep, env)
                ep.reward = ep.reward_info.reward
                summary.rewards.append(ep.reward)
            if writer is not None:
                writer.write(ep)
            summary.written += 1
            if on_episode is not None:
                on_episode(ep)
        if bar is not None:
            dt = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix_str(f"{summary.written / dt:.2f} ep/s {summary.steps / dt:.1f} step/s "
                                f"{summary.agent_tokens / dt:.0f} tok/s", refresh=False)
            bar.update(1)

    try:
        results = await asyncio.gather(*(one(t, k) for t, k in jobs), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):  # scoring or writing failed: not the episode loop's to hide
                raise r
    finally:
        summary.wall_s = time.perf_counter() - start
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    return summary


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="rollout", unit="ep", dynamic_ncols=True)
