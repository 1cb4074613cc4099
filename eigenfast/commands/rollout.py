"""`eigenfast rollout`: run N tasks x G samples of agent <-> user simulator <-> environment episodes.

Episodes stream into an append-only dataset (`eigenfast.io`: .jsonl or .msgpack); rerunning the same command
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from eigenfast.cli import UsageError
from eigenfast.io import dataset_format


def default_data_dir() -> str:
    return os.environ.get("EIGENFAST_TAU2_DATA", str(Path(__file__).resolve().parents[2].parent / "shared" / "tau2"))


def add_common_arguments(parser: argparse.ArgumentParser, *, agent_required: bool = True) -> None:
    """Arguments shared with `eigenfast eval tau2`."""
    parser.add_argument("--data-dir", default=default_data_dir(), help="tau² data folder (default: $EIGENFAST_TAU2_DATA)")
    parser.add_argument("--agent", required=agent_required, help="agent backend: hf:PATH | openai:MODEL@URL | vllm:PATH")
    parser.add_argument("--user", default="scripted",
                        help="user simulator: a backend spec (LLM user), 'scripted', or 'replay:EPISODES.jsonl'")
    parser.add_argument("--agent-opt", action="append", default=[], metavar="KEY=VALUE", help="agent backend option")
    parser.add_argument("--user-opt", action="append", default=[], metavar="KEY=VALUE", help="user backend option")
    parser.add_argument("--task-ids", default=None, help="comma-separated task ids (default: all)")
    parser.add_argument("--num-tasks", type=int, default=None, help="only the first N tasks")
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--max-errors", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=None, help="per-episode wall-clock limit, seconds")
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--user-temperature", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64, help="episodes in flight")
    parser.add_argument("--policy-variant", default=None)
    parser.add_argument("--no-progress", action="store_true")


class _LoadConfig(argparse.Action):
    """`--config FILE [key.sub=value ...]`: a typed run config (configs/*.yaml) sets the flags it covers;
    flags given after it on the command line override it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from eigenfast.config import ConfigError, load_config

        path, *overrides = values
        try:
            cfg = load_config(path, overrides)
        except ConfigError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        r = cfg.rollout
        given = {
            "domain": cfg.domain.name, "policy_variant": cfg.domain.policy_variant, "agent": r.agent,
            "user": r.user, "samples": r.samples, "max_steps": r.max_steps, "max_errors": r.max_errors,
            "concurrency": r.concurrency, "temperature": r.temperature, "max_new_tokens": r.max_new_tokens,
            "seed": r.seed, "out": str(Path(cfg.out_dir) / f"{cfg.domain.name}.episodes.jsonl"),
        }
        if cfg.domain.data_dir:
            given["data_dir"] = cfg.domain.data_dir
        if cfg.domain.tasks:
            given["task_ids"] = ",".join(cfg.domain.tasks)
        for key, value in given.items():
            setattr(namespace, key, value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", nargs="+", action=_LoadConfig, metavar=("FILE", "KEY=VALUE"),
                        help="a run config (e.g. configs/mock_rollout.yaml) with optional key.sub=value overrides; "
                             "put it first: later flags override it")
    parser.add_argument("--domain", help="airline | retail | telecom | mock (required unless --config)")
    parser.add_argument("--samples", type=int, default=1, help="episodes per task (G)")
    parser.add_argument("--out", help="episodes file (.jsonl or .msgpack), appended to and resumed "
                                      "(default with --config: <out_dir>/<domain>.episodes.jsonl)")
    parser.add_argument("--no-score", action="store_true", help="write episodes without rewards")
    add_common_arguments(parser, agent_required=False)  # --agent may come from the config instead


def parse_options(items: list[str], flag: str) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.replace("-", "_")] = yaml.safe_load(value)
    return out


class Setup:
    """Backends, agent, user factory and tasks for one domain, built from the command line."""

    def __init__(self, args: argparse.Namespace, domain_name: str):
        from eigenfast.domains import load_tau2
        from eigenfast.llm import SamplingParams, load_backend, parse_spec
        from eigenfast.rollout import Limits, LLMAgent

        if args.max_steps < 1 or args.max_errors < 1:
            raise UsageError("--max-steps and --max-errors must be >= 1")
        try:
            parse_spec(args.agent)
        except ValueError as exc:
            raise UsageError(f"--agent: {exc}") from None
        try:
            self.domain = load_tau2(domain_name, args.data_dir, policy_variant=args.policy_variant)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            raise UsageError(f"--domain {domain_name}: {exc}") from None
        self.tasks = select_tasks(self.domain.tasks, args.task_ids, args.num_tasks)
        self.agent_backend = load_backend(args.agent, **parse_options(args.agent_opt, "--agent-opt"))
        params = SamplingParams(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
        self.agent = LLMAgent(self.agent_backend, policy=self.domain.policy, tools=self.domain.tool_schemas(),
                              params=params)
        self.user_backend: Any = None
        self.user_factory = self._user(args, SamplingParams(temperature=args.user_temperature,
                                                             max_new_tokens=args.max_new_tokens, logprobs=False))
        self.limits = Limits(max_steps=args.max_steps, max_errors=args.max_errors, timeout_s=args.timeout)

    def _user(self, args: argparse.Namespace, params: Any) -> Any:
        from eigenfast.io import read_records
        from eigenfast.llm import load_backend, parse_spec
        from eigenfast.records import Episode
        from eigenfast.rollout.user import llm_user_factory, replay_user_factory, scripted_user_factory

        spec = args.user.removeprefix("llm:")
        if spec == "scripted":
            return scripted_user_factory()
        if spec.startswith("replay:"):
            path = Path(spec.removeprefix("replay:"))
            if not path.exists():
                raise UsageError(f"--user {args.user}: no such episodes file {path}")
            return replay_user_factory({e.task_id: e.messages for e in read_records(path, Episode)})
        try:
            parse_spec(spec)
        except ValueError as exc:
            raise UsageError(f"--user: {exc} (or 'scripted', 'replay:FILE')") from None
        opts = parse_options(args.user_opt, "--user-opt")
        self.user_backend = self.agent_backend if spec == args.agent and not opts else load_backend(spec, **opts)
        return llm_user_factory(self.user_backend, self.domain.data_dir, self.domain.user_tool_schemas(), params)

    async def close(self) -> None:
        await self.agent_backend.close()
        if self.user_backend is not None and self.user_backend is not self.agent_backend:
            await self.user_backend.close()


def select_tasks(tasks: list[Any], task_ids: str | None, num_tasks: int | None) -> list[Any]:
    if task_ids:
        wanted = [t.strip() for t in task_ids.split(",") if t.strip()]
        by_id = {t.id: t for t in tasks}
        missing = [t for t in wanted if t not in by_id]
        if missing:
            raise UsageError(f"--task-ids: unknown task id(s): {', '.join(missing)}")
        tasks = [by_id[t] for t in wanted]
    if num_tasks is not None:
        tasks = tasks[:num_tasks]
    return tasks


def run(args: argparse.Namespace) -> int:
    from eigenfast.rollout import Scorer, rollout

    missing = [f"--{name}" for name in ("domain", "agent", "out") if not getattr(args, name)]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (give the flags, or a --config that sets them)")
    if args.samples < 1:
        raise UsageError("--samples must be >= 1")
    try:  # before any model loads
        dataset_format(Path(args.out))
    except ValueError as exc:
        raise UsageError(f"--out: {exc}") from None
    setup = Setup(args, args.domain)
    scorer = None if args.no_score else Scorer(setup.domain)

    async def go() -> Any:
        try:
            return await rollout(setup.domain, setup.tasks, setup.agent, setup.user_factory, out=args.out,
                                 samples=args.samples, limits=setup.limits, seed=args.seed,
                                 concurrency=args.concurrency, scorer=scorer, progress=not args.no_progress)
        finally:
            await setup.close()
            if scorer is not None:
                scorer.close()

    s = asyncio.run(go())
    mean = sum(s.rewards) / len(s.rewards) if s.rewards else float("nan")
    print(f"wrote {s.written} episodes to {args.out} ({s.skipped} already there, {s.failed} failed) in "
          f"{s.wall_s:.1f}s; {s.steps} steps, {s.agent_tokens} agent tokens; mean reward {mean:.3f}; "
          f"terminations {dict(sorted(s.terminations.items()))}")
    for err in s.errors[:5]:
        print(f"  failed: {err}")
    return 1 if s.failed else 0
