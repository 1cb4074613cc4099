"""`eigenfast eval replay-gold`: play every task's gold actions as an episode and grade it as tau²-bench does.

A fidelity check of the domains and the evaluator: every task must score 1 on its reward basis (COMMUNICATE and
NL_ASSERTION excluded). `--drop-last-write` and `--perturb-args` are negative controls: tasks whose reward
depends on the changed call must then score 0. Results are appended to `--out` as they come, and a rerun
resumes from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from eigenfast.cli import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", required=True, help="airline, retail, telecom or mock")
    parser.add_argument("--data-dir", required=True, help="the tau² data folder that holds <domain>/")
    parser.add_argument("--tasks", help="a tasks.json to use instead of <data-dir>/<domain>/tasks.json")
    parser.add_argument("--out", help="append each task's breakdown to this .jsonl or .msgpack file (resumes if it exists)")
    control = parser.add_mutually_exclusive_group()
    control.add_argument("--drop-last-write", action="store_true",
                         help="negative control: leave out each task's last state-changing gold call")
    control.add_argument("--perturb-args", action="store_true",
                         help="negative control: change one argument of that call to another valid value")
    parser.add_argument("--policy-variant", default=None, help="policy variant (e.g. telecom 'workflow')")


def _done(path: Path, domain: str, control: str | None) -> dict[str, Any]:
    """Records already in `path` for this domain and control, by task id: the resume point."""
    from eigenfast.evaluation.replay import ReplayRecord
    from eigenfast.io import read_records

    return {r.task_id: r for r in read_records(path, ReplayRecord) if r.domain == domain and r.control == control}


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from eigenfast.domains.loader import SPEC_MODULES, load_tau2
    from eigenfast.evaluation.replay import replay_task
    from eigenfast.io import DatasetWriter

    if args.domain not in SPEC_MODULES:
        raise UsageError(f"--domain: unknown domain {args.domain!r}; expected one of {', '.join(SPEC_MODULES)}")
    if not Path(args.data_dir, args.domain).is_dir():
        raise UsageError(f"--data-dir: {Path(args.data_dir, args.domain)} is not a folder")
    if args.tasks and not Path(args.tasks).is_file():
        raise UsageError(f"--tasks: {args.tasks} is not a file")
    control = "drop" if args.drop_last_write else "perturb" if args.perturb_args else None
    domain = load_tau2(args.domain, args.data_dir, policy_variant=args.policy_variant, tasks_file=args.tasks)
    out = Path(args.out) if args.out else None
    try:
        writer = DatasetWriter(out) if out else None  # first, so a torn tail is moved aside before reading
    except ValueError as exc:  # not a dataset format
        raise UsageError(f"--out: {exc}") from None
    started = time.perf_counter()
    fresh = 0
    try:
        records = _done(out, domain.name, control) if out else {}
        for task in tqdm(domain.tasks, desc=f"replay-gold {domain.name}", unit="task", disable=not sys.stderr.isatty()):
            if task.id in records:
                continue
            record = replay_task(domain, task, control)
            records[task.id] = record
            fresh += 1
            if writer is not None:
                writer.write(record)
    finally:
        if writer is not None:
            writer.close()
    elapsed = time.perf_counter() - started
    results = [records[t.id] for t in domain.tasks]
    n = len(results)
    passed = sum(1 for r in results if r.reward == 1.0 or abs(r.reward - 1.0) <= 1e-6)
    print(f"replay-gold {domain.name}: {n} tasks, {passed} reward=1 on the task's reward basis "
          f"(COMMUNICATE and NL_ASSERTION excluded), {n - passed} failed")
    rate = f"{fresh / elapsed:.1f} tasks/s" if fresh and elapsed > 0 else "resumed"
    if control is None:
        for r in results:
            if not r.ok:
                print(f"  failed: {r.task_id} components={r.components} {r.details.get('error', '')}".rstrip())
        print(f"  ({fresh} replayed in {elapsed:.2f}s, {rate})", file=sys.stderr)
        return 0 if passed == n else 1
    flag = "--drop-last-write" if control == "drop" else "--perturb-args"
    affected = [r for r in results if r.affected]
    expected_zero = sum(1 for r in affected if r.ok)
    unaffected = [r for r in results if not r.affected]
    unaffected_ok = sum(1 for r in unaffected if r.ok)
    unchanged = sum(1 for r in results if r.modified is None or r.modified["change"] not in ("dropped", "perturbed"))
    print(f"negative control {flag} {domain.name}: {len(affected)} affected, {expected_zero} affected scored 0 "
          f"as expected, {len(unaffected)} unaffected ({unaffected_ok} scored 1), "
          f"{n - expected_zero - unaffected_ok} unexpected; {unchanged} tasks had no call to change")
    for r in results:
        if not r.ok:
            print(f"  unexpected: {r.task_id} affected={r.affected} reward={r.reward} modified={r.modified}")
    print(f"  ({fresh} replayed in {elapsed:.2f}s, {rate})", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1
