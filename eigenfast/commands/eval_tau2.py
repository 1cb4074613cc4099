"""`eigenfast eval tau2`: k trials per task on tau² domains; prints pass^1..pass^k and writes tau²-bench
results JSON next to the (resumable) episodes files."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from eigenfast.cli import UsageError
from eigenfast.commands.rollout import Setup, add_common_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", action="append", required=True, help="a tau² domain; repeat for several")
    parser.add_argument("--trials", type=int, default=1, help="trials per task (k)")
    parser.add_argument("--out-dir", default="runs/eval_tau2",
                        help="writes <domain>.episodes.jsonl (resumable) and <domain>.results.json here")
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from eigenfast.evaluation import is_success, pass_hat_k
    from eigenfast.evaluation.tau2_results import write_results
    from eigenfast.io import read_records
    from eigenfast.records import Episode
    from eigenfast.rollout import Scorer, rollout

    if args.trials < 1:
        raise UsageError("--trials must be >= 1")
    out_dir = Path(args.out_dir)
    table: dict[str, dict[int, float]] = {}
    failed = 0
    for name in args.domain:
        setup = Setup(args, name)
        scorer = Scorer(setup.domain)
        episodes_path = out_dir / f"{name}.episodes.jsonl"

        async def go(setup: Setup = setup, scorer: Scorer = scorer, episodes_path: Path = episodes_path) -> Any:
            try:
                return await rollout(setup.domain, setup.tasks, setup.agent, setup.user_factory,
                                     out=episodes_path, samples=args.trials, limits=setup.limits, seed=args.seed,
                                     concurrency=args.concurrency, scorer=scorer, progress=not args.no_progress)
            finally:
                await setup.close()
                scorer.close()

        summary = asyncio.run(go())
        failed += summary.failed
        wanted = {t.id for t in setup.tasks}
        episodes = [e for e in read_records(episodes_path, Episode)
                    if e.task_id in wanted and e.sample_idx < args.trials]
        successes: dict[str, list[bool]] = {}
        for e in episodes:
            successes.setdefault(e.task_id, []).append(is_success(e.reward))
        table[name] = pass_hat_k(successes)
        write_results(out_dir / f"{name}.results.json", domain=name, policy=setup.domain.policy,
                      tools=setup.domain.tool_schemas(), tasks=setup.tasks, episodes=episodes, agent=args.agent,
                      user=args.user, trials=args.trials, max_steps=args.max_steps, max_errors=args.max_errors,
                      seed=args.seed)
    ks = range(1, args.trials + 1)
    print("domain      " + "".join(f"  pass^{k:<4}" for k in ks))
    for name, scores in table.items():
        print(f"{name:<12}" + "".join(f"  {scores[k]:.4f}" if k in scores else "  -     " for k in ks))
    print(f"episodes and tau²-bench results JSON in {out_dir}/")
    return 1 if failed else 0
